// Internal: the Unicode tables WordPiece needs (generated into unicode_data.cpp by gen_unicode_data.py).
#pragma once

#include <cstddef>
#include <cstdint>

namespace berth {

namespace unicode_data {
extern const uint32_t nfd_first[][3];  // {first, last, delta}
extern const size_t nfd_first_count;
extern const uint32_t to_lower[][3];
extern const size_t to_lower_count;
extern const uint32_t punctuation[][2];  // {first, last}
extern const size_t punctuation_count;
extern const uint32_t control[][2];
extern const size_t control_count;
}  // namespace unicode_data

// First code point of the canonical decomposition (é → e, 가 → ᄀ); cp itself when it does not decompose.
uint32_t unicode_nfd_first(uint32_t cp);
// Simple lowercase mapping (one code point to one).
uint32_t unicode_to_lower(uint32_t cp);
bool unicode_is_whitespace(uint32_t cp);   // the White_Space property
bool unicode_is_punctuation(uint32_t cp);  // general category P*
bool unicode_is_control(uint32_t cp);      // Cc, Cf, Co, Cs

}  // namespace berth
