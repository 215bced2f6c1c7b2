// The generic decoder: one forward pass over a batch of tokens from any number of sequences.
#include <algorithm>
#include <cmath>

#include "model/device_part.h"
#include "model/model_internal.h"

namespace berth {
namespace {

// Rows of a (n_tokens, ld) buffer: rmsnorm each row of n in place or into out.
void rmsnorm_rows(float* out, const float* x, const float* w, int n_tokens, int64_t n, int64_t ld, float eps) {
    for (int t = 0; t < n_tokens; ++t) rmsnorm(out + t * ld, x + t * ld, w, n, eps);
}

void add_bias_rows(float* y, const float* b, int n_tokens, int64_t n, int64_t ld) {
    if (!b) return;
    for (int t = 0; t < n_tokens; ++t) add_inplace(y + t * ld, b, n);
}

// Expert e of a 3-D expert tensor as a 2-D matrix.
TensorView expert_view(const TensorView& t, int e) {
    TensorView v = t;
    v.n_dims = 2;
    v.ne[2] = 1;
    v.data = static_cast<const uint8_t*>(t.data) + int64_t(e) * t.row_bytes() * t.ne[1];
    return v;
}

// Called before a product (or q/k/v and attention) with the weights of the product that follows it: threads that
// wait at the end of a job prefetch their share of these (ThreadPool::set_next_weights); absent weights are skipped.
void next_weights(ThreadPool& pool, std::initializer_list<const TensorView*> views) {
    ThreadPool::NextWeights next;
    for (const TensorView* v : views) next.add(v->data, size_t(v->n_bytes()));
    pool.set_next_weights(next);
}

void next_qkv(ThreadPool& pool, const LayerWeights& L, bool fused) {
    if (fused)
        next_weights(pool, {&L.wqkv});
    else
        next_weights(pool, {&L.wq, &L.wk, &L.wv});
}

}  // namespace

Result<const float*> Model::forward(const BatchToken* tokens, int n) {
    Impl& im = *impl_;
    const HParams& hp = hp_;
    const ArchTraits& tr = im.traits;
    if (n <= 0) return invalid_argument("empty batch");
    if (n > plan_.n_batch) return invalid_argument("batch of %d tokens exceeds n_batch %d", n, plan_.n_batch);

    // ---- validate and reserve KV pages -------------------------------------------------------------------
    const size_t np = im.active.size();
    std::fill(im.touched.begin(), im.touched.end(), 0);
    int n_out = 0;
    for (int i = 0; i < n; ++i) {
        const BatchToken& bt = tokens[i];
        if (bt.token < 0 || bt.token >= hp.n_vocab)
            return invalid_argument("token %d is outside the vocabulary (n_vocab %d)", bt.token, hp.n_vocab);
        if (bt.seq < 0 || size_t(bt.seq) >= np || !im.active[size_t(bt.seq)])
            return invalid_argument("sequence %d does not exist", bt.seq);
        size_t s = size_t(bt.seq);
        int64_t len = im.touched[s] ? im.new_len[s] : im.tables[s].n_positions();
        if (bt.pos < 0 || (im.touched[s] ? bt.pos != len : bt.pos > len))
            return invalid_argument("sequence %d: position %d does not continue the sequence (length %lld)", bt.seq,
                                    bt.pos, (long long)len);
        if (bt.pos >= plan_.n_ctx)
            return invalid_argument("sequence %d: position %d is beyond the context (n_ctx %d)", bt.seq, bt.pos,
                                    plan_.n_ctx);
        if (!im.touched[s]) im.first_pos[s] = bt.pos;
        im.touched[s] = 1;
        im.new_len[s] = int64_t(bt.pos) + 1;
        if (bt.logits) ++n_out;
    }
    if (n_out > plan_.n_logits)
        return invalid_argument("%d rows ask for logits but the model was loaded for at most %d", n_out,
                                plan_.n_logits);
    for (size_t s = 0; s < np; ++s) {
        if (!im.touched[s]) continue;
        im.old_len[s] = im.tables[s].n_positions();
        Status st = im.tables[s].reserve(kv_, im.new_len[s]);
        // Positions written by this batch must not land in a page shared with another sequence.
        if (st.is_ok()) st = im.tables[s].make_private(kv_, im.first_pos[s], im.new_len[s]);
        if (!st.is_ok()) {
            for (size_t r = 0; r <= s; ++r)
                if (im.touched[r]) im.tables[r].truncate(kv_, im.old_len[r]);
            return st;
        }
    }
    for (size_t s = 0; s < np; ++s)
        if (im.touched[s]) {
            im.tables[s].set_positions(im.new_len[s]);
            im.tables[s].truncate(kv_, im.new_len[s]);  // an overwritten tail may leave pages past the end
        }

    // ---- buffers ---------------------------------------------------------------------------------------------
    im.scratch.reset();
    StepBuffers b;
    carve_buffers(im.scratch, hp, im.dims, im.w.n_ff_exp, &b);
    ThreadPool& pool = *pool_;
    const int64_t E = hp.n_embd, H = hp.head_dim;
    const int64_t q_dim = int64_t(hp.n_head) * H, kv_dim = int64_t(hp.n_head_kv) * H, qkv_dim = q_dim + 2 * kv_dim;
    const int64_t ff = hp.n_expert > 0 ? im.w.n_ff_exp : hp.n_ff;
    const float eps = hp.rms_eps;

    // ---- embeddings ------------------------------------------------------------------------------------------
    const float embd_scale = hp.embd_scale ? std::sqrt(float(E)) : 1.0f;
    for (int t = 0; t < n; ++t) {
        get_row(im.w.token_embd, tokens[t].token, b.x + t * E);
        if (hp.embd_scale)
            for (int64_t i = 0; i < E; ++i) b.x[t * E + i] *= embd_scale;
    }

    // ---- layers placed on a device (placement.cpp): the first ones; with all of them, the output head too ---
    int first_host_layer = 0;
    if (im.dev) {
        Result<bool> done = forward_device(im, hp, tr, tokens, n, n_out, b);
        if (!done.is_ok()) return done.status();
        if (*done) return static_cast<const float*>(b.logits);
        first_host_layer = im.dev->placement.n_dev_layers;
    }

    const KvShape& ks = kv_.shape();
    const int64_t kv_pos_bytes = kv_position_bytes(ks);
    AttnKv akv;
    akv.type = ks.type;
    akv.page_positions = ks.page_positions;
    akv.n_head_kv = hp.n_head_kv;
    akv.head_dim = hp.head_dim;
    akv.base = kv_.base();
    akv.page_bytes = kv_.page_bytes();
    akv.head_row_bytes = row_bytes(ks.type, H);

    for (int il = first_host_layer; il < hp.n_layer; ++il) {
        const LayerWeights& L = im.w.layers[size_t(il)];
        const int hl = il - first_host_layer;  // the layer's index in the host KV pool
        // ---- attention ---------------------------------------------------------------------------------------
        rmsnorm_rows(b.xb, b.x, L.attn_norm, n, E, E, eps);
        next_weights(pool, {&L.wo});  // while q/k/v and attention run
        if (tr.fused_qkv) {
            matmul(pool, L.wqkv, b.xb, n, b.qkv, b.wdata);
        } else {
            const MatmulJob qkv[3] = {
                {L.wq, b.qkv, qkv_dim}, {L.wk, b.qkv + q_dim, qkv_dim}, {L.wv, b.qkv + q_dim + kv_dim, qkv_dim}};
            matmul_multi(pool, qkv, 3, b.xb, n, b.wdata);
        }
        add_bias_rows(b.qkv, L.bq, n, q_dim, qkv_dim);
        add_bias_rows(b.qkv + q_dim, L.bk, n, kv_dim, qkv_dim);
        add_bias_rows(b.qkv + q_dim + kv_dim, L.bv, n, kv_dim, qkv_dim);
        const bool swa = hp.layer_is_swa(il);
        const float base = swa ? hp.rope_base_local : hp.rope_base;
        const float freq_scale = swa ? hp.rope_freq_scale_local : hp.rope_freq_scale;
        const bool neox = hp.rope_style == RopeStyle::neox;
        for (int t = 0; t < n; ++t) {
            float* q = b.qkv + t * qkv_dim;
            float* k = q + q_dim;
            if (L.q_norm) {
                for (int h = 0; h < hp.n_head; ++h) rmsnorm(q + h * H, q + h * H, L.q_norm, H, eps);
                for (int h = 0; h < hp.n_head_kv; ++h) rmsnorm(k + h * H, k + h * H, L.k_norm, H, eps);
            }
            rope(q, hp.n_head, int(H), hp.n_rot, tokens[t].pos, base, freq_scale, neox, im.w.rope_freqs);
            rope(k, hp.n_head_kv, int(H), hp.n_rot, tokens[t].pos, base, freq_scale, neox, im.w.rope_freqs);
            // K and V of this position into the sequence's page.
            const PageTable& pt = im.tables[size_t(tokens[t].seq)];
            int32_t page = pt.page_of(tokens[t].pos);
            int slot = pt.slot_of(tokens[t].pos);
            store_row(ks.type, k, kv_.k_data(page, hl) + slot * kv_pos_bytes, kv_dim);
            store_row(ks.type, k + kv_dim, kv_.v_data(page, hl) + slot * kv_pos_bytes, kv_dim);
        }
        akv.k_offset = kv_.k_data(0, hl) - kv_.base();
        akv.v_offset = kv_.v_data(0, hl) - kv_.base();
        attend_layer(pool, hp, im, tokens, n, akv, swa ? hp.sliding_window : 0, b, plan_.n_ctx);
        if (hp.n_expert > 0)
            next_weights(pool, {});
        else if (tr.fused_gate_up)
            next_weights(pool, {&L.w_up});
        else
            next_weights(pool, {&L.w_gate, &L.w_up});
        matmul(pool, L.wo, b.att, n, b.xb2, b.wdata);
        if (L.post_attn_norm) rmsnorm_rows(b.xb2, b.xb2, L.post_attn_norm, n, E, E, eps);
        for (int t = 0; t < n; ++t) add_inplace(b.x + t * E, b.xb2 + t * E, E);

        // ---- feed-forward ------------------------------------------------------------------------------------
        rmsnorm_rows(b.xb, b.x, L.ffn_norm, n, E, E, eps);
        auto activate = [&](int rows) {
            for (int t = 0; t < rows; ++t) {
                const float* g = b.hb + t * 2 * ff;
                if (tr.act == Activation::gelu)
                    gelu_mul(b.hb2 + t * ff, g, g + ff, ff);
                else
                    silu_mul(b.hb2 + t * ff, g, g + ff, ff);
            }
        };
        if (hp.n_expert > 0) {
            const int ne = hp.n_expert, nu = hp.n_expert_used;
            matmul(pool, L.gate_inp, b.xb, n, b.router, b.wdata);
            for (int t = 0; t < n; ++t) {
                float* r = b.router + t * ne;
                softmax(r, ne);
                int32_t* ids = b.sel_id + t * nu;
                float* ws = b.sel_w + t * nu;
                float sum = 0;
                for (int k = 0; k < nu; ++k) {  // top-k by selection: nu is small
                    int best = -1;
                    for (int e = 0; e < ne; ++e) {
                        bool taken = false;
                        for (int j = 0; j < k; ++j) taken |= ids[j] == e;
                        if (!taken && (best < 0 || r[e] > r[best])) best = e;
                    }
                    ids[k] = best;
                    ws[k] = r[best];
                    sum += r[best];
                }
                for (int k = 0; k < nu; ++k) ws[k] /= sum;  // renormalized weights (Mixtral)
            }
            std::fill(b.xb2, b.xb2 + int64_t(n) * E, 0.0f);
            for (int e = 0; e < ne; ++e) {
                int m = 0;
                for (int t = 0; t < n; ++t)
                    for (int k = 0; k < nu; ++k)
                        if (b.sel_id[t * nu + k] == e) {
                            b.exp_rows[m] = t;
                            b.exp_w[m] = b.sel_w[t * nu + k];
                            std::copy(b.xb + t * E, b.xb + (t + 1) * E, b.xe + int64_t(m) * E);
                            ++m;
                        }
                if (m == 0) continue;
                matmul(pool, expert_view(L.gate_exps, e), b.xe, m, b.hb, b.wdata, 2 * ff);
                matmul(pool, expert_view(L.up_exps, e), b.xe, m, b.hb + ff, b.wdata, 2 * ff);
                activate(m);
                matmul(pool, expert_view(L.down_exps, e), b.hb2, m, b.ye, b.wdata);
                for (int j = 0; j < m; ++j) {
                    float* dst = b.xb2 + int64_t(b.exp_rows[j]) * E;
                    const float* src = b.ye + int64_t(j) * E;
                    for (int64_t i = 0; i < E; ++i) dst[i] += b.exp_w[j] * src[i];
                }
            }
        } else {
            next_weights(pool, {&L.w_down});
            if (tr.fused_gate_up) {
                matmul(pool, L.w_up, b.xb, n, b.hb, b.wdata);
            } else {
                const MatmulJob gate_up[2] = {{L.w_gate, b.hb, 2 * ff}, {L.w_up, b.hb + ff, 2 * ff}};
                matmul_multi(pool, gate_up, 2, b.xb, n, b.wdata);
            }
            activate(n);
            if (il + 1 < hp.n_layer)
                next_qkv(pool, im.w.layers[size_t(il + 1)], tr.fused_qkv);
            else
                next_weights(pool, {&im.w.output});
            matmul(pool, L.w_down, b.hb2, n, b.xb2, b.wdata);
        }
        if (L.post_ffw_norm) rmsnorm_rows(b.xb2, b.xb2, L.post_ffw_norm, n, E, E, eps);
        for (int t = 0; t < n; ++t) add_inplace(b.x + t * E, b.xb2 + t * E, E);
    }

    // ---- output: only the rows that asked for logits ------------------------------------------------------
    int r = 0;
    for (int t = 0; t < n; ++t) {
        if (!tokens[t].logits) continue;
        b.out_rows[r] = t;
        rmsnorm(b.out_x + int64_t(r) * E, b.x + int64_t(t) * E, im.w.output_norm, E, eps);
        ++r;
    }
    if (n_out > 0) {
        next_qkv(pool, im.w.layers[size_t(first_host_layer)], tr.fused_qkv);  // the next step's first product
        matmul(pool, im.w.output, b.out_x, n_out, b.logits, b.wdata);
        if (hp.final_softcap > 0) softcap(b.logits, int64_t(n_out) * hp.n_vocab, hp.final_softcap);
    }
    next_weights(pool, {});  // other users of the pool (embeddings, the bench's bandwidth loop) prefetch nothing
    return static_cast<const float*>(b.logits);
}

}  // namespace berth
