// The marker-driven output parser shared by every family except harmony: a buffer of unconsumed text, read
// as content or thinking until a trigger (reasoning markers, a tool-call opener, markup to drop), then as a
// tool-call block until the block's format says where it ends. Every decision is taken only once the text
// seen so far fixes it (a suffix that may start a marker is held back), which is what makes the result
// independent of how the text was split.
#include <algorithm>

#include "template/output_internal.h"

namespace berth {
namespace outparse {

// ---- emitter ---------------------------------------------------------------------------------------------

void Emitter::record(TraceSpan::Kind kind, std::string_view s) {
    if (!trace || s.empty()) return;
    if (!trace->empty() && trace->back().kind == kind && kind != TraceSpan::Kind::calls) {
        trace->back().text.append(s);
    } else {
        trace->push_back({kind, std::string(s)});
    }
}

void Emitter::content(std::string_view s) {
    out_->content.append(s);
    record(TraceSpan::Kind::content, s);
}

void Emitter::thinking(std::string_view s) {
    if (keep_thinking) {
        out_->thinking.append(s);
        record(TraceSpan::Kind::thinking, s);
    } else {
        record(TraceSpan::Kind::dropped, s);
    }
}

void Emitter::markup(std::string_view s) { record(TraceSpan::Kind::markup, s); }
void Emitter::dropped(std::string_view s) { record(TraceSpan::Kind::dropped, s); }

void Emitter::calls(std::string_view raw, std::vector<ParsedToolCall>&& calls) {
    record(calls.empty() ? TraceSpan::Kind::dropped : TraceSpan::Kind::calls, raw);
    for (auto& c : calls) out_->calls.push_back(std::move(c));
}

void Emitter::warn(std::string message) {
    LOG_DEBUG("output parser: %s", message.c_str());
    out_->warnings.push_back(std::move(message));
}

// ---- shared scanning -------------------------------------------------------------------------------------

MarkerHit find_marker(std::string_view s, const std::vector<std::string>& markers, size_t from, bool final) {
    MarkerHit best;
    size_t best_len = 0;
    auto consider = [&](size_t pos, int index, bool partial, size_t len) {
        if (pos < best.pos) {
            best = {pos, index, partial};
            best_len = len;
        } else if (pos == best.pos && !best.partial) {
            if (partial)
                best = {pos, index, true};
            else if (len > best_len)
                best = {pos, index, false}, best_len = len;
        }
    };
    for (size_t i = 0; i < markers.size(); ++i) {
        const std::string& m = markers[i];
        if (m.empty()) continue;
        size_t p = s.find(m, from);
        if (p != std::string_view::npos) consider(p, static_cast<int>(i), false, m.size());
        if (final) continue;
        size_t k = std::max(from, s.size() >= m.size() ? s.size() - m.size() + 1 : 0);
        for (; k < s.size(); ++k) {
            if (m.compare(0, s.size() - k, s.substr(k)) == 0) {
                consider(k, static_cast<int>(i), true, m.size());
                break;
            }
        }
    }
    return best;
}

BlockEnd find_literal_end(std::string_view text, bool final, const std::vector<std::string>& closers, JsonScan& scan,
                          const std::vector<std::string>& cuts, size_t skip) {
    std::vector<std::string> marks = closers;
    marks.insert(marks.end(), cuts.begin(), cuts.end());
    size_t longest = 0;
    for (const auto& c : marks) longest = std::max(longest, c.size());
    size_t from = std::max(skip, scan.pos > longest ? scan.pos - longest : 0);
    MarkerHit hit = find_marker(text, marks, from, final);
    if (hit.index >= 0 && !hit.partial) {
        if (static_cast<size_t>(hit.index) >= closers.size()) return {true, hit.pos, hit.pos};
        return {true, hit.pos, hit.pos + closers[hit.index].size()};
    }
    scan.pos = text.size();
    if (final) return {true, text.size(), text.size()};
    return {};
}

BlockEnd find_json_end(std::string_view text, bool final, JsonScan& scan) {
    size_t start = 0;
    while (start < text.size() && is_space(text[start])) ++start;
    if (start == text.size()) return final ? BlockEnd{true, text.size(), text.size()} : BlockEnd{};
    if (text[start] != '{' && text[start] != '[') return {true, start, start};  // no value: an empty body
    if (scan.pos < start) scan = JsonScan{start};
    size_t end = json_value_end(text, scan);
    if (end > 0) return {true, end, end};
    if (final) return {true, text.size(), text.size()};
    return {};
}

BlockEnd with_optional_closer(std::string_view text, size_t body_end, std::string_view closer, bool final) {
    size_t j = body_end;
    while (j < text.size() && is_space(text[j])) ++j;
    std::string_view t = text.substr(j);
    if (starts_with(t, closer)) return {true, body_end, j + closer.size()};
    if (!final && (t.empty() || starts_with(closer, t))) return {};
    return {true, body_end, body_end};
}

BlockEnd json_or_closer_end(std::string_view text, size_t start, std::string_view closer, bool final, JsonScan& scan) {
    if (scan.pos < start) {
        scan = JsonScan{start};
        scan.mark = start;
    }
    size_t e = json_value_end(text, scan);
    size_t limit = e > 0 ? e : text.size();
    for (size_t c = text.find(closer, scan.mark); c != std::string_view::npos && c < limit;
         c = text.find(closer, c + 1)) {
        JsonScan upto{start};
        json_value_end(text.substr(0, c), upto);
        if (!upto.in_string || (final && e == 0)) return {true, c, c + closer.size()};
        scan.mark = c + 1;
    }
    if (e > 0) return with_optional_closer(text, e, closer, final);
    if (final) return {true, text.size(), text.size()};
    return {};
}

Trigger block_trigger(std::string text, const BlockFormat& block, bool keep) {
    Trigger t;
    t.text = std::move(text);
    t.kind = TriggerKind::block;
    t.block = &block;
    t.keep = keep;
    t.warn_on_fail = !keep;
    return t;
}

namespace {

// Where a JSON object that may be a call starts: '{' (or '[' then '{') then a first key naming a call field.
// Returns 1 (yes), 0 (no) or -1 (need more text).
int json_call_prefix(std::string_view s, bool final) {
    size_t i = 1;
    while (i < s.size() && is_space(s[i])) ++i;
    if (s[0] == '[') {
        if (i == s.size()) return final ? 0 : -1;
        if (s[i] != '{') return 0;
        return json_call_prefix(s.substr(i), final);
    }
    if (i == s.size()) return final ? 0 : -1;
    if (s[i] != '"') return 0;
    size_t close = s.find('"', i + 1);
    if (close == std::string_view::npos) return (final || s.size() - i > 16) ? 0 : -1;
    std::string_view key = s.substr(i + 1, close - i - 1);
    static constexpr std::string_view kKeys[] = {"name", "function", "tool_call", "tool_calls", "tool_name", "type"};
    if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) return 0;
    size_t j = close + 1;
    while (j < s.size() && is_space(s[j])) ++j;
    if (j == s.size()) return final ? 0 : -1;
    return s[j] == ':' ? 1 : 0;
}

size_t trailing_ws(std::string_view s) {
    size_t n = 0;
    while (n < s.size() && is_space(s[s.size() - 1 - n])) ++n;
    return n;
}

size_t leading_ws(std::string_view s) {
    size_t n = 0;
    while (n < s.size() && is_space(s[n])) ++n;
    return n;
}

class MarkerParser : public ParserCore {
  public:
    MarkerParser(const OutputFormat& format, const ParserOptions& options)
        : tools_(options.tools), max_calls_(options.max_calls) {
        bool with_tools = !tools_.empty();
        for (const auto& m : format.think_open) dialect_.triggers.push_back({m, TriggerKind::think_open});
        for (const auto& m : format.think_close) dialect_.triggers.push_back({m, TriggerKind::think_close});
        add_json_family_triggers(format, with_tools, dialect_);
        add_xml_family_triggers(format, with_tools, dialect_);
        add_tagged_family_triggers(format, with_tools, dialect_);
        add_gemma_family_triggers(format, with_tools, dialect_);
        if (options.starts_in_thinking && !format.think_open.empty()) {
            thinking_ = true;
            skip_ws_ = true;
        }
        if (dialect_.initial_block && with_tools) {
            initial_trigger_.kind = TriggerKind::block;
            initial_trigger_.block = dialect_.initial_block;
            initial_trigger_.warn_on_fail = false;
            start_block(&initial_trigger_, 0);
        }
    }

