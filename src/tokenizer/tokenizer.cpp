// Tokenizer construction from GGUF metadata, special-token partitioning, encode dispatch and end-of-generation.
#include <algorithm>

#include "tokenizer/tokenizer_impl.h"

namespace berth {

// Special tokens must be valid UTF-8: matching one inside a character would hand the regex engine broken text.
static bool valid_utf8(std::string_view s) {
    const uint8_t* p = reinterpret_cast<const uint8_t*>(s.data());
    size_t i = 0, n = s.size();
    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        int len = utf8_sequence(p + i, n - i);
        if (len <= 0) return false;
        i += size_t(len);
    }
    return true;
}

// ---- VocabIndex / MergeTable ---------------------------------------------------------------------------

static size_t pow2_at_least(size_t n) {
    size_t p = 16;
    while (p < n) p <<= 1;
    return p;
}

void VocabIndex::build(const std::vector<std::string_view>& tokens) {
    size_t total = 0;
    for (auto t : tokens) total += t.size();
    arena_.clear();
    arena_.reserve(total);
    offsets_.assign(tokens.size() + 1, 0);
    for (size_t i = 0; i < tokens.size(); i++) {
        offsets_[i] = uint32_t(arena_.size());
        arena_.append(tokens[i]);
    }
    offsets_[tokens.size()] = uint32_t(arena_.size());
    size_t cap = pow2_at_least(tokens.size() + tokens.size() / 2 + 1);  // load factor ≤ 2/3
    slots_.assign(cap, Slot{kNoToken, 0});
    mask_ = cap - 1;
    for (size_t id = 0; id < tokens.size(); id++) {
        std::string_view s = text(TokenId(id));
        uint64_t h = hash_bytes(s.data(), s.size());
        size_t i = h & mask_;
        bool dup = false;
        while (slots_[i].id >= 0) {
            if (text(slots_[i].id) == s) {  // duplicate text: the first id wins
                dup = true;
                break;
            }
            i = (i + 1) & mask_;
        }
        if (!dup) slots_[i] = Slot{TokenId(id), uint32_t(h >> 32)};
    }
}

void MergeTable::reserve(size_t n) {
    size_t cap = pow2_at_least(n + n / 2 + 1);  // load factor ≤ 2/3
    keys_.assign(cap, kEmpty);
    vals_.assign(cap, 0);
    mask_ = cap - 1;
    n_ = 0;
}

void MergeTable::insert(TokenId left, TokenId right, int32_t rank, TokenId merged) {
    CHECK(!keys_.empty() && n_ < keys_.size() - 1);
    uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
    size_t i = mix(key) & mask_;
    while (keys_[i] != kEmpty) {
        if (keys_[i] == key) return;  // a repeated merge keeps its first (lowest) rank
        i = (i + 1) & mask_;
    }
    keys_[i] = key;
    vals_[i] = (uint64_t(uint32_t(rank)) << 32) | uint32_t(merged);
    n_++;
}

// ---- metadata ------------------------------------------------------------------------------------------

