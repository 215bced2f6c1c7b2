// The CUDA runtime side: GPUs, their contexts and memory, streams and copies, NVML readings (opened at run time
// with dlopen, so a build needs no NVML and a machine without it still works).
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "cuda/internal.h"
#include "memory/memory.h"

namespace berth::cuda {

// ---- NVML, declared here with the types of its public API (nvml.h is not needed to build) -----------------
struct Nvml {
    using Device = void*;
    struct Memory {
        unsigned long long total, free, used;
    };
    struct ProcessInfo {  // nvmlProcessInfo_v2_t / _v3_t
        unsigned int pid;
        unsigned long long used_gpu_memory;
        unsigned int gpu_instance_id, compute_instance_id;
    };
    int (*init)() = nullptr;
    int (*by_pci)(const char*, Device*) = nullptr;
    int (*memory)(Device, Memory*) = nullptr;
    int (*processes)(Device, unsigned int*, ProcessInfo*) = nullptr;
    bool ok = false;
};

namespace {

Nvml& nvml() {
    static Nvml* n = [] {
        auto* x = new Nvml();
        void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
        if (!lib) return x;
        x->init = reinterpret_cast<int (*)()>(dlsym(lib, "nvmlInit_v2"));
        x->by_pci =
            reinterpret_cast<int (*)(const char*, Nvml::Device*)>(dlsym(lib, "nvmlDeviceGetHandleByPciBusId_v2"));
        x->memory = reinterpret_cast<int (*)(Nvml::Device, Nvml::Memory*)>(dlsym(lib, "nvmlDeviceGetMemoryInfo"));
        x->processes = reinterpret_cast<int (*)(Nvml::Device, unsigned int*, Nvml::ProcessInfo*)>(
            dlsym(lib, "nvmlDeviceGetComputeRunningProcesses_v3"));
        if (!x->processes)
            x->processes = reinterpret_cast<int (*)(Nvml::Device, unsigned int*, Nvml::ProcessInfo*)>(
                dlsym(lib, "nvmlDeviceGetComputeRunningProcesses_v2"));
        x->ok = x->init && x->by_pci && x->memory && x->init() == 0;
        return x;
    }();
    return *n;
}

// Device-wide used bytes as NVML reports them; -1 when NVML is not there.
int64_t nvml_used(const Gpu& g) {
    Nvml& n = nvml();
    Nvml::Memory m{};
    if (!n.ok || !g.nvml_device || n.memory(g.nvml_device, &m) != 0) return -1;
    return int64_t(m.used);
}

// This process's bytes in NVML's process list; -1 when not listed (containers with their own PID namespace).
int64_t nvml_process_used(const Gpu& g) {
    Nvml& n = nvml();
    if (!n.ok || !n.processes || !g.nvml_device) return -1;
    Nvml::ProcessInfo list[64];
    unsigned int count = 64;
    if (n.processes(g.nvml_device, &count, list) != 0) return -1;
    const unsigned int pid = unsigned(getpid());
    for (unsigned int i = 0; i < count && i < 64; ++i)
        if (list[i].pid == pid) return int64_t(list[i].used_gpu_memory);
    return -1;
}

// cuBLAS from the toolkit this berth was built with: its soname (BERTH_CUBLAS_LIBRARY, e.g. "libcublas.so.13")
// through the loader's search path, else the same file in the build's toolkit directory (BERTH_CUBLAS_DIR).
Result<const BlasApi*> blas_api() {
    static const BlasApi* api = nullptr;
    static std::string error;
    static std::once_flag once;
    std::call_once(once, [] {
        void* lib = dlopen(BERTH_CUBLAS_LIBRARY, RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            const std::string first = dlerror();
            const std::string path = std::string(BERTH_CUBLAS_DIR) + "/" + BERTH_CUBLAS_LIBRARY;
            lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
            if (!lib) {
                error = "cannot load cuBLAS (" + first + "; " + dlerror() +
                        "): install the CUDA toolkit's cuBLAS or add its directory to LD_LIBRARY_PATH";
                return;
            }
        }
        auto* a = new BlasApi();
        auto sym = [&](auto& fn, const char* name) {
            fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
            if (!fn && error.empty()) error = std::string("cuBLAS has no ") + name;
        };
        sym(a->create, "cublasCreate_v2");
        sym(a->destroy, "cublasDestroy_v2");
        sym(a->set_stream, "cublasSetStream_v2");
        sym(a->set_workspace, "cublasSetWorkspace_v2");
        sym(a->sgemm, "cublasSgemm_v2");
        sym(a->gemm_ex, "cublasGemmEx");
        if (error.empty()) api = a;
    });
    if (!api) return Status(StatusCode::unsupported, error);
    return api;
}

Status cuda_status(cudaError_t e, const char* what) {
    return internal_error("CUDA %s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

}  // namespace

Status blas_load() { return blas_api().status(); }

int gpu_count(std::string* why_none) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        int driver = 0, runtime = 0;
        cudaDriverGetVersion(&driver);
        cudaRuntimeGetVersion(&runtime);
        if (driver == 0)
            *why_none = string_printf("no usable CUDA GPU: no NVIDIA driver (%s)", cudaGetErrorString(e));
        else
            *why_none = string_printf(
                "no usable CUDA GPU (%s; the driver supports CUDA %d.%d, berth's runtime is %d.%d)",
                cudaGetErrorString(e), driver / 1000, driver % 1000 / 10, runtime / 1000, runtime % 1000 / 10);
        cudaGetLastError();  // clear
        return 0;
    }
    if (n == 0) *why_none = "no CUDA GPU found";
    return n;
}

Result<GpuInfo> gpu_info(int index) {
    cudaDeviceProp p{};
    cudaError_t e = cudaGetDeviceProperties(&p, index);
    if (e != cudaSuccess) return cuda_status(e, "cudaGetDeviceProperties");
    GpuInfo g;
    g.index = index;
    g.name = p.name;
    g.total_bytes = int64_t(p.totalGlobalMem);
    g.cc_major = p.major;
    g.cc_minor = p.minor;
    g.sm_count = p.multiProcessorCount;
    char bus[32] = {};
    if (cudaDeviceGetPCIBusId(bus, sizeof bus, index) == cudaSuccess) g.pci_bus = bus;
    return g;
}

Result<Gpu*> gpu_open(int index) {
    ASSIGN_OR_RETURN(GpuInfo info, gpu_info(index));
    auto g = std::make_unique<Gpu>();
    g->index = index;
    g->pci_bus = info.pci_bus;
    Nvml& n = nvml();
    if (n.ok && !g->pci_bus.empty()) {
        Nvml::Device d = nullptr;
        if (n.by_pci(g->pci_bus.c_str(), &d) == 0) g->nvml_device = d;
    }
    g->used_before = nvml_used(*g);
    Result<ProcessMemory> host_before = read_process_memory();
    cudaError_t e = use_device(index);
    if (e == cudaSuccess) e = cudaFree(nullptr);  // creates the primary context now
    if (e != cudaSuccess) return cuda_status(e, "creating the context");
    ASSIGN_OR_RETURN(g->api, blas_api());
    if (g->api->create(&g->blas) != CUBLAS_STATUS_SUCCESS) return internal_error("cuBLAS: cublasCreate failed");
    cudaDeviceSynchronize();
    Result<ProcessMemory> host_after = read_process_memory();
    if (host_before.is_ok() && host_after.is_ok())
        g->host_context_bytes = std::max<int64_t>(0, host_after->rss_anon - host_before->rss_anon);
    size_t free = 0, total = 0;
    cudaMemGetInfo(&free, &total);
    const int64_t used_after = nvml_used(*g);
    // With NVML: what the context and the cuBLAS handle added. Without: everything in use now (an upper bound).
    g->context_bytes = g->used_before >= 0 && used_after >= 0 ? used_after - g->used_before : int64_t(total - free);
    return g.release();
}

void gpu_close(Gpu* g) {
    if (!g) return;
    use_device(g->index);
    if (g->blas) g->api->destroy(g->blas);
    delete g;
}

int64_t gpu_context_bytes(const Gpu* g) { return g->context_bytes; }
int64_t gpu_host_context_bytes(const Gpu* g) { return g->host_context_bytes; }

Status gpu_memory(Gpu* g, int64_t* free, int64_t* total, int64_t* used_by_process) {
    use_device(g->index);
    size_t f = 0, t = 0;
    cudaError_t e = cudaMemGetInfo(&f, &t);
    if (e != cudaSuccess) return cuda_status(e, "cudaMemGetInfo");
    *free = int64_t(f);
    *total = int64_t(t);
    int64_t mine = nvml_process_used(*g);
    if (mine < 0 && g->used_before >= 0) mine = int64_t(t - f) - g->used_before;
    *used_by_process = mine;
    return Status::ok();
}

Result<void*> gpu_malloc(Gpu* g, size_t bytes) {
    use_device(g->index);
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
        cudaGetLastError();  // an out-of-memory error is not sticky: clear it
        return Status(StatusCode::resource_exhausted, std::string("cudaMalloc: ") + cudaGetErrorString(e));
    }
    return p;
}

