#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "memory/memory.h"

namespace berth {

TEST(Arena, ReservesCommittedMemoryAndReleasesIt) {
    auto before = read_process_memory();
    ASSERT_TRUE(before.is_ok());
    const size_t n = 64 << 20;
    {
        auto a = Arena::reserve(n, "test");
        ASSERT_TRUE(a.is_ok()) << a.status().message();
        EXPECT_GE(a->size(), n);
        auto during = read_process_memory();
        // Committed at reservation: RssAnon grew by (almost) the whole arena before any use.
        EXPECT_GT(during->rss_anon - before->rss_anon, int64_t(n) - (4 << 20));
    }
    auto after = read_process_memory();
    // AddressSanitizer keeps the shadow of an unmapped region (one byte per eight) in RssAnon: that is the
    // sanitizer's memory, not the arena's.
    int64_t tolerance = 4 << 20;
#if defined(__SANITIZE_ADDRESS__)
    tolerance += int64_t(n / 8);
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    tolerance += int64_t(n / 8);
#endif
#endif
    EXPECT_LT(after->rss_anon - before->rss_anon, tolerance);
}

TEST(Arena, ImpossibleReservationIsAnErrorNotACrash) {
    auto a = Arena::reserve(size_t(1) << 60, "impossible");
    EXPECT_FALSE(a.is_ok());
    EXPECT_EQ(a.status().code(), StatusCode::resource_exhausted);
}

TEST(BumpAllocator, AlignsAndTracksHighWater) {
    alignas(64) static uint8_t buf[4096];
    BumpAllocator b(buf, sizeof buf);
    void* p = b.alloc(10);
    void* q = b.alloc(10);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(q) % 64, 0u);
    EXPECT_NE(p, q);
    b.reset();
    EXPECT_EQ(b.used(), 0u);
    EXPECT_EQ(b.high_water(), 74u);
}

TEST(MappedFile, MapsAndReportsResidency) {
    std::string path = testing::TempDir() + "/berth_map_test.bin";
    {
        std::ofstream f(path, std::ios::binary);
        std::string data(1 << 20, 'x');
        f << data;
    }
    auto m = MappedFile::open(path);
    ASSERT_TRUE(m.is_ok());
    EXPECT_EQ(m->size(), size_t(1) << 20);
    uint8_t sum = 0;
    for (size_t i = 0; i < m->size(); i += 4096) sum = uint8_t(sum + m->data()[i]);
    EXPECT_EQ(sum, uint8_t((m->size() / 4096) * 'x'));
    EXPECT_EQ(m->resident_bytes(), m->size());
    EXPECT_FALSE(MappedFile::open("/nonexistent/file.gguf").is_ok());
    std::remove(path.c_str());
}

namespace {
std::string write_file(const std::string& name, size_t bytes, char fill) {
    std::string path = testing::TempDir() + "/" + name;
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << std::string(bytes, fill);
    return path;
}
}  // namespace

// Truncated in place while mapped: the pages past the new end read as zeros instead of raising SIGBUS, and the
// mapping says so.
TEST(MappedFile, TruncationInPlaceReadsZerosNotSigbus) {
    const size_t page = page_size();
    std::string path = write_file("berth_truncate_test.bin", 4 * page, 'x');
    auto m = MappedFile::open(path);
    ASSERT_TRUE(m.is_ok());
    EXPECT_EQ(m->data()[3 * page], 'x');
    EXPECT_EQ(m->file_state(), FileState::intact);
    ASSERT_EQ(truncate(path.c_str(), off_t(page)), 0);
    EXPECT_EQ(m->file_state(), FileState::changed) << "seen by fstat before any fault";
    EXPECT_FALSE(m->faulted());
    volatile const uint8_t* p = m->data();
    EXPECT_EQ(p[0], 'x') << "pages inside the file keep their bytes";
    EXPECT_EQ(p[3 * page + 5], 0) << "past the end: zeros, not SIGBUS";
    EXPECT_EQ(p[2 * page], 0);
    EXPECT_TRUE(m->faulted());
    EXPECT_EQ(m->file_state(), FileState::changed);
    std::remove(path.c_str());
}

// Renamed over or deleted: the mapping keeps the old bytes, which stay valid.
TEST(MappedFile, ReplacedOrDeletedFileKeepsTheMappedCopy) {
    const size_t page = page_size();
    std::string path = write_file("berth_replace_test.bin", 2 * page, 'a');
    auto m = MappedFile::open(path);
    ASSERT_TRUE(m.is_ok());
    std::string other = write_file("berth_replace_test.new", page, 'b');
    ASSERT_EQ(rename(other.c_str(), path.c_str()), 0);
    EXPECT_EQ(m->file_state(), FileState::replaced);
    EXPECT_EQ(m->data()[2 * page - 1], 'a');
    std::remove(path.c_str());
    EXPECT_EQ(m->file_state(), FileState::replaced);
    EXPECT_EQ(m->data()[0], 'a');
    EXPECT_FALSE(m->faulted());
}

