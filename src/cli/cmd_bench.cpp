// berth bench: prefill and decode speed of one model, with decode expressed as GB/s and as a fraction of the
// machine's measured read bandwidth (medians over --reps).
#include <algorithm>
#include <cstdio>
#include <vector>

#include "cli/command.h"
#include "model/model.h"

namespace berth::cli {
namespace {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n == 0 ? 0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

int32_t argmax(const float* x, int n) { return int32_t(std::max_element(x, x + n) - x); }

int cmd_bench(const std::vector<std::string>& argv) {
    Args a(argv, {"json"});
    const int n_threads = int(a.get_int("threads", 0));
    const int n_prompt = int(a.get_int("prompt", 128));
    const int n_gen = int(a.get_int("gen", 64));
    const int reps = int(a.get_int("reps", 3));
    const bool json = a.has("json");
    auto unknown = a.unknown({"threads", "prompt", "gen", "reps", "json"});
    if (!unknown.empty()) return fail("unknown option --%s", unknown[0].c_str());
    if (a.positional().size() != 1) return fail("expected one model path");
    if (n_prompt < 1 || n_gen < 1 || reps < 1) return fail("--prompt, --gen and --reps must be at least 1");
    const std::string path = a.positional()[0];

    ModelOptions opt;
    opt.n_ctx = n_prompt + n_gen + 1;
    opt.n_batch = n_prompt;
    opt.n_logits = 1;
    opt.n_threads = n_threads;
    int64_t t_load = now_ns();
    auto loaded = Model::load(path, opt);
    if (!loaded.is_ok()) return fail("%s", loaded.status().to_string().c_str());
    Model& m = **loaded;
    const double load_s = double(now_ns() - t_load) * 1e-9;
    const int n_vocab = m.n_vocab();

    std::vector<BatchToken> prompt(static_cast<size_t>(n_prompt));
    std::vector<double> prefill_tps, decode_tps;
    // Rep 0 is a warm-up (faults the weights in, settles the thread pool) and is not counted.
    for (int rep = 0; rep <= reps; ++rep) {
        auto seq = m.create_sequence();
        if (!seq.is_ok()) return fail("%s", seq.status().to_string().c_str());
        for (int i = 0; i < n_prompt; ++i)
            prompt[size_t(i)] = {int32_t(1 + (i * 7919 + rep) % (n_vocab - 1)), *seq, i, i == n_prompt - 1};
        int64_t t0 = now_ns();
        auto out = m.forward(prompt.data(), n_prompt);
        if (!out.is_ok()) return fail("%s", out.status().to_string().c_str());
        int64_t t1 = now_ns();
        int32_t next = argmax(*out, n_vocab);
        for (int i = 0; i < n_gen; ++i) {
            BatchToken bt{next, *seq, n_prompt + i, true};
            auto o = m.forward(&bt, 1);
            if (!o.is_ok()) return fail("%s", o.status().to_string().c_str());
            next = argmax(*o, n_vocab);
        }
        int64_t t2 = now_ns();
        m.free_sequence(*seq);
        if (rep == 0) continue;
        prefill_tps.push_back(n_prompt / (double(t1 - t0) * 1e-9));
        decode_tps.push_back(n_gen / (double(t2 - t1) * 1e-9));
    }
    const double pp = median(prefill_tps), tg = median(decode_tps);
    // Bytes per decode token: the weights once plus the KV cache up to the mean position of the run.
    const double mean_pos = n_prompt + 0.5 * n_gen;
    const double bytes_per_token = double(m.decode_weight_bytes()) + double(m.kv_bytes_per_position()) * mean_pos;
    const double decode_gbs = bytes_per_token * tg * 1e-9;
    const double bw = measure_read_bandwidth_gbs(m.thread_pool());
    const double fraction = bw > 0 ? decode_gbs / bw : 0;
    const HParams& hp = m.hparams();
    if (json) {
        printf(
            "{\"model\": \"%s\", \"arch\": \"%s\", \"threads\": %d, \"isa\": \"%s\", \"prompt_tokens\": %d, "
            "\"gen_tokens\": %d, \"reps\": %d, \"load_s\": %.3f, \"weight_bytes_per_token\": %lld, "
            "\"prefill_tokens_per_s\": %.3f, \"decode_tokens_per_s\": %.3f, \"decode_gb_per_s\": %.3f, "
            "\"bandwidth_gb_per_s\": %.3f, \"decode_bandwidth_fraction\": %.4f}\n",
            path.c_str(), hp.arch.c_str(), m.thread_pool().n_threads(), isa_name(active_isa()), n_prompt, n_gen, reps,
            load_s, (long long)m.decode_weight_bytes(), pp, tg, decode_gbs, bw, fraction);
    } else {
        printf("model      %s (%s, %d layers, n_embd %d, n_vocab %d)\n", path.c_str(), hp.arch.c_str(), hp.n_layer,
               hp.n_embd, hp.n_vocab);
        printf("threads    %d (%s)   load %.2f s   weights read per token %s\n", m.thread_pool().n_threads(),
               isa_name(active_isa()), load_s, format_bytes(m.decode_weight_bytes()).c_str());
        printf("%-10s %8s %12s %10s %12s\n", "phase", "tokens", "tokens/s", "GB/s", "% of bw");
        printf("%-10s %8d %12.2f %10s %12s\n", "prefill", n_prompt, pp, "-", "-");
        printf("%-10s %8d %12.2f %10.2f %11.1f%%\n", "decode", n_gen, tg, decode_gbs, 100 * fraction);
        printf("measured read bandwidth %.2f GB/s; medians over %d reps\n", bw, reps);
    }
    return 0;
}

}  // namespace

BERTH_COMMAND(bench, "bench", "berth bench MODEL.gguf [--threads N] [--prompt P] [--gen G] [--reps R] [--json]",
              "measure prefill and decode speed and the share of memory bandwidth decode reaches", cmd_bench);

}  // namespace berth::cli
