// The CUDA GPUs behind the Device interface: memory through cudaMalloc (one allocation per model and kind),
// streams and ops through the cuda module (which alone includes CUDA headers).
#include <algorithm>

#include "backend/cuda_device.h"
#include "cuda/cuda.h"

namespace berth {
namespace {

class CudaStream final : public DeviceStream {
  public:
    explicit CudaStream(cuda::Stream* s) : s_(s) {}
    ~CudaStream() override { cuda::stream_close(s_); }

    void upload(void* dst, const void* host_src, size_t bytes) override {
        (void)cuda::stream_upload(s_, dst, host_src, bytes);  // errors stay in the stream: the next wait reports them
    }
    Status download(void* host_dst, const void* src, size_t bytes) override {
        return cuda::stream_download(s_, host_dst, src, bytes);
    }
    void copy(void* dst, const void* src, size_t bytes) override { (void)cuda::stream_copy(s_, dst, src, bytes); }
    Status synchronize() override { return cuda::stream_synchronize(s_); }

    void matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y, int64_t ldy, void* scratch) override {
        cuda::matmul(s_, w, x, n_tokens, y, ldy, scratch);
    }
    void rmsnorm(float* out, const float* x, const float* w, int64_t n_rows, int64_t ld, int64_t n_groups, int64_t n,
                 float eps) override {
        cuda::rmsnorm(s_, out, x, w, n_rows, ld, n_groups, n, eps);
    }
    void add_rows(float* y, const float* b, int64_t n_rows, int64_t n, int64_t ld) override {
        cuda::add_rows(s_, y, b, n_rows, n, ld);
    }
    void add(float* y, const float* x, int64_t n) override { cuda::add(s_, y, x, n); }
    void rope(float* x, int64_t n_rows, int64_t ld, int n_heads, int head_dim, int n_rot, const int32_t* pos,
              float base, float freq_scale, bool neox, const float* freq_factors) override {
        cuda::rope(s_, x, n_rows, ld, n_heads, head_dim, n_rot, pos, base, freq_scale, neox, freq_factors);
    }
    void glu(bool gelu, float* out, const float* gate_up, int64_t n_rows, int64_t n) override {
        cuda::glu(s_, gelu, out, gate_up, n_rows, n);
    }
    void softcap(float* x, int64_t n, float cap) override { cuda::softcap(s_, x, n, cap); }
    void store_kv(const DeviceKv& kv, int layer, const DeviceBatch& b, const float* k, const float* v,
                  int64_t ld) override {
        cuda::store_kv(s_, layout(kv), layer, b.n_tokens, b.pos, b.seq, k, v, ld);
    }
    void attention(const DeviceKv& kv, int layer, const DeviceBatch& b, const float* q, int64_t ldq, int n_head,
                   int64_t window, float scale, float cap, float* out, int64_t ldo, void*) override {
        cuda::attention(s_, layout(kv), layer, b.n_tokens, b.pos, b.seq, q, ldq, n_head, window, scale, cap, out, ldo);
    }
    void moe_route(const float* logits, int64_t n_rows, int n_expert, int n_used, int32_t* ids,
                   float* weights) override {
        cuda::moe_route(s_, logits, n_rows, n_expert, n_used, ids, weights);
    }
    void gather_rows(float* dst, const float* src, const int32_t* rows, int64_t n_rows, int64_t n) override {
        cuda::gather_rows(s_, dst, src, rows, n_rows, n);
    }
    void scatter_add_rows(float* dst, const float* src, const int32_t* rows, const float* w, int64_t n_rows,
                          int64_t n) override {
        cuda::scatter_add_rows(s_, dst, src, rows, w, n_rows, n);
    }
    void fill(float* x, float value, int64_t n) override { cuda::fill(s_, x, value, n); }