// A bus error outside any guarded mapping still ends the process (the guard does not swallow real faults).
TEST(MappedFileDeathTest, UnguardedBusErrorStillCrashes) {
    const size_t page = page_size();
    std::string path = write_file("berth_unguarded_test.bin", 2 * page, 'x');
    auto m = MappedFile::open(path);  // installs the guard
    ASSERT_TRUE(m.is_ok());
    EXPECT_DEATH(
        {
            int fd = open(path.c_str(), O_RDONLY);
            auto* raw = static_cast<volatile uint8_t*>(mmap(nullptr, 2 * page, PROT_READ, MAP_PRIVATE, fd, 0));
            (void)!ftruncate(open(path.c_str(), O_RDWR), 0);
            uint8_t v = raw[page];
            (void)v;
        },
        "");
    std::remove(path.c_str());
}

TEST(Ledger, SumsByKind) {
    Ledger l;
    l.set("a", MemoryKind::weights_mapped, 100);
    l.set("a", MemoryKind::kv, 10);
    l.set("a", MemoryKind::weights_resident, 50);  // informational, not added to the total
    l.set("b", MemoryKind::scratch, 5);
    EXPECT_EQ(l.model_total("a"), 110);
    EXPECT_EQ(l.total(), 115);
    EXPECT_EQ(l.anonymous_total(), 15);
    l.erase_model("a");
    EXPECT_EQ(l.total(), 5);
}

TEST(Ledger, DeviceRowsAreTheirOwnDimension) {
    Ledger l;
    l.set("a", MemoryKind::weights_mapped, 100);
    l.set("a", MemoryKind::kv, 10);
    l.set_device("a", 0, DeviceMemoryKind::weights, 1000);
    l.set_device("a", 0, DeviceMemoryKind::kv, 200);
    l.set_device("a", 1, DeviceMemoryKind::scratch, 30);
    l.set_device("b", 0, DeviceMemoryKind::scratch, 7);
    l.set_device_context(0, 500);
    // Device bytes are not host memory: host totals are unchanged.
    EXPECT_EQ(l.model_total("a"), 110);
    EXPECT_EQ(l.anonymous_total(), 10);
    EXPECT_EQ(l.get_device("a", 0, DeviceMemoryKind::kv), 200);
    EXPECT_EQ(l.model_device_total("a", 0), 1200);
    EXPECT_EQ(l.model_device_total("a", 1), 30);
    EXPECT_EQ(l.device_total(0), 1207);  // the context is its own row, not a model's
    EXPECT_EQ(l.device_context(0), 500);
    auto rows = l.snapshot();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].device_total(0), 1200);
    EXPECT_EQ(rows[0].device_bytes[1][int(DeviceMemoryKind::scratch)], 30);
    // A host-backed device (the stand-in) is host memory too: it counts in the host totals.
    l.set_device_host_backed(0, true);
    EXPECT_EQ(l.model_total("a"), 110 + 1200);
    EXPECT_EQ(l.anonymous_total(), 10 + 1207);
    EXPECT_EQ(l.total(), 110 + 1207);
    // The device context's host memory (a GPU runtime's libraries) is host memory of no model.
    l.set_device_host_context(1, 90);
    EXPECT_EQ(l.device_host_context(1), 90);
    EXPECT_EQ(l.anonymous_total(), 10 + 1207 + 90);
    EXPECT_EQ(l.total(), 110 + 1207 + 90);
    EXPECT_EQ(l.model_total("a"), 110 + 1200);
    l.erase_model("a");
    EXPECT_EQ(l.device_total(0), 7);
    EXPECT_EQ(l.device_total(1), 0);
    EXPECT_STREQ(device_memory_kind_name(DeviceMemoryKind::kv), "kv");
}

}  // namespace berth

namespace berth {

TEST(MemoryHistory, KeepsTheNewestSamplesInOrderWithoutGrowing) {
    MemoryHistory h(4);
    for (int i = 1; i <= 6; i++) {
        MemorySample s;
        s.t_ms = i;
        h.push(s);
    }
    EXPECT_EQ(h.size(), 4u);
    EXPECT_EQ(h.capacity(), 4u);
    auto all = h.snapshot();
    ASSERT_EQ(all.size(), 4u);
    EXPECT_EQ(all.front().t_ms, 3);
    EXPECT_EQ(all.back().t_ms, 6);
    auto last2 = h.snapshot(2);
    ASSERT_EQ(last2.size(), 2u);
    EXPECT_EQ(last2[0].t_ms, 5);
}

TEST(Allocator, TrimReturnsFreedHeapToTheSystem) {
#ifdef BERTH_SANITIZE
    GTEST_SKIP() << "AddressSanitizer replaces malloc; glibc's trimming is measured in the release build";
#endif
    configure_process_allocator();
    // Many small blocks (below the mmap threshold) freed again: after trimming, RssAnon falls back.
    auto before = read_process_memory();
    std::vector<char*> blocks;
    for (int i = 0; i < 20000; i++) {
        char* p = static_cast<char*>(malloc(4000));
        memset(p, 1, 4000);
        blocks.push_back(p);
    }
    auto peak = read_process_memory();
    EXPECT_GT(peak->rss_anon - before->rss_anon, 60 << 20);
    for (char* p : blocks) free(p);
    trim_heap();
    auto after = read_process_memory();
    EXPECT_LT(after->rss_anon - before->rss_anon, 8 << 20);
    EXPECT_GE(heap_stats().in_use, 0);
}

}  // namespace berth
