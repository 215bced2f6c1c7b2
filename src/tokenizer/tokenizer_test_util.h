// Helpers shared by the tokenizer test files (test-only; not part of the library).
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace berth::tokenizer_test {

inline const std::string kData = BERTH_TESTDATA;

inline std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// A vocabulary file and the tokenizer built from it (the tokenizer may point into the file).
struct Loaded {
    std::unique_ptr<GgufFile> file;
    std::unique_ptr<Tokenizer> tok;
    const Tokenizer* operator->() const { return tok.get(); }
};

// Opens a GGUF and builds its tokenizer; failures are test failures and leave `tok` empty.
inline Loaded load(const std::string& path) {
    Loaded l;
    auto f = GgufFile::open(path);
    EXPECT_TRUE(f.is_ok()) << f.status().to_string();
    if (!f.is_ok()) return l;
    l.file = std::move(f).value();
    auto t = Tokenizer::from_gguf(*l.file);
    EXPECT_TRUE(t.is_ok()) << t.status().to_string();
    if (t.is_ok()) l.tok = std::move(t).value();
    return l;
}

inline std::string vocab_path(const std::string& name) { return kData + "/vocab/ggml-vocab-" + name + ".gguf"; }

// The reference's test inputs: strings separated by "\n__ggml_vocab_test__\n" in <vocab>.gguf.inp.
inline std::vector<std::string> vocab_inputs(const std::string& name) {
    std::string inp = read_file(vocab_path(name) + ".inp");
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> v;
    for (size_t pos = 0;;) {
        size_t e = inp.find(sep, pos);
        if (e == std::string::npos) break;
        v.push_back(inp.substr(pos, e - pos));
        pos = e + sep.size();
    }
    return v;
}

}  // namespace berth::tokenizer_test
