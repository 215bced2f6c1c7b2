// tensor: dtypes, GGUF block layouts with static_asserted sizes, row sizes, tensor views, and the scalar
// reference (de)quantization that is the specification every fast kernel is tested against.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/base.h"

namespace berth {

// Numbering follows ggml / GGUF (the on-disk tensor type id).
enum class DType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    BF16 = 30,
    // berth's own layouts, never in a file: Q8_0 / Q4_0 / Q4_K / Q6_K matrices repacked at load with 16 rows
    // interleaved (kernels.h, repack_rows16). dtype_info(uint32_t) does not know them, so no GGUF file can claim
    // them.
    Q4_0_R16 = 1002,
    Q8_0_R16 = 1008,
    Q4_K_R16 = 1012,
    Q6_K_R16 = 1014,
};

struct DTypeInfo {
    const char* name;     // "q4_K" etc. as ggml prints it
    int64_t block_elems;  // elements per block (1 for plain types)
    int64_t block_bytes;  // bytes per block
    bool quantized;
};

// nullptr for ids berth does not know (the GGUF reader refuses those files with the id in the message).
const DTypeInfo* dtype_info(uint32_t id);
const DTypeInfo& dtype_info(DType t);
inline const char* dtype_name(DType t) { return dtype_info(t).name; }
// Bytes of one row of n elements; n must be a multiple of the block size (CHECKed).
int64_t row_bytes(DType t, int64_t n);
// Parses "f16", "q4_k" ... (case-insensitive) as ggml names them.
bool parse_dtype(std::string_view name, DType* out);

// ---- block layouts (ggml-common.h) ---------------------------------------------------------------------
constexpr int QK4_0 = 32, QK4_1 = 32, QK5_0 = 32, QK5_1 = 32, QK8_0 = 32, QK8_1 = 32, QK_K = 256, K_SCALE_SIZE = 12;

struct BlockQ4_0 {
    fp16_t d;
    uint8_t qs[QK4_0 / 2];
};
struct BlockQ4_1 {
    fp16_t d, m;
    uint8_t qs[QK4_1 / 2];
};
struct BlockQ5_0 {
    fp16_t d;
    uint8_t qh[4];
    uint8_t qs[QK5_0 / 2];
};
struct BlockQ5_1 {
    fp16_t d, m;
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
};
struct BlockQ8_0 {
    fp16_t d;
    int8_t qs[QK8_0];
};
struct BlockQ8_1 {
    fp16_t d, s;
    int8_t qs[QK8_1];
};  // s = d * sum(qs)
struct BlockQ2_K {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    fp16_t d, dmin;
};
struct BlockQ3_K {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12];
    fp16_t d;
};
struct BlockQ4_K {
    fp16_t d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
};
struct BlockQ5_K {
    fp16_t d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
};

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block from its 12 packed bytes `s`
// (ggml's get_scale_min_k4): j < 4 in the low 6 bits of bytes j and j + 4, the others split over three bytes.
inline void scale_min_k4(int j, const uint8_t* s, int* sc, int* m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}
struct BlockQ6_K {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    fp16_t d;
};
struct BlockQ8_K {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

// ---- views ---------------------------------------------------------------------------------------------
constexpr int MAX_DIMS = 4;

// A non-owning view of a tensor in GGUF order: ne[0] is the contiguous row length.
struct TensorView {
    DType type = DType::F32;
    int n_dims = 0;
    int64_t ne[MAX_DIMS] = {1, 1, 1, 1};
    const void* data = nullptr;

    int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
    int64_t row_bytes() const { return berth::row_bytes(type, ne[0]); }
    int64_t n_bytes() const { return row_bytes() * n_rows(); }
    const uint8_t* row(int64_t i) const { return static_cast<const uint8_t*>(data) + i * row_bytes(); }
    std::string shape_string() const;  // "[2048, 32000]"
};

// ---- scalar reference (the specification) --------------------------------------------------------------
// Dequantizes n elements (a multiple of the block size) of type t from src into dst.
void dequantize_row_ref(DType t, const void* src, float* dst, int64_t n);
// Quantizes n floats into type t (reference algorithms of ggml, so files are byte-compatible in spirit).
// Supported for every weight type listed in DType plus Q8_1 and Q8_K.
void quantize_row_ref(DType t, const float* src, void* dst, int64_t n);
// Reference dot product of a weight row (type t) with float activations, in double precision.
double dot_row_ref(DType t, const void* row, const float* x, int64_t n);

}  // namespace berth
