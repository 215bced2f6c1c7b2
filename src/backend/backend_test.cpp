// The device interface: counted allocations and budgets, and every op of DeviceStream against a scalar host
// reference. The op tests run on every device this machine has: always the stand-in (which runs the CPU
// kernels, so here they check the interface's strides, page tables and layouts), and CUDA GPU 0 when berth
// was built with CUDA and a GPU is present (otherwise those cases are skipped with the reason). On a GPU
// machine scripts/gpu-check runs them: that is how the CUDA kernels are verified.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "backend/backend.h"
#include "backend/cuda_device.h"

namespace berth {
namespace {

constexpr int64_t kMiB = int64_t(1) << 20;

TEST(FakeDevice, CountsAllocationsAndHoldsItsCapacity) {
    auto dev = make_fake_device(0, 8 * kMiB);
    EXPECT_STREQ(dev->type(), "fake");
    EXPECT_TRUE(dev->host_backed());
    EXPECT_EQ(dev->memory_info().total, 8 * kMiB);
    EXPECT_EQ(dev->memory_info().free, 8 * kMiB);
    auto before = read_process_memory();
    {
        auto a = dev->allocate(3 * kMiB, "weights");
        ASSERT_TRUE(a.is_ok()) << a.status().message();
        EXPECT_EQ(a->size(), size_t(3 * kMiB));
        auto b = dev->allocate(100, "scratch");  // rounded up to the granularity (a page)
        ASSERT_TRUE(b.is_ok());
        EXPECT_EQ(b->size(), page_size());
        EXPECT_EQ(dev->allocation_count(), 2);
        EXPECT_EQ(dev->allocated_bytes(), 3 * kMiB + int64_t(page_size()));
        EXPECT_EQ(dev->memory_info().free, 8 * kMiB - 3 * kMiB - int64_t(page_size()));
        // Host-backed and committed: the bytes are resident at once.
        auto during = read_process_memory();
        EXPECT_GT(during->rss_anon - before->rss_anon, 3 * kMiB - kMiB);
        // Beyond the capacity: a clean error with the numbers, nothing held.
        auto c = dev->allocate(6 * kMiB, "kv");
        ASSERT_FALSE(c.is_ok());
        EXPECT_EQ(c.status().code(), StatusCode::resource_exhausted);
        EXPECT_NE(c.status().message().find("kv"), std::string::npos) << c.status().message();
        EXPECT_EQ(dev->allocation_count(), 3);  // failed attempts count too
        EXPECT_EQ(dev->allocated_bytes(), 3 * kMiB + int64_t(page_size()));
        DeviceBuffer moved = std::move(a).value();
        EXPECT_EQ(moved.size(), size_t(3 * kMiB));
    }
    EXPECT_EQ(dev->allocated_bytes(), 0);
    EXPECT_EQ(dev->memory_info().free, 8 * kMiB);
    auto after = read_process_memory();
    EXPECT_LT(after->rss_anon - before->rss_anon, kMiB);
}

TEST(Registry, ParsesTheDeviceSpec) {
    ASSERT_TRUE(open_devices("fake:64MiB").is_ok());
    ASSERT_EQ(devices().size(), 1u);
    EXPECT_EQ(device(0)->memory_info().total, 64 * kMiB);
    EXPECT_EQ(device(1), nullptr);
    EXPECT_NE(device_status().find("fake:0"), std::string::npos) << device_status();
    ASSERT_TRUE(open_devices("cpu").is_ok());
    EXPECT_TRUE(devices().empty());
    EXPECT_NE(device_status().find("CPU"), std::string::npos);
    for (const char* bad : {"fake:", "fake:lots", "gpu", "cuda:x", "cuda:99"}) {
        Status st = open_devices(bad);
        EXPECT_EQ(st.code(), StatusCode::invalid_argument) << bad;
        EXPECT_NE(st.message().find("BERTH_DEVICE"), std::string::npos) << st.message();
    }
    if (!cuda_compiled()) {
        ASSERT_TRUE(open_devices("cuda").is_ok());  // asked for but not built: the CPU, and the reason
        EXPECT_TRUE(devices().empty());
        EXPECT_NE(device_status().find("without CUDA"), std::string::npos) << device_status();
    }
    ASSERT_TRUE(open_devices("cpu").is_ok());
}

// ---- ops on every device ------------------------------------------------------------------------------------

struct DeviceUnderTest {
    std::string label;
    std::unique_ptr<Device> owned;
    std::string skip;  // why this device is not here
};

std::vector<std::string> device_labels() { return {"fake", "cuda"}; }

DeviceUnderTest open_for_test(const std::string& label) {
    DeviceUnderTest d;
    d.label = label;
    if (label == "fake") {
        d.owned = make_fake_device(0, 256 * kMiB);
    } else if (!cuda_compiled()) {
        d.skip = "built without CUDA";
    } else {
        std::string why;
        auto list = open_cuda_devices(0, &why);
        if (list.empty())
            d.skip = why;
        else
            d.owned = std::move(list[0]);
    }
    return d;
}

class DeviceOps : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        dut_ = open_for_test(GetParam());
        if (!dut_.owned) GTEST_SKIP() << dut_.skip;
        dev_ = dut_.owned.get();
        auto s = dev_->open_stream(&pool_);
        ASSERT_TRUE(s.is_ok()) << s.status().message();
        stream_ = std::move(s).value();
    }
    void TearDown() override {
        stream_.reset();
        buffers_.clear();
    }
    // Device memory holding `n` values of T, initialised from `init` when given.
    template <typename T>
    T* put(size_t n, const T* init = nullptr) {
        auto b = dev_->allocate(std::max<size_t>(n * sizeof(T), 1), "test");
        CHECK(b.is_ok());
        buffers_.push_back(std::move(b).value());
        T* p = reinterpret_cast<T*>(buffers_.back().data());
        if (init) stream_->upload(p, init, n * sizeof(T));
        return p;
    }
    template <typename T>
    T* put(const std::vector<T>& v) {
        return put<T>(v.size(), v.data());
    }
    template <typename T>
    std::vector<T> get(const T* p, size_t n) {
        std::vector<T> out(n);
        Status st = stream_->download(out.data(), p, n * sizeof(T));
        EXPECT_TRUE(st.is_ok()) << st.to_string();
        return out;
    }
    std::vector<float> random(size_t n, float scale = 1.0f) {
        std::normal_distribution<float> dist(0.0f, scale);
        std::vector<float> v(n);
        for (float& x : v) x = dist(rng_);
        return v;
    }

