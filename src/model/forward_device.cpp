// The layers of a step placed on a device: the same decoder as forward.cpp, op for op, through DeviceStream.
#include <algorithm>

#include "model/device_part.h"

namespace berth {
namespace {

// Expert e of a 3-D expert tensor as a 2-D matrix (device address arithmetic only).
TensorView expert_view(const TensorView& t, int e) {
    TensorView v = t;
    v.n_dims = 2;
    v.ne[2] = 1;
    v.data = static_cast<const uint8_t*>(t.data) + int64_t(e) * t.row_bytes() * t.ne[1];
    return v;
}

// Routes the rows to their experts: the device's choice comes back to the host (n_batch × n_expert_used ids),
// which groups the rows by expert in token order (as the CPU path does) and sends the groups back.
Status route_experts(DevicePart& d, const HParams& hp, int n, const DeviceBuffers& db) {
    DeviceStream& s = *d.stream;
    const int ne = hp.n_expert, nu = hp.n_expert_used;
    const size_t k = size_t(n) * size_t(nu);
    RETURN_IF_ERROR(s.download(d.sel_id.data(), db.sel_id, k * sizeof(int32_t)));
    RETURN_IF_ERROR(s.download(d.sel_w.data(), db.sel_w, k * sizeof(float)));
    int32_t m = 0;
    for (int e = 0; e < ne; ++e) {
        d.expert_begin[size_t(e)] = m;
        for (int t = 0; t < n; ++t)
            for (int j = 0; j < nu; ++j)
                if (d.sel_id[size_t(t * nu + j)] == e) {
                    d.exp_rows[size_t(m)] = t;
                    d.exp_w[size_t(m)] = d.sel_w[size_t(t * nu + j)];
                    ++m;
                }
    }
    d.expert_begin[size_t(ne)] = m;
    s.upload(db.exp_rows, d.exp_rows.data(), size_t(m) * sizeof(int32_t));
    s.upload(db.exp_w, d.exp_w.data(), size_t(m) * sizeof(float));
    return Status::ok();
}

}  // namespace

Result<bool> forward_device(Model::Impl& im, const HParams& hp, const ArchTraits& tr, const BatchToken* tokens, int n,
                            int n_out, const StepBuffers& b) {
    DevicePart& d = *im.dev;
    DeviceStream& s = *d.stream;
    const DevicePlacement& pl = d.placement;
    d.scratch_alloc.reset();
    DeviceBuffers db;
    carve_device_buffers(d.scratch_alloc, hp, im.w.n_ff_exp, pl.dims, &db);
    const int64_t E = hp.n_embd, H = hp.head_dim;
    const int64_t q_dim = int64_t(hp.n_head) * H, kv_dim = int64_t(hp.n_head_kv) * H, qkv_dim = q_dim + 2 * kv_dim;
    const int64_t ff = hp.n_expert > 0 ? im.w.n_ff_exp : hp.n_ff;
    const float eps = hp.rms_eps;
    const bool gelu = tr.act == Activation::gelu;

    // ---- the step's batch: positions, sequences, page tables ----------------------------------------------
    int max_pos = 0;
    for (int t = 0; t < n; ++t) {
        d.pos[size_t(t)] = tokens[t].pos;
        d.seq[size_t(t)] = tokens[t].seq;
        max_pos = std::max(max_pos, int(tokens[t].pos));
    }
    const int max_pages = pl.dims.max_pages;
    for (size_t sq = 0; sq < im.tables.size(); ++sq) {
        if (!im.touched[sq]) continue;
        const std::vector<int32_t>& pages = im.tables[sq].pages();
        std::copy(pages.begin(), pages.end(), d.tables.begin() + int64_t(sq) * max_pages);
    }
    s.upload(db.pos, d.pos.data(), size_t(n) * sizeof(int32_t));
    s.upload(db.seq, d.seq.data(), size_t(n) * sizeof(int32_t));
    s.upload(db.tables, d.tables.data(), d.tables.size() * sizeof(int32_t));
    s.upload(db.x, b.x, size_t(n) * size_t(E) * sizeof(float));
    DeviceBatch batch;
    batch.n_tokens = n;
    batch.pos = db.pos;
    batch.seq = db.seq;
    batch.max_pos = max_pos;
    DeviceKv kv = d.kv_layout;
    kv.page_tables = db.tables;

    for (int il = 0; il < pl.n_dev_layers; ++il) {
        const LayerWeights& L = d.layers[size_t(il)];
        // ---- attention -------------------------------------------------------------------------------------
        s.rmsnorm(db.xb, db.x, L.attn_norm, n, E, 1, E, eps);
        if (tr.fused_qkv) {
            s.matmul(L.wqkv, db.xb, n, db.qkv, qkv_dim, db.matmul_scratch);
        } else {
            s.matmul(L.wq, db.xb, n, db.qkv, qkv_dim, db.matmul_scratch);
            s.matmul(L.wk, db.xb, n, db.qkv + q_dim, qkv_dim, db.matmul_scratch);
            s.matmul(L.wv, db.xb, n, db.qkv + q_dim + kv_dim, qkv_dim, db.matmul_scratch);
        }
        if (L.bq) s.add_rows(db.qkv, L.bq, n, q_dim, qkv_dim);
        if (L.bk) s.add_rows(db.qkv + q_dim, L.bk, n, kv_dim, qkv_dim);
        if (L.bv) s.add_rows(db.qkv + q_dim + kv_dim, L.bv, n, kv_dim, qkv_dim);
        if (L.q_norm) {
            s.rmsnorm(db.qkv, db.qkv, L.q_norm, n, qkv_dim, hp.n_head, H, eps);
            s.rmsnorm(db.qkv + q_dim, db.qkv + q_dim, L.k_norm, n, qkv_dim, hp.n_head_kv, H, eps);
        }
        const bool swa = hp.layer_is_swa(il);
        const float base = swa ? hp.rope_base_local : hp.rope_base;
        const float freq_scale = swa ? hp.rope_freq_scale_local : hp.rope_freq_scale;
        const bool neox = hp.rope_style == RopeStyle::neox;
        s.rope(db.qkv, n, qkv_dim, hp.n_head, int(H), hp.n_rot, db.pos, base, freq_scale, neox, d.rope_freqs);
        s.rope(db.qkv + q_dim, n, qkv_dim, hp.n_head_kv, int(H), hp.n_rot, db.pos, base, freq_scale, neox,
               d.rope_freqs);
        s.store_kv(kv, il, batch, db.qkv + q_dim, db.qkv + q_dim + kv_dim, qkv_dim);
        const int64_t window = swa ? hp.sliding_window : 0;
        s.attention(kv, il, batch, db.qkv, qkv_dim, hp.n_head, window, hp.attn_scale, hp.attn_softcap, db.att, q_dim,
                    db.attention_scratch);
        s.matmul(L.wo, db.att, n, db.xb2, E, db.matmul_scratch);
        if (L.post_attn_norm) s.rmsnorm(db.xb2, db.xb2, L.post_attn_norm, n, E, 1, E, eps);
        s.add(db.x, db.xb2, int64_t(n) * E);

        // ---- feed-forward ----------------------------------------------------------------------------------
        s.rmsnorm(db.xb, db.x, L.ffn_norm, n, E, 1, E, eps);
        if (hp.n_expert > 0) {
            s.matmul(L.gate_inp, db.xb, n, db.router, hp.n_expert, db.matmul_scratch);
            s.moe_route(db.router, n, hp.n_expert, hp.n_expert_used, db.sel_id, db.sel_w);
            RETURN_IF_ERROR(route_experts(d, hp, n, db));
            s.fill(db.xb2, 0.0f, int64_t(n) * E);
            for (int e = 0; e < hp.n_expert; ++e) {
                const int32_t begin = d.expert_begin[size_t(e)], m = d.expert_begin[size_t(e) + 1] - begin;
                if (m == 0) continue;
                s.gather_rows(db.xe, db.xb, db.exp_rows + begin, m, E);
                s.matmul(expert_view(L.gate_exps, e), db.xe, m, db.hb, 2 * ff, db.matmul_scratch);
                s.matmul(expert_view(L.up_exps, e), db.xe, m, db.hb + ff, 2 * ff, db.matmul_scratch);
                s.glu(gelu, db.hb2, db.hb, m, ff);
                s.matmul(expert_view(L.down_exps, e), db.hb2, m, db.ye, E, db.matmul_scratch);
                s.scatter_add_rows(db.xb2, db.ye, db.exp_rows + begin, db.exp_w + begin, m, E);
            }
        } else {
            if (tr.fused_gate_up) {
                s.matmul(L.w_up, db.xb, n, db.hb, 2 * ff, db.matmul_scratch);
            } else {
                s.matmul(L.w_gate, db.xb, n, db.hb, 2 * ff, db.matmul_scratch);
                s.matmul(L.w_up, db.xb, n, db.hb + ff, 2 * ff, db.matmul_scratch);
            }
            s.glu(gelu, db.hb2, db.hb, n, ff);
            s.matmul(L.w_down, db.hb2, n, db.xb2, E, db.matmul_scratch);
        }
        if (L.post_ffw_norm) s.rmsnorm(db.xb2, db.xb2, L.post_ffw_norm, n, E, 1, E, eps);
        s.add(db.x, db.xb2, int64_t(n) * E);
    }

    if (!pl.output) {
        RETURN_IF_ERROR(s.download(b.x, db.x, size_t(n) * size_t(E) * sizeof(float)));  // the CPU layers go on
        return false;
    }
    // ---- output head: only the rows that asked for logits --------------------------------------------------
    if (n_out > 0) {
        int r = 0;
        for (int t = 0; t < n; ++t)
            if (tokens[t].logits) d.out_rows[size_t(r++)] = t;
        s.upload(db.out_rows, d.out_rows.data(), size_t(n_out) * sizeof(int32_t));
        s.gather_rows(db.out_x, db.x, db.out_rows, n_out, E);
        s.rmsnorm(db.out_x, db.out_x, d.head.output_norm, n_out, E, 1, E, eps);
        s.matmul(d.head.output, db.out_x, n_out, db.logits, hp.n_vocab, db.matmul_scratch);
        if (hp.final_softcap > 0) s.softcap(db.logits, int64_t(n_out) * hp.n_vocab, hp.final_softcap);
        RETURN_IF_ERROR(s.download(b.logits, db.logits, size_t(n_out) * size_t(hp.n_vocab) * sizeof(float)));
    } else {
        RETURN_IF_ERROR(s.synchronize());
    }
    return true;
}

}  // namespace berth