  protected:
    bool step(Emitter& em, bool final) override { return in_block_ ? step_block(em, final) : step_text(em, final); }

  private:
    std::string_view rest() const { return buf_.rest(); }
    void consume(size_t n) { buf_.consume(n); }

    void text_out(Emitter& em, std::string_view s) {
        if (thinking_)
            em.thinking(s);
        else
            em.content(s);
    }

    // The earliest trigger that applies in the current context; partial: wait for more text.
    struct Found {
        size_t pos = std::string_view::npos;
        const Trigger* trigger = nullptr;
        bool partial = false;
    };

    Found find_trigger(std::string_view s, bool final) const {
        Found best;
        auto consider = [&](size_t pos, const Trigger* t, bool partial) {
            if (pos < best.pos) {
                best = {pos, t, partial};
            } else if (pos == best.pos && !best.partial) {
                if (partial)
                    best = {pos, t, true};
                else if (t->text.size() > best.trigger->text.size())
                    best = {pos, t, false};
            }
        };
        for (const Trigger& t : dialect_.triggers) {
            // Inside reasoning only explicit markers count: an implied opener there is a rehearsal (f.12).
            if (thinking_ && t.keep) continue;
            const std::string& m = t.text;
            for (size_t from = 0;;) {
                size_t p = s.find(m, from);
                if (p == std::string_view::npos || p > best.pos) break;
                if (!t.json_prefix) {
                    consider(p, &t, false);
                    break;
                }
                int verdict = json_call_prefix(s.substr(p), final);
                if (verdict != 0) {
                    consider(p, &t, verdict < 0);
                    break;
                }
                from = p + 1;
            }
            if (final) continue;
            size_t k = s.size() >= m.size() ? s.size() - m.size() + 1 : 0;
            for (; k < s.size() && k <= best.pos; ++k) {
                if (m.compare(0, s.size() - k, s.substr(k)) == 0) {
                    consider(k, &t, true);
                    break;
                }
            }
        }
        return best;
    }

