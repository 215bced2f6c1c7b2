// `berth debug tokenize MODEL.gguf [--raw]`: JSON array of strings on stdin → JSON array of token-id arrays.
// `berth debug bench-tokenize MODEL.gguf [--mb N] [--threads N]`: tokenizer throughput on mixed text.
#include <cstdio>
#include <ctime>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/base.h"
#include "cli/command.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace berth::cli {
namespace {

Result<std::unique_ptr<Tokenizer>> open_tokenizer(const std::string& path, std::unique_ptr<GgufFile>& file) {
    ASSIGN_OR_RETURN(file, GgufFile::open(path));
    auto t = Tokenizer::from_gguf(*file);
    if (!t.is_ok()) return t.status().with_context(path);
    return t;
}

int tokenize_main(const std::vector<std::string>& argv) {
    Args a(argv, {"raw"});
    auto bad = a.unknown({"raw"});
    if (!bad.empty()) return fail("debug tokenize: unknown option --%s", bad[0].c_str());
    if (a.positional().size() != 1) return fail("usage: berth debug tokenize MODEL.gguf [--raw] < strings.json");
    std::unique_ptr<GgufFile> file;
    auto tok = open_tokenizer(a.positional()[0], file);
    if (!tok.is_ok()) return fail("%s", tok.status().to_string().c_str());
    std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    nlohmann::json in = nlohmann::json::parse(input, nullptr, false);
    if (in.is_discarded() || !in.is_array()) return fail("debug tokenize: stdin must be a JSON array of strings");
    const bool raw = a.has("raw");
    nlohmann::json out = nlohmann::json::array();
    std::vector<TokenId> ids;
    for (const auto& s : in) {
        if (!s.is_string()) return fail("debug tokenize: stdin must be a JSON array of strings");
        (*tok)->encode(s.get_ref<const std::string&>(), /*add_special=*/!raw, /*parse_special=*/!raw, ids);
        out.push_back(ids);
    }
    std::string text = out.dump();
    printf("%s\n", text.c_str());
    return 0;
}

// Deterministic mixed text: English prose, C++/Python code, numbers, and non-Latin scripts with emoji.
std::string mixed_text(size_t bytes) {
    static const char* const words[] = {"the",     "server", "keeps",     "models",     "warm",     "and",    "memory",
                                        "flat",    "while",  "requests",  "arrive",     "in",       "bursts", "from",
                                        "scripts", "a",      "quick",     "brown",      "fox",      "jumps",  "over",
                                        "lazy",    "dog",    "tokenizer", "throughput", "measured", "per",    "thread",
                                        "with",    "mixed",  "text"};
    static const char* const code[] = {
        "for (int i = 0; i < n; ++i) {\n    sum += x[i] * w[i];\n}\n",
        "def encode(self, text: str) -> list[int]:\n    return [self.vocab[t] for t in text.split()]\n",
        "if (status.code() != StatusCode::ok) return status.with_context(\"load\");\n",
        "    const auto& [key, value] = *it; // (n_head, n_ctx)\n",
        "<div class=\"row\"><span>{{ item.name }}</span></div>\n"};
    static const char* const uni[] = {"Größe überall naïve café déjà vu. ",
                                      "Привет, как дела? Всё хорошо. ",
                                      "東京は今日も晴れです。自然言語処理。 ",
                                      "안녕하세요 세계 ",
                                      "emoji 🦙🚀✨ and symbols ½ → ∞ ",
                                      "Ελληνικά κείμενα εδώ. ",
                                      "مرحبا بالعالم ",
                                      "हिन्दी पाठ यहाँ है। "};
    uint64_t state = 0x2545F4914F6CDD1Dull;
    auto next = [&]() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    std::string s;
    s.reserve(bytes + 256);
    while (s.size() < bytes) {
        switch (next() % 6) {
            case 0:
            case 1:
            case 2: {  // a prose sentence
                int n = 6 + int(next() % 14);
                for (int i = 0; i < n; i++) {
                    std::string w = words[next() % (sizeof(words) / sizeof(*words))];
                    if (i == 0) w[0] = char(toupper(w[0]));
                    s += w;
                    s += i + 1 < n ? " " : ". ";
                }
                if (next() % 4 == 0) s += "\n\n";
                break;
            }
            case 3: s += code[next() % (sizeof(code) / sizeof(*code))]; break;
            case 4: {  // numbers
                s += std::to_string(next() % 100000) + " + " + std::to_string(next() % 1000) + " = " +
                     std::to_string(next() % 1000000) + ", 3.14159, 2026-11-23 ";
                break;
            }
            default: s += uni[next() % (sizeof(uni) / sizeof(*uni))]; break;
        }
    }
    return s;
}

int bench_tokenize_main(const std::vector<std::string>& argv) {
    Args a(argv);
    auto bad = a.unknown({"mb", "threads"});
    if (!bad.empty()) return fail("debug bench-tokenize: unknown option --%s", bad[0].c_str());
    if (a.positional().size() != 1) return fail("usage: berth debug bench-tokenize MODEL.gguf [--mb N] [--threads N]");
    double mb = a.get_double("mb", 1.0);
    int threads = int(a.get_int("threads", 1));
    if (mb <= 0 || threads < 1) return fail("debug bench-tokenize: --mb and --threads must be positive");
    std::unique_ptr<GgufFile> file;
    auto tok = open_tokenizer(a.positional()[0], file);
    if (!tok.is_ok()) return fail("%s", tok.status().to_string().c_str());
    const Tokenizer& t = **tok;
    const std::string text = mixed_text(size_t(mb * 1024 * 1024));
    // Prompt-sized documents (about 4 KiB, cut at a newline or space).
    std::vector<std::string_view> docs;
    for (size_t pos = 0; pos < text.size();) {
        size_t end = std::min(text.size(), pos + 4096);
        while (end < text.size() && text[end] != ' ' && text[end] != '\n') end++;
        docs.push_back(std::string_view(text).substr(pos, end - pos));
        pos = end;
    }
    std::vector<double> secs(size_t(threads), 0), cpu_secs(size_t(threads), 0);
    std::vector<size_t> n_tokens(size_t(threads), 0);
    auto work = [&](int k) {
        std::vector<TokenId> ids;
        for (auto d : docs) t.encode(d, false, false, ids);  // warm-up pass (page-in, caches)
        timespec c0, c1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
        int64_t t0 = now_ns();
        size_t n = 0;
        for (auto d : docs) {
            t.encode(d, false, false, ids);
            n += ids.size();
        }
        secs[size_t(k)] = double(now_ns() - t0) * 1e-9;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
        cpu_secs[size_t(k)] = double(c1.tv_sec - c0.tv_sec) + double(c1.tv_nsec - c0.tv_nsec) * 1e-9;
        n_tokens[size_t(k)] = n;
    };
    std::vector<std::thread> pool;
    for (int k = 0; k < threads; k++) pool.emplace_back(work, k);
    for (auto& th : pool) th.join();
    double total_mb = double(text.size()) / (1024.0 * 1024.0);
    printf("model %s: %s tokenizer (pre %s), n_vocab %d, tokenizer memory %s\n", a.positional()[0].c_str(),
           t.kind() == TokenizerKind::spm   ? "SentencePiece"
           : t.kind() == TokenizerKind::bpe ? "BPE"
                                            : "WordPiece",
           t.pre().c_str(), t.n_vocab(), format_bytes(int64_t(t.memory_bytes())).c_str());
    printf("text %.2f MiB in %zu documents, %zu tokens (%.2f bytes/token)\n", total_mb, docs.size(), n_tokens[0],
           double(text.size()) / double(std::max<size_t>(1, n_tokens[0])));
    double sum = 0;
    for (int k = 0; k < threads; k++) {
        double rate = total_mb / secs[size_t(k)];
        sum += rate;
        // CPU time too: on a shared machine the wall clock also counts time spent waiting for a core.
        printf("thread %d: %.3f s wall, %.2f MiB/s, %.2f M tokens/s; %.3f s CPU, %.2f MiB/s per CPU second\n", k,
               secs[size_t(k)], rate, double(n_tokens[size_t(k)]) / secs[size_t(k)] * 1e-6, cpu_secs[size_t(k)],
               total_mb / cpu_secs[size_t(k)]);
    }
    printf("mean per thread: %.2f MiB/s, aggregate %.2f MiB/s over %d thread(s)\n", sum / threads, sum, threads);
    return 0;
}

}  // namespace

BERTH_COMMAND(debug_tokenize, "debug tokenize", "berth debug tokenize MODEL.gguf [--raw] < strings.json",
              "Tokenize a JSON array of strings from stdin (--raw: no BOS/EOS, special-token text stays text)",
              tokenize_main);
BERTH_COMMAND(debug_bench_tokenize, "debug bench-tokenize",
              "berth debug bench-tokenize MODEL.gguf [--mb N] [--threads N]",
              "Measure tokenizer throughput on deterministic mixed text (MiB/s per thread)", bench_tokenize_main);

}  // namespace berth::cli
