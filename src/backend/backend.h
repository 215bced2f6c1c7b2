// backend: the device interface below the model. A Device is an accelerator's memory and the ops a decoder
// layer needs on it. Memory comes in one allocation per model and kind (weights, KV pool, scratch), made at
// load and freed at unload, and every allocation is counted, so that "nothing is allocated after load" can be
// checked. Implementations: CUDA (src/cuda, compiled when the toolkit is found) and the stand-in device
// BERTH_DEVICE=fake:SIZE (a test aid: memory from separate host mappings, ops through the CPU kernels).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/base.h"
#include "kernels/kernels.h"
#include "memory/memory.h"
#include "tensor/tensor.h"

namespace berth {

class Device;
class DeviceStream;

// One device allocation, freed at destruction. data() is a device address: only a DeviceStream of the same
// device may read or write it (for the stand-in device it happens to be host memory).
class DeviceBuffer {
  public:
    DeviceBuffer() = default;
    ~DeviceBuffer() { release(); }
    DeviceBuffer(DeviceBuffer&& o) noexcept { *this = std::move(o); }
    DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    Device* device() const { return device_; }
    void release();

  private:
    friend class Device;
    Device* device_ = nullptr;
    uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

struct DeviceMemoryInfo {
    int64_t total = 0;             // bytes of the device
    int64_t free = 0;              // free now, as the driver reports it (all processes)
    int64_t used_by_process = -1;  // this process's usage as the driver reports it; -1 when unknown
};

// The KV cache of the layers placed on a device: the same pages as the host pool (kv.h), holding only those
// layers. K rows of device layer l in page p start at base + p * page_bytes + 2 l * tile_bytes (V: 2 l + 1);
// within a tile, position slot s and kv head h is row (s * n_head_kv + h) of head_dim elements of `type`.
struct DeviceKv {
    DType type = DType::F16;
    int page_positions = 16;
    int n_head_kv = 0;
    int head_dim = 0;
    uint8_t* base = nullptr;
    int64_t page_bytes = 0;
    int64_t tile_bytes = 0;
    const int32_t* page_tables = nullptr;  // (n_seq, max_pages) device: the pages of each sequence slot
    int max_pages = 0;
};

// The tokens of one step as the device sees them (device arrays).
struct DeviceBatch {
    int n_tokens = 0;
    const int32_t* pos = nullptr;  // (n_tokens) positions
    const int32_t* seq = nullptr;  // (n_tokens) sequence slots (rows of DeviceKv::page_tables)
    int max_pos = 0;               // the largest position in the batch (bounds attention scratch)
};

// The ops of a decoder layer on one device, in stream order. Pointers are device addresses unless named
// host_*. Ops are asynchronous on a real GPU: download() and synchronize() wait, and report the first error of
// the work before them (a device fault: the stream stays failed and its model should be unloaded).
class DeviceStream {
  public:
    virtual ~DeviceStream() = default;
    // Host → device; returns once `host_src` may be reused.
    virtual void upload(void* dst, const void* host_src, size_t bytes) = 0;
    // Device → host; returns once `host_dst` holds the bytes (waits for the ops before it).
    virtual Status download(void* host_dst, const void* src, size_t bytes) = 0;
    // Device → device, in stream order.
    virtual void copy(void* dst, const void* src, size_t bytes) = 0;
    virtual Status synchronize() = 0;

