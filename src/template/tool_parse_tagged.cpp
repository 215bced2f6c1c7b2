// Families whose calls sit between special tokens: DeepSeek R1 (and the distills' spellings of its tokens)
// and V3/V3.1, Kimi K2. A section marker opens a list of calls; a call's own opening token, without the
// section marker, is accepted too (agents.md f.2).
#include "template/output_internal.h"

namespace berth::outparse {
namespace {

// DeepSeek's tokens use U+2581 between words; distills also write '_', ' ' or "\_" there.
constexpr std::string_view kWordSep = "▁";

// Rewrites the distills' spellings inside <｜...｜> tokens to the canonical one.
std::string canonical_deepseek(std::string_view s) {
    static constexpr std::string_view kOpen = "<｜", kClose = "｜>";
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        size_t p = s.find(kOpen, i);
        if (p == std::string_view::npos) break;
        size_t q = s.find(kClose, p + kOpen.size());
        if (q == std::string_view::npos || q - p > 48) {
            out.append(s.substr(i, p + kOpen.size() - i));
            i = p + kOpen.size();
            continue;
        }
        out.append(s.substr(i, p + kOpen.size() - i));
        std::string_view inner = s.substr(p + kOpen.size(), q - p - kOpen.size());
        for (size_t k = 0; k < inner.size(); ++k) {
            if (inner[k] == '_' || inner[k] == ' ')
                out.append(kWordSep);
            else if (inner[k] == '\\' && k + 1 < inner.size() && inner[k + 1] == '_')
                out.append(kWordSep), ++k;
            else
                out += inner[k];
        }
        out.append(kClose);
        i = q + kClose.size();
    }
    out.append(s.substr(i));
    return out;
}

constexpr std::string_view kCallBegin = "<｜tool▁call▁begin｜>", kCallEnd = "<｜tool▁call▁end｜>";
constexpr std::string_view kSep = "<｜tool▁sep｜>";

// One call: "function<｜tool▁sep｜>NAME\n```json\n{...}\n```" (R1, V3) or "NAME<｜tool▁sep｜>{...}" (V3.1).
bool parse_deepseek_call(std::string_view c, bool strict, RawCall& call, BodyResult& r) {
    size_t sep = c.find(kSep);
    if (sep == std::string_view::npos) return false;
    std::string_view before = trim(c.substr(0, sep)), after = c.substr(sep + kSep.size());
    std::string_view args;
    size_t nl = after.find('\n');
    bool fenced = nl != std::string_view::npos && trim(after.substr(nl)).substr(0, 3) == "```";
    if (before == "function" || fenced) {
        if (nl == std::string_view::npos) return false;
        call.name = std::string(trim(after.substr(0, nl)));
        args = trim(after.substr(nl));
        if (starts_with(args, "```json"))
            args.remove_prefix(7);
        else if (starts_with(args, "```"))
            args.remove_prefix(3);
        args = trim(args);
        if (args.size() >= 3 && args.substr(args.size() - 3) == "```") args.remove_suffix(3);
    } else {
        call.name = std::string(before);
        args = trim(after);
    }
    if (call.name.empty()) return false;
    bool repaired = false;
    auto v = parse_json(trim(args), !strict, &repaired);
    if (!v || !v->is_object()) return false;
    r.repaired = r.repaired || repaired;
    call.arguments = std::move(*v);
    return true;
}

BodyResult parse_deepseek_calls(std::string_view body, bool strict) {
    BodyResult r;
    std::string s = canonical_deepseek(body);
    std::string_view t = s;
    std::vector<std::string_view> segments;
    size_t b = t.find(kCallBegin);
    if (b == std::string_view::npos) segments.push_back(t.substr(0, t.find(kCallEnd)));
    while (b != std::string_view::npos) {
        size_t start = b + kCallBegin.size();
        size_t next = t.find(kCallBegin, start);
        size_t stop = std::min({t.find(kCallEnd, start), next, t.size()});
        segments.push_back(t.substr(start, stop - start));
        b = next;
    }
    for (std::string_view seg : segments) {
        RawCall call;
        if (!parse_deepseek_call(seg, strict, call, r)) {
            r.calls.clear();
            r.error = "malformed DeepSeek tool call";
            return r;
        }
        r.calls.push_back(std::move(call));
    }
    r.ok = !r.calls.empty();
    return r;
}

class DeepSeekSectionBlock : public BlockFormat {
  public:
    BlockEnd find_end(std::string_view text, bool final, JsonScan& scan) const override {
        return find_literal_end(text, final, closers_, scan);
    }
    BodyResult parse(std::string_view body, const ToolSet&, bool strict) const override {
        return parse_deepseek_calls(body, strict);
    }

