// The decoder's other ops on the GPU, the straightforward versions: norms, rope, activations, MoE routing,
// row gathers, KV stores and attention over the paged KV cache (one warp per query head, online softmax).
// The arithmetic per element lives in block_math.h (checked on the host against the CPU reference).
#include "cuda/block_math.h"
#include "cuda/internal.h"

namespace berth::cuda {
namespace {

unsigned blocks_for(int64_t n, int threads) { return unsigned((n + threads - 1) / threads); }

__device__ float warp_sum(float v) {
    for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}
__device__ double warp_sum(double v) {
    for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

// One block per (group, row); the sum of squares in double, as the CPU.
__global__ void rmsnorm_kernel(float* out, const float* x, const float* w, int64_t ld, int64_t n, float eps) {
    const int64_t base = int64_t(blockIdx.y) * ld + int64_t(blockIdx.x) * n;
    double ss = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) ss += double(x[base + i]) * double(x[base + i]);
    __shared__ double part[32];
    ss = warp_sum(ss);
    if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = ss;
    __syncthreads();
    if (threadIdx.x < 32) {
        double v = threadIdx.x < blockDim.x / 32 ? part[threadIdx.x] : 0.0;
        v = warp_sum(v);
        if (threadIdx.x == 0) part[0] = v;
    }
    __syncthreads();
    const float scale = float(1.0 / sqrt(part[0] / double(n) + double(eps)));
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        const float y = mul(x[base + i], scale);
        out[base + i] = w ? mul(y, w[i]) : y;
    }
}

__global__ void add_rows_kernel(float* y, const float* b, int64_t n_rows, int64_t n, int64_t ld) {
    const int64_t id = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (id >= n_rows * n) return;
    const int64_t r = id / n, i = id % n;
    y[r * ld + i] = add(y[r * ld + i], b[i]);
}

__global__ void add_kernel(float* y, const float* x, int64_t n) {
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) y[i] = add(y[i], x[i]);
}

__global__ void fill_kernel(float* x, float value, int64_t n) {
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) x[i] = value;
}

__global__ void softcap_kernel(float* x, int64_t n, float cap) {
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) x[i] = mul(cap, tanhf(mul(x[i], 1.0f / cap)));
}

// One thread per (row, head, pair).
__global__ void rope_kernel(float* x, int64_t n_rows, int64_t ld, int n_heads, int head_dim, int n_rot,
                            const int32_t* pos, float base, float freq_scale, bool neox, const float* factors) {
    const int half = n_rot / 2;
    const int64_t id = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (id >= n_rows * n_heads * half) return;
    const int i = int(id % half);
    const int h = int(id / half % n_heads);
    const int64_t r = id / half / n_heads;
    const float t = rope_theta(pos[r], i, n_rot, base, freq_scale, factors);
    const float c = cosf(t), s = sinf(t);
    int a, b;
    rope_pair(neox, i, n_rot, &a, &b);
    float* v = x + r * ld + int64_t(h) * head_dim;
    const float x0 = v[a], x1 = v[b];
    v[a] = add(mul(x0, c), -mul(x1, s));
    v[b] = add(mul(x0, s), mul(x1, c));
}

__global__ void glu_kernel(bool gelu, float* out, const float* gu, int64_t n_rows, int64_t n) {
    const int64_t id = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (id >= n_rows * n) return;
    const int64_t r = id / n, i = id % n;
    const float g = gu[r * 2 * n + i];
    out[id] = mul(gelu ? gelu_tanh(g) : silu(g), gu[r * 2 * n + n + i]);
}

constexpr int kMaxExperts = 256;

__global__ void moe_route_kernel(const float* logits, int64_t n_rows, int n_expert, int n_used, int32_t* ids,
                                 float* weights) {
    const int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (r >= n_rows) return;
    float probs[kMaxExperts];
    moe_route_row(logits + r * n_expert, n_expert, n_used, probs, ids + r * n_used, weights + r * n_used);
}

