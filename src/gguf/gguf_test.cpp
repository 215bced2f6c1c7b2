#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <filesystem>
#include <random>

#include "gguf/gguf.h"

namespace berth {
namespace {

std::string f32_data(int64_t n, float start) {
    std::string s(size_t(n) * 4, '\0');
    for (int64_t i = 0; i < n; i++) {
        float v = start + float(i);
        memcpy(&s[size_t(i) * 4], &v, 4);
    }
    return s;
}

// A small but complete file: every metadata type, an array of strings, two tensors.
std::string small_file() {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_u32("llama.block_count", 2);
    w.set_i32("test.i32", -5);
    w.set_u64("test.u64", 1ull << 40);
    w.set_f32("test.f32", 0.5f);
    w.set_bool("test.bool", true);
    w.set_array_string("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "hello"});
    w.set_array_f32("tokenizer.ggml.scores", {0, 0, 0, -1.5f});
    w.set_array_i32("test.ints", {1, -2, 3});
    w.add_tensor("a", DType::F32, {4, 2}, f32_data(8, 1));
    w.add_tensor("b", DType::F32, {3}, f32_data(3, 100));
    return w.serialize();
}

Result<std::unique_ptr<GgufFile>> parse(const std::string& s) {
    return GgufFile::parse(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// Float array elements read as integers saturate (a plain conversion of 1e30 is undefined behaviour; found by
// fuzz/gguf_fuzz, input in fuzz/regressions/gguf/).
TEST(Gguf, FloatArraysReadAsIntegersSaturate) {
    GgufWriter w;
    w.set_array_f32("f", {1e30f, -1e30f, std::nanf(""), 2.7f, -2.7f});
    std::string bytes = w.serialize();
    auto f = parse(bytes);
    ASSERT_TRUE(f.is_ok()) << f.status().message();
    const GgufValue* a = (*f)->get_array("f");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->int_at(0), std::numeric_limits<int64_t>::max());
    EXPECT_EQ(a->int_at(1), std::numeric_limits<int64_t>::min());
    EXPECT_EQ(a->int_at(2), 0);
    EXPECT_EQ(a->int_at(3), 2);
    EXPECT_EQ(a->int_at(4), -2);
}

TEST(Gguf, RoundTripsEveryValueType) {
    std::string bytes = small_file();
    auto f = parse(bytes);
    ASSERT_TRUE(f.is_ok()) << f.status().message();
    GgufFile& g = **f;
    EXPECT_EQ(g.version(), 3u);
    EXPECT_EQ(*g.get_string("general.architecture"), "llama");
    EXPECT_EQ(*g.get_int("llama.block_count"), 2);
    EXPECT_EQ(*g.get_int("test.i32"), -5);
    EXPECT_EQ(*g.get_int("test.u64"), int64_t(1) << 40);
    EXPECT_EQ(*g.get_float("test.f32"), 0.5);
    EXPECT_EQ(*g.get_bool("test.bool"), true);
    EXPECT_FALSE(g.get_int("general.architecture").has_value());
    EXPECT_FALSE(g.get_string("missing").has_value());
    const GgufValue* toks = g.get_array("tokenizer.ggml.tokens");
    ASSERT_NE(toks, nullptr);
    ASSERT_EQ(toks->strings.size(), 4u);
    EXPECT_EQ(toks->strings[3], "hello");
    EXPECT_EQ(g.get_array("tokenizer.ggml.scores")->float_at(3), -1.5);
    EXPECT_EQ(g.get_array("test.ints")->int_at(1), -2);
    ASSERT_EQ(g.tensors().size(), 2u);
    const GgufTensorInfo* b = g.find_tensor("b");
    ASSERT_NE(b, nullptr);
    TensorView v = g.view(*b);
    EXPECT_EQ(v.ne[0], 3);
    EXPECT_EQ(static_cast<const float*>(v.data)[2], 102.0f);
    EXPECT_EQ(g.data_offset() % 32, 0u);
    EXPECT_EQ(static_cast<const float*>(g.view(*g.find_tensor("a")).data)[7], 8.0f);
}

TEST(Gguf, EveryTruncationIsRefusedCleanly) {
    std::string bytes = small_file();
    for (size_t n = 0; n < bytes.size(); n++) {
        std::string cut = bytes.substr(0, n);
        auto f = parse(cut);
        // The last tensor's padding is not data: cutting only padding still leaves a valid file.
        if (f.is_ok()) {
            for (auto& t : (*f)->tensors()) EXPECT_LE((*f)->data_offset() + t.offset + t.n_bytes, n);
            continue;
        }
        EXPECT_FALSE(f.status().message().empty());
    }
}

TEST(Gguf, RandomByteFlipsNeverCrash) {
    std::string bytes = small_file();
    std::mt19937 rng(1234);
    int refused = 0;
    for (int iter = 0; iter < 3000; iter++) {
        std::string m = bytes;
        int flips = 1 + int(rng() % 4);
        for (int k = 0; k < flips; k++) m[rng() % m.size()] ^= char(1 + rng() % 255);
        auto f = parse(m);
        if (!f.is_ok()) {
            refused++;
            continue;
        }
        // Whatever parsed must be internally consistent: every tensor lies inside the buffer.
        for (auto& t : (*f)->tensors()) {
            TensorView v = (*f)->view(t);
            const uint8_t* end = static_cast<const uint8_t*>(v.data) + t.n_bytes;
            EXPECT_LE(end, reinterpret_cast<const uint8_t*>(m.data()) + m.size());
        }
    }
    EXPECT_GT(refused, 100);
}

void expect_refused(const std::string& bytes, const std::string& fragment) {
    auto f = parse(bytes);
    ASSERT_FALSE(f.is_ok()) << "expected refusal containing: " << fragment;
    EXPECT_NE(f.status().message().find(fragment), std::string::npos) << f.status().message();
}

template <typename T>
void poke(std::string& s, size_t off, T v) {
    memcpy(&s[off], &v, sizeof v);
}

TEST(Gguf, MalformedFilesHaveClearMessages) {
    std::string good = small_file();
    {
        std::string b = good;
        b[0] = 'X';
        expect_refused(b, "bad magic");
    }
    {
        std::string b = good;
        poke<uint32_t>(b, 4, 1);
        expect_refused(b, "version 1");
        poke<uint32_t>(b, 4, 7);
        expect_refused(b, "unsupported GGUF version 7");
    }
    {
        std::string b = good;
        poke<uint64_t>(b, 8, 1ull << 50);
        expect_refused(b, "tensor count");
        b = good;
        poke<uint64_t>(b, 16, 1ull << 40);
        expect_refused(b, "metadata count");
    }
    {
        std::string b = good;
        poke<uint64_t>(b, 24, 1ull << 40);  // length of the first key
        expect_refused(b, "runs past the end");
    }
    {  // unknown metadata type
        GgufWriter w;
        w.set_raw("x", GgufType(99), "");
        expect_refused(w.serialize(), "unknown value type 99");
    }
    {  // array count that cannot fit
        GgufWriter w;
        std::string v;
        uint32_t et = uint32_t(GgufType::UINT32);
        uint64_t n = 1ull << 40;
        v.append(reinterpret_cast<char*>(&et), 4);
        v.append(reinterpret_cast<char*>(&n), 8);
        w.set_raw("arr", GgufType::ARRAY, v);
        expect_refused(w.serialize(), "runs past the end");
    }
    {  // string array with a count that cannot fit
        GgufWriter w;
        std::string v;
        uint32_t et = uint32_t(GgufType::STRING);
        uint64_t n = 1ull << 40;
        v.append(reinterpret_cast<char*>(&et), 4);
        v.append(reinterpret_cast<char*>(&n), 8);
        w.set_raw("arr", GgufType::ARRAY, v);
        expect_refused(w.serialize(), "cannot fit");
    }
    {  // bool that is neither 0 nor 1
        GgufWriter w;
        w.set_raw("b", GgufType::BOOL, std::string(1, '\x05'));
        expect_refused(w.serialize(), "bool value 5");
    }
    {  // bad alignment
        GgufWriter w;
        w.set_u32("general.alignment", 48);
        expect_refused(w.serialize(), "power of two");
    }
    {  // duplicate key
        GgufWriter w;
        w.set_u32("a", 1);
        w.set_raw("b", GgufType::UINT32, std::string(4, '\0'));
        std::string s = w.serialize();
        size_t pos = s.find('b', 24);
        s[pos] = 'a';
        expect_refused(s, "duplicate metadata key a");
    }
}

// Builds a file with one tensor and then edits its info to exercise the tensor checks.
struct OneTensor {
    std::string bytes;
    size_t info_off;  // offset of the tensor's n_dims field
};
OneTensor one_tensor() {
    GgufWriter w;
    w.add_tensor("t", DType::F32, {8}, f32_data(8, 0));
    OneTensor o;
    o.bytes = w.serialize();
    o.info_off = 4 + 4 + 8 + 8 + 8 + 1;  // header, name length, name "t"
    return o;
}

TEST(Gguf, MalformedTensorInfos) {
    {
        OneTensor o = one_tensor();
        poke<uint32_t>(o.bytes, o.info_off, 9);
        expect_refused(o.bytes, "9 dimensions");
    }
    {
        OneTensor o = one_tensor();
        poke<int64_t>(o.bytes, o.info_off + 4, -3);
        expect_refused(o.bytes, "dimension 0 is -3");
    }
    {
        OneTensor o = one_tensor();
        poke<uint32_t>(o.bytes, o.info_off + 12, 77);
        expect_refused(o.bytes, "unknown or unsupported tensor type 77");
    }
    {
        OneTensor o = one_tensor();
        poke<uint32_t>(o.bytes, o.info_off + 12, uint32_t(DType::Q8_0));  // 8 elements: not a multiple of 32
        expect_refused(o.bytes, "not a multiple");
    }
    {
        OneTensor o = one_tensor();
        poke<uint64_t>(o.bytes, o.info_off + 16, 4096);
        expect_refused(o.bytes, "outside the data section");
        poke<uint64_t>(o.bytes, o.info_off + 16, 3);
        expect_refused(o.bytes, "not aligned");
    }
    {
        OneTensor o = one_tensor();
        poke<int64_t>(o.bytes, o.info_off + 4, int64_t(1) << 40);
        expect_refused(o.bytes, "outside the data section");
    }
    {  // 4-D overflow
        GgufWriter w;
        w.add_tensor("t", DType::F32, {1, 1, 1, 1}, f32_data(1, 0));
        std::string b = w.serialize();
        size_t off = 4 + 4 + 8 + 8 + 8 + 1 + 4;
        for (int d = 0; d < 4; d++) poke<int64_t>(b, off + 8 * d, int64_t(1) << 40);
        expect_refused(b, "overflows");
    }
    {  // overlap
        GgufWriter w;
        w.add_tensor("a", DType::F32, {8}, f32_data(8, 0));
        w.add_tensor("b", DType::F32, {8}, f32_data(8, 0));
        std::string b = w.serialize();
        size_t pos = b.find('b', 24);  // name of the second tensor, then dims(4) ne(8) type(4) offset(8)
        poke<uint64_t>(b, pos + 1 + 4 + 8 + 4, 0);
        expect_refused(b, "overlap");
    }
}

TEST(Gguf, OpensEveryTestDataFile) {
    int n = 0;
    for (const char* dir : {"/models", "/vocab"}) {
        for (auto& e : std::filesystem::directory_iterator(std::string(BERTH_TESTDATA) + dir)) {
            if (e.path().extension() != ".gguf") continue;
            auto f = GgufFile::open(e.path().string());
            ASSERT_TRUE(f.is_ok()) << e.path() << ": " << f.status().message();
            EXPECT_TRUE((*f)->get_string("general.architecture").has_value()) << e.path();
            n++;
        }
    }
    EXPECT_GE(n, 40);
}

TEST(Gguf, FileErrorsNameTheFile) {
    auto f = GgufFile::open("/nonexistent/model.gguf");
    ASSERT_FALSE(f.is_ok());
    EXPECT_NE(f.status().message().find("/nonexistent/model.gguf"), std::string::npos);
    EXPECT_EQ(f.status().code(), StatusCode::not_found);
}

TEST(Gguf, WriterWritesFilesAtomically) {
    std::string path = testing::TempDir() + "/berth_writer_test.gguf";
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.add_tensor("x", DType::F32, {2}, f32_data(2, 3));
    ASSERT_TRUE(w.write(path).is_ok());
    auto f = GgufFile::open(path);
    ASSERT_TRUE(f.is_ok());
    EXPECT_EQ(static_cast<const float*>((*f)->view((*f)->tensors()[0]).data)[1], 4.0f);
    std::filesystem::remove(path);
}

}  // namespace
}  // namespace berth