Result<VocabSpec> read_vocab_spec(const GgufFile& f) {
    VocabSpec s;
    auto model = f.get_string("tokenizer.ggml.model");
    if (!model) return not_found("no tokenizer.ggml.model in the file");
    s.model = std::string(*model);
    if (auto pre = f.get_string("tokenizer.ggml.pre")) s.pre = std::string(*pre);
    if (auto name = f.get_string("general.name")) s.name = std::string(*name);
    const GgufValue* toks = f.get_array("tokenizer.ggml.tokens");
    if (!toks || toks->elem_type != GgufType::STRING || toks->strings.empty())
        return corrupt_data("tokenizer.ggml.tokens is missing or not an array of strings");
    s.tokens = toks->strings;
    size_t n = s.tokens.size();
    if (n >= (1u << 31)) return corrupt_data("vocabulary too large");
    if (const GgufValue* sc = f.get_array("tokenizer.ggml.scores")) {
        if (sc->count != n)
            return corrupt_data("tokenizer.ggml.scores has %llu entries for %zu tokens", (unsigned long long)sc->count,
                                n);
        if (sc->elem_type == GgufType::STRING || sc->elem_type == GgufType::ARRAY)
            return corrupt_data("tokenizer.ggml.scores is not numeric");
        s.scores.resize(n);
        for (size_t i = 0; i < n; i++) s.scores[i] = float(sc->float_at(i));
    }
    if (const GgufValue* ty = f.get_array("tokenizer.ggml.token_type")) {
        if (ty->count != n)
            return corrupt_data("tokenizer.ggml.token_type has %llu entries for %zu tokens",
                                (unsigned long long)ty->count, n);
        if (!(ty->elem_type == GgufType::INT32 || ty->elem_type == GgufType::UINT32 ||
              ty->elem_type == GgufType::INT8 || ty->elem_type == GgufType::UINT8 || ty->elem_type == GgufType::INT16 ||
              ty->elem_type == GgufType::UINT16))
            return corrupt_data("tokenizer.ggml.token_type is not an integer array");
        s.types.resize(n);
        for (size_t i = 0; i < n; i++) {
            int64_t t = ty->int_at(i);
            s.types[i] = uint8_t(t >= 0 && t <= 6 ? t : 0);
        }
    }
    if (const GgufValue* m = f.get_array("tokenizer.ggml.merges")) {
        if (m->elem_type != GgufType::STRING) return corrupt_data("tokenizer.ggml.merges is not an array of strings");
        s.merges = m->strings;
    }
    auto id = [&](const char* key) -> TokenId {
        auto v = f.get_int(key);
        if (!v || *v < 0 || *v >= int64_t(n)) return kNoToken;
        return TokenId(*v);
    };
    s.bos = id("tokenizer.ggml.bos_token_id");
    s.eos = id("tokenizer.ggml.eos_token_id");
    s.eot = id("tokenizer.ggml.eot_token_id");
    s.eom = id("tokenizer.ggml.eom_token_id");
    s.unk = id("tokenizer.ggml.unknown_token_id");
    s.pad = id("tokenizer.ggml.padding_token_id");
    s.sep = id("tokenizer.ggml.seperator_token_id");  // sic: the GGUF key is spelled this way
    s.cls = id("tokenizer.ggml.cls_token_id");
    s.mask = id("tokenizer.ggml.mask_token_id");
    auto flag = [&](const char* key) -> int {
        auto v = f.get_bool(key);
        return v ? int(*v) : -1;
    };
    s.add_bos = flag("tokenizer.ggml.add_bos_token");
    s.add_eos = flag("tokenizer.ggml.add_eos_token");
    s.add_sep = flag("tokenizer.ggml.add_sep_token");
    s.add_space_prefix = flag("tokenizer.ggml.add_space_prefix");
    return s;
}

// ---- construction --------------------------------------------------------------------------------------

