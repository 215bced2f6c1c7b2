// Pre-tokenizer regexes of the byte-level BPE families (tokenizer.ggml.pre), compiled with PCRE2 (UTF, Unicode
// properties, JIT), and the split that applies them in turn.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstring>

#include "tokenizer/tokenizer_impl.h"

namespace berth {

namespace {

// GPT-2's split.
const char* const kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
// Llama 3 (tiktoken cl100k style, case-insensitive contractions written out).
const char* const kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2: like Llama 3 with single digits.
const char* const kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kCjk = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+";
const char* const kDeepseekLetters =
    "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373"
    "\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f"
    "\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77"
    "\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d"
    "\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4"
    "\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139"
    "\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d"
    "\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a"
    "\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2"
    "\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+";
const char* const kDeepseekPunct = "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+";

struct Family {
    const char* name;
    std::vector<std::string> patterns;
    bool ignore_merges;
    int add_bos;
};

const std::vector<Family>& families() {
    static const std::vector<Family> f = {
        {"default", {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"}, false, -1},
        {"gpt-2", {kGpt2}, false, -1},
        {"llama3", {kLlama3}, true, 1},
        {"qwen2", {kQwen2}, false, -1},
        {"deepseek-llm", {"[\r\n]", kDeepseekLetters, kDeepseekPunct, R"(\s+$)", kCjk, R"(\p{N}+)"}, false, -1},
        {"deepseek-coder", {"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kCjk, R"(\p{N})"}, false, -1},
        {"deepseek-v3",
         {R"(\p{N}{1,3})", "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
          R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
         false,
         -1},
        {"falcon", {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"}, false, -1},
        {"starcoder", {R"(\p{N})", kGpt2}, false, -1},
        {"bloom", {R"( ?[^(\s|.,!?…。，、।۔،)]+)"}, false, -1},
        {"viking", {R"( ?[^(\s|.,!?…。，、।۔،)]+)", R"(\p{N})"}, false, -1},
        {"tekken",
         {R"([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
         true,
         1},
        {"gpt-4o",
         {R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
         false,
         -1},
    };
    return f;
}

// tokenizer.ggml.pre values and the family each one uses.
struct Alias {
    const char* pre;
    const char* family;
};
const Alias kAliases[] = {
    {"default", "default"},
    {"gpt-2", "gpt-2"},
    {"phi-2", "gpt-2"},
    {"jina-es", "gpt-2"},
    {"jina-de", "gpt-2"},
    {"jina-v1-en", "gpt-2"},
    {"jina-v2-es", "gpt-2"},
    {"jina-v2-de", "gpt-2"},
    {"jina-v2-code", "gpt-2"},
    {"roberta-bpe", "gpt-2"},
    {"gigachat", "gpt-2"},
    {"mpt", "gpt-2"},
    {"olmo", "gpt-2"},
    {"jais", "gpt-2"},
    {"trillion", "gpt-2"},
    {"exaone4", "gpt-2"},
    {"llama3", "llama3"},
    {"llama-v3", "llama3"},
    {"llama-bpe", "llama3"},
    {"falcon3", "llama3"},
    {"pixtral", "llama3"},
    {"dbrx", "llama3"},
    {"smaug-bpe", "llama3"},
    {"chatglm-bpe", "llama3"},
    {"glm4", "llama3"},
    {"qwen2", "qwen2"},
    {"deepseek-r1-qwen", "qwen2"},
    {"stablelm2", "qwen2"},
    {"megrez", "qwen2"},
    {"hunyuan", "qwen2"},
    {"deepseek-llm", "deepseek-llm"},
    {"deepseek-coder", "deepseek-coder"},
    {"deepseek-v3", "deepseek-v3"},
    {"falcon", "falcon"},
    {"starcoder", "starcoder"},
    {"refact", "starcoder"},
    {"command-r", "starcoder"},
    {"smollm", "starcoder"},
    {"codeshell", "starcoder"},
    {"exaone", "starcoder"},
    {"minerva-7b", "starcoder"},
    {"poro-chat", "bloom"},
    {"bloom", "bloom"},
    {"gpt3-finnish", "bloom"},
    {"viking", "viking"},
    {"tekken", "tekken"},
    {"gpt-4o", "gpt-4o"},
    {"llama4", "gpt-4o"},
};

const Family& family(const char* name) {
    for (const auto& f : families())
        if (strcmp(f.name, name) == 0) return f;
    return families()[0];
}

}  // namespace

PreTokenizerConfig pre_tokenizer_config(const std::string& pre) {
    const char* fam = nullptr;
    std::string used = pre.empty() ? "default" : pre;
    for (const auto& a : kAliases)
        if (used == a.pre) fam = a.family;
    bool known = fam != nullptr;
    if (!known) {
        // Closest known split by name; modern tokenizers mostly use the Llama 3 / tiktoken style.
        if (used.find("qwen") != std::string::npos)
            fam = "qwen2";
        else if (used.find("deepseek") != std::string::npos)
            fam = "deepseek-llm";
        else if (used.find("gpt2") != std::string::npos || used.find("gpt-2") != std::string::npos)
            fam = "gpt-2";
        else
            fam = "llama3";
        LOG_WARN("tokenizer: unknown pre-tokenizer \"%s\", using the \"%s\" split", used.c_str(), fam);
    }
    const Family& f = family(fam);
    PreTokenizerConfig c;
    c.name = used;
    c.patterns = f.patterns;
    // A borrowed split does not bring its family's BOS or merge rules along.
    c.ignore_merges = known && f.ignore_merges;
    c.add_bos = known ? f.add_bos : -1;
    if (used == "chatglm-bpe" || used == "glm4") c.add_bos = -1;
    return c;
}

PreTokenizer::~PreTokenizer() {
    for (void* c : codes_) pcre2_code_free(static_cast<pcre2_code*>(c));
}

Status PreTokenizer::init(const std::vector<std::string>& patterns) {
    for (const auto& p : patterns) {
        int err = 0;
        PCRE2_SIZE err_off = 0;
        pcre2_code* code =
            pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.data()), p.size(),
                          PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY | PCRE2_NO_UTF_CHECK, &err, &err_off, nullptr);
        if (!code) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof(msg));
            return internal_error("pre-tokenizer regex does not compile at %zu: %s", size_t(err_off),
                                  reinterpret_cast<const char*>(msg));
        }
        pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when JIT is unavailable
        codes_.push_back(code);
    }
    return Status::ok();
}

namespace {
struct MatchData {
    pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
    ~MatchData() { pcre2_match_data_free(md); }
};
}  // namespace

void PreTokenizer::split(std::string_view text, std::vector<std::pair<uint32_t, uint32_t>>& out) const {
    thread_local MatchData tl;
    thread_local std::vector<std::pair<uint32_t, uint32_t>> cur, next;
    cur.clear();
    if (!text.empty()) cur.push_back({0, uint32_t(text.size())});
    const PCRE2_SPTR subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    for (void* vcode : codes_) {
        auto* code = static_cast<pcre2_code*>(vcode);
        next.clear();
        for (auto [off, len] : cur) {
            // Match within [off, off + len) only: the piece is the whole subject, as in the reference.
            PCRE2_SPTR s = subject + off;
            size_t pos = 0, last = 0;
            while (pos < len) {
                int rc = pcre2_match(code, s, len, pos, PCRE2_NO_UTF_CHECK, tl.md, nullptr);
                if (rc < 0) break;
                PCRE2_SIZE* ov = pcre2_get_ovector_pointer(tl.md);
                size_t b = ov[0], e = ov[1];
                if (e == b) {  // empty match: step over one character
                    pos = b + 1;
                    while (pos < len && (s[pos] & 0xC0) == 0x80) pos++;
                    continue;
                }
                if (b > last) next.push_back({uint32_t(off + last), uint32_t(b - last)});
                next.push_back({uint32_t(off + b), uint32_t(e - b)});
                last = pos = e;
            }
            if (last < len) next.push_back({uint32_t(off + last), uint32_t(len - last)});
        }
        std::swap(cur, next);
    }
    out.insert(out.end(), cur.begin(), cur.end());
    release_if_large(cur);
    release_if_large(next);
}

}  // namespace berth
