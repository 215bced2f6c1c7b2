// cuda: the GPU backend's runtime calls and kernels, behind plain C++ (this header includes no CUDA header; the
// module is the only one that does). Compiled when CMake finds the CUDA toolkit (BERTH_CUDA); backend's
// CudaDevice wraps it in the Device interface. Every kernel here is the straightforward version (dequantize +
// cuBLAS for prefill, a plain mat-vec for decode, one warp per query head for attention): the fused fast paths
// come after a GPU run has verified these (issue 17).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/base.h"
#include "tensor/tensor.h"

namespace berth::cuda {

// ---- runtime ---------------------------------------------------------------------------------------------
struct GpuInfo {
    int index = 0;
    std::string name;     // "NVIDIA H100 80GB HBM3"
    std::string pci_bus;  // "0000:65:00.0"
    int64_t total_bytes = 0;
    int cc_major = 0, cc_minor = 0, sm_count = 0;
};

// GPUs the runtime can use; 0 with the reason (no driver, no GPU, driver older than this build's runtime, ...).
int gpu_count(std::string* why_none);
Result<GpuInfo> gpu_info(int index);

// Per-device state: the primary context, a cuBLAS handle, NVML (if the driver ships it). Opening it creates
// the context; the device memory that takes is measured (context_bytes) with NVML when available, else it is
// the device's used memory right after (which then includes other processes).
struct Gpu;
Result<Gpu*> gpu_open(int index);
// Loads cuBLAS once (the build's soname, else that file in the build's toolkit directory) and resolves every
// function the kernels call. gpu_open does it; no GPU is needed, so a host-side test checks it on CI.
Status blas_load();
void gpu_close(Gpu* gpu);
int64_t gpu_context_bytes(const Gpu* gpu);
// Host memory (RssAnon) the context and cuBLAS took when the GPU was opened.
int64_t gpu_host_context_bytes(const Gpu* gpu);
// free/total as cudaMemGetInfo; used_by_process from NVML's process list, else used − used before opening.
Status gpu_memory(Gpu* gpu, int64_t* free, int64_t* total, int64_t* used_by_process);
Result<void*> gpu_malloc(Gpu* gpu, size_t bytes);
void gpu_free(Gpu* gpu, void* p);
// Device-to-device copy bandwidth (GB/s, bytes read + written), best of `repeats` copies of `bytes` from src to
// dst (two device buffers of at least that size).
Result<double> gpu_copy_bandwidth(Gpu* gpu, void* dst, const void* src, size_t bytes, int repeats);

// A stream with its own order of work (one per loaded model).
struct Stream;
Result<Stream*> stream_open(Gpu* gpu);
void stream_close(Stream* s);
// Errors of asynchronous work surface at the next call that waits (download, synchronize) and stay: a stream
// that failed keeps failing (its model should be unloaded).
Status stream_upload(Stream* s, void* dst, const void* src, size_t bytes);
Status stream_download(Stream* s, void* dst, const void* src, size_t bytes);
Status stream_copy(Stream* s, void* dst, const void* src, size_t bytes);
Status stream_synchronize(Stream* s);

// ---- kernels (asynchronous, in stream order; pointers are device addresses) -------------------------------
// Matrix products y = x · Wᵀ (backend.h's DeviceStream::matmul): up to kMatvecMaxTokens rows of x with the
// mat-vec kernel reading W's blocks directly; more with W dequantized in row tiles to f16 (f32 for F32 and BF16
// weights) and a cuBLAS GEMM per tile.
constexpr int kMatvecMaxTokens = 8;
size_t matmul_scratch_bytes(DType type, int64_t n_cols, int64_t n_rows, int64_t n_tokens);
void matmul(Stream* s, const TensorView& w, const float* x, int64_t n_tokens, float* y, int64_t ldy, void* scratch);

void rmsnorm(Stream* s, float* out, const float* x, const float* w, int64_t n_rows, int64_t ld, int64_t n_groups,
             int64_t n, float eps);
void add_rows(Stream* s, float* y, const float* b, int64_t n_rows, int64_t n, int64_t ld);
void add(Stream* s, float* y, const float* x, int64_t n);
void fill(Stream* s, float* x, float value, int64_t n);
void softcap(Stream* s, float* x, int64_t n, float cap);
void rope(Stream* s, float* x, int64_t n_rows, int64_t ld, int n_heads, int head_dim, int n_rot, const int32_t* pos,
          float base, float freq_scale, bool neox, const float* freq_factors);
void glu(Stream* s, bool gelu, float* out, const float* gate_up, int64_t n_rows, int64_t n);
void moe_route(Stream* s, const float* logits, int64_t n_rows, int n_expert, int n_used, int32_t* ids, float* weights);
void gather_rows(Stream* s, float* dst, const float* src, const int32_t* rows, int64_t n_rows, int64_t n);
void scatter_add_rows(Stream* s, float* dst, const float* src, const int32_t* rows, const float* w, int64_t n_rows,
                      int64_t n);

// The paged KV cache (backend.h's DeviceKv, field by field).
struct KvLayout {
    DType type = DType::F16;
    int page_positions = 16, n_head_kv = 0, head_dim = 0, max_pages = 0;
    uint8_t* base = nullptr;
    int64_t page_bytes = 0, tile_bytes = 0;
    const int32_t* page_tables = nullptr;
};
void store_kv(Stream* s, const KvLayout& kv, int layer, int n_tokens, const int32_t* pos, const int32_t* seq,
              const float* k, const float* v, int64_t ld);
// One warp per (token, query head), online softmax over the positions: no scratch.
void attention(Stream* s, const KvLayout& kv, int layer, int n_tokens, const int32_t* pos, const int32_t* seq,
               const float* q, int64_t ldq, int n_head, int64_t window, float scale, float softcap, float* out,
               int64_t ldo);

}  // namespace berth::cuda