    bool step_text(Emitter& em, bool final) {
        std::string_view s = rest();
        if (s.empty()) return false;
        if (!swallow_.empty()) {
            size_t w = leading_ws(s);
            std::string_view t = s.substr(w);
            for (const auto& tr : swallow_) {
                if (starts_with(t, tr)) {
                    em.markup(s.substr(0, w + tr.size()));
                    consume(w + tr.size());
                    return true;
                }
            }
            bool maybe = t.empty();
            for (const auto& tr : swallow_) maybe = maybe || starts_with(tr, t);
            if (maybe && !final) return false;
            swallow_.clear();
        }
        if (skip_ws_) {
            size_t w = leading_ws(s);
            if (w > 0) {
                em.markup(s.substr(0, w));
                consume(w);
                return true;
            }
            skip_ws_ = false;
        }
        Found f = find_trigger(s, final);
        if (!f.trigger) {
            if (final && after_block_ && trailing_ws(s) == s.size()) {
                em.markup(s);  // the end of a turn that ends in calls is not content
                consume(s.size());
                return true;
            }
            size_t n = s.size() - (final ? 0 : trailing_ws(s));
            if (n == 0) return false;
            text_out(em, s.substr(0, n));
            consume(n);
            after_block_ = false;
            return true;
        }
        size_t head = f.pos - trailing_ws(s.substr(0, f.pos));
        if (f.partial) {
            if (head == 0) return false;
            text_out(em, s.substr(0, head));
            consume(head);
            after_block_ = false;
            return true;
        }
        if (head > 0) {
            text_out(em, s.substr(0, head));
            consume(head);
            after_block_ = false;
            return true;
        }
        // The trigger sits at f.pos, after f.pos bytes of whitespace.
        const Trigger& t = *f.trigger;
        size_t ws = f.pos;
        switch (t.kind) {
            case TriggerKind::think_open: thinking_ = true; break;
            case TriggerKind::think_close:
                thinking_ = false;  // a lone closing tag in content is dropped all the same
                break;
            case TriggerKind::drop: break;
            case TriggerKind::block: start_block(&t, ws); return true;
        }
        em.markup(s.substr(0, ws + t.text.size()));
        consume(ws + t.text.size());
        skip_ws_ = true;
        return true;
    }

    void start_block(const Trigger* t, size_t ws) {
        in_block_ = true;
        trigger_ = t;
        block_ws_ = ws;
        opener_len_ = t->keep ? 0 : t->text.size();
        block_in_thinking_ = thinking_;
        scan_ = JsonScan{};
        interrupt_from_ = 0;
        interrupt_at_ = std::string_view::npos;
    }