    ThreadPool pool_{2};
    DeviceUnderTest dut_;
    Device* dev_ = nullptr;
    std::unique_ptr<DeviceStream> stream_;
    std::vector<DeviceBuffer> buffers_;
    std::mt19937 rng_{42};
};

// y = x · Wᵀ for every weight type, at decode (1 token), small-batch and prefill row counts. Tolerance per output:
// the 8-bit activation quantization a device may apply (Σ|w|·amax/127 per 32-block), plus 1e-3 of Σ|w·x| (f16
// activations and accumulation order), against a double-precision reference over the dequantized weights.
TEST_P(DeviceOps, MatmulEveryWeightType) {
    for (DType type : {DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                       DType::Q8_0, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
        const bool k_quant = dtype_info(type).block_elems == QK_K;
        const int64_t n_cols = k_quant ? 512 : 96, n_rows = 70;
        std::vector<float> wf = random(size_t(n_rows * n_cols), 0.5f);
        const int64_t rb = row_bytes(type, n_cols);
        std::vector<uint8_t> wq(static_cast<size_t>(rb * n_rows));
        for (int64_t r = 0; r < n_rows; ++r) quantize_row_ref(type, wf.data() + r * n_cols, wq.data() + r * rb, n_cols);
        TensorView w;
        w.type = type;
        w.n_dims = 2;
        w.ne[0] = n_cols;
        w.ne[1] = n_rows;
        w.data = put(wq);
        std::vector<float> wrow(static_cast<size_t>(n_cols));
        for (int64_t n_tokens : {1, 3, 9, 40}) {
            SCOPED_TRACE(std::string(dtype_name(type)) + " tokens " + std::to_string(n_tokens));
            std::vector<float> x = random(size_t(n_tokens * n_cols));
            const int64_t ldy = n_rows + 5;  // padding must stay untouched
            std::vector<float> y0(size_t(n_tokens * ldy), -777.0f);
            float* dx = put(x);
            float* dy = put(y0);
            void* scratch =
                put<uint8_t>(dev_->matmul_scratch_bytes(type, n_cols, n_rows, n_tokens, pool_.n_threads()) + 1);
            stream_->matmul(w, dx, n_tokens, dy, ldy, scratch);
            std::vector<float> y = get(dy, y0.size());
            for (int64_t r = 0; r < n_rows; ++r) {
                dequantize_row_ref(type, wq.data() + r * rb, wrow.data(), n_cols);
                for (int64_t t = 0; t < n_tokens; ++t) {
                    double ref = 0, abs_wx = 0, act_err = 0;
                    for (int64_t b = 0; b < n_cols; b += 32) {
                        float amax = 0;
                        for (int64_t i = b; i < b + 32; ++i)
                            amax = std::max(amax, std::fabs(x[size_t(t * n_cols + i)]));
                        for (int64_t i = b; i < b + 32; ++i) {
                            const double wi = wrow[size_t(i)], xi = x[size_t(t * n_cols + i)];
                            ref += wi * xi;
                            abs_wx += std::fabs(wi * xi);
                            act_err += std::fabs(wi) * amax / 127;
                        }
                    }
                    ASSERT_NEAR(y[size_t(t * ldy + r)], ref, act_err + 1e-3 * abs_wx + 1e-5) << "row " << r;
                }
            }
            for (int64_t t = 0; t < n_tokens; ++t)
                for (int64_t r = n_rows; r < ldy; ++r) ASSERT_EQ(y[size_t(t * ldy + r)], -777.0f) << "padding written";
        }
    }
}

// Elementwise ops: exact formulas, float tolerance 1e-5 relative (device math functions differ from libm
// in the last bits).
TEST_P(DeviceOps, NormsActivationsAndElementwise) {
    const int64_t rows = 5, groups = 3, n = 64, ld = groups * n + 7;
    std::vector<float> x = random(size_t(rows * ld), 2.0f), w = random(size_t(n));
    float* dx = put(x);
    float* dw = put(w);
    float* dout = put<float>(x.size(), x.data());
    stream_->rmsnorm(dout, dx, dw, rows, ld, groups, n, 1e-5f);
    std::vector<float> got = get(dout, x.size());
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t g = 0; g < groups; ++g) {
            const float* xr = x.data() + r * ld + g * n;
            double ss = 0;
            for (int64_t i = 0; i < n; ++i) ss += double(xr[i]) * xr[i];
            const double scale = 1.0 / std::sqrt(ss / n + 1e-5);
            for (int64_t i = 0; i < n; ++i)
                ASSERT_NEAR(got[size_t(r * ld + g * n + i)], xr[i] * scale * w[size_t(i)],
                            1e-5 * std::fabs(xr[i] * scale * w[size_t(i)]) + 1e-6);
        }
    // The gap between the groups and the row stride is untouched.
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = groups * n; i < ld; ++i) ASSERT_EQ(got[size_t(r * ld + i)], x[size_t(r * ld + i)]);

    std::vector<float> y = random(size_t(rows * ld)), b = random(size_t(n));
    float* dy = put(y);
    stream_->add_rows(dy, put(b), rows, n, ld);
    got = get(dy, y.size());
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < ld; ++i)
            ASSERT_FLOAT_EQ(got[size_t(r * ld + i)], y[size_t(r * ld + i)] + (i < n ? b[size_t(i)] : 0.0f));

    std::vector<float> a = random(300), c = random(300);
    float* da = put(a);
    stream_->add(da, put(c), 300);
    stream_->softcap(da, 300, 1.5f);
    got = get(da, 300);
    for (size_t i = 0; i < 300; ++i) ASSERT_NEAR(got[i], 1.5f * std::tanh((a[i] + c[i]) / 1.5f), 1e-5f * 1.5f) << i;
    stream_->fill(da, 0.25f, 300);
    got = get(da, 300);
    for (size_t i = 0; i < 300; ++i) ASSERT_EQ(got[i], 0.25f);

    const int64_t ff = 96;
    std::vector<float> gu = random(size_t(rows * 2 * ff), 3.0f);
    float* dgu = put(gu);
    float* dact = put<float>(size_t(rows * ff));
    for (bool gelu : {false, true}) {
        stream_->glu(gelu, dact, dgu, rows, ff);
        got = get(dact, size_t(rows * ff));
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t i = 0; i < ff; ++i) {
                const double g = gu[size_t(r * 2 * ff + i)], u = gu[size_t(r * 2 * ff + ff + i)];
                const double act = gelu ? 0.5 * g * (1 + std::tanh(0.79788456080286535588 * g * (1 + 0.044715 * g * g)))
                                        : g / (1 + std::exp(-g));
                ASSERT_NEAR(got[size_t(r * ff + i)], act * u, 1e-5 * std::fabs(act * u) + 1e-6)
                    << (gelu ? "gelu" : "silu");
            }
    }
}

