// Q8_0 / Q4_0 / Q4_K / Q6_K matrices repacked into 16-row groups (kernels.h), the activation records their kernels read
// (matmul_impl.h), and the scalar kernel for them (any ISA; the engine repacks only where avx512 runs).
#include <cstring>

#include "kernels/kernels.h"
#include "kernels/matmul_impl.h"

namespace berth {

DType repacked_type(DType t) {
    switch (t) {
        case DType::Q8_0: return DType::Q8_0_R16;
        case DType::Q4_0: return DType::Q4_0_R16;
        case DType::Q4_K: return DType::Q4_K_R16;
        case DType::Q6_K: return DType::Q6_K_R16;
        default: return t;
    }
}

bool is_repacked(DType t) {
    return t == DType::Q8_0_R16 || t == DType::Q4_0_R16 || t == DType::Q4_K_R16 || t == DType::Q6_K_R16;
}

bool repack_applies(DType t, int64_t n_rows, int64_t n_cols) {
    return repacked_type(t) != t && n_rows > 0 && n_rows % kRepackRows == 0 && n_cols > 0 &&
           n_cols % dtype_info(t).block_elems == 0 && active_isa() >= Isa::avx512;
}

namespace {

// Where a source block keeps its fp16 fields (d; Q4_K: d, dmin; at the start, Q6_K's at the end) and the rest,
// a whole number of int32 words. The fields go to their own 32-byte arrays (row l's at 2l), the rest follows
// as int32 lanes.
struct BlockParts {
    size_t head_at, n_head, rest_at, rest_bytes;
};

BlockParts block_parts(DType t) {
    switch (t) {
        case DType::Q8_0: return {0, 1, 2, 32};
        case DType::Q4_0: return {0, 1, 2, 16};
        case DType::Q4_K: return {0, 2, 4, 140};
        case DType::Q6_K: return {208, 1, 0, 208};
        default: CHECK_MSG(false, "no repacked form");
    }
    return {};
}

}  // namespace

void repack_rows16(const TensorView& src, void* dst) {
    const DType t = src.type;
    CHECK_MSG(repacked_type(t) != t && src.n_rows() % kRepackRows == 0, "repack_rows16: not a repackable matrix");
    const int64_t nb = src.ne[0] / dtype_info(t).block_elems, n_groups = src.n_rows() / kRepackRows;
    const size_t bb = size_t(dtype_info(t).block_bytes), rb = size_t(src.row_bytes());
    const BlockParts bp = block_parts(t);
    // Q8_0 stores w + 128 (vpdpbusd's unsigned operand): flipping the sign bit of each byte.
    const uint32_t flip = t == DType::Q8_0 ? 0x80808080u : 0;
    const uint8_t* in = static_cast<const uint8_t*>(src.data);
    uint8_t* out = static_cast<uint8_t*>(dst);
    for (int64_t g = 0; g < n_groups; g++)
        for (int64_t b = 0; b < nb; b++) {
            uint8_t* o = out + size_t(g * nb + b) * kRepackRows * bb;
            for (int l = 0; l < kRepackRows; l++) {
                const uint8_t* blk = in + size_t(g * kRepackRows + l) * rb + size_t(b) * bb;
                for (size_t f = 0; f < bp.n_head; f++)
                    memcpy(o + kRepackRows * sizeof(fp16_t) * f + l * sizeof(fp16_t),
                           blk + bp.head_at + f * sizeof(fp16_t), sizeof(fp16_t));
                // Bytes 4j..4j+3 of row l's rest go to 64j + 4l after the arrays: int32 lane l of chunk j.
                for (size_t j = 0; j < bp.rest_bytes / 4; j++) {
                    uint32_t v;
                    memcpy(&v, blk + bp.rest_at + 4 * j, 4);
                    v ^= flip;
                    memcpy(o + kRepackRows * sizeof(fp16_t) * bp.n_head + 64 * j + 4 * l, &v, 4);
                }
            }
        }
}

namespace kern {

void make_r16_records(const void* blocks, int64_t n_cols, uint8_t* out) {
    const BlockQ8_0* x = static_cast<const BlockQ8_0*>(blocks);
    for (int64_t b = 0; b < n_cols / QK8_0; b++) {
        uint8_t* r = out + size_t(b) * kR16RecordBytes;
        int32_t sum = 0;
        for (int i = 0; i < QK8_0; i++) sum += x[b].qs[i];
        const float d = fp16_to_fp32(x[b].d);
        const int32_t c8 = -8 * sum, c128 = -128 * sum, zero = 0;
        memcpy(r, x[b].qs, QK8_0);
        memcpy(r + kR16OffsetD, &d, 4);
        memcpy(r + kR16OffsetQ4, &c8, 4);
        memcpy(r + kR16OffsetQ8, &c128, 4);
        memcpy(r + 44, &zero, 4);
    }
}

namespace {

// Row l of a group, block b, back in its file layout.
template <typename Block, DType kSrc>
Block source_block(const uint8_t* group, int64_t b, int l) {
    const BlockParts bp = block_parts(kSrc);
    Block blk;
    uint8_t* p = reinterpret_cast<uint8_t*>(&blk);
    const uint8_t* o = group + size_t(b) * kRepackRows * sizeof(Block);
    for (size_t f = 0; f < bp.n_head; f++)
        memcpy(p + bp.head_at + f * sizeof(fp16_t), o + kRepackRows * sizeof(fp16_t) * f + l * sizeof(fp16_t),
               sizeof(fp16_t));
    const uint8_t* rest = o + kRepackRows * sizeof(fp16_t) * bp.n_head;
    for (size_t i = 0; i < bp.rest_bytes; i++) {
        p[bp.rest_at + i] = rest[64 * (i / 4) + 4 * l + i % 4];
        if constexpr (kSrc == DType::Q8_0) p[bp.rest_at + i] ^= 0x80;
    }
    return blk;
}

template <typename Block, DType kSrc>
void rows_r16(const MatmulTask& t, int64_t r0, int64_t r1) {
    constexpr int64_t kElems = kSrc == DType::Q4_K || kSrc == DType::Q6_K ? QK_K : QK8_0;
    const int64_t nb = t.n_cols / kElems;
    const size_t act_block = size_t(row_bytes(act_type(kSrc), kElems));
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t* group = t.w + (r / kRepackRows) * kRepackRows * t.w_row_bytes;
        for (int64_t k = 0; k < t.n_tokens; k++) {
            const uint8_t* x = t.xq + k * t.xq_row_bytes;
            float sum = 0;
            for (int64_t b = 0; b < nb; b++) {
                const Block blk = source_block<Block, kSrc>(group, b, int(r % kRepackRows));
                sum += vec_dot_scalar(kSrc, &blk, x + size_t(b) * act_block, nullptr, kElems);
            }
            t.y[k * t.ldy + r] = sum;
        }
    }
}

}  // namespace

RowsFn rows_kernel_r16_scalar(DType wtype) {
    if (wtype == DType::Q8_0_R16) return rows_r16<BlockQ8_0, DType::Q8_0>;
    if (wtype == DType::Q4_0_R16) return rows_r16<BlockQ4_0, DType::Q4_0>;
    if (wtype == DType::Q4_K_R16) return rows_r16<BlockQ4_K, DType::Q4_K>;
    if (wtype == DType::Q6_K_R16) return rows_r16<BlockQ6_K, DType::Q6_K>;
    return nullptr;
}

}  // namespace kern
}  // namespace berth
