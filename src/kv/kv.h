// kv: the paged KV pool. One anonymous Arena per model, cut into fixed-size pages; a page holds K and V for
// PAGE positions in every layer. Sequences own page tables; pages carry refcounts (prefix sharing) and go
// back to the free list when the last holder releases them. Knows only (n_layer, n_head_kv, head_dim, dtype).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/base.h"
#include "memory/memory.h"
#include "tensor/tensor.h"

namespace berth {

struct KvShape {
    int n_layer = 0;
    int n_head_kv = 0;
    int head_dim = 0;
    DType type = DType::F16;  // F16 (default), F32, Q8_0 or Q4_0 (head_dim must be a multiple of 32)
    int page_positions = 16;  // token positions per page
};

// Checks that the shape is usable (positive sizes, supported dtype, block-aligned head_dim).
Status validate_kv_shape(const KvShape& shape);
// Bytes of one position of K (or V) in one layer: n_head_kv rows of head_dim elements.
int64_t kv_position_bytes(const KvShape& shape);
// Bytes of one page: K and V for page_positions positions in every layer.
int64_t kv_page_bytes(const KvShape& shape);
// Pages needed so that n_parallel sequences can each hold n_ctx positions.
int64_t kv_pages_for(const KvShape& shape, int64_t n_ctx, int64_t n_parallel);
// Bytes the pool reserves for n_pages (rounded up to the OS page size: exactly what the Arena maps).
int64_t kv_pool_bytes(const KvShape& shape, int64_t n_pages);

class KvPool {
  public:
    KvPool() = default;
    KvPool(KvPool&&) noexcept = default;
    KvPool& operator=(KvPool&&) noexcept = default;

    // Reserves (and faults in) kv_pool_bytes(shape, n_pages). resource_exhausted when the OS refuses.
    // shape.n_layer may be 0 when every layer's K/V lives on a device: the pool then keeps only the pages'
    // bookkeeping (free list, refcounts) for the device's copy and reserves nothing.
    static Result<KvPool> create(const KvShape& shape, int64_t n_pages);
    // Called by copy_page after the host copy (copy-on-write of a shared page), so that the layers held on a
    // device get the same copy: hook(ctx, dst, src). Set once at load.
    using PageCopyHook = void (*)(void* ctx, int32_t dst, int32_t src);
    void set_page_copy_hook(PageCopyHook hook, void* ctx) {
        copy_hook_ = hook;
        copy_ctx_ = ctx;
    }

    const KvShape& shape() const { return shape_; }
    int64_t n_pages() const { return int64_t(refcount_.size()); }
    int64_t n_free() const { return int64_t(free_.size()); }
    int64_t bytes() const { return int64_t(arena_.size()); }  // reserved bytes (the ledger's kv entry)
    int64_t used_bytes() const { return (n_pages() - n_free()) * page_bytes_; }

    // Takes a page from the free list with refcount 1; -1 when the pool is exhausted (never aborts).
    int32_t alloc_page();
    // Adds a holder to a page (prefix sharing).
    void retain(int32_t page);
    // Drops a holder; the page returns to the free list at refcount 0.
    void release(int32_t page);
    int refcount(int32_t page) const { return refcount_[size_t(page)]; }
    // Copies a whole page (K and V of every layer) into another.
    void copy_page(int32_t dst, int32_t src);
    int64_t page_bytes() const { return page_bytes_; }
    const uint8_t* base() const { return arena_.data(); }

    // K (or V) rows of one layer in one page: (page_positions, n_head_kv, head_dim) in shape().type.
    uint8_t* k_data(int32_t page, int layer) const;
    uint8_t* v_data(int32_t page, int layer) const;

  private:
    KvShape shape_;
    Arena arena_;
    int64_t page_bytes_ = 0;
    int64_t layer_bytes_ = 0;        // K of one layer in one page (V follows it)
    std::vector<int32_t> free_;      // stack of free pages (capacity n_pages: push/pop never allocate)
    std::vector<int32_t> refcount_;  // per page
    PageCopyHook copy_hook_ = nullptr;
    void* copy_ctx_ = nullptr;
};

// The pages of one sequence, in position order. Capacity is fixed at construction, so growing never
// allocates on the heap.
class PageTable {
  public:
    PageTable() = default;
    explicit PageTable(int64_t max_positions, int page_positions);

    int64_t n_positions() const { return n_positions_; }
    int64_t capacity() const { return max_positions_; }
    const std::vector<int32_t>& pages() const { return pages_; }
    int32_t page_of(int64_t pos) const { return pages_[size_t(pos / page_positions_)]; }
    int slot_of(int64_t pos) const { return int(pos % page_positions_); }

    // Makes room for positions [0, n): allocates missing pages. invalid_argument past the capacity,
    // resource_exhausted when the pool has no free page (pages already taken stay taken).
    Status reserve(KvPool& pool, int64_t n);
    // Copy-on-write before writing positions [begin, end): pages in that range shared with another table are
    // replaced by private copies. resource_exhausted when no free page is left (nothing changes then).
    Status make_private(KvPool& pool, int64_t begin, int64_t end);
    // Sets the number of valid positions (≤ reserved); later positions are overwritten by the next writes.
    void set_positions(int64_t n);
    // Drops positions ≥ n and releases pages no longer needed.
    void truncate(KvPool& pool, int64_t n);
    // Releases every page.
    void clear(KvPool& pool) { truncate(pool, 0); }
    // Shares the whole pages among the first n positions of `other` (this table must be empty): they are
    // retained, not copied. Returns the number of positions shared (a multiple of page_positions, ≤ n).
    int64_t share_prefix(KvPool& pool, const PageTable& other, int64_t n);

  private:
    int64_t max_positions_ = 0;
    int page_positions_ = 16;
    int64_t n_positions_ = 0;
    std::vector<int32_t> pages_;
};

}  // namespace berth
