// grammar_walk: thousands of finished documents through the real constrained decoder, checked by an
// independent validator. For every schema of the conformance set (src/grammar/testdata/conformance) and of its
// keyword set (conformance/keywords: one or a few §c keywords each), over the real vocabularies of the shared
// test data (Llama's 32k SentencePiece tokens and Llama 3's 128k byte-level BPE tokens), a seeded random walk
// generates documents token by token: at every step the real GrammarMatcher fills the real token mask (with a
// MaskCache, as the engine does) and the walk picks one of the tokens the mask allows. The choice is biased,
// but only among allowed tokens: past a length drawn per document it prefers tokens that contain '"', '}' or
// ']' (so that strings and containers close), and where the grammar may end it picks an end-of-generation
// token from the mask. Which closes what follows the JSON text written so far: inside a string, a token
// that begins with '"'; outside, one that begins with '}' or ']'; when none is allowed (a pattern or format
// that needs more characters first), a one-byte token. The text is what the tokenizer's decoder writes for those tokens
// (what a client gets).
//
// Checked here, at every step: the mask is not empty until the grammar finished (no dead end); the chosen
// token is accepted; for 8 tokens (4 the mask allows, 4 at random) the mask agrees with the matcher's own
// byte-by-byte answer (GrammarMatcher::allows). Checked by validate.py (python3-jsonschema with format
// checking): every finished document parses, validates against its schema and has nothing after the value.
// The run fails on any of these, or when a schema has fewer than MIN_FINISHED finished documents per
// vocabulary.
//
// usage: grammar_walk TESTDATA SCHEMA_DIR PYTHON OUT.jsonl [DOCS_PER_SCHEMA [MIN_FINISHED]]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "engine/engine.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

using namespace berth;
using Json = nlohmann::ordered_json;

namespace {

constexpr int kMaxTokens = 768;  // a walk that has not finished by then ends as "length"

struct Totals {
    int64_t generated = 0, finished = 0, length = 0, dead_ends = 0, refused = 0, mask_mismatches = 0, steps = 0;
    int64_t mask_ns = 0;
};

// One vocabulary: its codec, its tokens that close something, and the per-vocabulary mask cache.
struct Vocab {
    std::string name;
    std::shared_ptr<const TextCodec> codec;
    std::shared_ptr<const Vocabulary> vocab;
    std::vector<int32_t> quote;   // text tokens that begin with '"' (inside a string: they close it)
    std::vector<int32_t> close;   // text tokens whose first byte other than whitespace is '}' or ']'
    std::vector<int32_t> single;  // one-byte text tokens (small steps through patterns and formats)
    std::vector<int32_t> eog;     // end-of-generation tokens
};

Result<Vocab> load_vocab(const std::string& path) {
    ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> file, GgufFile::open(path));
    ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, Tokenizer::from_gguf(*file));
    Vocab v;
    v.name = std::filesystem::path(path).filename().string();
    v.codec = tokenizer_codec(std::shared_ptr<const Tokenizer>(std::move(tok)));
    v.vocab = v.codec->vocabulary();
    if (!v.vocab) return invalid_argument("%s has no vocabulary for grammars", path.c_str());
    for (int32_t t = 0; t < v.vocab->n_vocab(); ++t) {
        if (v.vocab->kind(t) == TokenKind::eog) v.eog.push_back(t);
        if (v.vocab->kind(t) != TokenKind::text) continue;
        const std::string_view b = v.vocab->bytes(t);
        if (b.size() == 1) v.single.push_back(t);
        if (b[0] == '"') v.quote.push_back(t);
        const size_t first = b.find_first_not_of(" \t\n\r");
        if (first != b.npos && (b[first] == '}' || b[first] == ']')) v.close.push_back(t);
    }
    return v;
}

