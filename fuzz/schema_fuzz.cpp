// libFuzzer target for the JSON Schema compiler and the grammar matcher.
// Input: a JSON Schema, optionally followed by a NUL byte and bytes to feed. The schema either compiles or
// is refused with a non-empty invalid_argument message; a compiled grammar is then driven over the bytes
// with the invariants the engine relies on:
//   - allows_bytes(b) and accept_bytes(b) agree, and a refused byte leaves the state unchanged;
//   - over a vocabulary of the 256 single bytes, plus a few multi-byte tokens and an end-of-generation token,
//     the mask (with and without the mask cache) holds exactly the tokens allows() accepts, and the
//     end-of-generation token exactly when is_complete();
//   - is_finished() implies is_complete() and that no byte is allowed.
// Seeds: fuzz/corpus/schema/. Build: clang++ -fsanitize=fuzzer against the grammar and base libraries.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "grammar/grammar.h"

using namespace berth;

namespace {

// Token ids: 0..255 single bytes, then multi-byte text tokens, then one end-of-generation token.
const char* const kMulti[] = {"\": ", "\", \"", "true", "null", "{\"", "}", "]", "1.5e3", "\xc3\xa9", "\xe2\x82"};
constexpr int kMultiCount = int(sizeof(kMulti) / sizeof(kMulti[0]));
constexpr int kEog = 256 + kMultiCount;
constexpr int kVocab = kEog + 1;

const Vocabulary& vocabulary() {
    static const std::shared_ptr<const Vocabulary> v = Vocabulary::create(kVocab, [](int32_t t, std::string& out) {
        if (t < 256) {
            out.push_back(char(t));
            return TokenKind::text;
        }
        if (t < kEog) {
            out += kMulti[t - 256];
            return TokenKind::text;
        }
        return TokenKind::eog;
    });
    return *v;
}

void require(bool ok, const char* what) {
    if (!ok) {
        fprintf(stderr, "schema_fuzz: invariant failed: %s\n", what);
        abort();
    }
}

// The mask agrees with allows() token by token, and with is_complete() for end of generation.
void check_mask(GrammarMatcher& m, TokenMask& mask, MaskCache& cache) {
    for (MaskCache* c : {static_cast<MaskCache*>(nullptr), &cache}) {
        const int n = m.fill_mask(mask, c);
        require(n == mask.count(), "fill_mask returns the number of tokens set");
        for (int32_t t = 0; t < kEog; ++t) require(mask.test(t) == m.allows(t), "mask == allows for text tokens");
        require(mask.test(kEog) == m.is_complete(), "end of generation exactly where the grammar may end");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const size_t nul = in.find('\0');
    const std::string_view schema_text = in.substr(0, nul);
    const std::string_view feed = nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1);

    nlohmann::ordered_json schema = nlohmann::ordered_json::parse(schema_text, nullptr, /*allow_exceptions=*/false);
    if (schema.is_discarded()) return 0;
    Result<GrammarPtr> g = compile_json_schema(schema);
    if (!g.is_ok()) {
        require(g.status().code() == StatusCode::invalid_argument, "compile errors are invalid_argument");
        require(!g.status().message().empty(), "compile errors say what is wrong");
        return 0;
    }
    require(*g != nullptr && (*g)->n_states() > 0, "a compiled grammar has states");

    GrammarMatcher m(kVocab);
    TokenMask mask(kVocab);
    MaskCache cache(kVocab);
    m.start(*g, &vocabulary());
    check_mask(m, mask, cache);
    int64_t accepted = 0;
    for (size_t i = 0; i < feed.size() && i < 4096; ++i) {
        const std::string_view b = feed.substr(i, 1);
        const bool allowed = m.allows_bytes(b);
        const int64_t before = m.bytes_accepted();
        const bool took = m.accept_bytes(b);
        require(allowed == took, "allows_bytes and accept_bytes agree");
        if (!took) {
            require(m.bytes_accepted() == before, "a refused byte leaves the state unchanged");
            continue;  // skip the byte, go on with the next (the state is unchanged)
        }
        ++accepted;
        require(m.bytes_accepted() == accepted, "bytes_accepted counts accepted bytes");
        if (m.is_finished()) {
            require(m.is_complete(), "finished implies complete");
            for (int c = 0; c < 256; ++c) {
                const char byte = char(c);
                require(!m.allows_bytes(std::string_view(&byte, 1)), "nothing may follow a finished grammar");
            }
            break;
        }
        if (i % 16 == 0) check_mask(m, mask, cache);
    }
    check_mask(m, mask, cache);
    return 0;
}
