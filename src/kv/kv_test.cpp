#include "kv/kv.h"

#include <gtest/gtest.h>

#include <set>

namespace berth {
namespace {

KvShape small_shape(DType t = DType::F16) {
    KvShape s;
    s.n_layer = 3;
    s.n_head_kv = 2;
    s.head_dim = 32;
    s.type = t;
    s.page_positions = 4;
    return s;
}

TEST(KvPool, SizesFollowTheShape) {
    KvShape s = small_shape();
    EXPECT_EQ(kv_position_bytes(s), 2 * 32 * 2);
    EXPECT_EQ(kv_page_bytes(s), 2 * 3 * 4 * 128);
    EXPECT_EQ(kv_pages_for(s, 10, 3), 3 * 3);
    s.type = DType::Q8_0;
    EXPECT_EQ(kv_position_bytes(s), 2 * 34);
    EXPECT_EQ(kv_pool_bytes(s, 1) % int64_t(page_size()), 0);
}

TEST(KvPool, RejectsBadShapes) {
    KvShape s = small_shape(DType::Q4_0);
    s.head_dim = 8;
    EXPECT_EQ(validate_kv_shape(s).code(), StatusCode::unsupported);
    s = small_shape(DType::Q4_K);
    EXPECT_EQ(validate_kv_shape(s).code(), StatusCode::unsupported);
    s = small_shape();
    s.n_layer = -1;
    EXPECT_FALSE(KvPool::create(s, 4).is_ok());
    s.head_dim = 0;
    s.n_layer = 0;
    EXPECT_FALSE(KvPool::create(s, 4).is_ok());
}

// Every layer on a device: the host pool keeps the pages' bookkeeping and reserves nothing; copy-on-write of a
// shared page is passed to the hook that copies the device's layers.
TEST(KvPool, BookkeepingOnlyPoolCallsTheCopyHook) {
    KvShape s = small_shape();
    s.n_layer = 0;
    auto pool = KvPool::create(s, 4);
    ASSERT_TRUE(pool.is_ok()) << pool.status().to_string();
    EXPECT_EQ(pool->bytes(), 0);
    EXPECT_EQ(pool->page_bytes(), 0);
    std::vector<std::pair<int32_t, int32_t>> copies;
    copies.reserve(4);
    pool->set_page_copy_hook(
        [](void* ctx, int32_t dst, int32_t src) {
            static_cast<std::vector<std::pair<int32_t, int32_t>>*>(ctx)->emplace_back(dst, src);
        },
        &copies);
    PageTable a(16, 4), b(16, 4);
    ASSERT_TRUE(a.reserve(*pool, 8).is_ok());
    a.set_positions(8);
    EXPECT_EQ(b.share_prefix(*pool, a, 8), 8);
    ASSERT_TRUE(b.make_private(*pool, 4, 8).is_ok());  // b writes into its second page: copied first
    ASSERT_EQ(copies.size(), 1u);
    EXPECT_EQ(copies[0].second, a.pages()[1]);
    EXPECT_EQ(copies[0].first, b.pages()[1]);
    EXPECT_NE(b.pages()[1], a.pages()[1]);
    EXPECT_EQ(pool->n_free(), 1);
}

TEST(KvPool, AllocatesDistinctPagesAndExhaustsCleanly) {
    auto pool = KvPool::create(small_shape(), 5);
    ASSERT_TRUE(pool.is_ok()) << pool.status().to_string();
    EXPECT_EQ(pool->bytes(), kv_pool_bytes(small_shape(), 5));
    std::set<int32_t> got;
    for (int i = 0; i < 5; ++i) got.insert(pool->alloc_page());
    EXPECT_EQ(got.size(), 5u);
    EXPECT_EQ(*got.begin(), 0);
    EXPECT_EQ(pool->n_free(), 0);
    EXPECT_EQ(pool->alloc_page(), -1);  // exhaustion is a value, not a crash
    for (int32_t p : got) pool->release(p);
    EXPECT_EQ(pool->n_free(), 5);
}

TEST(KvPool, TilesDoNotOverlap) {
    KvShape s = small_shape();
    auto pool = KvPool::create(s, 2);
    ASSERT_TRUE(pool.is_ok());
    int64_t tile = kv_position_bytes(s) * s.page_positions;
    std::set<uint8_t*> starts;
    for (int32_t p = 0; p < 2; ++p)
        for (int l = 0; l < s.n_layer; ++l) {
            starts.insert(pool->k_data(p, l));
            starts.insert(pool->v_data(p, l));
            EXPECT_GE(pool->v_data(p, l) - pool->k_data(p, l), tile);
            memset(pool->k_data(p, l), 0xab, size_t(tile));  // ASan would flag writes outside the arena
            memset(pool->v_data(p, l), 0xcd, size_t(tile));
        }
    EXPECT_EQ(starts.size(), size_t(2 * 2 * s.n_layer));
    EXPECT_LE(pool->v_data(1, s.n_layer - 1) + tile, pool->k_data(0, 0) + pool->bytes());
}

TEST(PageTable, GrowsTruncatesAndReturnsPages) {
    auto pool = KvPool::create(small_shape(), 4);
    ASSERT_TRUE(pool.is_ok());
    PageTable a(12, 4);
    ASSERT_TRUE(a.reserve(*pool, 5).is_ok());
    EXPECT_EQ(a.pages().size(), 2u);
    a.set_positions(5);
    EXPECT_EQ(a.page_of(4), a.pages()[1]);
    EXPECT_EQ(a.slot_of(4), 0);
    EXPECT_EQ(a.reserve(*pool, 13).code(), StatusCode::invalid_argument);  // beyond the context
    PageTable b(12, 4);
    EXPECT_TRUE(b.reserve(*pool, 8).is_ok());
    EXPECT_EQ(pool->n_free(), 0);
    PageTable c(12, 4);
    EXPECT_EQ(c.reserve(*pool, 1).code(), StatusCode::resource_exhausted);
    a.truncate(*pool, 3);
    EXPECT_EQ(a.pages().size(), 1u);
    EXPECT_EQ(a.n_positions(), 3);
    EXPECT_EQ(pool->n_free(), 1);
    a.clear(*pool);
    b.clear(*pool);
    EXPECT_EQ(pool->n_free(), 4);
}

TEST(PageTable, SharesWholePagesWithRefcounts) {
    auto pool = KvPool::create(small_shape(), 6);
    ASSERT_TRUE(pool.is_ok());
    PageTable a(16, 4);
    ASSERT_TRUE(a.reserve(*pool, 10).is_ok());
    a.set_positions(10);
    PageTable b(16, 4);
    EXPECT_EQ(b.share_prefix(*pool, a, 10), 8);  // the partly filled third page is not shared
    EXPECT_EQ(pool->refcount(a.pages()[0]), 2);
    EXPECT_EQ(pool->n_free(), 3);
    a.clear(*pool);
    EXPECT_EQ(pool->n_free(), 4);  // only a's private page came back
    b.clear(*pool);
    EXPECT_EQ(pool->n_free(), 6);
}

}  // namespace
}  // namespace berth
