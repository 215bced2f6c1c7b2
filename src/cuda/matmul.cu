// Matrix products on the GPU, the straightforward versions: a mat-vec kernel that reads the quantized blocks
// directly (decode: up to kMatvecMaxTokens rows of x), and for larger batches the weights dequantized in row tiles
// and multiplied with cuBLAS (tensor cores for f16). Every block format goes through block_math.h's
// dequant_chunk32, which block_math_test.cpp checks bit for bit against the CPU reference.
#include "cuda/block_math.h"
#include "cuda/internal.h"

namespace berth::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;
constexpr int64_t kTileElems = int64_t(16) << 20;  // a dequantized tile: 32 MiB of f16 (64 MiB of f32)
constexpr size_t kAlign = 256;

size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// One warp per row of W: lane l takes the 32-element chunks l, l + 32, ... of the row, dot with every token's x,
// then the warp sums. y[t * ldy + row] for t < n_tokens (≤ kMatvecMaxTokens).
__global__ void matvec_kernel(int type, const uint8_t* w, int64_t row_bytes, int64_t n_cols, int64_t n_rows,
                              const float* x, int n_tokens, float* y, int64_t ldy) {
    const int lane = threadIdx.x % 32;
    const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
    if (row >= n_rows) return;
    const uint8_t* wr = w + row * row_bytes;
    const int64_t n_chunks = (n_cols + 31) / 32;
    float acc[kMatvecMaxTokens];
#pragma unroll
    for (int t = 0; t < kMatvecMaxTokens; ++t) acc[t] = 0.0f;
    float v[32];
    for (int64_t c = lane; c < n_chunks; c += 32) {
        const int n_valid = int(n_cols - c * 32 < 32 ? n_cols - c * 32 : 32);
        dequant_chunk32(type, wr, c, n_valid, v);
#pragma unroll
        for (int t = 0; t < kMatvecMaxTokens; ++t) {
            if (t >= n_tokens) break;
            const float* xt = x + t * n_cols + c * 32;
            float sum = 0.0f;
#pragma unroll
            for (int i = 0; i < 32; ++i)
                if (i < n_valid) sum += v[i] * xt[i];
            acc[t] += sum;
        }
    }
#pragma unroll
    for (int t = 0; t < kMatvecMaxTokens; ++t) {
        for (int off = 16; off > 0; off /= 2) acc[t] += __shfl_down_sync(0xffffffffu, acc[t], off);
        if (lane == 0 && t < n_tokens) y[t * ldy + row] = acc[t];
    }
}

// Rows [row0, row0 + rows) of W dequantized into a dense tile (rows, n_cols): f16 bits, or f32 when f32_out.
__global__ void dequant_tile_kernel(int type, const uint8_t* w, int64_t row_bytes, int64_t n_cols, int64_t row0,
                                    int64_t rows, void* tile, bool f32_out) {
    const int64_t n_chunks = (n_cols + 31) / 32;
    const int64_t id = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (id >= rows * n_chunks) return;
    const int64_t r = id / n_chunks, c = id % n_chunks;
    const int n_valid = int(n_cols - c * 32 < 32 ? n_cols - c * 32 : 32);
    float v[32];
    dequant_chunk32(type, w + (row0 + r) * row_bytes, c, n_valid, v);
    const int64_t base = r * n_cols + c * 32;
    if (f32_out) {
        float* out = static_cast<float*>(tile) + base;
        for (int i = 0; i < n_valid; ++i) out[i] = v[i];
    } else {
        uint16_t* out = static_cast<uint16_t*>(tile) + base;
        for (int i = 0; i < n_valid; ++i) out[i] = float_to_half(v[i]);
    }
}

__global__ void to_half_kernel(const float* x, uint16_t* out, int64_t n) {
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) out[i] = float_to_half(x[i]);
}

unsigned blocks_for(int64_t n, int threads) { return unsigned((n + threads - 1) / threads); }

// Tile height: at most kTileElems elements, a multiple of 64 rows (or all rows).
int64_t tile_rows(int64_t n_cols, int64_t n_rows) {
    int64_t r = kTileElems / n_cols / 64 * 64;
    return r < 64 ? 64 : r > n_rows ? n_rows : r;
}

bool needs_tile(DType t) { return t != DType::F32 && t != DType::F16; }
bool tile_is_f32(DType t) { return t == DType::BF16; }
bool needs_half_x(DType t) { return t != DType::F32 && t != DType::BF16; }

void note_blas(Stream* s, cublasStatus_t st, const char* where) {
    if (st != CUBLAS_STATUS_SUCCESS) note(s, cudaErrorUnknown, where);
}

}  // namespace

