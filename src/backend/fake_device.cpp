// The stand-in device (BERTH_DEVICE=fake:SIZE, a test aid): "device memory" is a budget of SIZE bytes served
// as separate anonymous host mappings, and the ops run with the CPU kernels, so budget, placement, the device
// ledger and the allocation count are exercised on every CI run without a GPU.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/backend.h"

namespace berth {
namespace {

class FakeStream final : public DeviceStream {
  public:
    explicit FakeStream(ThreadPool* pool) : pool_(pool) { CHECK(pool_); }

    void upload(void* dst, const void* host_src, size_t bytes) override { std::memcpy(dst, host_src, bytes); }
    Status download(void* host_dst, const void* src, size_t bytes) override {
        std::memcpy(host_dst, src, bytes);
        return Status::ok();
    }
    void copy(void* dst, const void* src, size_t bytes) override { std::memmove(dst, src, bytes); }
    Status synchronize() override { return Status::ok(); }

    void matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y, int64_t ldy, void* scratch) override {
        berth::matmul(*pool_, w, x, n_tokens, y, scratch, ldy);
    }
    void rmsnorm(float* out, const float* x, const float* w, int64_t n_rows, int64_t ld, int64_t n_groups, int64_t n,
                 float eps) override {
        for (int64_t r = 0; r < n_rows; ++r)
            for (int64_t g = 0; g < n_groups; ++g) berth::rmsnorm(out + r * ld + g * n, x + r * ld + g * n, w, n, eps);
    }
    void add_rows(float* y, const float* b, int64_t n_rows, int64_t n, int64_t ld) override {
        for (int64_t r = 0; r < n_rows; ++r) add_inplace(y + r * ld, b, n);
    }
    void add(float* y, const float* x, int64_t n) override { add_inplace(y, x, n); }
    void rope(float* x, int64_t n_rows, int64_t ld, int n_heads, int head_dim, int n_rot, const int32_t* pos,
              float base, float freq_scale, bool neox, const float* freq_factors) override {
        for (int64_t r = 0; r < n_rows; ++r)
            berth::rope(x + r * ld, n_heads, head_dim, n_rot, pos[r], base, freq_scale, neox, freq_factors);
    }
    void glu(bool gelu, float* out, const float* gate_up, int64_t n_rows, int64_t n) override {
        for (int64_t r = 0; r < n_rows; ++r) {
            const float* g = gate_up + r * 2 * n;
            if (gelu)
                gelu_mul(out + r * n, g, g + n, n);
            else
                silu_mul(out + r * n, g, g + n, n);
        }
    }
    void softcap(float* x, int64_t n, float cap) override { berth::softcap(x, n, cap); }

    void store_kv(const DeviceKv& kv, int layer, const DeviceBatch& b, const float* k, const float* v,
                  int64_t ld) override {
        const int64_t kv_dim = int64_t(kv.n_head_kv) * kv.head_dim;
        const int64_t pos_bytes = int64_t(kv.n_head_kv) * row_bytes(kv.type, kv.head_dim);
        for (int t = 0; t < b.n_tokens; ++t) {
            const int32_t page = kv.page_tables[int64_t(b.seq[t]) * kv.max_pages + b.pos[t] / kv.page_positions];
            const int64_t slot = b.pos[t] % kv.page_positions;
            uint8_t* tile = kv.base + int64_t(page) * kv.page_bytes + 2 * int64_t(layer) * kv.tile_bytes;
            store_row(kv.type, k + t * ld, tile + slot * pos_bytes, kv_dim);
            store_row(kv.type, v + t * ld, tile + kv.tile_bytes + slot * pos_bytes, kv_dim);
        }
    }

