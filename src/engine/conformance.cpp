// grammar_conformance: constrained generation end to end. For every schema file of the conformance set
// (src/grammar/testdata/conformance: the shapes Pydantic, Zod via LangChain and the AI SDK, the openai SDK and
// Open WebUI send), the real engine generates documents on the shared random-weight test models with random
// sampling, and an independent validator (validate.py, python3-jsonschema) checks every one of them.
//
// A random-weight model almost never picks a token that closes a string, so left alone its documents run
// into num_predict. The backend here is the real model with a bias added to the logits of tokens containing
// '"' (q), '}' or ']' (c), ':', '@' or '.' (c/2: URI schemes, emails, hosts) or digits (q/4: patterns and
// formats that need one), q and c each 4, 10 or 16 by document. Documents end within a few dozen tokens, while
// the grammar still sees every kind of token the model proposes (biased ones are
// refused where they do not fit, and masked as usual).
//
// Per schema and model, documents are generated until STOPPED_PER_MODEL of them ended with "stop" (the
// grammar finished) or 6 times as many were tried. The validator fails on any invalid document and asks for
// at least STOPPED_PER_MODEL / 2 valid ones per schema. The ctest default (12) keeps the run near a minute
// of CPU; 36 gives 100+ documents for most schemas (the schemas with long formatted strings, such as
// pydantic_constrained, end far more rarely on random weights: see the counts the validator prints).
//
// usage: grammar_conformance TESTDATA SCHEMA_DIR PYTHON OUT.jsonl [STOPPED_PER_MODEL]
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "engine/engine.h"
#include "tokenizer/tokenizer.h"

using namespace berth;
using Json = nlohmann::ordered_json;

namespace {

class BiasedBackend final : public Backend {
  public:
    // kind: (n_vocab) the bias class of each token (0: none).
    BiasedBackend(std::unique_ptr<Backend> inner, std::vector<uint8_t> kind)
        : inner_(std::move(inner)), kind_(std::move(kind)), rows_(size_t(inner_->n_vocab()) * 4) {}
    // Logit bias per class; between requests (the engine's worker reads them).
    void set_bias(const std::array<float, 5>& b) {
        for (size_t i = 0; i < b.size(); ++i) bias_[i] = b[i];
    }
    int n_vocab() const override { return inner_->n_vocab(); }
    int n_ctx() const override { return inner_->n_ctx(); }
    int n_parallel() const override { return inner_->n_parallel(); }
    int n_batch() const override { return inner_->n_batch(); }
    Result<int> create_sequence() override { return inner_->create_sequence(); }
    void free_sequence(int seq) override { inner_->free_sequence(seq); }
    bool can_truncate() const override { return inner_->can_truncate(); }
    void truncate_sequence(int seq, int64_t n) override { inner_->truncate_sequence(seq, n); }
    Result<const float*> forward(const BatchToken* tokens, int n_tokens) override {
        ASSIGN_OR_RETURN(const float* logits, inner_->forward(tokens, n_tokens));
        int rows = 0;
        for (int i = 0; i < n_tokens; ++i) rows += tokens[i].logits;
        const size_t n = size_t(n_vocab());
        float b[5];
        for (size_t i = 0; i < 5; ++i) b[i] = bias_[i];
        rows_.resize(size_t(rows) * n);
        for (size_t k = 0; k < size_t(rows) * n; ++k) rows_[k] = logits[k] + b[kind_[k % n]];
        return rows_.data();
    }