// Rotary embedding in both pair layouts, partial rotation and frequency factors, against a double reference.
TEST_P(DeviceOps, RopeBothLayouts) {
    const int n_heads = 3, head_dim = 64, n_rot = 48;
    const int64_t rows = 4, ld = n_heads * head_dim + 10;
    std::vector<int32_t> pos = {0, 7, 130, 4095};
    std::vector<float> factors(static_cast<size_t>(n_rot / 2));
    for (size_t i = 0; i < factors.size(); ++i) factors[i] = 1.0f + 0.1f * float(i);
    for (bool neox : {false, true})
        for (bool use_factors : {false, true}) {
            std::vector<float> x = random(size_t(rows * ld));
            float* dx = put(x);
            stream_->rope(dx, rows, ld, n_heads, head_dim, n_rot, put(pos), 10000.0f, 0.5f, neox,
                          use_factors ? put(factors) : nullptr);
            std::vector<float> got = get(dx, x.size());
            for (int64_t r = 0; r < rows; ++r)
                for (int h = 0; h < n_heads; ++h) {
                    const float* v = x.data() + r * ld + h * head_dim;
                    std::vector<double> want(v, v + head_dim);
                    for (int i = 0; i < n_rot / 2; ++i) {
                        double theta = pos[size_t(r)] * 0.5 * std::pow(10000.0, -2.0 * i / n_rot);
                        if (use_factors) theta /= factors[size_t(i)];
                        const int a = neox ? i : 2 * i, b = neox ? i + n_rot / 2 : 2 * i + 1;
                        want[size_t(a)] = v[a] * std::cos(theta) - v[b] * std::sin(theta);
                        want[size_t(b)] = v[a] * std::sin(theta) + v[b] * std::cos(theta);
                    }
                    // float theta at position 4095 carries ~4095 · 2⁻²⁴ rad of rounding.
                    for (int i = 0; i < head_dim; ++i)
                        ASSERT_NEAR(got[size_t(r * ld + h * head_dim + i)], want[size_t(i)], 2e-3)
                            << "neox " << neox << " pos " << pos[size_t(r)] << " dim " << i;
                }
        }
}