    // One job per (token, kv head), as the CPU forward pass does: the query heads of a GQA group read each
    // K/V row once.
    void attention(const DeviceKv& kv, int layer, const DeviceBatch& b, const float* q, int64_t ldq, int n_head,
                   int64_t window, float scale, float cap, float* out, int64_t ldo, void* scratch) override {
        AttnKv akv;
        akv.type = kv.type;
        akv.page_positions = kv.page_positions;
        akv.n_head_kv = kv.n_head_kv;
        akv.head_dim = kv.head_dim;
        akv.base = kv.base;
        akv.page_bytes = kv.page_bytes;
        akv.k_offset = 2 * int64_t(layer) * kv.tile_bytes;
        akv.v_offset = akv.k_offset + kv.tile_bytes;
        akv.head_row_bytes = row_bytes(kv.type, kv.head_dim);
        const int group = n_head / kv.n_head_kv;
        const int64_t H = kv.head_dim;
        const int64_t scores_per_thread = int64_t(group) * (int64_t(b.max_pos) + 1);
        float* scores0 = static_cast<float*>(scratch);
        float* tmp0 = scores0 + int64_t(pool_->n_threads()) * scores_per_thread;
        pool_->parallel([&](int ith, int nth) {
            AttnKv a = akv;
            float* scores = scores0 + int64_t(ith) * scores_per_thread;
            float* tmp = tmp0 + int64_t(ith) * 2 * H;
            for (int64_t job = ith; job < int64_t(b.n_tokens) * kv.n_head_kv; job += nth) {
                const int t = int(job / kv.n_head_kv), kh = int(job % kv.n_head_kv);
                a.pages = kv.page_tables + int64_t(b.seq[t]) * kv.max_pages;
                const int64_t end = int64_t(b.pos[t]) + 1;
                const int64_t begin = window > 0 ? std::max<int64_t>(0, end - window) : 0;
                attention_group(q + t * ldq + int64_t(kh) * group * H, group, a, kh, begin, end, scale, cap,
                                out + t * ldo + int64_t(kh) * group * H, scores, tmp);
            }
        });
    }

    void moe_route(const float* logits, int64_t n_rows, int n_expert, int n_used, int32_t* ids,
                   float* weights) override {
        constexpr int kMaxExperts = 1024;
        CHECK(n_expert <= kMaxExperts && n_used <= n_expert);
        float r[kMaxExperts];
        for (int64_t t = 0; t < n_rows; ++t) {
            std::copy(logits + t * n_expert, logits + (t + 1) * n_expert, r);
            berth::softmax(r, n_expert);
            int32_t* id = ids + t * n_used;
            float* w = weights + t * n_used;
            float sum = 0;
            for (int k = 0; k < n_used; ++k) {  // top-k by selection: n_used is small
                int best = -1;
                for (int e = 0; e < n_expert; ++e) {
                    bool taken = false;
                    for (int j = 0; j < k; ++j) taken |= id[j] == e;
                    if (!taken && (best < 0 || r[e] > r[best])) best = e;
                }
                id[k] = best;
                w[k] = r[best];
                sum += r[best];
            }
            for (int k = 0; k < n_used; ++k) w[k] /= sum;
        }
    }
    void gather_rows(float* dst, const float* src, const int32_t* rows, int64_t n_rows, int64_t n) override {
        for (int64_t j = 0; j < n_rows; ++j) std::memcpy(dst + j * n, src + int64_t(rows[j]) * n, size_t(n) * 4);
    }
    void scatter_add_rows(float* dst, const float* src, const int32_t* rows, const float* w, int64_t n_rows,
                          int64_t n) override {
        for (int64_t j = 0; j < n_rows; ++j) {
            float* d = dst + int64_t(rows[j]) * n;
            const float* s = src + j * n;
            for (int64_t i = 0; i < n; ++i) d[i] += w[j] * s[i];
        }
    }
    void fill(float* x, float value, int64_t n) override { std::fill(x, x + n, value); }