    // y = x · Wᵀ as kernels.h's matmul: W (n_rows = w.ne[1], n_cols = w.ne[0]) with w.data on the device,
    // x (n_tokens, n_cols), y (n_tokens, ldy ≥ n_rows; 0 = n_rows).
    virtual void matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y, int64_t ldy,
                        void* scratch) = 0;
    // RMS norm of n_groups groups of n values in each of n_rows rows (row stride ld, in and out): the whole
    // row (n_groups 1) or per head (q/k norms). w (n) may be nullptr. out may be x.
    virtual void rmsnorm(float* out, const float* x, const float* w, int64_t n_rows, int64_t ld, int64_t n_groups,
                         int64_t n, float eps) = 0;
    // y[r * ld + i] += b[i] for r < n_rows, i < n.
    virtual void add_rows(float* y, const float* b, int64_t n_rows, int64_t n, int64_t ld) = 0;
    // y[i] += x[i], n values.
    virtual void add(float* y, const float* x, int64_t n) = 0;
    // Rotary embedding of n_heads heads of head_dim in each row (stride ld) at position pos[r], as kernels.h.
    virtual void rope(float* x, int64_t n_rows, int64_t ld, int n_heads, int head_dim, int n_rot, const int32_t* pos,
                      float base, float freq_scale, bool neox, const float* freq_factors) = 0;
    // out[r * n + i] = act(gate_up[r * 2n + i]) * gate_up[r * 2n + n + i]; act = silu, or gelu (tanh form).
    virtual void glu(bool gelu, float* out, const float* gate_up, int64_t n_rows, int64_t n) = 0;
    // x = cap * tanh(x / cap), n values.
    virtual void softcap(float* x, int64_t n, float cap) = 0;
    // Writes K and V of every token of the batch (rows of n_head_kv * head_dim at stride ld) into its page and
    // slot of device layer `layer`, converting to kv.type.
    virtual void store_kv(const DeviceKv& kv, int layer, const DeviceBatch& batch, const float* k, const float* v,
                          int64_t ld) = 0;
    // Causal attention of each token's n_head query heads (rows of q at stride ldq) over positions
    // [max(0, pos + 1 - window), pos] of its sequence (window 0: all): softmax(softcap(scale q·K)) · V into out
    // (stride ldo). GQA: query head h reads kv head h / (n_head / n_head_kv).
    virtual void attention(const DeviceKv& kv, int layer, const DeviceBatch& batch, const float* q, int64_t ldq,
                           int n_head, int64_t window, float scale, float softcap, float* out, int64_t ldo,
                           void* scratch) = 0;
    // Mixture-of-experts routing of each row of logits (n_rows, n_expert): softmax, the n_used largest, their
    // weights renormalized to sum 1 (Mixtral). ids and weights: (n_rows, n_used).
    virtual void moe_route(const float* logits, int64_t n_rows, int n_expert, int n_used, int32_t* ids,
                           float* weights) = 0;
    // dst[j * n + i] = src[rows[j] * n + i] for j < n_rows.
    virtual void gather_rows(float* dst, const float* src, const int32_t* rows, int64_t n_rows, int64_t n) = 0;
    // dst[rows[j] * n + i] += w[j] * src[j * n + i] for j < n_rows (rows distinct).
    virtual void scatter_add_rows(float* dst, const float* src, const int32_t* rows, const float* w, int64_t n_rows,
                                  int64_t n) = 0;
    // x[i] = value, n values.
    virtual void fill(float* x, float value, int64_t n) = 0;
};

// An accelerator: its memory (counted allocations) and a factory of streams.
class Device {
  public:
    virtual ~Device();
    Device(const Device&) = delete;
    Device& operator=(const Device&) = delete;

    int index() const { return index_; }
    virtual const char* type() const = 0;  // "cuda" | "fake"
    virtual std::string name() const = 0;  // "NVIDIA H100 80GB HBM3", "fake (64.0 MiB host arena)"
    virtual DeviceMemoryInfo memory_info() const = 0;
    // Bytes the device holds for itself (driver context, library handles and workspaces), measured once when it
    // was opened: the ledger's context row.
    virtual int64_t context_bytes() const = 0;
    // Host memory (RssAnon) opening the device took (a GPU runtime's libraries and tables), measured then too.
    virtual int64_t host_context_bytes() const { return 0; }
    // True when the memory is anonymous host memory (the stand-in): it then shows in RssAnon.
    virtual bool host_backed() const = 0;
    // What the driver rounds an allocation up to; plans round every allocation to it so the ledger holds what
    // the driver commits.
    virtual size_t allocation_granularity() const = 0;
    // Free memory the default budget leaves unused (BERTH_MAX_VRAM unset): 512 MiB on a GPU (the driver, other
    // processes and the display grow into it), 0 for the stand-in.
    virtual int64_t default_reserve() const = 0;