// KV stores and paged attention for every KV type: two sequences on scattered pages, GQA, a sliding window
// and a soft-cap. The stored bytes equal the host's store_row; the attention output matches a double
// reference over the stored (rounded) K and V to 1e-4 relative.
TEST_P(DeviceOps, PagedKvStoreAndAttention) {
    const int n_head = 4, n_head_kv = 2, head_dim = 64, pp = 16, max_pages = 4, n_seq = 2;
    const int64_t kv_dim = int64_t(n_head_kv) * head_dim, q_dim = int64_t(n_head) * head_dim;
    // Sequence 0 holds positions 0..40 on pages 5, 1, 3; sequence 1 positions 0..20 on pages 0, 6.
    const std::vector<int32_t> tables = {5, 1, 3, -1, 0, 6, -1, -1};
    const int n_pages = 7, lengths[2] = {41, 21};
    for (DType kv_type : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0}) {
        SCOPED_TRACE(dtype_name(kv_type));
        DeviceKv kv;
        kv.type = kv_type;
        kv.page_positions = pp;
        kv.n_head_kv = n_head_kv;
        kv.head_dim = head_dim;
        // Two layers (K and V tiles of 64-byte-rounded size each, as kv.h lays them out); the test writes layer 1.
        kv.tile_bytes = int64_t(round_up(size_t(n_head_kv * row_bytes(kv_type, head_dim) * pp), 64));
        kv.page_bytes = 4 * kv.tile_bytes;
        kv.base = put<uint8_t>(size_t(kv.page_bytes * n_pages));
        kv.page_tables = put(tables);
        kv.max_pages = max_pages;
        // Every position of both sequences, in one batch.
        std::vector<int32_t> pos, seq;
        for (int s = 0; s < n_seq; ++s)
            for (int p = 0; p < lengths[s]; ++p) pos.push_back(p), seq.push_back(s);
        const int n = int(pos.size());
        const int64_t ld = q_dim + 2 * kv_dim;
        std::vector<float> qkv = random(size_t(n * ld));
        float* dqkv = put(qkv);
        DeviceBatch batch;
        batch.n_tokens = n;
        batch.pos = put(pos);
        batch.seq = put(seq);
        batch.max_pos = 40;
        stream_->store_kv(kv, 1, batch, dqkv + q_dim, dqkv + q_dim + kv_dim, ld);
        std::vector<uint8_t> pages = get(kv.base, size_t(kv.page_bytes * n_pages));
        // Stored bytes: as the host's store_row writes them; K/V as the attention reads them back.
        const int64_t pos_bytes = int64_t(n_head_kv) * row_bytes(kv_type, head_dim);
        std::vector<float> k_read(static_cast<size_t>(n * kv_dim)), v_read(static_cast<size_t>(n * kv_dim));
        std::vector<uint8_t> want(static_cast<size_t>(pos_bytes));
        for (int t = 0; t < n; ++t) {
            const int32_t page = tables[size_t(seq[size_t(t)] * max_pages + pos[size_t(t)] / pp)];
            const uint8_t* tile = pages.data() + page * kv.page_bytes + 2 * kv.tile_bytes;
            const uint8_t* krow = tile + (pos[size_t(t)] % pp) * pos_bytes;
            const uint8_t* vrow = krow + kv.tile_bytes;
            store_row(kv_type, qkv.data() + t * ld + q_dim, want.data(), kv_dim);
            ASSERT_EQ(std::memcmp(krow, want.data(), size_t(pos_bytes)), 0) << "K bytes of token " << t;
            store_row(kv_type, qkv.data() + t * ld + q_dim + kv_dim, want.data(), kv_dim);
            ASSERT_EQ(std::memcmp(vrow, want.data(), size_t(pos_bytes)), 0) << "V bytes of token " << t;
            dequantize_row_ref(kv_type, krow, k_read.data() + t * kv_dim, kv_dim);
            dequantize_row_ref(kv_type, vrow, v_read.data() + t * kv_dim, kv_dim);
        }
        // Attention of the last 4 tokens of each sequence (decode-like and prefill-like rows).
        std::vector<int> queries = {37, 38, 39, 40, 41 + 17, 41 + 18, 41 + 19, 41 + 20};
        for (int64_t window : {int64_t(0), int64_t(9)})
            for (float cap : {0.0f, 5.0f}) {
                std::vector<int32_t> qpos, qseq;
                std::vector<float> q;
                for (int t : queries) {
                    qpos.push_back(pos[size_t(t)]);
                    qseq.push_back(seq[size_t(t)]);
                    q.insert(q.end(), qkv.begin() + t * ld, qkv.begin() + t * ld + q_dim);
                }
                DeviceBatch qb;
                qb.n_tokens = int(queries.size());
                qb.pos = put(qpos);
                qb.seq = put(qseq);
                qb.max_pos = 40;
                const int64_t ldo = q_dim + 3;
                float* dout = put<float>(size_t(qb.n_tokens * ldo));
                void* scratch =
                    put<uint8_t>(dev_->attention_scratch_bytes(n_head, n_head_kv, head_dim, 64, pool_.n_threads()));
                const float scale = 1.0f / std::sqrt(float(head_dim));
                stream_->attention(kv, 1, qb, put(q), q_dim, n_head, window, scale, cap, dout, ldo, scratch);
                std::vector<float> out = get(dout, size_t(qb.n_tokens * ldo));
                for (int j = 0; j < qb.n_tokens; ++j) {
                    const int s = qseq[size_t(j)], p = qpos[size_t(j)];
                    const int first_token = s == 0 ? 0 : lengths[0];  // index of the sequence's position 0
                    const int begin = window > 0 ? std::max(0, p + 1 - int(window)) : 0;
                    for (int h = 0; h < n_head; ++h) {
                        const int kh = h / (n_head / n_head_kv);
                        const float* qh = q.data() + j * q_dim + h * head_dim;
                        std::vector<double> sc;
                        double mx = -1e300;
                        for (int pp2 = begin; pp2 <= p; ++pp2) {
                            const float* kr = k_read.data() + (first_token + pp2) * kv_dim + kh * head_dim;
                            double d = 0;
                            for (int i = 0; i < head_dim; ++i) d += double(qh[i]) * kr[i];
                            d *= scale;
                            if (cap > 0) d = cap * std::tanh(d / cap);
                            sc.push_back(d);
                            mx = std::max(mx, d);
                        }
                        double sum = 0;
                        for (double& e : sc) sum += (e = std::exp(e - mx));
                        for (int i = 0; i < head_dim; ++i) {
                            double o = 0, mag = 0;
                            for (int pp2 = begin; pp2 <= p; ++pp2) {
                                const double vv = v_read[size_t((first_token + pp2) * kv_dim + kh * head_dim + i)];
                                o += sc[size_t(pp2 - begin)] / sum * vv;
                                mag += sc[size_t(pp2 - begin)] / sum * std::fabs(vv);
                            }
                            ASSERT_NEAR(out[size_t(j * ldo + h * head_dim + i)], o, 1e-4 * mag + 1e-6)
                                << "query " << j << " head " << h << " dim " << i << " window " << window << " cap "
                                << cap;
                        }
                    }
                }
            }
    }
}