// Walks one document; appends its decoded text to `text`. Returns the done reason ("stop", "length") or an
// error description for the failures counted in `totals`.
std::string walk(const Vocab& v, const GrammarPtr& grammar, GrammarMatcher& m, MaskCache& cache, TokenMask& mask,
                 std::mt19937_64& rng, std::string& text, Totals& totals) {
    const int n_vocab = v.vocab->n_vocab();
    m.start(grammar, v.vocab.get());
    // Past `budget` tokens the walk leans towards closing; `lean` is how much, drawn per document.
    const int budget = int(std::uniform_int_distribution<int>(4, 96)(rng));
    const double lean = std::uniform_real_distribution<double>(0.3, 0.95)(rng);
    std::uniform_real_distribution<double> coin(0.0, 1.0);
    std::vector<int32_t> allowed, candidates, eog;
    bool in_string = false, escaped = false;
    for (int step = 0; step < kMaxTokens; ++step) {
        if (m.is_finished()) return "stop";
        const int64_t t0 = now_ns();
        const int n_allowed = m.fill_mask(mask, &cache);
        totals.mask_ns += now_ns() - t0;
        ++totals.steps;
        if (n_allowed == 0) {
            ++totals.dead_ends;
            return "error: dead end (no token allowed) after " + std::to_string(step) + " tokens";
        }
        // The mask against the matcher's byte-level answer, for 4 allowed and 4 random tokens.
        for (int k = 0; k < 8; ++k) {
            int32_t t = int32_t(rng() % uint64_t(n_vocab));
            if (k < 4) {
                for (int tries = 0; tries < 64 && !mask.test(t); ++tries) t = int32_t(rng() % uint64_t(n_vocab));
            }
            const TokenKind kind = v.vocab->kind(t);
            if (kind == TokenKind::eog) continue;  // allowed by is_complete(), not by bytes
            if (mask.test(t) != m.allows(t)) {
                ++totals.mask_mismatches;
                return "error: mask and matcher disagree on token " + std::to_string(t) + " (" +
                       std::string(v.vocab->bytes(t)) + ")";
            }
        }
        // End-of-generation tokens the mask allows (only where the grammar may end).
        eog.clear();
        for (int32_t t : v.eog)
            if (mask.test(t)) eog.push_back(t);
        int32_t pick = -1;
        auto pick_from = [&](const std::vector<int32_t>& list) {
            candidates.clear();
            for (int32_t t : list)
                if (mask.test(t)) candidates.push_back(t);
            return candidates.empty() ? -1 : candidates[rng() % candidates.size()];
        };
        if (!eog.empty() && (n_allowed == int(eog.size()) || step >= budget || coin(rng) < 0.5)) {
            pick = eog[rng() % eog.size()];
        } else {
            const bool late = step >= budget;
            if (late && coin(rng) < lean) pick = pick_from(in_string ? v.quote : v.close);
            if (pick < 0 && coin(rng) < (late ? 0.8 : 0.3)) pick = pick_from(v.single);
            if (pick >= 0) {
                // chosen above
            } else if (int64_t(n_allowed) * 32 >= n_vocab) {
                // A dense mask (string bodies): rejection sampling finds an allowed token in a few tries.
                do {
                    pick = int32_t(rng() % uint64_t(n_vocab));
                } while (!mask.test(pick) || v.vocab->kind(pick) == TokenKind::eog);
            } else {
                allowed.clear();
                for (int w = 0; w < mask.n_words(); ++w)
                    for (uint64_t bits = mask.words()[w]; bits; bits &= bits - 1) {
                        const int32_t t = int32_t(w * 64 + __builtin_ctzll(bits));
                        if (v.vocab->kind(t) != TokenKind::eog) allowed.push_back(t);
                    }
                pick = allowed.empty() ? eog[rng() % eog.size()] : allowed[rng() % allowed.size()];
            }
        }
        if (!m.accept(pick).is_ok()) {
            ++totals.refused;
            return "error: the mask allowed token " + std::to_string(pick) + " but accept refused it";
        }
        if (v.vocab->kind(pick) == TokenKind::eog) return "stop";
        v.codec->append_piece(pick, text);
        for (char ch : v.vocab->bytes(pick)) {  // JSON lexical state: inside a string or not
            if (escaped) {
                escaped = false;
            } else if (in_string && ch == '\\') {
                escaped = true;
            } else if (ch == '"') {
                in_string = !in_string;
            }
        }
    }
    return "length";
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: %s TESTDATA SCHEMA_DIR PYTHON OUT.jsonl [DOCS_PER_SCHEMA [MIN_FINISHED]]\n",
                     argv[0]);
        return 2;
    }
    const std::string testdata = argv[1], schema_dir = argv[2], python = argv[3], out_path = argv[4];
    const int per_schema = argc > 5 ? std::atoi(argv[5]) : 200;
    const int min_finished = argc > 6 ? std::atoi(argv[6]) : per_schema * 3 / 4;
    const char* vocab_files[] = {"ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-bpe.gguf"};

    // The conformance schemas, then the keyword schemas (file names relative to SCHEMA_DIR).
    std::vector<std::string> files;
    for (const char* sub : {"", "keywords/"}) {
        std::vector<std::string> in_dir;
        for (auto& e : std::filesystem::directory_iterator(schema_dir + "/" + sub))
            if (e.path().extension() == ".json") in_dir.push_back(sub + e.path().filename().string());
        std::sort(in_dir.begin(), in_dir.end());
        files.insert(files.end(), in_dir.begin(), in_dir.end());
    }
    std::vector<GrammarPtr> grammars;
    for (const std::string& f : files) {
        std::ifstream in(schema_dir + "/" + f);
        Json doc = Json::parse(in);
        Result<GrammarPtr> g = doc.value("grammar", "schema") == "json" ? Result<GrammarPtr>(json_object_grammar())
                                                                        : compile_json_schema(doc["schema"]);
        if (!g.is_ok()) {
            std::fprintf(stderr, "%s: %s\n", f.c_str(), g.status().to_string().c_str());
            return 1;
        }
        grammars.push_back(*g);
    }

    std::ofstream out(out_path);
    Totals all;
    std::vector<std::string> failures;
    const int64_t t_start = now_ns();
    for (const char* vf : vocab_files) {
        Result<Vocab> v = load_vocab(testdata + "/vocab/" + vf);
        if (!v.is_ok()) {
            std::fprintf(stderr, "%s: %s\n", vf, v.status().to_string().c_str());
            return 1;
        }
        const int n_vocab = v->vocab->n_vocab();
        GrammarMatcher m(n_vocab);
        MaskCache cache(n_vocab);
        TokenMask mask(n_vocab);
        const int64_t t0 = now_ns();
        std::printf("%-44s %9s %8s %6s %7s\n", vf, "generated", "finished", "length", "failed");
        for (size_t i = 0; i < files.size(); ++i) {
            Totals t;
            int failed = 0;
            for (int d = 0; d < per_schema; ++d) {
                std::mt19937_64 rng(uint64_t(std::hash<std::string>{}(files[i])) ^
                                    (uint64_t(d) * 0x9E3779B97F4A7C15ull) ^ uint64_t(n_vocab));
                std::string text;
                const std::string reason = walk(*v, grammars[i], m, cache, mask, rng, text, t);
                ++t.generated;
                if (reason == "stop") {
                    ++t.finished;
                } else if (reason == "length") {
                    ++t.length;
                } else {
                    ++failed;
                    failures.push_back(files[i] + " (" + vf + "): " + reason + " after " + text.substr(0, 200));
                }
                Json line = {{"file", files[i]}, {"model", vf}, {"done_reason", reason}, {"text", text}};
                out << line.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
            }
            std::printf("  %-42s %9lld %8lld %6lld %7d\n", files[i].c_str(), (long long)t.generated,
                        (long long)t.finished, (long long)t.length, failed);
            if (t.finished < min_finished) {
                failures.push_back(files[i] + " (" + vf + "): only " + std::to_string(t.finished) +
                                   " finished documents (at least " + std::to_string(min_finished) + " needed)");
            }
            all.generated += t.generated, all.finished += t.finished, all.length += t.length;
            all.dead_ends += t.dead_ends, all.refused += t.refused, all.mask_mismatches += t.mask_mismatches;
            all.steps += t.steps, all.mask_ns += t.mask_ns;
        }
        const MaskCache::Stats cs = cache.stats();
        std::printf("%s: %d tokens, %zu schemas in %.1f s; mask cache %lld hits, %lld misses\n", vf, n_vocab,
                    files.size(), double(now_ns() - t0) / 1e9, (long long)cs.hits, (long long)cs.misses);
    }
    out.close();
    std::printf(
        "walk: %lld documents generated, %lld finished, %lld ran into %d tokens; %lld dead ends, %lld refused "
        "tokens, %lld mask/matcher disagreements; %lld steps, mean full mask %.1f us; %.1f s\n",
        (long long)all.generated, (long long)all.finished, (long long)all.length, kMaxTokens, (long long)all.dead_ends,
        (long long)all.refused, (long long)all.mask_mismatches, (long long)all.steps,
        all.steps ? double(all.mask_ns) / 1e3 / double(all.steps) : 0.0, double(now_ns() - t_start) / 1e9);
    for (size_t i = 0; i < failures.size() && i < 20; ++i) std::printf("FAILED %s\n", failures[i].c_str());
    std::fflush(stdout);
    // Every finished document through the independent validator (per schema, both vocabularies together).
    const std::string cmd = python + " " + schema_dir + "/validate.py " + out_path + " " + schema_dir + " " +
                            std::to_string(std::max(1, 2 * min_finished));
    const int rc = std::system(cmd.c_str());
    return rc == 0 && failures.empty() ? 0 : 1;
}