    // Scratch bytes a stream's matmul() needs for weights of this type and shape and at most n_tokens rows of x,
    // and its attention() for a context of n_ctx positions; n_threads: the host pool the stream will get.
    virtual size_t matmul_scratch_bytes(DType type, int64_t n_cols, int64_t n_rows, int64_t n_tokens,
                                        int n_threads) const = 0;
    virtual size_t attention_scratch_bytes(int n_head, int n_head_kv, int head_dim, int64_t n_ctx,
                                           int n_threads) const = 0;

    // One allocation of `bytes` (rounded up to the granularity), counted. resource_exhausted, naming `what`
    // and the sizes, when the device cannot provide it.
    Result<DeviceBuffer> allocate(size_t bytes, const char* what);
    int64_t allocation_count() const { return allocations_.load(); }  // since the device was opened
    int64_t allocated_bytes() const { return allocated_.load(); }     // held now through allocate()

    // A stream for one model's steps (each loaded model has its own). host_pool: the model's CPU threads
    // (the stand-in runs its ops on them; CUDA ignores it).
    virtual Result<std::unique_ptr<DeviceStream>> open_stream(ThreadPool* host_pool) = 0;
    // Device-to-device copy bandwidth in GB/s (1e9 bytes/s, bytes read + written), best of `repeats`, over a
    // buffer of `bytes` it allocates for the measurement (berth bench only, never while serving).
    virtual Result<double> measure_copy_bandwidth_gbs(size_t bytes, int repeats) = 0;

  protected:
    explicit Device(int index) : index_(index) {}
    virtual Result<void*> raw_allocate(size_t bytes) = 0;
    virtual void raw_free(void* p, size_t bytes) = 0;

  private:
    friend class DeviceBuffer;
    void free_buffer(uint8_t* p, size_t bytes);
    int index_;
    std::atomic<int64_t> allocations_{0};
    std::atomic<int64_t> allocated_{0};
};

// The stand-in device: capacity bytes of "device memory", each allocation a separate anonymous host mapping
// (faulted in, like every berth reservation) counted against the capacity; ops run with the CPU kernels on the
// stream's thread pool. Index as given. A test aid (BERTH_DEVICE=fake:SIZE), documented as such.
std::unique_ptr<Device> make_fake_device(int index, int64_t capacity);

// ---- the process's devices ---------------------------------------------------------------------------------
// Opens the devices that `spec` names (the syntax of BERTH_DEVICE), replacing any opened before (callers must
// have released every buffer of those):
//   ""|"auto"      the CUDA GPUs when berth was built with CUDA and one is usable; else none
//   "cpu"|"none"   none: everything on the CPU
//   "cuda"|"cuda:N"  CUDA GPU N (default 0); not usable → none, with the reason logged
//   "fake:SIZE"    one stand-in device of SIZE bytes ("2GiB"); a test aid
// When no device is usable, the reason is logged once (info level) and kept for device_status(). A malformed
// spec is invalid_argument (nothing opened).
Status open_devices(const std::string& spec);
// Checks the syntax of a BERTH_DEVICE value without opening anything (invalid_argument with what to write).
Status parse_device_spec(const std::string& spec);
// The devices opened by the first call (from BERTH_DEVICE when open_devices was never called).
const std::vector<Device*>& devices();
// Device `index`, or nullptr (no such device).
Device* device(int index);
// Why there is no device, or a one-line description of each ("cuda:0 NVIDIA H100 80GB HBM3, 79.1 GiB").
std::string device_status();
// Whether this binary has the CUDA backend compiled in.
bool cuda_compiled();

}  // namespace berth