void gpu_free(Gpu* g, void* p) {
    use_device(g->index);
    cudaFree(p);  // waits for the device's work that may still use it
}

Result<double> gpu_copy_bandwidth(Gpu* g, void* dst, const void* src, size_t bytes, int repeats) {
    use_device(g->index);
    cudaEvent_t start, stop;
    cudaEventCreate(&start);
    cudaEventCreate(&stop);
    double best = 0;
    cudaMemset(const_cast<void*>(src), 1, bytes);
    cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice);  // warm-up
    for (int i = 0; i < std::max(1, repeats); ++i) {
        cudaEventRecord(start);
        cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice);
        cudaEventRecord(stop);
        cudaEventSynchronize(stop);
        float ms = 0;
        cudaEventElapsedTime(&ms, start, stop);
        if (ms > 0) best = std::max(best, 2.0 * double(bytes) / (double(ms) / 1e3) / 1e9);
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return cuda_status(e, "measuring the copy bandwidth");
    return best;
}

// ---- streams ---------------------------------------------------------------------------------------------
Result<Stream*> stream_open(Gpu* g) {
    use_device(g->index);
    auto s = std::make_unique<Stream>();
    s->gpu = g;
    cudaError_t e = cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) return cuda_status(e, "cudaStreamCreate");
    return s.release();
}

