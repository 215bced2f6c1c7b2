// gpt-oss harmony: messages "<|start|>ROLE<|channel|>CHANNEL [to=RECIPIENT] [<|constrain|>json]<|message|>BODY"
// ended by <|end|>, <|call|> or <|return|>. The generation prompt ends with "<|start|>assistant", so the output
// begins inside a header. analysis -> thinking, final and commentary -> content, a message with a recipient
// -> a tool call (the recipient may sit before or after the channel; functions.NAME, harmony's identifier
// form of the registered name mapped back).
#include "template/output_internal.h"

namespace berth::outparse {
namespace {

constexpr std::string_view kStart = "<|start|>", kChannel = "<|channel|>", kMessage = "<|message|>";
constexpr std::string_view kConstrain = "<|constrain|>";
constexpr size_t kMaxHeader = 256;

struct Header {
    std::string role, channel, recipient;
};

Header parse_header(std::string_view raw) {
    Header h;
    std::string s(raw);
    if (size_t c = s.find(kConstrain); c != std::string::npos) s.replace(c, kConstrain.size(), " <|constrain|>");
    if (size_t c = s.find(kChannel); c != std::string::npos) {
        size_t name = c + kChannel.size(), end = name;
        while (end < s.size() && !is_space(s[end]) && s.compare(end, 2, "<|") != 0) ++end;
        h.channel = s.substr(name, end - name);
        s = s.substr(0, c) + " " + s.substr(end);
    }
    std::vector<std::string> tokens;
    for (size_t i = 0; i < s.size();) {
        while (i < s.size() && is_space(s[i])) ++i;
        size_t j = i;
        while (j < s.size() && !is_space(s[j])) ++j;
        if (j > i) tokens.push_back(s.substr(i, j - i));
        i = j;
    }
    for (const auto& t : tokens) {
        if (starts_with(t, "to=")) {
            if (h.recipient.empty()) h.recipient = t.substr(3);
        } else if (h.role.empty() && !starts_with(t, "<|")) {
            h.role = t;
        }
    }
    return h;
}

class HarmonyParser : public ParserCore {
  public:
    HarmonyParser(const ParserOptions& options) : tools_(options.tools), max_calls_(options.max_calls) {}

  protected:
    bool step(Emitter& em, bool final) override {
        switch (state_) {
            case State::header: return step_header(em, final);
            case State::body: return step_body(em, final);
            case State::outside: return step_outside(em, final);
        }
        return false;
    }

  private:
    enum class State { header, body, outside };

    std::string_view rest() const { return buf_.rest(); }

    // Reads a header up to <|message|>; anything a header cannot hold makes it plain content.
    bool step_header(Emitter& em, bool final) {
        std::string_view s = rest();
        if (s.empty()) return false;
        static const std::string_view kTokens[] = {kMessage, kChannel, kConstrain};
        size_t i = 0;
        while (i < s.size()) {
            std::string_view t = s.substr(i);
            if (starts_with(t, kMessage)) {
                header_ = parse_header(s.substr(0, i));
                em.markup(s.substr(0, i + kMessage.size()));
                buf_.consume(i + kMessage.size());
                state_ = State::body;
                return true;
            }
            bool token = false, partial = false;
            for (std::string_view tok : kTokens) {
                if (starts_with(t, tok))
                    token = true, i += tok.size();
                else if (t.size() < tok.size() && starts_with(tok, t))
                    partial = true;
                if (token) break;
            }
            if (token) continue;
            if (partial && !final) return false;
            if (s[i] == '\n' || starts_with(t, "<|") || i >= kMaxHeader) break;
            ++i;
        }
        if (i == s.size() && !final) return false;
        // Not a header: what was read is content, and whatever stopped it is read as such.
        em.content(s.substr(0, i));
        buf_.consume(i);
        state_ = State::outside;
        return true;
    }

    bool tool_message() const {
        return !header_.recipient.empty() && header_.recipient != "assistant" && header_.recipient != "user";
    }