size_t matmul_scratch_bytes(DType type, int64_t n_cols, int64_t n_rows, int64_t n_tokens) {
    if (n_tokens <= kMatvecMaxTokens) return 0;
    size_t bytes = kBlasWorkspace;
    if (needs_half_x(type)) bytes += align_up(size_t(n_tokens * n_cols) * 2);
    if (needs_tile(type)) bytes += align_up(size_t(tile_rows(n_cols, n_rows) * n_cols) * (tile_is_f32(type) ? 4 : 2));
    return bytes;
}

void matmul(Stream* s, const TensorView& w, const float* x, int64_t n_tokens, float* y, int64_t ldy, void* scratch) {
    use_device(s->gpu->index);
    const int64_t n_cols = w.ne[0], n_rows = w.ne[1];
    if (ldy == 0) ldy = n_rows;
    const int type = int(w.type);
    const uint8_t* wd = static_cast<const uint8_t*>(w.data);
    const int64_t rb = w.row_bytes();
    if (n_tokens <= kMatvecMaxTokens) {
        matvec_kernel<<<blocks_for(n_rows, kWarpsPerBlock), 32 * kWarpsPerBlock, 0, s->stream>>>(
            type, wd, rb, n_cols, n_rows, x, int(n_tokens), y, ldy);
        check_launch(s, "matvec");
        return;
    }
    uint8_t* ws = static_cast<uint8_t*>(scratch);
    uint8_t* next = ws + kBlasWorkspace;
    uint16_t* xh = nullptr;
    if (needs_half_x(w.type)) {
        xh = reinterpret_cast<uint16_t*>(next);
        next += align_up(size_t(n_tokens * n_cols) * 2);
        to_half_kernel<<<blocks_for(n_tokens * n_cols, 256), 256, 0, s->stream>>>(x, xh, n_tokens * n_cols);
        check_launch(s, "to_half");
    }
    void* tile = next;
    const float one = 1.0f, zero = 0.0f;
    // y (n_tokens, ldy) row-major is column-major (ldy, n_tokens): C = op(A) · B with A = W (n_cols × rows,
    // column-major, transposed) and B = x (n_cols × n_tokens).
    std::lock_guard<std::mutex> lock(s->gpu->blas_mu);
    cublasHandle_t h = s->gpu->blas;
    const BlasApi& blas = *s->gpu->api;
    note_blas(s, blas.set_stream(h, s->stream), "cublasSetStream");
    note_blas(s, blas.set_workspace(h, ws, kBlasWorkspace), "cublasSetWorkspace");
    if (w.type == DType::F32) {
        note_blas(s,
                  blas.sgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, int(n_rows), int(n_tokens), int(n_cols), &one,
                             reinterpret_cast<const float*>(wd), int(n_cols), x, int(n_cols), &zero, y, int(ldy)),
                  "cublasSgemm");
        return;
    }
    if (w.type == DType::F16) {
        note_blas(s,
                  blas.gemm_ex(h, CUBLAS_OP_T, CUBLAS_OP_N, int(n_rows), int(n_tokens), int(n_cols), &one, wd,
                               CUDA_R_16F, int(n_cols), xh, CUDA_R_16F, int(n_cols), &zero, y, CUDA_R_32F, int(ldy),
                               CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                  "cublasGemmEx");
        return;
    }
    const bool f32 = tile_is_f32(w.type);
    const int64_t step = tile_rows(n_cols, n_rows);
    for (int64_t r0 = 0; r0 < n_rows; r0 += step) {
        const int64_t rows = n_rows - r0 < step ? n_rows - r0 : step;
        dequant_tile_kernel<<<blocks_for(rows * ((n_cols + 31) / 32), 128), 128, 0, s->stream>>>(type, wd, rb, n_cols,
                                                                                                 r0, rows, tile, f32);
        check_launch(s, "dequant_tile");
        if (f32) {
            note_blas(s,
                      blas.sgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, int(rows), int(n_tokens), int(n_cols), &one,
                                 static_cast<const float*>(tile), int(n_cols), x, int(n_cols), &zero, y + r0, int(ldy)),
                      "cublasSgemm");
        } else {
            note_blas(s,
                      blas.gemm_ex(h, CUBLAS_OP_T, CUBLAS_OP_N, int(rows), int(n_tokens), int(n_cols), &one, tile,
                                   CUDA_R_16F, int(n_cols), xh, CUDA_R_16F, int(n_cols), &zero, y + r0, CUDA_R_32F,
                                   int(ldy), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                      "cublasGemmEx");
        }
    }
}

}  // namespace berth::cuda