    bool step_block(Emitter& em, bool final) {
        const BlockFormat& fmt = *trigger_->block;
        std::string_view s = rest();
        size_t head = block_ws_ + opener_len_;
        std::string_view text = s.substr(head);
        if (interrupt_at_ == std::string_view::npos) {
            std::vector<std::string> cuts;
            if (block_in_thinking_) {
                for (const Trigger& tr : dialect_.triggers) {
                    if (tr.kind == TriggerKind::think_close) cuts.push_back(tr.text);
                }
            }
            size_t from = std::max(interrupt_from_, trigger_->keep ? size_t{1} : size_t{0});
            MarkerHit hit = find_marker(text, cuts, from, true);
            if (hit.index >= 0) interrupt_at_ = hit.pos;
            size_t longest = 0;
            for (const auto& c : cuts) longest = std::max(longest, c.size());
            interrupt_from_ = text.size() > longest ? text.size() - longest : 0;
        }
        BlockEnd end = fmt.find_end(text, final, scan_);
        bool interrupted = false;
        if (interrupt_at_ != std::string_view::npos && (!end.found || end.body > interrupt_at_)) {
            JsonScan fresh;
            end = fmt.find_end(text.substr(0, interrupt_at_), true, fresh);
            interrupted = true;
        }
        if (!end.found) return false;
        bool strict = block_in_thinking_ && !final;
        BodyResult r = fmt.parse(text.substr(0, end.body), tools_, strict);
        bool registered = r.calls.empty();
        for (const auto& c : r.calls) registered = registered || tools_.find(c.name) >= 0;
        bool ok = r.ok && registered && !(block_in_thinking_ && interrupted) && !(strict && r.repaired);
        in_block_ = false;
        if (!ok) {
            if (trigger_->warn_on_fail && !block_in_thinking_) {
                std::string why = r.ok ? "unknown tool '" + r.calls.front().name + "'" : r.error;
                em.warn("unparsable tool call returned as content (" + why + ")");
            }
            // An explicit opener becomes plain text and the rest is read again; an implied one (a bare JSON
            // object, <function=...>) is plain text as a whole, so nothing nested in it turns into a call.
            size_t n = trigger_->keep ? head + std::max(end.consumed, trigger_->text.size()) : head;
            text_out(em, s.substr(0, n));
            consume(n);
            return true;
        }
        bool markup_only = r.calls.empty();
        std::vector<std::string> warnings;
        auto calls = resolve_calls(std::move(r.calls), tools_, max_calls_, emitted_, warnings);
        if (r.repaired) em.warn("repaired malformed tool call");
        for (auto& w : warnings) em.warn(std::move(w));
        em.markup(s.substr(0, block_ws_));
        std::string_view raw = s.substr(block_ws_, opener_len_ + end.consumed);
        if (markup_only)
            em.markup(raw);
        else
            em.calls(raw, std::move(calls));
        consume(head + end.consumed);
        if (block_in_thinking_) thinking_ = false;  // agents.md f.12: a real call ends the reasoning
        swallow_ = fmt.trailers;
        // Whitespace after a call is markup before another marker or at the end, content before more text.
        after_block_ = true;
        return true;
    }

    Dialect dialect_;
    ToolSet tools_;
    int max_calls_ = -1;
    int emitted_ = 0;
    bool thinking_ = false;
    bool skip_ws_ = false;      // whitespace right after a reasoning or dropped marker is markup
    bool after_block_ = false;  // only calls (and whitespace) since the last text
    std::vector<std::string> swallow_;
    Trigger initial_trigger_;
    // The open block: block_ws_ bytes of whitespace, the opener (opener_len_ bytes), then its text.
    bool in_block_ = false;
    const Trigger* trigger_ = nullptr;
    size_t block_ws_ = 0, opener_len_ = 0;
    bool block_in_thinking_ = false;
    JsonScan scan_;
    size_t interrupt_from_ = 0, interrupt_at_ = std::string_view::npos;
};

}  // namespace

std::unique_ptr<ParserCore> make_marker_parser(const OutputFormat& format, const ParserOptions& options) {
    return std::make_unique<MarkerParser>(format, options);
}

}  // namespace outparse

// ---- public facade -----------------------------------------------------------------------------------------

struct OutputParser::Impl {
    std::unique_ptr<outparse::ParserCore> core;
    outparse::Emitter emitter;
};

OutputParser::OutputParser(const OutputFormat& format, const ParserOptions& options) : impl_(new Impl) {
    impl_->core = format.family == ToolFamily::harmony ? outparse::make_harmony_parser(format, options)
                                                       : outparse::make_marker_parser(format, options);
    impl_->emitter.keep_thinking = options.thinking;
}

OutputParser::~OutputParser() = default;
OutputParser::OutputParser(OutputParser&&) noexcept = default;
OutputParser& OutputParser::operator=(OutputParser&&) noexcept = default;

void OutputParser::push(std::string_view text, ParsedOutput& out) {
    impl_->emitter.bind(&out);
    impl_->core->push(text, impl_->emitter);
}

void OutputParser::finish(ParsedOutput& out) {
    impl_->emitter.bind(&out);
    impl_->core->finish(impl_->emitter);
}

void OutputParser::set_trace(std::vector<TraceSpan>* trace) { impl_->emitter.trace = trace; }

}  // namespace berth