__global__ void gather_rows_kernel(float* dst, const float* src, const int32_t* rows, int64_t n_rows, int64_t n) {
    const int64_t id = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (id >= n_rows * n) return;
    dst[id] = src[int64_t(rows[id / n]) * n + id % n];
}

__global__ void scatter_add_rows_kernel(float* dst, const float* src, const int32_t* rows, const float* w,
                                        int64_t n_rows, int64_t n) {
    const int64_t id = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (id >= n_rows * n) return;
    const int64_t j = id / n;
    float* d = dst + int64_t(rows[j]) * n + id % n;
    *d = add(*d, mul(w[j], src[id]));
}

struct KvArgs {
    int type, page_positions, n_head_kv, head_dim, max_pages;
    uint8_t* base;
    int64_t page_bytes, tile_bytes, head_row_bytes, pos_bytes;
    const int32_t* tables;
};

KvArgs kv_args(const KvLayout& kv) {
    KvArgs a;
    a.type = int(kv.type);
    a.page_positions = kv.page_positions;
    a.n_head_kv = kv.n_head_kv;
    a.head_dim = kv.head_dim;
    a.max_pages = kv.max_pages;
    a.base = kv.base;
    a.page_bytes = kv.page_bytes;
    a.tile_bytes = kv.tile_bytes;
    a.head_row_bytes = row_bytes(kv.type, kv.head_dim);
    a.pos_bytes = int64_t(kv.n_head_kv) * a.head_row_bytes;
    a.tables = kv.page_tables;
    return a;
}

// K (which 0) or V (1) of position pos of sequence seq in `layer`: the start of its row of n_head_kv heads.
__device__ uint8_t* kv_slot(const KvArgs& a, int layer, int which, int seq, int64_t pos) {
    const int32_t page = a.tables[int64_t(seq) * a.max_pages + pos / a.page_positions];
    return a.base + int64_t(page) * a.page_bytes + (2 * int64_t(layer) + which) * a.tile_bytes +
           (pos % a.page_positions) * a.pos_bytes;
}

// One thread per (token, K|V, unit): a unit is one element for F32/F16, one 32-element block for Q8_0/Q4_0.
__global__ void store_kv_kernel(KvArgs a, int layer, int n_tokens, const int32_t* pos, const int32_t* seq,
                                const float* k, const float* v, int64_t ld) {
    const int64_t kv_dim = int64_t(a.n_head_kv) * a.head_dim;
    const bool quant = a.type == kQ8_0 || a.type == kQ4_0;
    const int64_t units = quant ? kv_dim / 32 : kv_dim;
    const int64_t id = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (id >= int64_t(n_tokens) * 2 * units) return;
    const int64_t u = id % units;
    const int which = int(id / units % 2);
    const int t = int(id / units / 2);
    const float* src = (which ? v : k) + t * ld;
    uint8_t* dst = kv_slot(a, layer, which, seq[t], pos[t]);
    if (a.type == kF32) {
        reinterpret_cast<float*>(dst)[u] = src[u];
    } else if (a.type == kF16) {
        reinterpret_cast<uint16_t*>(dst)[u] = float_to_half(src[u]);
    } else {
        quantize_kv_block(a.type, src + u * 32, dst + u * (a.type == kQ8_0 ? 34 : 18));
    }
}

constexpr int kMaxHeadDimPerLane = 8;  // head_dim ≤ 256

