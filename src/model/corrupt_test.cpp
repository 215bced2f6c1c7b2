// Corrupt metadata in real model files: counts that would size tables before any tensor is looked at are
// refused with corrupt_data naming the key, instead of an allocation of hundreds of GiB (std::bad_alloc).
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "model/model.h"

namespace berth {
namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A copy of `model` (in the test data) whose u32 metadata `key` holds `value`, written to a temporary file.
std::string with_u32(const std::string& model, const std::string& key, uint32_t value) {
    std::string bytes = read_file(std::string(BERTH_TESTDATA) + "/models/" + model);
    std::string needle(8, '\0');
    uint64_t len = key.size();
    std::memcpy(needle.data(), &len, 8);
    needle += key;
    size_t at = bytes.find(needle);
    EXPECT_NE(at, std::string::npos) << key;
    if (at == std::string::npos) return "";
    uint32_t type;
    std::memcpy(&type, bytes.data() + at + needle.size(), 4);
    EXPECT_EQ(type, uint32_t(GgufType::UINT32)) << key;
    std::memcpy(bytes.data() + at + needle.size() + 4, &value, 4);
    std::string path = testing::TempDir() + "/corrupt-" + model;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

TEST(Corrupt, HugeBlockCountIsRefusedBeforeAllocating) {
    // Issue 16: block_count 2^30 made the layer table ask for hundreds of GiB (a 500 "std::bad_alloc").
    std::string path = with_u32("stories260K.gguf", "llama.block_count", 1u << 30);
    ASSERT_FALSE(path.empty());
    ModelOptions o;
    o.n_threads = 1;
    Result<MemoryPlan> p = plan(path, o);
    ASSERT_FALSE(p.is_ok());
    EXPECT_EQ(p.status().code(), StatusCode::corrupt_data);
    EXPECT_NE(p.status().message().find("block_count is 1073741824 but the file has only"), std::string::npos)
        << p.status().message();
    Result<std::unique_ptr<Model>> m = Model::load(path, o);
    ASSERT_FALSE(m.is_ok());
    EXPECT_EQ(m.status().code(), StatusCode::corrupt_data);
}

TEST(Corrupt, HugeBertBlockCountIsRefusedBeforeAllocating) {
    std::string path = with_u32("bert-q8_0.gguf", "bert.block_count", 1u << 24);
    ASSERT_FALSE(path.empty());
    Result<std::unique_ptr<EmbeddingModel>> m = EmbeddingModel::load(path, 1);
    ASSERT_FALSE(m.is_ok());
    EXPECT_EQ(m.status().code(), StatusCode::corrupt_data);
    EXPECT_NE(m.status().message().find("bert.block_count is 16777216"), std::string::npos) << m.status().message();
}

}  // namespace
}  // namespace berth
