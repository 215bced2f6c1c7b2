#include "kv/kv.h"

#include <algorithm>
#include <cstring>

namespace berth {

Status validate_kv_shape(const KvShape& s) {
    if (s.n_layer <= 0 || s.n_head_kv <= 0 || s.head_dim <= 0 || s.page_positions <= 0)
        return invalid_argument("KV shape must be positive (n_layer %d, n_head_kv %d, head_dim %d, page %d)", s.n_layer,
                                s.n_head_kv, s.head_dim, s.page_positions);
    switch (s.type) {
        case DType::F32:
        case DType::F16: break;
        case DType::Q8_0:
        case DType::Q4_0:
            if (s.head_dim % 32 != 0)
                return unsupported("KV type %s needs head_dim a multiple of 32 (head_dim is %d)", dtype_name(s.type),
                                   s.head_dim);
            break;
        default: return unsupported("KV type %s is not supported (use f16, f32, q8_0 or q4_0)", dtype_name(s.type));
    }
    return Status::ok();
}

int64_t kv_position_bytes(const KvShape& s) { return int64_t(s.n_head_kv) * row_bytes(s.type, s.head_dim); }

int64_t kv_page_bytes(const KvShape& s) {
    // Each (layer, K|V) tile is rounded to 64 bytes so every tile starts cache-line aligned.
    int64_t tile = int64_t(round_up(size_t(kv_position_bytes(s) * s.page_positions), 64));
    return 2 * int64_t(s.n_layer) * tile;
}

int64_t kv_pages_for(const KvShape& s, int64_t n_ctx, int64_t n_parallel) {
    int64_t per_seq = (n_ctx + s.page_positions - 1) / s.page_positions;
    return per_seq * n_parallel;
}

int64_t kv_pool_bytes(const KvShape& s, int64_t n_pages) {
    return int64_t(round_up(size_t(kv_page_bytes(s) * n_pages), page_size()));
}

Result<KvPool> KvPool::create(const KvShape& shape, int64_t n_pages) {
    KvShape checked = shape;
    if (checked.n_layer == 0) checked.n_layer = 1;  // no host layers: bookkeeping only
    RETURN_IF_ERROR(validate_kv_shape(checked));
    if (n_pages <= 0 || n_pages > INT32_MAX)
        return invalid_argument("KV pool needs 1..2^31 pages, not %lld", (long long)n_pages);
    KvPool p;
    p.shape_ = shape;
    p.page_bytes_ = kv_page_bytes(shape);
    if (shape.n_layer > 0) {
        p.layer_bytes_ = p.page_bytes_ / (2 * shape.n_layer);
        ASSIGN_OR_RETURN(p.arena_, Arena::reserve(size_t(kv_pool_bytes(shape, n_pages)), "kv"));
    }
    p.refcount_.assign(size_t(n_pages), 0);
    p.free_.reserve(size_t(n_pages));
    for (int64_t i = n_pages - 1; i >= 0; --i) p.free_.push_back(int32_t(i));  // page 0 is handed out first
    return p;
}

int32_t KvPool::alloc_page() {
    if (free_.empty()) return -1;
    int32_t page = free_.back();
    free_.pop_back();
    CHECK(refcount_[size_t(page)] == 0);
    refcount_[size_t(page)] = 1;
    return page;
}

void KvPool::retain(int32_t page) {
    CHECK(page >= 0 && page < n_pages() && refcount_[size_t(page)] > 0);
    ++refcount_[size_t(page)];
}

void KvPool::release(int32_t page) {
    CHECK(page >= 0 && page < n_pages() && refcount_[size_t(page)] > 0);
    if (--refcount_[size_t(page)] == 0) free_.push_back(page);
}

uint8_t* KvPool::k_data(int32_t page, int layer) const {
    return arena_.data() + page * page_bytes_ + (2 * int64_t(layer)) * layer_bytes_;
}

uint8_t* KvPool::v_data(int32_t page, int layer) const {
    return arena_.data() + page * page_bytes_ + (2 * int64_t(layer) + 1) * layer_bytes_;
}

void KvPool::copy_page(int32_t dst, int32_t src) {
    CHECK(dst >= 0 && dst < n_pages() && src >= 0 && src < n_pages());
    if (page_bytes_ > 0)
        std::memcpy(arena_.data() + dst * page_bytes_, arena_.data() + src * page_bytes_, size_t(page_bytes_));
    if (copy_hook_) copy_hook_(copy_ctx_, dst, src);
}

PageTable::PageTable(int64_t max_positions, int page_positions)
    : max_positions_(max_positions), page_positions_(page_positions) {
    pages_.reserve(size_t((max_positions + page_positions - 1) / page_positions));
}

Status PageTable::reserve(KvPool& pool, int64_t n) {
    if (n > max_positions_)
        return invalid_argument("sequence needs %lld positions but its context holds %lld", (long long)n,
                                (long long)max_positions_);
    int64_t need = (n + page_positions_ - 1) / page_positions_;
    while (int64_t(pages_.size()) < need) {
        int32_t page = pool.alloc_page();
        if (page < 0)
            return resource_exhausted("KV cache full: no free page among %lld (each %d positions)",
                                      (long long)pool.n_pages(), page_positions_);
        pages_.push_back(page);
    }
    return Status::ok();
}

Status PageTable::make_private(KvPool& pool, int64_t begin, int64_t end) {
    if (end <= begin) return Status::ok();
    size_t first = size_t(begin / page_positions_);
    size_t last = std::min(pages_.size(), size_t((end + page_positions_ - 1) / page_positions_));
    for (size_t i = first; i < last; ++i) {
        int32_t old = pages_[i];
        if (pool.refcount(old) <= 1) continue;
        int32_t page = pool.alloc_page();
        if (page < 0)
            return resource_exhausted("KV cache full: no free page to copy a shared page among %lld",
                                      (long long)pool.n_pages());
        pool.copy_page(page, old);
        pool.release(old);
        pages_[i] = page;
    }
    return Status::ok();
}

void PageTable::set_positions(int64_t n) {
    CHECK(n >= 0 && n <= int64_t(pages_.size()) * page_positions_);
    n_positions_ = n;
}

void PageTable::truncate(KvPool& pool, int64_t n) {
    if (n < 0) n = 0;
    size_t keep = size_t((n + page_positions_ - 1) / page_positions_);
    while (pages_.size() > keep) {
        pool.release(pages_.back());
        pages_.pop_back();
    }
    n_positions_ = std::min<int64_t>(n_positions_, n);
}

int64_t PageTable::share_prefix(KvPool& pool, const PageTable& other, int64_t n) {
    CHECK(pages_.empty() && page_positions_ == other.page_positions_);
    n = std::min({n, other.n_positions_, max_positions_});
    int64_t whole = n / page_positions_;
    for (int64_t i = 0; i < whole; ++i) {
        pool.retain(other.pages_[size_t(i)]);
        pages_.push_back(other.pages_[size_t(i)]);
    }
    n_positions_ = whole * page_positions_;
    return n_positions_;
}

}  // namespace berth