Tokenizer::Tokenizer() : impl_(std::make_unique<Impl>()) {}
Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const GgufFile& file) {
    ASSIGN_OR_RETURN(VocabSpec spec, read_vocab_spec(file));
    return create(spec);
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::create(const VocabSpec& spec) {
    std::unique_ptr<Tokenizer> t(new Tokenizer());
    Impl& im = *t->impl_;
    const size_t n = spec.tokens.size();
    if (n == 0) return invalid_argument("empty vocabulary");
    size_t text_bytes = 0;
    for (auto tok : spec.tokens) text_bytes += tok.size();
    if (n >= (1u << 30) || text_bytes >= (1ull << 32)) return invalid_argument("vocabulary too large");
    if (!spec.scores.empty() && spec.scores.size() != n) return invalid_argument("scores do not match the vocabulary");
    if (!spec.types.empty() && spec.types.size() != n)
        return invalid_argument("token types do not match the vocabulary");
    t->n_vocab_ = int32_t(n);
    im.vocab.build(spec.tokens);
    im.scores = spec.scores;
    for (float& sc : im.scores)  // NaN would break the merge order; treat it as "never preferred"
        if (!(sc == sc)) sc = -1e30f;
    im.types = spec.types;
    if (im.types.empty()) im.types.assign(n, uint8_t(TokenType::normal));
    im.attrs.assign(n, 0);
    for (auto tok : spec.tokens) im.max_token_len = std::max(im.max_token_len, tok.size());

    auto pick = [&](TokenId given, TokenId fallback) { return given != kNoToken ? given : fallback; };
    auto valid = [&](TokenId id) { return id >= 0 && id < TokenId(n) ? id : kNoToken; };
    bool add_bos = false, add_eos = false, add_sep = false;
    if (spec.model == "llama" || spec.model == "gemma" || spec.model == "gemma2") {
        t->kind_ = TokenizerKind::spm;
        t->pre_ = "default";
        t->bos_ = valid(pick(spec.bos, 1));
        t->eos_ = valid(pick(spec.eos, 2));
        t->unk_ = valid(pick(spec.unk, 0));
        add_bos = true;
        im.add_space_prefix = true;
    } else if (spec.model == "gpt2") {
        t->kind_ = TokenizerKind::bpe;
        // No fabricated defaults: a missing id stays absent (the reference's 11 would be "," in GPT-2).
        t->bos_ = spec.bos;
        t->eos_ = spec.eos;
        t->unk_ = spec.unk;
        PreTokenizerConfig pc = pre_tokenizer_config(spec.pre);
        t->pre_ = pc.name;
        im.ignore_merges = pc.ignore_merges;
        if (pc.add_bos >= 0) add_bos = pc.add_bos;
        RETURN_IF_ERROR(im.pre.init(pc.patterns));
    } else if (spec.model == "bert") {
        t->kind_ = TokenizerKind::wpm;
        t->pre_ = "default";
        t->bos_ = valid(pick(spec.cls, pick(spec.bos, 101)));
        t->sep_ = valid(pick(spec.sep, 102));
        t->unk_ = valid(pick(spec.unk, 100));
        t->pad_ = valid(pick(spec.pad, 0));
        add_bos = true;
        add_sep = true;
    } else {
        return unsupported("tokenizer model \"%s\" is not supported (llama, gpt2 and bert are)", spec.model.c_str());
    }
    if (t->kind_ != TokenizerKind::wpm) {
        t->sep_ = spec.sep;
        t->pad_ = spec.pad;
    }
    t->eot_ = spec.eot;
    t->eom_ = spec.eom;
    if (spec.add_bos >= 0) add_bos = spec.add_bos;
    if (spec.add_eos >= 0) add_eos = spec.add_eos;
    if (spec.add_sep >= 0) add_sep = spec.add_sep;
    if (spec.add_space_prefix >= 0) im.add_space_prefix = spec.add_space_prefix;
    im.unk_id = t->unk_;
    t->add_bos_ = add_bos && t->bos_ != kNoToken;
    t->add_eos_ = add_eos && t->eos_ != kNoToken;
    t->add_sep_ = add_sep && t->sep_ != kNoToken;

    // Tokens that end generation are recognized by their text (as the reference does) and become control tokens.
    static const char* const eot_names[] = {
        "<|eot_id|>",      "<|im_end|>", "<|end|>", "<end_of_turn>",         "<|endoftext|>",
        "<|end_of_text|>", "<EOT>",      "_<EOT>",  "<｜end▁of▁sentence｜>", "<end_of_utterance>"};
    if (t->eot_ == kNoToken) {
        for (const char* name : eot_names) {
            TokenId id = im.vocab.find(name);
            if (id != kNoToken) {
                t->eot_ = id;
                break;
            }
        }
    }
    static const char* const eog_names[] = {"<|eot_id|>", "<|im_end|>",    "<|end|>",         "<|return|>",
                                            "<|call|>",   "<end_of_turn>", "<|endoftext|>",   "<|eom_id|>",
                                            "<EOT>",      "_<EOT>",        "<|end_of_text|>", "<end_of_utterance>"};
    auto add_eog = [&](TokenId id) {
        if (id == kNoToken) return;
        if (std::find(t->eog_ids_.begin(), t->eog_ids_.end(), id) == t->eog_ids_.end()) t->eog_ids_.push_back(id);
    };
    for (const char* name : eog_names) {
        TokenId id = im.vocab.find(name);
        if (id == kNoToken) continue;
        add_eog(id);
        if (im.types[id] != uint8_t(TokenType::control)) im.types[id] = uint8_t(TokenType::control);
    }
    if (t->eot_ != kNoToken && im.types[t->eot_] == uint8_t(TokenType::normal))
        im.types[t->eot_] = uint8_t(TokenType::control);
    add_eog(t->eos_);
    add_eog(t->eot_);
    add_eog(t->eom_);
    std::sort(t->eog_ids_.begin(), t->eog_ids_.end());

    // Special tokens, grouped by first byte and longest first within a group.
    for (size_t id = 0; id < n; id++) {
        auto ty = TokenType(im.types[id]);
        if ((ty == TokenType::control || ty == TokenType::user_defined || ty == TokenType::unknown) &&
            !im.vocab.text(TokenId(id)).empty() && valid_utf8(im.vocab.text(TokenId(id))))
            im.special_ids.push_back(TokenId(id));
    }
    std::sort(im.special_ids.begin(), im.special_ids.end(), [&](TokenId a, TokenId b) {
        std::string_view ta = im.vocab.text(a), tb = im.vocab.text(b);
        if (uint8_t(ta[0]) != uint8_t(tb[0])) return uint8_t(ta[0]) < uint8_t(tb[0]);
        if (ta.size() != tb.size()) return ta.size() > tb.size();
        return a < b;
    });
    {
        size_t j = 0;
        for (int b = 0; b <= 256; b++) {
            while (b < 256 && j < im.special_ids.size() && uint8_t(im.vocab.text(im.special_ids[j])[0]) < b) j++;
            im.special_start[b] = uint32_t(j);
        }
        im.special_start[256] = uint32_t(im.special_ids.size());
    }
    // Phi-3 strips whitespace after its special tokens (the reference keys this on the model name).
    std::string lname = spec.name;
    for (auto& c : lname) c = char(tolower(uint8_t(c)));
    if (lname.find("phi-3") != std::string::npos || lname.find("phi3") != std::string::npos) {
        for (TokenId id : im.special_ids) im.attrs[id] |= attr_rstrip;
        if (TokenId id = im.vocab.find("</s>"); id != kNoToken) im.attrs[id] |= attr_rstrip;
        for (const char* s : {"<unk>", "<s>", "<|endoftext|>"})
            if (TokenId id = im.vocab.find(s); id != kNoToken) im.attrs[id] &= uint8_t(~attr_rstrip);
    }

    if (t->kind_ == TokenizerKind::spm) {
        im.spm_split_at_space = true;
        for (auto tok : spec.tokens) {
            for (size_t p = tok.find("\xe2\x96\x81", 1); p != std::string_view::npos;
                 p = tok.find("\xe2\x96\x81", p + 1)) {
                if (p < 3 || tok.compare(p - 3, 3, "\xe2\x96\x81") != 0) {
                    im.spm_split_at_space = false;
                    break;
                }
            }
            if (!im.spm_split_at_space) break;
        }
    }

    // Byte tokens.
    for (int b = 0; b < 256; b++) {
        im.byte_token[b] = kNoToken;
        std::string s;
        if (t->kind_ == TokenizerKind::bpe) {
            append_utf8(byte_to_unicode(uint8_t(b)), s);
        } else {
            static const char hex[] = "0123456789ABCDEF";
            s = std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
        }
        im.byte_token[b] = im.vocab.find(s);
        if (im.byte_token[b] == kNoToken && t->kind_ == TokenizerKind::spm) {
            s.assign(1, char(b));
            im.byte_token[b] = im.vocab.find(s);
        }
    }

    // BPE merges: "left right" → (rank, merged id); merges whose parts or result are not tokens are dropped.
    if (t->kind_ == TokenizerKind::bpe) {
        im.merges.reserve(spec.merges.size());
        std::string joined;
        size_t dropped = 0;
        for (size_t rank = 0; rank < spec.merges.size(); rank++) {
            std::string_view m = spec.merges[rank];
            size_t sp = m.find(' ', 1);
            if (sp == std::string_view::npos) {
                dropped++;
                continue;
            }
            std::string_view l = m.substr(0, sp), r = m.substr(sp + 1);
            joined.assign(l);
            joined.append(r);
            TokenId li = im.vocab.find(l), ri = im.vocab.find(r), mi = im.vocab.find(joined);
            if (li == kNoToken || ri == kNoToken || mi == kNoToken) {
                dropped++;
                continue;
            }
            im.merges.insert(li, ri, int32_t(rank), mi);
        }
        if (dropped) LOG_DEBUG("tokenizer: %zu of %zu merges refer to missing tokens", dropped, spec.merges.size());
    }
    return t;
}

// ---- queries -------------------------------------------------------------------------------------------

std::string_view Tokenizer::token_text(TokenId id) const {
    if (id < 0 || id >= n_vocab_) return {};
    return impl_->vocab.text(id);
}

TokenType Tokenizer::token_type(TokenId id) const {
    if (id < 0 || id >= n_vocab_) return TokenType::undefined;
    return TokenType(impl_->types[id]);
}

float Tokenizer::token_score(TokenId id) const {
    if (id < 0 || id >= n_vocab_ || impl_->scores.empty()) return 0.0f;
    return impl_->scores[id];
}

TokenId Tokenizer::find_token(std::string_view text) const { return impl_->vocab.find(text); }

bool Tokenizer::is_eog(TokenId id) const {
    return id != kNoToken && std::binary_search(eog_ids_.begin(), eog_ids_.end(), id);
}

bool Tokenizer::is_control(TokenId id) const { return token_type(id) == TokenType::control; }

size_t Tokenizer::memory_bytes() const {
    const Impl& im = *impl_;
    return sizeof(Tokenizer) + sizeof(Impl) + im.vocab.memory_bytes() + im.scores.capacity() * sizeof(float) +
           im.types.capacity() + im.attrs.capacity() + im.special_ids.capacity() * sizeof(TokenId) +
           im.merges.memory_bytes() + eog_ids_.capacity() * sizeof(TokenId) + pre_.capacity();
}

// ---- encoding ------------------------------------------------------------------------------------------

static bool is_space_byte(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

void Tokenizer::Impl::partition(std::string_view text, bool parse_special, std::vector<Fragment>& out) const {
    out.clear();
    uint32_t raw_start = 0;
    const size_t n = text.size();
    auto push_raw = [&](uint32_t from, uint32_t to) {
        if (to > from) out.push_back({kNoToken, from, to - from});
    };
    size_t i = 0;
    while (i < n) {
        uint8_t b = uint8_t(text[i]);
        TokenId hit = kNoToken;
        size_t hit_len = 0;
        for (uint32_t k = special_start[b]; k < special_start[b + 1]; k++) {
            TokenId id = special_ids[k];
            auto ty = TokenType(types[id]);
            if (!parse_special && ty != TokenType::user_defined) continue;
            std::string_view s = vocab.text(id);
            if (s.size() <= n - i && memcmp(s.data(), text.data() + i, s.size()) == 0) {
                hit = id;
                hit_len = s.size();
                break;  // longest first
            }
        }
        if (hit == kNoToken) {
            i++;
            continue;
        }
        size_t raw_end = i;
        if (attrs[hit] & attr_lstrip)
            while (raw_end > raw_start && is_space_byte(text[raw_end - 1])) raw_end--;
        push_raw(raw_start, uint32_t(raw_end));
        out.push_back({hit, uint32_t(i), uint32_t(hit_len)});
        i += hit_len;
        if (attrs[hit] & attr_rstrip)
            while (i < n && is_space_byte(text[i])) i++;
        raw_start = uint32_t(i);
    }
    push_raw(raw_start, uint32_t(n));
}

void Tokenizer::encode(std::string_view text, bool add_special, bool parse_special, std::vector<TokenId>& out) const {
    out.clear();
    std::string cleaned;
    if (!valid_utf8(text)) {
        append_valid_utf8(text, cleaned, false);
        text = cleaned;
    }
    const Impl& im = *impl_;
    std::vector<Impl::Fragment> frags;
    im.partition(text, parse_special, frags);
    if (add_special && add_bos_) out.push_back(bos_);
    switch (kind_) {
        case TokenizerKind::spm: {
            bool prev_special = true;  // the first fragment gets the space prefix
            std::string buf;
            for (const auto& f : frags) {
                if (f.token != kNoToken) {
                    out.push_back(f.token);
                    prev_special = true;
                    continue;
                }
                buf.clear();
                if (im.add_space_prefix && prev_special) buf += "\xe2\x96\x81";
                for (char c : text.substr(f.off, f.len)) {
                    if (c == ' ')
                        buf += "\xe2\x96\x81";
                    else
                        buf += c;
                }
                im.encode_spm(buf, out);
                prev_special = false;
            }
            break;
        }
        case TokenizerKind::bpe: {
            std::vector<std::pair<uint32_t, uint32_t>> words;
            std::string scratch;
            for (const auto& f : frags) {
                if (f.token != kNoToken) {
                    out.push_back(f.token);
                    continue;
                }
                std::string_view frag = text.substr(f.off, f.len);
                words.clear();
                im.pre.split(frag, words);
                for (auto [off, len] : words) im.encode_bpe_word(frag.substr(off, len), out, scratch);
            }
            break;
        }
        case TokenizerKind::wpm: {
            for (const auto& f : frags) {
                if (f.token != kNoToken)
                    out.push_back(f.token);
                else
                    im.encode_wpm(text.substr(f.off, f.len), out);
            }
            break;
        }
    }
    if (add_special && add_eos_) out.push_back(eos_);
    if (add_special && add_sep_) out.push_back(sep_);
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
    std::vector<TokenId> out;
    encode(text, add_special, parse_special, out);
    return out;
}

}  // namespace berth