void stream_close(Stream* s) {
    if (!s) return;
    use_device(s->gpu->index);
    cudaStreamSynchronize(s->stream);
    cudaStreamDestroy(s->stream);
    delete s;
}

namespace {
Status stream_status(Stream* s) {
    if (s->error == cudaSuccess) return Status::ok();
    return internal_error("CUDA error in %s: %s (%s)", s->error_where.c_str(), cudaGetErrorString(s->error),
                          cudaGetErrorName(s->error));
}
}  // namespace

Status stream_upload(Stream* s, void* dst, const void* src, size_t bytes) {
    if (bytes == 0) return Status::ok();
    use_device(s->gpu->index);
    // From pageable memory: returns once src has been staged, so the caller may reuse it.
    note(s, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s->stream), "upload");
    return stream_status(s);
}

Status stream_download(Stream* s, void* dst, const void* src, size_t bytes) {
    use_device(s->gpu->index);
    if (bytes > 0) note(s, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s->stream), "download");
    note(s, cudaStreamSynchronize(s->stream), "download (synchronize)");
    return stream_status(s);
}

Status stream_copy(Stream* s, void* dst, const void* src, size_t bytes) {
    if (bytes == 0) return Status::ok();
    use_device(s->gpu->index);
    note(s, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s->stream), "copy");
    return stream_status(s);
}

Status stream_synchronize(Stream* s) {
    use_device(s->gpu->index);
    note(s, cudaStreamSynchronize(s->stream), "synchronize");
    return stream_status(s);
}

}  // namespace berth::cuda
