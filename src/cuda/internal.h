// Internal to the cuda module: the runtime objects behind cuda.h's opaque handles, shared by runtime.cpp and the
// kernel files.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <memory>
#include <mutex>
#include <string>

#include "cuda/cuda.h"

namespace berth::cuda {

struct Nvml;  // runtime.cpp: NVML opened with dlopen, or absent

// cuBLAS, opened with dlopen when a GPU is opened: loading it costs ~90 MiB of anonymous host memory (cuBLASLt's
// tables), which a process without a GPU must not pay.
struct BlasApi {
    cublasStatus_t (*create)(cublasHandle_t*) = nullptr;
    cublasStatus_t (*destroy)(cublasHandle_t) = nullptr;
    cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t) = nullptr;
    cublasStatus_t (*set_workspace)(cublasHandle_t, void*, size_t) = nullptr;
    cublasStatus_t (*sgemm)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const float*,
                            const float*, int, const float*, int, const float*, float*, int) = nullptr;
    cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                              const void*, cudaDataType, int, const void*, cudaDataType, int, const void*, void*,
                              cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t) = nullptr;
};

struct Gpu {
    int index = 0;
    std::string pci_bus;
    const BlasApi* api = nullptr;
    cublasHandle_t blas = nullptr;
    std::mutex blas_mu;              // the handle is shared by the device's streams: set stream + workspace + call
    int64_t context_bytes = 0;       // device memory the context and cuBLAS took, measured when opened
    int64_t host_context_bytes = 0;  // host memory (RssAnon) they took
    int64_t used_before = -1;        // device memory in use before the context existed (NVML), -1 unknown
    void* nvml_device = nullptr;     // nvmlDevice_t, when NVML is there
};

struct Stream {
    Gpu* gpu = nullptr;
    cudaStream_t stream = nullptr;
    cudaError_t error = cudaSuccess;  // the first error seen; sticky
    std::string error_where;
};

// Makes `index` the calling thread's device (engine workers start on device 0); a no-op when it already is.
inline cudaError_t use_device(int index) {
    thread_local int current = -1;
    if (current == index) return cudaSuccess;
    cudaError_t e = cudaSetDevice(index);
    if (e == cudaSuccess) current = index;
    return e;
}

// Records a launch or call error in the stream (the first one stays).
inline void note(Stream* s, cudaError_t e, const char* where) {
    if (e != cudaSuccess && s->error == cudaSuccess) {
        s->error = e;
        s->error_where = where;
    }
}
// After a kernel launch: configuration errors are reported at once.
inline void check_launch(Stream* s, const char* kernel) { note(s, cudaGetLastError(), kernel); }

// The cuBLAS workspace each GEMM gets from the caller's scratch (cuBLAS would otherwise allocate its own).
constexpr size_t kBlasWorkspace = size_t(32) << 20;

}  // namespace berth::cuda
