// berth debug logits: the prompt's logits in one batch, then greedy decoding; prints one JSON object shaped
// like an oracle case ({"tokens", "top5_per_position", "last_logits", "greedy"}).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "cli/command.h"
#include "model/model.h"

#include "tokenizer/tokenizer.h"

namespace berth::cli {
namespace {

bool parse_tokens(const std::string& s, std::vector<int32_t>* out) {
    size_t i = 0;
    while (i < s.size()) {
        size_t j = s.find(',', i);
        if (j == std::string::npos) j = s.size();
        std::string part = s.substr(i, j - i);
        char* end = nullptr;
        long v = strtol(part.c_str(), &end, 10);
        if (part.empty() || *end != '\0' || v < 0 || v > INT32_MAX) return false;
        out->push_back(int32_t(v));
        i = j + 1;
    }
    return !out->empty();
}

void print_float(float f) {
    if (std::isfinite(f))
        printf("%.9g", double(f));
    else
        printf("%s", f > 0 ? "1e38" : "-1e38");
}

int cmd_debug_logits(const std::vector<std::string>& argv) {
    Args a(argv);
    auto unknown = a.unknown({"tokens", "prompt", "n-gen", "threads"});
    if (!unknown.empty()) return fail("unknown option --%s", unknown[0].c_str());
    if (a.positional().size() != 1) return fail("expected one model path");
    const std::string path = a.positional()[0];
    const int n_gen = int(a.get_int("n-gen", 24));
    const int n_threads = int(a.get_int("threads", 0));
    if (n_gen < 0) return fail("--n-gen must not be negative");
    std::vector<int32_t> tokens;
    if (auto t = a.get("tokens")) {
        if (!parse_tokens(*t, &tokens)) return fail("--tokens must be a comma-separated list of token ids");
    } else if (auto p = a.get("prompt")) {
        auto gguf = GgufFile::open(path);
        if (!gguf.is_ok()) return fail("%s", gguf.status().to_string().c_str());
        auto tok = Tokenizer::from_gguf(**gguf);
        if (!tok.is_ok()) return fail("%s", tok.status().to_string().c_str());
        for (auto id : (*tok)->encode(*p, /*add_special=*/true, /*parse_special=*/false)) tokens.push_back(int32_t(id));
        if (tokens.empty()) return fail("the prompt tokenizes to nothing");
    } else {
        return fail("give --tokens 1,2,3 or --prompt TEXT");
    }

    ModelOptions opt;
    opt.n_ctx = int(tokens.size()) + n_gen + 1;
    opt.n_batch = int(tokens.size());
    opt.n_logits = int(tokens.size());
    opt.n_threads = n_threads;
    auto model = Model::load(path, opt);
    if (!model.is_ok()) return fail("%s", model.status().to_string().c_str());
    Model& m = **model;
    const int n_vocab = m.n_vocab();
    auto seq = m.create_sequence();
    if (!seq.is_ok()) return fail("%s", seq.status().to_string().c_str());
    std::vector<BatchToken> batch(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) batch[i] = {tokens[i], *seq, int32_t(i), true};
    auto logits = m.forward(batch.data(), int(batch.size()));
    if (!logits.is_ok()) return fail("%s", logits.status().to_string().c_str());

    printf("{\"tokens\": [");
    for (size_t i = 0; i < tokens.size(); ++i) printf("%s%d", i ? ", " : "", tokens[i]);
    printf("], \"top5_per_position\": [");
    std::vector<int32_t> idx(static_cast<size_t>(n_vocab));
    for (size_t p = 0; p < tokens.size(); ++p) {
        const float* row = *logits + p * size_t(n_vocab);
        std::iota(idx.begin(), idx.end(), 0);
        int k = std::min(5, n_vocab);
        std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                          [&](int32_t x, int32_t y) { return row[x] > row[y] || (row[x] == row[y] && x < y); });
        printf("%s[", p ? ", " : "");
        for (int j = 0; j < k; ++j) {
            printf("%s[%d, ", j ? ", " : "", idx[size_t(j)]);
            print_float(row[idx[size_t(j)]]);
            printf("]");
        }
        printf("]");
    }
    const float* last = *logits + (tokens.size() - 1) * size_t(n_vocab);
    printf("], \"last_logits\": [");
    for (int i = 0; i < n_vocab; ++i) {
        if (i) printf(", ");
        print_float(last[i]);
    }
    printf("], \"greedy\": [");
    int32_t next = int32_t(std::max_element(last, last + n_vocab) - last);
    for (int i = 0; i < n_gen; ++i) {
        printf("%s%d", i ? ", " : "", next);
        if (i + 1 == n_gen) break;
        BatchToken bt{next, *seq, int32_t(tokens.size()) + i, true};
        auto out = m.forward(&bt, 1);
        if (!out.is_ok()) {
            fflush(stdout);
            return fail("%s", out.status().to_string().c_str());
        }
        next = int32_t(std::max_element(*out, *out + n_vocab) - *out);
    }
    printf("]}\n");
    return 0;
}

}  // namespace

BERTH_COMMAND(debug_logits, "debug logits",
              "berth debug logits MODEL.gguf (--tokens 1,2,3 | --prompt TEXT) [--n-gen N] [--threads N]",
              "print prompt logits and a greedy continuation as JSON (oracle format)", cmd_debug_logits);

}  // namespace berth::cli