// Mixture-of-experts routing and the gather / scatter around the experts.
TEST_P(DeviceOps, MoeRoutingGatherScatter) {
    const int64_t rows = 6, n = 40;
    const int n_expert = 8, n_used = 2;
    std::vector<float> logits = random(size_t(rows * n_expert), 2.0f);
    int32_t* ids = put<int32_t>(size_t(rows * n_used));
    float* weights = put<float>(size_t(rows * n_used));
    stream_->moe_route(put(logits), rows, n_expert, n_used, ids, weights);
    std::vector<int32_t> got_ids = get(ids, size_t(rows * n_used));
    std::vector<float> got_w = get(weights, size_t(rows * n_used));
    for (int64_t r = 0; r < rows; ++r) {
        std::vector<int> order(n_expert);
        for (int e = 0; e < n_expert; ++e) order[size_t(e)] = e;
        const float* l = logits.data() + r * n_expert;
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return l[a] > l[b]; });
        const double ea = std::exp(double(l[order[0]])), eb = std::exp(double(l[order[1]]));
        EXPECT_EQ(got_ids[size_t(r * 2)], order[0]);
        EXPECT_EQ(got_ids[size_t(r * 2 + 1)], order[1]);
        EXPECT_NEAR(got_w[size_t(r * 2)], ea / (ea + eb), 1e-6);
        EXPECT_NEAR(got_w[size_t(r * 2 + 1)], eb / (ea + eb), 1e-6);
    }
    std::vector<float> src = random(size_t(rows * n));
    std::vector<int32_t> pick = {4, 0, 5};
    std::vector<float> w = {0.5f, -2.0f, 1.0f};
    float* gathered = put<float>(size_t(3 * n));
    stream_->gather_rows(gathered, put(src), put(pick), 3, n);
    std::vector<float> g = get(gathered, size_t(3 * n));
    for (int j = 0; j < 3; ++j)
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(g[size_t(j * n + i)], src[size_t(pick[size_t(j)] * n + i)]);
    std::vector<float> dst = random(size_t(rows * n));
    float* ddst = put(dst);
    stream_->scatter_add_rows(ddst, gathered, put(pick), put(w), 3, n);
    std::vector<float> out = get(ddst, dst.size());
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < n; ++i) {
            float want = dst[size_t(r * n + i)];
            for (int j = 0; j < 3; ++j)
                if (pick[size_t(j)] == r) want += w[size_t(j)] * g[size_t(j * n + i)];
            ASSERT_NEAR(out[size_t(r * n + i)], want, 1e-6f);
        }
}

INSTANTIATE_TEST_SUITE_P(EveryDevice, DeviceOps, ::testing::ValuesIn(device_labels()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace berth