  private:
    static cuda::KvLayout layout(const DeviceKv& kv) {
        cuda::KvLayout l;
        l.type = kv.type;
        l.page_positions = kv.page_positions;
        l.n_head_kv = kv.n_head_kv;
        l.head_dim = kv.head_dim;
        l.max_pages = kv.max_pages;
        l.base = kv.base;
        l.page_bytes = kv.page_bytes;
        l.tile_bytes = kv.tile_bytes;
        l.page_tables = kv.page_tables;
        return l;
    }
    cuda::Stream* s_;
};

class CudaDevice final : public Device {
  public:
    CudaDevice(int index, cuda::Gpu* gpu, cuda::GpuInfo info) : Device(index), gpu_(gpu), info_(std::move(info)) {}
    ~CudaDevice() override { cuda::gpu_close(gpu_); }
    const char* type() const override { return "cuda"; }
    std::string name() const override {
        return string_printf("%s (sm_%d%d, %d SMs)", info_.name.c_str(), info_.cc_major, info_.cc_minor,
                             info_.sm_count);
    }
    DeviceMemoryInfo memory_info() const override {
        DeviceMemoryInfo mi;
        if (!cuda::gpu_memory(gpu_, &mi.free, &mi.total, &mi.used_by_process).is_ok()) mi.total = info_.total_bytes;
        return mi;
    }
    int64_t context_bytes() const override { return cuda::gpu_context_bytes(gpu_); }
    int64_t host_context_bytes() const override { return cuda::gpu_host_context_bytes(gpu_); }
    bool host_backed() const override { return false; }
    size_t allocation_granularity() const override { return size_t(2) << 20; }  // cudaMalloc's large pages
    int64_t default_reserve() const override { return int64_t(512) << 20; }
    size_t matmul_scratch_bytes(DType type, int64_t n_cols, int64_t n_rows, int64_t n_tokens, int) const override {
        return cuda::matmul_scratch_bytes(type, n_cols, n_rows, n_tokens);
    }
    size_t attention_scratch_bytes(int, int, int, int64_t, int) const override { return 0; }
    Result<std::unique_ptr<DeviceStream>> open_stream(ThreadPool*) override {
        ASSIGN_OR_RETURN(cuda::Stream * s, cuda::stream_open(gpu_));
        return std::unique_ptr<DeviceStream>(new CudaStream(s));
    }
    Result<double> measure_copy_bandwidth_gbs(size_t bytes, int repeats) override {
        const size_t half = std::max<size_t>(bytes / 2, size_t(1) << 20);
        ASSIGN_OR_RETURN(DeviceBuffer a, allocate(half, "bandwidth source"));
        ASSIGN_OR_RETURN(DeviceBuffer b, allocate(half, "bandwidth destination"));
        return cuda::gpu_copy_bandwidth(gpu_, b.data(), a.data(), half, repeats);
    }

  protected:
    Result<void*> raw_allocate(size_t bytes) override { return cuda::gpu_malloc(gpu_, bytes); }
    void raw_free(void* p, size_t) override { cuda::gpu_free(gpu_, p); }

  private:
    cuda::Gpu* gpu_;
    cuda::GpuInfo info_;
};

}  // namespace

bool cuda_compiled() { return true; }

std::vector<std::unique_ptr<Device>> open_cuda_devices(int only, std::string* why_none) {
    std::vector<std::unique_ptr<Device>> out;
    const int n = cuda::gpu_count(why_none);
    for (int i = 0; i < n && int(out.size()) < kMaxDevices; ++i) {
        if (only >= 0 && i != only) continue;
        Result<cuda::GpuInfo> info = cuda::gpu_info(i);
        Result<cuda::Gpu*> gpu = info.is_ok() ? cuda::gpu_open(i) : Result<cuda::Gpu*>(info.status());
        if (!gpu.is_ok()) {
            *why_none = string_printf("CUDA GPU %d is not usable: %s", i, gpu.status().message().c_str());
            continue;
        }
        out.push_back(std::make_unique<CudaDevice>(i, *gpu, *info));
    }
    if (out.empty() && only >= n && n > 0) *why_none = string_printf("no CUDA GPU %d (%d found)", only, n);
    if (!out.empty()) why_none->clear();
    return out;
}

}  // namespace berth