    bool step_body(Emitter& em, bool final) {
        std::string_view s = rest();
        static const std::vector<std::string> kEnds{"<|end|>", "<|call|>", "<|return|>"};
        static const std::vector<std::string> kCuts{"<|end|>", "<|call|>", "<|return|>", "<|start|>", "<|channel|>"};
        bool tool = tool_message();
        MarkerHit hit = find_marker(s, kCuts, tool ? scan_from_ : 0, final);
        if (tool) {
            if (hit.index < 0 || hit.partial) {
                if (!final) {
                    scan_from_ = s.size() > 16 ? s.size() - 16 : 0;
                    return false;
                }
                hit = {s.size(), -1, false};
            }
            scan_from_ = 0;
            emit_call(em, s.substr(0, hit.pos));
            buf_.consume(hit.pos);
        } else {
            size_t n = hit.index < 0 ? s.size() : hit.pos;
            if (n > 0) {
                if (header_.channel == "analysis")
                    em.thinking(s.substr(0, n));
                else
                    em.content(s.substr(0, n));
                buf_.consume(n);
            }
            if (hit.index < 0 || hit.partial) return n > 0 || (final && s.empty() && false);
        }
        if (hit.index >= 0 && hit.index < static_cast<int>(kEnds.size())) {
            em.markup(kEnds[hit.index]);
            buf_.consume(kEnds[hit.index].size());
        }
        state_ = State::outside;
        return true;
    }

    void emit_call(Emitter& em, std::string_view body) {
        bool repaired = false;
        auto args = parse_json(trim(body), true, &repaired);
        int idx = tools_.find(header_.recipient);
        if (idx < 0 || !args || !args->is_object()) {
            if (!tools_.empty()) {
                em.warn(idx < 0 ? "call to unknown tool '" + header_.recipient + "' returned as content"
                                : "unparsable tool call returned as content (malformed JSON)");
            }
            em.content(body);
            return;
        }
        if (repaired) em.warn("repaired tool call JSON");
        std::vector<RawCall> raw(1);
        raw[0].name = tools_.name(idx);
        raw[0].arguments = std::move(*args);
        std::vector<std::string> warnings;
        auto calls = resolve_calls(std::move(raw), tools_, max_calls_, emitted_, warnings);
        for (auto& w : warnings) em.warn(std::move(w));
        em.calls(body, std::move(calls));
    }

    // Between messages: <|start|> or <|channel|> opens a header; stray end markers are markup; other text is
    // content (whitespace around markers is markup).
    bool step_outside(Emitter& em, bool final) {
        std::string_view s = rest();
        if (s.empty()) return false;
        static const std::vector<std::string> kMarks{"<|start|>",  "<|channel|>", "<|end|>",      "<|call|>",
                                                     "<|return|>", "<|message|>", "<|constrain|>"};
        MarkerHit hit = find_marker(s, kMarks, 0, final);
        size_t n = hit.index < 0 ? s.size() : hit.pos;
        // Whitespace right before a marker is markup, so trailing whitespace waits until it is known.
        size_t head = n;
        if (hit.index >= 0 || !final) {
            while (head > 0 && is_space(s[head - 1])) --head;
        }
        if (head > 0) {
            em.content(s.substr(0, head));
            buf_.consume(head);
            return true;
        }
        if (hit.index < 0 || hit.partial) return false;
        if (n > 0) {
            em.markup(s.substr(0, n));
            buf_.consume(n);
            return true;
        }
        std::string_view mark = kMarks[hit.index];
        if (mark == kStart) {
            em.markup(mark);
            buf_.consume(mark.size());
            state_ = State::header;
        } else if (mark == kChannel) {
            state_ = State::header;  // the model left out <|start|>assistant: the channel starts the header
        } else {
            em.markup(mark);
            buf_.consume(mark.size());
        }
        return true;
    }

    ToolSet tools_;
    int max_calls_ = -1;
    int emitted_ = 0;
    State state_ = State::header;  // after the prompt's "<|start|>assistant"
    Header header_;
    size_t scan_from_ = 0;
};

}  // namespace

std::unique_ptr<ParserCore> make_harmony_parser(const OutputFormat&, const ParserOptions& options) {
    return std::make_unique<HarmonyParser>(options);
}

}  // namespace berth::outparse
