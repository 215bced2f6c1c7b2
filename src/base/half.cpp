#include <cmath>

#include "base/base.h"

namespace berth {

float g_fp16_table[65536];

float fp16_to_fp32_slow(fp16_t h) {
    uint32_t sign = uint32_t(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t u;
    if (exp == 0) {
        if (mant == 0) {
            u = sign;
        } else {  // subnormal: normalise
            int e = -1;
            do {
                e++;
                mant <<= 1;
            } while ((mant & 0x400) == 0);
            u = sign | uint32_t(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000 | mant << 13;
    } else {
        u = sign | (exp + 127 - 15) << 23 | mant << 13;
    }
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

fp16_t fp32_to_fp16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000;
    uint32_t absu = u & 0x7fffffff;
    if (absu > 0x7f800000) return fp16_t(sign | 0x7e00);   // NaN
    if (absu >= 0x477ff000) return fp16_t(sign | 0x7c00);  // overflow (incl. rounding up) → inf
    if (absu < 0x38800000) {                               // subnormal half or zero
        // value = absu as float; half subnormal unit is 2^-24
        float a;
        std::memcpy(&a, &absu, 4);
        float scaled = a * 16777216.0f;                 // / 2^-24
        uint32_t q = uint32_t(std::nearbyint(scaled));  // round to nearest even (default mode)
        return fp16_t(sign | q);
    }
    uint32_t mant = absu & 0x7fffff;
    uint32_t exp = (absu >> 23) - 127 + 15;
    uint32_t h = exp << 10 | mant >> 13;
    uint32_t rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return fp16_t(sign | h);
}

namespace {
struct Fp16TableInit {
    Fp16TableInit() {
        for (uint32_t i = 0; i < 65536; i++) g_fp16_table[i] = fp16_to_fp32_slow(fp16_t(i));
    }
} g_fp16_table_init;
}  // namespace

}  // namespace berth