// One warp per (token, query head): lanes hold dims lane, lane + 32, ...; per position the warp sums q·k, and an
// online softmax (running max and sum) accumulates V, so no scores buffer is needed.
__global__ void attention_kernel(KvArgs a, int layer, int n_tokens, const int32_t* pos, const int32_t* seq,
                                 const float* q, int64_t ldq, int n_head, int64_t window, float scale, float cap,
                                 float* out, int64_t ldo) {
    const int lane = threadIdx.x % 32;
    const int h = int(blockIdx.x) * (blockDim.x / 32) + int(threadIdx.x / 32);
    const int t = int(blockIdx.y);
    if (h >= n_head || t >= n_tokens) return;
    const int D = a.head_dim;
    const int kh = h / (n_head / a.n_head_kv);
    const int64_t p = pos[t];
    const int64_t begin = window > 0 && p + 1 - window > 0 ? p + 1 - window : 0;
    const float* qh = q + int64_t(t) * ldq + int64_t(h) * D;
    float qv[kMaxHeadDimPerLane], acc[kMaxHeadDimPerLane];
#pragma unroll
    for (int k = 0; k < kMaxHeadDimPerLane; ++k) {
        const int d = lane + 32 * k;
        qv[k] = d < D ? qh[d] : 0.0f;
        acc[k] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int64_t j = begin; j <= p; ++j) {
        const uint8_t* krow = kv_slot(a, layer, 0, seq[t], j) + int64_t(kh) * a.head_row_bytes;
        const uint8_t* vrow = krow + a.tile_bytes;
        float part = 0.0f;
#pragma unroll
        for (int k = 0; k < kMaxHeadDimPerLane; ++k) {
            const int d = lane + 32 * k;
            if (d < D) part += qv[k] * kv_element(a.type, krow, d);
        }
        float s = warp_sum(part) * scale;
        if (cap > 0) s = cap * tanhf(s / cap);
        const float m_new = s > m ? s : m;
        const float corr = expf(m - m_new), pj = expf(s - m_new);
        l = l * corr + pj;
#pragma unroll
        for (int k = 0; k < kMaxHeadDimPerLane; ++k) {
            const int d = lane + 32 * k;
            if (d < D) acc[k] = acc[k] * corr + pj * kv_element(a.type, vrow, d);
        }
        m = m_new;
    }
    float* o = out + int64_t(t) * ldo + int64_t(h) * D;
#pragma unroll
    for (int k = 0; k < kMaxHeadDimPerLane; ++k) {
        const int d = lane + 32 * k;
        if (d < D) o[d] = acc[k] / l;
    }
}

}  // namespace

void rmsnorm(Stream* s, float* out, const float* x, const float* w, int64_t n_rows, int64_t ld, int64_t n_groups,
             int64_t n, float eps) {
    use_device(s->gpu->index);
    if (n_rows == 0) return;
    CHECK(n_rows <= 65535 && n_groups <= 65535);  // grid dimensions
    rmsnorm_kernel<<<dim3(unsigned(n_groups), unsigned(n_rows)), 256, 0, s->stream>>>(out, x, w, ld, n, eps);
    check_launch(s, "rmsnorm");
}

void add_rows(Stream* s, float* y, const float* b, int64_t n_rows, int64_t n, int64_t ld) {
    use_device(s->gpu->index);
    if (n_rows * n == 0) return;
    add_rows_kernel<<<blocks_for(n_rows * n, 256), 256, 0, s->stream>>>(y, b, n_rows, n, ld);
    check_launch(s, "add_rows");
}

void add(Stream* s, float* y, const float* x, int64_t n) {
    use_device(s->gpu->index);
    if (n == 0) return;
    add_kernel<<<blocks_for(n, 256), 256, 0, s->stream>>>(y, x, n);
    check_launch(s, "add");
}

void fill(Stream* s, float* x, float value, int64_t n) {
    use_device(s->gpu->index);
    if (n == 0) return;
    fill_kernel<<<blocks_for(n, 256), 256, 0, s->stream>>>(x, value, n);
    check_launch(s, "fill");
}

void softcap(Stream* s, float* x, int64_t n, float cap) {
    use_device(s->gpu->index);
    if (n == 0) return;
    softcap_kernel<<<blocks_for(n, 256), 256, 0, s->stream>>>(x, n, cap);
    check_launch(s, "softcap");
}