  private:
    std::unique_ptr<Backend> inner_;
    std::vector<uint8_t> kind_;
    std::vector<float> rows_;
    std::array<std::atomic<float>, 5> bias_{};
};

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: %s TESTDATA SCHEMA_DIR PYTHON OUT.jsonl [STOPPED_PER_MODEL]\n", argv[0]);
        return 2;
    }
    const std::string testdata = argv[1], schema_dir = argv[2], python = argv[3], out_path = argv[4];
    const int per_model = argc > 5 ? std::atoi(argv[5]) : 12;
    const char* models[] = {"llama-spm-q8_0.gguf", "qwen3-q8_0.gguf", "llama-bpe-q8_0.gguf"};

    struct Case {
        std::string file;
        GrammarPtr grammar;
    };
    std::vector<Case> cases;
    std::vector<std::string> files;
    for (auto& e : std::filesystem::directory_iterator(schema_dir))
        if (e.path().extension() == ".json") files.push_back(e.path().filename().string());
    std::sort(files.begin(), files.end());
    for (const std::string& f : files) {
        std::ifstream in(schema_dir + "/" + f);
        Json doc = Json::parse(in);
        const int64_t t0 = now_ns();
        Result<GrammarPtr> g = doc.value("grammar", "schema") == "json" ? Result<GrammarPtr>(json_object_grammar())
                                                                        : compile_json_schema(doc["schema"]);
        if (!g.is_ok()) {
            std::fprintf(stderr, "%s: %s\n", f.c_str(), g.status().to_string().c_str());
            return 1;
        }
        std::printf("%-32s compiled in %6.2f ms, %5d states, %7lld bytes\n", f.c_str(), double(now_ns() - t0) / 1e6,
                    (*g)->n_states(), (long long)(*g)->memory_bytes());
        cases.push_back({f, *g});
    }

    std::ofstream out(out_path);
    int64_t docs = 0, tokens = 0, masks = 0, grammar_ns = 0;
    const int64_t t_start = now_ns();
    for (size_t mi = 0; mi < std::size(models); ++mi) {
        ModelOptions mo;
        mo.n_ctx = 1024;
        mo.n_threads = 1;
        Result<std::unique_ptr<Model>> model = Model::load(testdata + "/models/" + models[mi], mo);
        if (!model.is_ok()) {
            std::fprintf(stderr, "%s: %s\n", models[mi], model.status().to_string().c_str());
            return 1;
        }
        Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::from_gguf((*model)->gguf());
        if (!tok.is_ok()) {
            std::fprintf(stderr, "%s: %s\n", models[mi], tok.status().to_string().c_str());
            return 1;
        }
        std::shared_ptr<const Tokenizer> tokenizer(std::move(*tok));
        std::shared_ptr<const TextCodec> codec = tokenizer_codec(tokenizer);
        const Vocabulary& vocab = *codec->vocabulary();
        std::vector<uint8_t> kind(size_t((*model)->n_vocab()), 0);
        for (int32_t t = 0; t < vocab.n_vocab(); ++t) {
            const std::string_view b = vocab.bytes(t);
            kind[size_t(t)] = b.find('"') != b.npos                     ? 1
                              : b.find_first_of("}]") != b.npos         ? 2
                              : b.find_first_of(":@.") != b.npos        ? 3
                              : b.find_first_of("0123456789") != b.npos ? 4
                                                                        : 0;
        }
        auto backend = std::make_unique<BiasedBackend>(model_backend(std::move(*model)), std::move(kind));
        BiasedBackend* biased = backend.get();
        Engine engine(std::move(backend), codec);
        std::vector<int32_t> prompt = tokenizer->encode("Answer in JSON:", true, false);
        const int64_t t0 = now_ns();
        for (const Case& c : cases) {
            for (int i = 0, stopped = 0; stopped < per_model && i < 6 * per_model; ++i) {
                GenerateRequest r;
                r.prompt = prompt;
                r.grammar = c.grammar;
                r.num_predict = 384;
                r.sampling.seed = uint64_t(1000 * mi + i + 1);
                // Strings close at '"' and containers at '}' ']': the two weigh differently by document.
                const float q = float(4 + 6 * (i % 3)), cl = float(4 + 6 * ((i / 3) % 3));
                biased->set_bias({0.0f, q, cl, cl / 2, q / 4});
                if (i % 2) {  // half with client defaults, half hotter and untruncated: more of the grammar explored
                    r.sampling.temperature = 1.5f;
                    r.sampling.top_k = 0;
                    r.sampling.top_p = 1.0f;
                }
                std::string text;
                Result<GenerateResult> res = engine.generate(r, [&](std::string_view t) {
                    text += t;
                    return true;
                });
                Json line = {{"file", c.file}, {"model", models[mi]}, {"text", text}};
                line["done_reason"] = res.is_ok() ? res->done_reason : "error: " + res.status().message();
                out << line.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
                ++docs;
                stopped += res.is_ok() && res->done_reason == "stop";
                if (res.is_ok()) {
                    tokens += res->eval_count;
                    masks += res->grammar_masks;
                    grammar_ns += res->grammar_ns;
                }
            }
        }
        std::printf("%s: %zu schemas, %d stopped documents each, in %.1f s\n", models[mi], cases.size(), per_model,
                    double(now_ns() - t0) / 1e9);
    }
    out.close();
    std::printf("%lld documents, %lld tokens in %.1f s; full masks on %.1f %% of tokens; grammar time %.1f us/token\n",
                (long long)docs, (long long)tokens, double(now_ns() - t_start) / 1e9,
                tokens ? 100.0 * double(masks) / double(tokens) : 0.0,
                tokens ? double(grammar_ns) / 1e3 / double(tokens) : 0.0);
    std::fflush(stdout);
    const std::string cmd = python + " " + schema_dir + "/validate.py " + out_path + " " + schema_dir + " " +
                            std::to_string(std::max(1, per_model / 2));
    const int rc = std::system(cmd.c_str());
    return rc == 0 ? 0 : 1;
}
