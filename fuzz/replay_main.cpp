// Replays a fuzz target's committed inputs as unit tests: every file under fuzz/corpus/<target>/ and
// fuzz/regressions/<target>/ goes through the target's LLVMFuzzerTestOneInput, in the normal and the ASan
// builds. A crash (CHECK, sanitizer report, the target's own abort) fails the test binary.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

namespace fs = std::filesystem;

// Files of a directory, sorted by name (missing directory: none).
std::vector<fs::path> inputs_in(const fs::path& dir) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        if (e.is_regular_file()) out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

void replay(const fs::path& dir) {
    std::vector<fs::path> files = inputs_in(dir);
    for (const fs::path& p : files) {
        std::ifstream in(p, std::ios::binary);
        ASSERT_TRUE(in) << p;
        std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        SCOPED_TRACE(p.string());
        // A copy of exactly `size` bytes, so that ASan sees reads past the end as libFuzzer would.
        std::unique_ptr<uint8_t[]> copy(new uint8_t[std::max<size_t>(bytes.size(), 1)]);
        std::copy(bytes.begin(), bytes.end(), copy.get());
        LLVMFuzzerTestOneInput(copy.get(), bytes.size());
    }
    printf("replayed %zu inputs from %s\n", files.size(), dir.c_str());
}

const fs::path kRoot = fs::path(BERTH_FUZZ_DIR);

TEST(FuzzReplay, Corpus) {
    // The seed corpus is committed: an empty one means the target was never seeded (or the path is wrong).
    ASSERT_FALSE(inputs_in(kRoot / "corpus" / BERTH_FUZZ_TARGET).empty())
        << "no seed inputs in " << (kRoot / "corpus" / BERTH_FUZZ_TARGET);
    replay(kRoot / "corpus" / BERTH_FUZZ_TARGET);
}

TEST(FuzzReplay, Regressions) { replay(kRoot / "regressions" / BERTH_FUZZ_TARGET); }

}  // namespace

int main(int argc, char** argv) {
    testing::InitGoogleTest(&argc, argv);
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    return RUN_ALL_TESTS();
}
