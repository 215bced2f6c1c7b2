// Token → bytes, and the streaming decoder that emits only complete UTF-8.
#include "tokenizer/tokenizer_impl.h"

namespace berth {

static bool printable_byte(int c) { return (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174; }

uint32_t byte_to_unicode(uint8_t b) {
    if (printable_byte(b)) return b;
    int n = 0;
    for (int c = 0; c < b; c++) n += !printable_byte(c);
    return uint32_t(256 + n);
}

int unicode_to_byte(uint32_t cp) {
    static const auto table = [] {
        std::vector<int16_t> t(512, -1);  // every image lies below U+0200
        for (int b = 0; b < 256; b++) t[byte_to_unicode(uint8_t(b))] = int16_t(b);
        return t;
    }();
    return cp < table.size() ? table[cp] : -1;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

void Tokenizer::append_piece(TokenId id, std::string& out, bool render_special) const {
    if (id < 0 || id >= n_vocab_) return;
    const Impl& im = *impl_;
    std::string_view text = im.vocab.text(id);
    auto type = TokenType(im.types[id]);
    switch (type) {
        case TokenType::control:
        case TokenType::unknown:
            if (render_special) out.append(text);
            return;
        case TokenType::user_defined: out.append(text); return;
        case TokenType::unused:
        case TokenType::undefined: return;
        case TokenType::byte:
            if (kind_ != TokenizerKind::bpe && text.size() == 6 && text.substr(0, 3) == "<0x") {
                int hi = hex_value(text[3]), lo = hex_value(text[4]);
                if (hi >= 0 && lo >= 0) {
                    out += char(hi * 16 + lo);
                    return;
                }
            }
            out.append(text);
            return;
        case TokenType::normal: break;
    }
    if (kind_ == TokenizerKind::bpe) {
        // Byte-level text: every code point stands for one byte.
        const uint8_t* p = reinterpret_cast<const uint8_t*>(text.data());
        size_t i = 0, n = text.size();
        while (i < n) {
            int len = utf8_sequence(p + i, n - i);
            if (len <= 0) {
                out += char(p[i]);
                i++;
                continue;
            }
            int b = unicode_to_byte(utf8_decode(p + i, len));
            if (b >= 0)
                out += char(b);
            else
                out.append(text.substr(i, size_t(len)));  // outside the byte map: keep the character
            i += size_t(len);
        }
        return;
    }
    // SentencePiece and WordPiece: ▁ (U+2581) stands for a space.
    size_t i = 0;
    while (i < text.size()) {
        size_t j = text.find("\xe2\x96\x81", i);
        if (j == std::string_view::npos) {
            out.append(text.substr(i));
            break;
        }
        out.append(text.substr(i, j - i));
        out += ' ';
        i = j + 3;
    }
}

std::string Tokenizer::token_to_piece(TokenId id, bool render_special) const {
    std::string s;
    append_piece(id, s, render_special);
    return s;
}

std::string Tokenizer::decode(const std::vector<TokenId>& ids, bool render_special) const {
    std::string s;
    for (TokenId id : ids) append_piece(id, s, render_special);
    return s;
}

size_t append_valid_utf8(std::string_view bytes, std::string& out, bool hold_tail) {
    const uint8_t* p = reinterpret_cast<const uint8_t*>(bytes.data());
    size_t i = 0, n = bytes.size();
    while (i < n) {
        size_t start = i;
        while (i < n && p[i] < 0x80) i++;
        out.append(bytes.substr(start, i - start));
        if (i >= n) break;
        int len = utf8_sequence(p + i, n - i);
        if (len > 0) {
            out.append(bytes.substr(i, size_t(len)));
            i += size_t(len);
        } else if (len < 0 && hold_tail) {
            return n - i;  // incomplete sequence at the end: wait for more bytes
        } else {
            out += "\xef\xbf\xbd";  // U+FFFD: one per invalid byte, one for a cut-off sequence at the end
            if (len < 0) break;
            i++;
        }
    }
    return 0;
}

void StreamDecoder::push(TokenId id, std::string& out) {
    tok_->append_piece(id, pending_, special_);
    size_t held = append_valid_utf8(pending_, out, true);
    pending_.erase(0, pending_.size() - held);
}

void StreamDecoder::flush(std::string& out) {
    append_valid_utf8(pending_, out, false);
    pending_.clear();
}

}  // namespace berth