  private:
    ThreadPool* pool_;
};

class FakeDevice final : public Device {
  public:
    FakeDevice(int index, int64_t capacity) : Device(index), capacity_(capacity) {}
    const char* type() const override { return "fake"; }
    std::string name() const override { return "fake (" + format_bytes(capacity_) + " host arena)"; }
    DeviceMemoryInfo memory_info() const override {
        std::lock_guard<std::mutex> lock(mu_);
        DeviceMemoryInfo mi;
        mi.total = capacity_;
        mi.free = capacity_ - used_;
        mi.used_by_process = used_;
        return mi;
    }
    int64_t context_bytes() const override { return 0; }
    bool host_backed() const override { return true; }
    size_t allocation_granularity() const override { return page_size(); }
    int64_t default_reserve() const override { return 0; }
    // The CPU kernels' scratch: the quantized activations and, for a GEMM, a weight panel per host thread.
    size_t matmul_scratch_bytes(DType type, int64_t n_cols, int64_t, int64_t n_tokens, int n_threads) const override {
        return berth::matmul_scratch_bytes(type, n_cols, n_tokens, n_threads);
    }
    // Per host thread: the scores of a GQA group over the context, and 2 head_dim temporaries.
    size_t attention_scratch_bytes(int n_head, int n_head_kv, int head_dim, int64_t n_ctx,
                                   int n_threads) const override {
        return size_t(n_threads) * (size_t(n_head / n_head_kv) * size_t(n_ctx) + 2 * size_t(head_dim)) * sizeof(float);
    }
    Result<std::unique_ptr<DeviceStream>> open_stream(ThreadPool* host_pool) override {
        if (!host_pool) return invalid_argument("the stand-in device runs its ops on a host thread pool");
        return std::unique_ptr<DeviceStream>(new FakeStream(host_pool));
    }
    Result<double> measure_copy_bandwidth_gbs(size_t bytes, int repeats) override {
        bytes = round_up(std::max<size_t>(bytes, page_size()) / 2, page_size());
        ASSIGN_OR_RETURN(DeviceBuffer a, allocate(bytes, "bandwidth source"));
        ASSIGN_OR_RETURN(DeviceBuffer b, allocate(bytes, "bandwidth destination"));
        double best = 0;
        for (int i = 0; i < std::max(1, repeats); ++i) {
            int64_t t0 = now_ns();
            std::memcpy(b.data(), a.data(), bytes);
            double s = double(now_ns() - t0) / 1e9;
            if (s > 0) best = std::max(best, 2.0 * double(bytes) / s / 1e9);
        }
        return best;
    }

  protected:
    Result<void*> raw_allocate(size_t bytes) override {
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (used_ + int64_t(bytes) > capacity_)
                return resource_exhausted("the stand-in device holds %s of %s", format_bytes(used_).c_str(),
                                          format_bytes(capacity_).c_str());
            used_ += int64_t(bytes);
        }
        Result<Arena> a = Arena::reserve(bytes, "fake device");
        std::lock_guard<std::mutex> lock(mu_);
        if (!a.is_ok()) {
            used_ -= int64_t(bytes);
            return a.status();
        }
        void* p = a->data();
        arenas_.push_back(std::move(a).value());
        return p;
    }
    void raw_free(void* p, size_t bytes) override {
        Arena gone;  // unmapped after the lock is dropped
        {
            std::lock_guard<std::mutex> lock(mu_);
            auto it = std::find_if(arenas_.begin(), arenas_.end(), [p](const Arena& a) { return a.data() == p; });
            CHECK(it != arenas_.end() && it->size() == bytes);
            gone = std::move(*it);
            arenas_.erase(it);
            used_ -= int64_t(bytes);
        }
    }

  private:
    const int64_t capacity_;
    mutable std::mutex mu_;
    int64_t used_ = 0;
    std::vector<Arena> arenas_;  // one per live allocation (a handful: three per model)
};

}  // namespace

std::unique_ptr<Device> make_fake_device(int index, int64_t capacity) {
    CHECK(index >= 0 && index < kMaxDevices && capacity > 0);
    return std::make_unique<FakeDevice>(index, capacity);
}

}  // namespace berth