  private:
    std::vector<std::string> closers_{"<｜tool▁calls▁end｜>", "<｜tool_calls_end｜>", "<｜tool calls end｜>",
                                      "<｜tool\\_calls\\_end｜>"};
};

// <｜tool▁call▁begin｜>...<｜tool▁call▁end｜> without the section opener.
class DeepSeekCallBlock : public BlockFormat {
  public:
    DeepSeekCallBlock() { trailers = {"<｜tool▁calls▁end｜>", "<｜tool_calls_end｜>"}; }
    BlockEnd find_end(std::string_view text, bool final, JsonScan& scan) const override {
        return find_literal_end(text, final, closers_, scan, cuts_, 1);
    }
    BodyResult parse(std::string_view body, const ToolSet&, bool strict) const override {
        return parse_deepseek_calls(body, strict);
    }

  private:
    std::vector<std::string> closers_{std::string(kCallEnd), "<｜tool_call_end｜>"};
    std::vector<std::string> cuts_{std::string(kCallBegin), "<｜tool_call_begin｜>"};
};

// Kimi K2: <|tool_call_begin|>functions.NAME:IDX<|tool_call_argument_begin|>{...}<|tool_call_end|>; the id is
// what the model wrote before the arguments.
constexpr std::string_view kKimiCall = "<|tool_call_begin|>", kKimiArgs = "<|tool_call_argument_begin|>";
constexpr std::string_view kKimiCallEnd = "<|tool_call_end|>";

BodyResult parse_kimi_calls(std::string_view t, bool strict) {
    BodyResult r;
    size_t i = 0;
    while (true) {
        size_t b = t.find(kKimiCall, i);
        if (b == std::string_view::npos) break;
        size_t a = t.find(kKimiArgs, b);
        if (a == std::string_view::npos) {
            r.error = "call without arguments";
            return r;
        }
        size_t e = t.find(kKimiCallEnd, a);
        size_t next = t.find(kKimiCall, a);
        size_t stop = std::min({e, next, t.size()});
        RawCall call;
        call.id = std::string(trim(t.substr(b + kKimiCall.size(), a - b - kKimiCall.size())));
        std::string_view name = call.id;
        if (starts_with(name, "functions.")) name.remove_prefix(10);
        size_t colon = name.rfind(':');
        if (colon != std::string_view::npos &&
            name.find_first_not_of("0123456789", colon + 1) == std::string_view::npos)
            name = name.substr(0, colon);
        call.name = std::string(name);
        bool repaired = false;
        auto v = parse_json(trim(t.substr(a + kKimiArgs.size(), stop - a - kKimiArgs.size())), !strict, &repaired);
        if (call.name.empty() || !v || !v->is_object()) {
            r.error = "malformed Kimi tool call";
            return r;
        }
        r.repaired = r.repaired || repaired;
        call.arguments = std::move(*v);
        r.calls.push_back(std::move(call));
        i = stop == e ? e + kKimiCallEnd.size() : stop;
        if (stop == t.size()) break;
    }
    r.ok = !r.calls.empty();
    if (!r.ok) r.error = "no call in the tool calls section";
    return r;
}

class KimiBlock : public BlockFormat {
  public:
    KimiBlock(std::vector<std::string> closers, bool single) : closers_(std::move(closers)) {
        if (single) {
            trailers = {"<|tool_calls_section_end|>"};
            cuts_ = {std::string(kKimiCall)};
        }
    }
    BlockEnd find_end(std::string_view text, bool final, JsonScan& scan) const override {
        return find_literal_end(text, final, closers_, scan, cuts_, 1);
    }
    BodyResult parse(std::string_view body, const ToolSet&, bool strict) const override {
        return parse_kimi_calls(body, strict);
    }

  private:
    std::vector<std::string> closers_, cuts_;
};

}  // namespace

void add_tagged_family_triggers(const OutputFormat& format, bool tools, Dialect& d) {
    static const DeepSeekSectionBlock section;
    static const DeepSeekCallBlock call;
    static const KimiBlock kimi_section({"<|tool_calls_section_end|>"}, false);
    static const KimiBlock kimi_call({std::string(kKimiCallEnd)}, true);
    if (!tools) return;
    switch (format.family) {
        case ToolFamily::deepseek_r1:
        case ToolFamily::deepseek_v3:
            for (const char* opener : {"<｜tool▁calls▁begin｜>", "<｜tool_calls_begin｜>", "<｜tool calls begin｜>",
                                       "<｜tool\\_calls\\_begin｜>", "<｜tool▁calls｜>"})
                d.triggers.push_back(block_trigger(opener, section, false));
            d.triggers.push_back(block_trigger(std::string(kCallBegin), call, true));
            d.triggers.push_back(block_trigger("<｜tool_call_begin｜>", call, true));
            break;
        case ToolFamily::kimi_k2:
            d.triggers.push_back(block_trigger("<|tool_calls_section_begin|>", kimi_section, false));
            d.triggers.push_back(block_trigger(std::string(kKimiCall), kimi_call, true));
            break;
        default: break;
    }
}

}  // namespace berth::outparse