void rope(Stream* s, float* x, int64_t n_rows, int64_t ld, int n_heads, int head_dim, int n_rot, const int32_t* pos,
          float base, float freq_scale, bool neox, const float* freq_factors) {
    use_device(s->gpu->index);
    const int64_t n = n_rows * n_heads * (n_rot / 2);
    if (n == 0) return;
    rope_kernel<<<blocks_for(n, 256), 256, 0, s->stream>>>(x, n_rows, ld, n_heads, head_dim, n_rot, pos, base,
                                                           freq_scale, neox, freq_factors);
    check_launch(s, "rope");
}

void glu(Stream* s, bool gelu, float* out, const float* gate_up, int64_t n_rows, int64_t n) {
    use_device(s->gpu->index);
    if (n_rows * n == 0) return;
    glu_kernel<<<blocks_for(n_rows * n, 256), 256, 0, s->stream>>>(gelu, out, gate_up, n_rows, n);
    check_launch(s, "glu");
}

void moe_route(Stream* s, const float* logits, int64_t n_rows, int n_expert, int n_used, int32_t* ids, float* weights) {
    use_device(s->gpu->index);
    CHECK(n_expert <= kMaxExperts && n_used <= n_expert);
    if (n_rows == 0) return;
    moe_route_kernel<<<blocks_for(n_rows, 64), 64, 0, s->stream>>>(logits, n_rows, n_expert, n_used, ids, weights);
    check_launch(s, "moe_route");
}

void gather_rows(Stream* s, float* dst, const float* src, const int32_t* rows, int64_t n_rows, int64_t n) {
    use_device(s->gpu->index);
    if (n_rows * n == 0) return;
    gather_rows_kernel<<<blocks_for(n_rows * n, 256), 256, 0, s->stream>>>(dst, src, rows, n_rows, n);
    check_launch(s, "gather_rows");
}

void scatter_add_rows(Stream* s, float* dst, const float* src, const int32_t* rows, const float* w, int64_t n_rows,
                      int64_t n) {
    use_device(s->gpu->index);
    if (n_rows * n == 0) return;
    scatter_add_rows_kernel<<<blocks_for(n_rows * n, 256), 256, 0, s->stream>>>(dst, src, rows, w, n_rows, n);
    check_launch(s, "scatter_add_rows");
}

void store_kv(Stream* s, const KvLayout& kv, int layer, int n_tokens, const int32_t* pos, const int32_t* seq,
              const float* k, const float* v, int64_t ld) {
    use_device(s->gpu->index);
    const KvArgs a = kv_args(kv);
    const int64_t kv_dim = int64_t(kv.n_head_kv) * kv.head_dim;
    const bool quant = kv.type == DType::Q8_0 || kv.type == DType::Q4_0;
    const int64_t n = int64_t(n_tokens) * 2 * (quant ? kv_dim / 32 : kv_dim);
    if (n == 0) return;
    store_kv_kernel<<<blocks_for(n, 128), 128, 0, s->stream>>>(a, layer, n_tokens, pos, seq, k, v, ld);
    check_launch(s, "store_kv");
}

void attention(Stream* s, const KvLayout& kv, int layer, int n_tokens, const int32_t* pos, const int32_t* seq,
               const float* q, int64_t ldq, int n_head, int64_t window, float scale, float cap, float* out,
               int64_t ldo) {
    use_device(s->gpu->index);
    CHECK(kv.head_dim <= 32 * kMaxHeadDimPerLane && n_tokens <= 65535);
    if (n_tokens == 0) return;
    const int warps = 4;
    attention_kernel<<<dim3(unsigned((n_head + warps - 1) / warps), unsigned(n_tokens)), 32 * warps, 0, s->stream>>>(
        kv_args(kv), layer, n_tokens, pos, seq, q, ldq, n_head, window, scale, cap, out, ldo);
    check_launch(s, "attention");
}

}  // namespace berth::cuda
