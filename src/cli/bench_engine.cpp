// berth bench: the measurements. Every section loads its own Model with the options it needs and unloads it
// before the next, so a section's KV pool or thread pool never weighs on another's figures.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <thread>

#include "backend/backend.h"
#include "cli/bench.h"
#include "engine/engine.h"
#include "model/model.h"

namespace berth::cli::bench {
namespace {

using ModelPtr = std::unique_ptr<Model>;

Result<ModelPtr> load_model(const Options& o, int n_ctx, int n_parallel, Ledger* ledger = nullptr) {
    ModelOptions mo;
    mo.n_ctx = n_ctx;
    mo.n_parallel = n_parallel;
    mo.n_batch = 512;
    mo.n_logits = n_parallel;
    mo.n_threads = o.threads;
    mo.num_gpu = o.num_gpu;
    mo.device = o.num_gpu != 0 && !devices().empty() ? devices().front() : nullptr;
    return Model::load(o.path, mo, ledger, "bench");
}

int32_t argmax(const float* x, int n) { return int32_t(std::max_element(x, x + n) - x); }

// The token at position i of stream s: deterministic, spread over the vocabulary, never 0.
int32_t token_at(int i, int s, int n_vocab) {
    return int32_t(1 + (int64_t(i) * 7919 + int64_t(s) * 104729) % (n_vocab - 1));
}

double seconds_since(int64_t t0) { return double(now_ns() - t0) * 1e-9; }

// The buffer the host's read bandwidth is measured over: as many bytes as a token's weights, so that the part of
// them the last-level cache keeps from one token to the next counts in the figure as it does in decode, but no
// more than memory_bandwidth_bytes() (kernels.h), past which the figure is the memory's. A fixed 512 MiB read 39-44
// GB/s on an Intel Xeon VM with 260 MiB of L3, where Llama 3 8B's 4.6 GB per token can only stream at the
// memory's 34-36; decode's share of it would have understated every file larger than that buffer.
int64_t host_bandwidth_bytes(int64_t weights_per_token) {
    const int64_t memory = int64_t(memory_bandwidth_bytes());
    return weights_per_token > 0 ? std::min(weights_per_token, memory) : memory;
}

// Feeds positions [from, to) of stream `s` into `seq` in chunks of the model's n_batch, with logits for the
// last position only; returns the greedy next token. `n_calls` counts the forward() calls.
Result<int32_t> feed(Model& m, int seq, int from, int to, int s, int* n_calls = nullptr) {
    const int n_batch = m.memory_plan().n_batch;
    std::vector<BatchToken> batch(static_cast<size_t>(n_batch));
    int32_t next = 0;
    for (int pos = from; pos < to; pos += n_batch) {
        const int n = std::min(n_batch, to - pos);
        for (int i = 0; i < n; ++i)
            batch[size_t(i)] = {token_at(pos + i, s, m.n_vocab()), seq, pos + i, pos + i == to - 1};
        ASSIGN_OR_RETURN(const float* logits, m.forward(batch.data(), n));
        if (n_calls) ++*n_calls;
        if (pos + n == to) next = argmax(logits, m.n_vocab());
    }
    return next;
}

// Decodes `n` tokens one forward() at a time from position `pos`, starting with `next`.
Status decode(Model& m, int seq, int pos, int n, int32_t next) {
    for (int i = 0; i < n; ++i) {
        BatchToken bt{next, seq, pos + i, true};
        ASSIGN_OR_RETURN(const float* logits, m.forward(&bt, 1));
        next = argmax(logits, m.n_vocab());
    }
    return Status::ok();
}

Status run_prefill(const Options& o, Report& r) {
    ASSIGN_OR_RETURN(ModelPtr m, load_model(o, o.prompts.back(), 1));
    const double weight_gb = double(m->decode_weight_bytes()) * 1e-9;
    for (size_t k = 0; k < o.prompts.size(); ++k) {
        const int p = o.prompts[k];
        PrefillRow row{p, 0, {}, {}};
        std::vector<double> tps;
        for (int rep = k == 0 ? -1 : 0; rep < o.reps; ++rep) {  // rep -1: warm-up, not counted
            ASSIGN_OR_RETURN(int seq, m->create_sequence());
            row.batches = 0;
            const int64_t t0 = now_ns();
            Result<int32_t> next = feed(*m, seq, 0, p, rep + 2, &row.batches);
            const double dt = seconds_since(t0);
            m->free_sequence(seq);
            RETURN_IF_ERROR(next.status());
            if (rep >= 0) tps.push_back(p / dt);
        }
        row.tokens_per_s = summarize(tps);
        // Every forward() reads all weights once: GB/s = weight bytes × batches per second.
        row.gb_per_s = row.tokens_per_s.scaled(weight_gb * row.batches / p);
        r.prefill.push_back(row);
    }
    return Status::ok();
}

// Fills one sequence to the largest depth once, then for each depth (largest first) truncates to it and times
// `gen` single-token steps per repetition.
Status run_decode(const Options& o, Report& r) {
    const int max_depth = o.depths.back();
    ASSIGN_OR_RETURN(ModelPtr m, load_model(o, max_depth + o.gen, 1));
    ASSIGN_OR_RETURN(int seq, m->create_sequence());
    if (max_depth > 0) RETURN_IF_ERROR(feed(*m, seq, 0, max_depth, 1).status());
    RETURN_IF_ERROR(decode(*m, seq, max_depth, std::min(o.gen, 4), 1));  // warm-up, not counted
    const double weights = double(m->decode_weight_bytes()), kv = double(m->kv_bytes_per_position());
    std::vector<DecodeRow> rows;
    for (auto it = o.depths.rbegin(); it != o.depths.rend(); ++it) {
        const int d = *it;
        std::vector<double> tps;
        for (int rep = 0; rep < o.reps; ++rep) {
            m->truncate_sequence(seq, d);
            const int64_t t0 = now_ns();
            RETURN_IF_ERROR(decode(*m, seq, d, o.gen, token_at(d, rep, m->n_vocab())));
            tps.push_back(o.gen / seconds_since(t0));
        }
        m->truncate_sequence(seq, d);
        DecodeRow row;
        row.depth = d;
        // The weights once plus the K and V of every cached position, at the run's mean position.
        row.bytes_per_token = weights + kv * (d + 0.5 * o.gen);
        row.tokens_per_s = summarize(tps);
        row.gb_per_s = row.tokens_per_s.scaled(row.bytes_per_token * 1e-9);
        rows.insert(rows.begin(), row);
    }
    r.decode = rows;
    return Status::ok();
}

// One load: the fraction of the file cached before it, Model::load's time, and load plus one decode step.
Status time_load(const Options& o, int n_ctx, const MappedFile& probe, std::vector<double>* resident,
                 std::vector<double>* load_s, std::vector<double>* first_s) {
    resident->push_back(double(probe.resident_bytes()) / double(probe.size()));
    const int64_t t0 = now_ns();
    ASSIGN_OR_RETURN(ModelPtr m, load_model(o, n_ctx, 1));
    load_s->push_back(seconds_since(t0));
    ASSIGN_OR_RETURN(int seq, m->create_sequence());
    RETURN_IF_ERROR(decode(*m, seq, 0, 1, 1));
    first_s->push_back(seconds_since(t0));
    return Status::ok();
}

// Cold: drop the file's clean, unmapped pages from the page cache (posix_fadvise DONTNEED; pages another
// process maps stay), then load. Warm: load again right after. mincore says how much was really evicted.
Status run_load(const Options& o, Report& r) {
    ASSIGN_OR_RETURN(MappedFile probe, MappedFile::open(o.path));  // never touched: residency only
    const int fd = ::open(o.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return io_error("cannot open %s", o.path.c_str());
    ::fdatasync(fd);  // a file written just now has dirty pages, which DONTNEED keeps
    std::vector<double> res, load_s, first_s;
    Status st;
    for (int rep = 0; rep < o.reps && st.is_ok(); ++rep) {
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        st = time_load(o, r.load_n_ctx, probe, &res, &load_s, &first_s);
    }
    ::close(fd);
    RETURN_IF_ERROR(st);
    r.cold = {summarize(load_s), summarize(first_s), summarize(res)};
    res.clear(), load_s.clear(), first_s.clear();
    for (int rep = 0; rep < o.reps; ++rep) RETURN_IF_ERROR(time_load(o, r.load_n_ctx, probe, &res, &load_s, &first_s));
    r.warm = {summarize(load_s), summarize(first_s), summarize(res)};
    r.has_load = true;
    if (r.cold.resident_before.max > 0.05)
        r.notes.push_back("cold loads found up to " + std::to_string(int(100 * r.cold.resident_before.max)) +
                          " % of the file still cached (pages mapped elsewhere are not evicted)");
    if (::access(o.path.c_str(), W_OK) != 0)
        r.notes.push_back("the file is not writable: mincore may report only pages this process maps");
    return Status::ok();
}

int64_t anon_now() {
    Result<ProcessMemory> pm = read_process_memory();
    return pm.is_ok() ? pm->rss_anon : 0;
}

// RssAnon that loading at `n_ctx` adds (the model is unloaded again).
Result<int64_t> anon_of_load(const Options& o, int n_ctx) {
    const int64_t base = anon_now();
    ASSIGN_OR_RETURN(ModelPtr m, load_model(o, n_ctx, 1));
    return anon_now() - base;
}

Status run_memory(const Options& o, Report& r) {
    MemoryReport& mr = r.memory;
    mr.n_ctx = r.load_n_ctx;
    mr.file_bytes = r.file_bytes;
    {
        Ledger ledger;
        ASSIGN_OR_RETURN(ProcessMemory base, read_process_memory());
        ASSIGN_OR_RETURN(ModelPtr m, load_model(o, mr.n_ctx, 1, &ledger));
        ASSIGN_OR_RETURN(ProcessMemory loaded, read_process_memory());
        ASSIGN_OR_RETURN(int seq, m->create_sequence());
        const int n_prompt = std::min(32, mr.n_ctx - 9);
        ASSIGN_OR_RETURN(int32_t next, feed(*m, seq, 0, n_prompt, 1));
        RETURN_IF_ERROR(decode(*m, seq, n_prompt, 8, next));
        ASSIGN_OR_RETURN(ProcessMemory warm, read_process_memory());
        mr.anon_after_load = loaded.rss_anon - base.rss_anon;
        mr.file_after_load = loaded.rss_file - base.rss_file;
        mr.anon_after_warmup = warm.rss_anon - base.rss_anon;
        mr.file_after_warmup = warm.rss_file - base.rss_file;
        MappedFile* map = const_cast<GgufFile&>(m->gguf()).mapping();  // mincore only reads state
        mr.weights_resident = map ? int64_t(map->resident_bytes()) : 0;
        mr.ledger_weights = ledger.get("bench", MemoryKind::weights_mapped);
        mr.ledger_kv = ledger.get("bench", MemoryKind::kv);
        mr.ledger_scratch = ledger.get("bench", MemoryKind::scratch);
        mr.kv_per_1k_computed = m->kv_bytes_per_position() * 1000;
    }
    // KV per 1,000 tokens of context: the planned pool and the measured RssAnon at two context sizes.
    mr.ctx_large = std::max(std::min(r.n_ctx_train, 4096), 2);
    mr.ctx_small = std::max(1, std::min(256, mr.ctx_large / 4));
    ModelOptions mo;
    mo.n_threads = o.threads;
    mo.n_ctx = mr.ctx_small;
    ASSIGN_OR_RETURN(MemoryPlan small, plan(o.path, mo));
    mo.n_ctx = mr.ctx_large;
    ASSIGN_OR_RETURN(MemoryPlan large, plan(o.path, mo));
    const double per_1k = 1000.0 / double(mr.ctx_large - mr.ctx_small);
    mr.kv_per_1k_plan = double(large.kv - small.kv) * per_1k;
    mr.anon_per_1k_plan = double(large.anonymous() - small.anonymous()) * per_1k;
    ASSIGN_OR_RETURN(int64_t anon_small, anon_of_load(o, mr.ctx_small));
    ASSIGN_OR_RETURN(int64_t anon_large, anon_of_load(o, mr.ctx_large));
    mr.anon_per_1k_measured = double(anon_large - anon_small) * per_1k;
    r.has_memory = true;
    return Status::ok();
}

// No text: the parallel streams only need tokens, and never end early.
class TokenOnlyCodec final : public TextCodec {
  public:
    Result<std::vector<int32_t>> encode(std::string_view, bool, bool) const override {
        return unsupported("bench codec has no text");
    }
    void append_piece(int32_t, std::string&) const override {}
    bool is_eog(int32_t) const override { return false; }
};

// N streams through the Engine (continuous batching, as the server runs them): each a short prompt and
// `gen` greedy tokens; aggregate tokens/s over the wall time of the whole round.
Status run_parallel(const Options& o, Report& r) {
    const int max_n = o.parallel.back();
    ASSIGN_OR_RETURN(ModelPtr m, load_model(o, o.parallel_prompt + o.gen + 2, max_n));
    const int n_vocab = m->n_vocab();
    Engine engine(model_backend(std::move(m)), std::make_shared<TokenOnlyCodec>());
    auto round = [&](int n, int rep, std::vector<GenerateResult>& results) -> Status {
        std::vector<Status> st(static_cast<size_t>(n));
        results.assign(size_t(n), {});
        std::vector<std::thread> threads;
        for (int s = 0; s < n; ++s) {
            threads.emplace_back([&, s] {
                GenerateRequest req;
                for (int i = 0; i < o.parallel_prompt; ++i) req.prompt.push_back(token_at(i, s + 8 * rep, n_vocab));
                req.sampling.temperature = 0;
                req.sampling.repeat_penalty = 1;
                req.num_predict = o.gen;
                Result<GenerateResult> res = engine.generate(req, [](std::string_view) { return true; });
                if (res.is_ok()) results[size_t(s)] = *res;
                st[size_t(s)] = res.status();
            });
        }
        for (std::thread& t : threads) t.join();
        for (const Status& s : st) RETURN_IF_ERROR(s);
        return Status::ok();
    };
    std::vector<GenerateResult> results;
    RETURN_IF_ERROR(round(1, 0, results));  // warm-up, not counted
    for (int n : o.parallel) {
        std::vector<double> total, per_stream;
        for (int rep = 0; rep < o.reps; ++rep) {
            const int64_t t0 = now_ns();
            RETURN_IF_ERROR(round(n, rep + 1, results));
            const double dt = seconds_since(t0);
            int64_t generated = 0;
            for (const GenerateResult& g : results) {
                generated += g.eval_count;
                if (g.eval_ns > 0) per_stream.push_back(g.eval_count / (double(g.eval_ns) * 1e-9));
            }
            total.push_back(double(generated) / dt);
        }
        ParallelRow row;
        row.streams = n;
        row.tokens_per_s = summarize(total);
        row.per_stream_tokens_per_s = summarize(per_stream);
        r.parallel.push_back(row);
    }
    for (ParallelRow& row : r.parallel)
        row.speedup =
            r.parallel[0].tokens_per_s.median > 0 ? row.tokens_per_s.median / r.parallel[0].tokens_per_s.median : 0;
    return Status::ok();
}

// Clamps the lengths to `limit` (saying so in `notes` unless null), sorted and without duplicates.
std::vector<int> clamp_lengths(const std::vector<int>& v, int limit, const char* what, int n_ctx_train,
                               std::vector<std::string>* notes) {
    std::vector<int> out;
    for (int x : v) {
        if (x > limit && notes)
            notes->push_back(std::string(what) + " " + std::to_string(x) + " clamped to " + std::to_string(limit) +
                             " (n_ctx_train " + std::to_string(n_ctx_train) + ")");
        out.push_back(std::min(x, limit));
    }
    return sorted_unique(out);
}

}  // namespace

// bench_grammar.cpp: the constrained-decoding section (--only grammar).
Status run_grammar(const Options& o, Report& r);

bool run(const Options& opt, Report& r, std::string* error) {
    auto fail = [&](const Status& st) {
        *error = st.to_string();
        return false;
    };
    Options o = opt;
    {
        Result<std::unique_ptr<GgufFile>> g = GgufFile::open(o.path);
        if (!g.is_ok()) return fail(g.status());
        Result<HParams> hp = read_hparams(**g);
        if (!hp.is_ok()) return fail(hp.status());
        r.arch = hp->arch, r.n_layer = hp->n_layer, r.n_embd = hp->n_embd, r.n_vocab = hp->n_vocab;
        r.n_ctx_train = hp->n_ctx_train;
        r.file_bytes = int64_t((*g)->size());
    }
    r.label = o.label, r.path = o.path, r.reps = o.reps, r.gen = o.gen, r.parallel_prompt = o.parallel_prompt;
    r.isa = isa_name(active_isa());
    const int ctx = r.n_ctx_train;
    if (o.gen + 1 > ctx) o.gen = std::max(1, ctx / 2), r.notes.push_back("--gen clamped to half the context");
    // Only the clamps of sections that run are worth a note.
    o.prompts = clamp_lengths(o.prompts, ctx, "prompt", ctx, o.sections & section_prefill ? &r.notes : nullptr);
    o.depths = clamp_lengths(o.depths, ctx - o.gen, "depth", ctx, o.sections & section_decode ? &r.notes : nullptr);
    if (o.parallel_prompt + o.gen + 2 > ctx) o.parallel_prompt = std::max(1, ctx - o.gen - 2);
    o.parallel = sorted_unique(o.parallel);
    r.load_n_ctx = std::min(ctx, 2048);
    {
        // Figures every section shares: weights per token, KV per position, threads, measured bandwidth.
        Result<ModelPtr> m = load_model(o, std::min(ctx, 64), 1);
        if (!m.is_ok()) return fail(m.status());
        r.weight_bytes_per_token = (*m)->decode_weight_bytes();
        r.kv_bytes_per_position = (*m)->kv_bytes_per_position();
        r.threads = (*m)->thread_pool().n_threads();
        const MemoryPlan& mp = (*m)->memory_plan();
        Device* dev = mp.device >= 0 ? device(mp.device) : nullptr;
        if (o.num_gpu != 0 && !dev) r.notes.push_back("no device: " + device_status());
        if (dev) {
            r.device = string_printf("%s:%d %s", dev->type(), dev->index(), dev->name().c_str());
            r.n_gpu_layers = mp.n_gpu_layers;
        }
        if (dev && (o.sections & (section_prefill | section_decode))) {
            // The weights are read from device memory: its device-to-device copy rate (read + write) in the same
            // run is the bound (1 GiB, or half of what is free, best of 5).
            const int64_t bytes = std::min<int64_t>(int64_t(1) << 30, dev->memory_info().free / 2);
            Result<double> bw = dev->measure_copy_bandwidth_gbs(size_t(std::max<int64_t>(bytes, 1 << 20)), 5);
            if (bw.is_ok())
                r.bandwidth_gbs = *bw;
            else
                r.notes.push_back("no device bandwidth: " + bw.status().message());
            if (mp.n_gpu_layers <= mp.n_layer)
                r.notes.push_back(string_printf("%d of %d layers on the device: the rest read from host memory",
                                                mp.n_gpu_layers, mp.n_layer));
        } else if (o.sections & (section_prefill | section_decode)) {
            r.bandwidth_bytes = host_bandwidth_bytes(r.weight_bytes_per_token);
            r.bandwidth_gbs = measure_read_bandwidth_gbs((*m)->thread_pool(), size_t(r.bandwidth_bytes));
        }
    }
    const int64_t cache = last_level_cache_bytes();
    if (r.weight_bytes_per_token <= cache && (o.sections & (section_prefill | section_decode)))
        r.notes.push_back("the weights read per token (" + format_bytes(r.weight_bytes_per_token) +
                          ") fit in the CPU caches (" + format_bytes(cache) +
                          "), so shares of the memory bandwidth can pass 100 %");
    // Memory first (cleanest baseline), then load (needs nothing of the file mapped), then speed.
    struct Step {
        unsigned bit;
        Status (*fn)(const Options&, Report&);
    };
    const Step steps[] = {{section_memory, run_memory},     {section_load, run_load},
                          {section_prefill, run_prefill},   {section_decode, run_decode},
                          {section_parallel, run_parallel}, {section_grammar, run_grammar}};
    for (const Step& s : steps) {
        if (!(o.sections & s.bit)) continue;
        Status st = s.fn(o, r);
        if (!st.is_ok()) return fail(st);
    }
    if (r.device.empty() && r.bandwidth_gbs > 0 && (o.sections & (section_prefill | section_decode))) {
        // Host reads again after the runs, on a pool of the same size, and the higher figure stands: on a shared
        // machine one measurement taken while a neighbour streams memory can fall below what the runs then got,
        // and a share of bandwidth above 100 % would mean nothing.
        ThreadPool pool(r.threads);
        r.bandwidth_gbs = std::max(r.bandwidth_gbs, measure_read_bandwidth_gbs(pool, size_t(r.bandwidth_bytes)));
    }
    return true;
}

}  // namespace berth::cli::bench
