// UTF-8 encoding shared by the tokenizers and the chat-template interpreter (internal to the module).
#pragma once

#include <cstdint>
#include <string>

namespace berth {

// Appends code point `cp` (< 0x110000) to `out` as UTF-8.
void append_utf8(uint32_t cp, std::string& out);

}  // namespace berth
