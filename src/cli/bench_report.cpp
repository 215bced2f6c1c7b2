// berth bench: the human-readable table and the --json document (the README's table is made from the JSON).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/base.h"
#include "cli/bench.h"

namespace berth::cli::bench {
namespace {

// "212.0 [208.1-215.3]": median [min-max]; small values get more decimals.
std::string cell(const Summary& s, int precision = -1) {
    if (precision < 0) precision = s.max < 1 ? 3 : s.max < 10 ? 2 : 1;
    char buf[96];
    snprintf(buf, sizeof buf, "%.*f [%.*f-%.*f]", precision, s.median, precision, s.min, precision, s.max);
    return buf;
}

std::string percent_of(double gbs, double bandwidth) {
    if (bandwidth <= 0) return "-";
    char buf[32];
    snprintf(buf, sizeof buf, "%.0f %%", 100 * gbs / bandwidth);
    return buf;
}

std::string mib(double bytes) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.1f MiB", bytes / (1 << 20));
    return buf;
}

nlohmann::json summary_json(const Summary& s) {
    return {{"median", s.median}, {"min", s.min}, {"max", s.max}, {"n", s.n}};
}

double fraction(double gbs, double bandwidth) { return bandwidth > 0 ? gbs / bandwidth : 0; }

}  // namespace

void print_table(const Report& r) {
    printf("model      %s (%s, %d layers, n_embd %d, n_vocab %d, n_ctx_train %d, file %s)\n", r.label.c_str(),
           r.arch.c_str(), r.n_layer, r.n_embd, r.n_vocab, r.n_ctx_train, format_bytes(r.file_bytes).c_str());
    printf("threads    %d (%s); figures are median [min-max] of %d repetitions\n", r.threads, r.isa.c_str(), r.reps);
    printf("per token  weights read %s, KV %s per cached position\n", format_bytes(r.weight_bytes_per_token).c_str(),
           format_bytes(r.kv_bytes_per_position).c_str());
    if (!r.device.empty())
        printf("device     %s, %d of %d layers%s\n", r.device.c_str(), std::min(r.n_gpu_layers, r.n_layer), r.n_layer,
               r.n_gpu_layers > r.n_layer ? " and the output head" : "");
    if (r.bandwidth_gbs > 0 && r.device.empty())
        printf("bandwidth  %.1f GB/s read over %s, the better of measurements before and after the runs\n",
               r.bandwidth_gbs, format_bytes(r.bandwidth_bytes).c_str());
    else if (r.bandwidth_gbs > 0)
        printf("bandwidth  %.1f GB/s device-to-device copy (read + write), measured just now\n", r.bandwidth_gbs);
    if (!r.prefill.empty()) {
        printf("\nprefill (GB/s = weight bytes x forward batches per second)\n");
        printf("  %7s %8s  %-28s %-24s %8s\n", "tokens", "batches", "tokens/s", "GB/s", "% of bw");
        for (const PrefillRow& p : r.prefill)
            printf("  %7d %8d  %-28s %-24s %8s\n", p.tokens, p.batches, cell(p.tokens_per_s).c_str(),
                   cell(p.gb_per_s).c_str(), percent_of(p.gb_per_s.median, r.bandwidth_gbs).c_str());
    }
    if (!r.decode.empty()) {
        printf("\ndecode (%d tokens after filling the KV cache to the depth; bytes/token = weights + KV read)\n",
               r.gen);
        printf("  %7s %12s  %-28s %-24s %8s\n", "depth", "bytes/token", "tokens/s", "GB/s", "% of bw");
        for (const DecodeRow& d : r.decode)
            printf("  %7d %12s  %-28s %-24s %8s\n", d.depth, format_bytes(int64_t(d.bytes_per_token)).c_str(),
                   cell(d.tokens_per_s).c_str(), cell(d.gb_per_s).c_str(),
                   percent_of(d.gb_per_s.median, r.bandwidth_gbs).c_str());
    }
    if (r.has_load) {
        printf("\nload (n_ctx %d; cold = after posix_fadvise(DONTNEED) of the file; seconds)\n", r.load_n_ctx);
        printf("  %-6s %-24s %-26s %s\n", "", "Model::load", "load + first token", "file cached before");
        for (auto [name, l] : {std::pair{"cold", &r.cold}, std::pair{"warm", &r.warm}}) {
            char cached[32];
            snprintf(cached, sizeof cached, "%.0f-%.0f %%", 100 * l->resident_before.min, 100 * l->resident_before.max);
            printf("  %-6s %-24s %-26s %s\n", name, cell(l->load_s, 3).c_str(), cell(l->first_token_s, 3).c_str(),
                   cached);
        }
    }
    if (r.has_memory) {
        const MemoryReport& m = r.memory;
        printf("\nmemory (one model at n_ctx %d, deltas over the process before loading)\n", m.n_ctx);
        printf("  after load     RssAnon +%s, RssFile +%s\n", mib(double(m.anon_after_load)).c_str(),
               mib(double(m.file_after_load)).c_str());
        printf("  after warm-up  RssAnon +%s, RssFile +%s (weights resident %s of %s)\n",
               mib(double(m.anon_after_warmup)).c_str(), mib(double(m.file_after_warmup)).c_str(),
               mib(double(m.weights_resident)).c_str(), mib(double(m.file_bytes)).c_str());
        printf("  ledger         weights %s (mapped), kv %s, scratch %s\n", mib(double(m.ledger_weights)).c_str(),
               mib(double(m.ledger_kv)).c_str(), mib(double(m.ledger_scratch)).c_str());
        printf(
            "  per 1,000 tokens of context (n_ctx %d vs %d): KV %s computed, %s planned; KV + scratch %s planned, "
            "RssAnon %s measured\n",
            m.ctx_small, m.ctx_large, mib(double(m.kv_per_1k_computed)).c_str(), mib(m.kv_per_1k_plan).c_str(),
            mib(m.anon_per_1k_plan).c_str(), mib(m.anon_per_1k_measured).c_str());
    }
    if (!r.parallel.empty()) {
        printf(
            "\nparallel streams (Engine, continuous batching; each stream %d prompt + %d generated tokens;\n"
            "total = all generated tokens over the wall time)\n",
            r.parallel_prompt, r.gen);
        printf("  %7s  %-28s %8s  %s\n", "streams", "total tokens/s", "speed-up", "per stream decode tokens/s");
        for (const ParallelRow& p : r.parallel)
            printf("  %7d  %-28s %7.2fx  %s\n", p.streams, cell(p.tokens_per_s).c_str(), p.speedup,
                   cell(p.per_stream_tokens_per_s).c_str());
    }
    if (r.has_grammar) {
        const GrammarReport& g = r.grammar;
        printf("\nconstrained decoding (vocabulary: %s, %d tokens, trie %d nodes, %s, built in %.1f ms)\n",
               g.vocab_label.c_str(), g.n_vocab, g.trie_nodes, format_bytes(g.vocab_bytes).c_str(), g.vocab_build_ms);
        printf("  %-20s %-26s %7s %10s\n", "schema", "compile ms", "states", "bytes");
        for (const GrammarSchemaRow& s : g.schemas)
            printf("  %-20s %-26s %7d %10s\n", s.name.c_str(), cell(s.compile_ms, 2).c_str(), s.states,
                   format_bytes(s.bytes).c_str());
        printf("  decode, %d tokens per repetition (Engine, schema %s):\n", g.tokens, g.decode_schema.c_str());
        printf("    unconstrained  %s tokens/s\n", cell(g.free_tps).c_str());
        printf("    constrained    %s tokens/s (%.1f %% of unconstrained; %lld documents)\n",
               cell(g.constrained_tps).c_str(), 100 * g.ratio, (long long)g.documents);
        printf(
            "  grammar time spent per constrained token (check the sampled token; full mask + resample when "
            "refused, on %.1f %% of %lld tokens):\n",
            g.constrained_tokens ? 100.0 * double(g.masked_tokens) / double(g.constrained_tokens) : 0.0,
            (long long)g.constrained_tokens);
        printf("    median %.2f us, p99 %.2f us, mean %.2f us, max %.2f us\n", g.spent_median_us, g.spent_p99_us,
               g.spent_mean_us, g.spent_max_us);
        if (g.mask_thread)
            printf(
                "  mask thread on: full masks computed beside the forward pass, mean %.2f us per token (not in the "
                "time above but its wait)\n",
                g.beside_mean_us);
        else
            printf(
                "  mask thread off (--mask-thread on|off|auto; auto: on when a CPU is free beside the forward "
                "pass)\n");
        printf("  full mask at each of %d positions of those documents (replayed, one thread):\n", g.replay_steps);
        printf("    warm mask cache  median %.2f us, p99 %.2f us\n", g.full_cached_median_us, g.full_cached_p99_us);
        printf("    trie walk only   median %.2f us, p99 %.2f us\n", g.full_walk_median_us, g.full_walk_p99_us);
        printf("  engine mask cache: %lld hits, %lld misses, %s\n", (long long)g.cache_hits, (long long)g.cache_misses,
               format_bytes(g.cache_bytes).c_str());
    }
    for (const std::string& n : r.notes) printf("note: %s\n", n.c_str());
}

std::string to_json(const Report& r) {
    nlohmann::json j = {{"model", r.label},
                        {"path", r.path},
                        {"arch", r.arch},
                        {"n_layer", r.n_layer},
                        {"n_embd", r.n_embd},
                        {"n_vocab", r.n_vocab},
                        {"n_ctx_train", r.n_ctx_train},
                        {"file_bytes", r.file_bytes},
                        {"threads", r.threads},
                        {"isa", r.isa},
                        {"reps", r.reps},
                        {"gen_tokens", r.gen},
                        {"weight_bytes_per_token", r.weight_bytes_per_token},
                        {"kv_bytes_per_position", r.kv_bytes_per_position},
                        {"bandwidth_gb_per_s", r.bandwidth_gbs},
                        {"bandwidth_buffer_bytes", r.bandwidth_bytes},
                        {"device", r.device},
                        {"n_gpu_layers", r.n_gpu_layers},
                        {"notes", r.notes}};
    j["prefill"] = nlohmann::json::array();
    for (const PrefillRow& p : r.prefill)
        j["prefill"].push_back({{"tokens", p.tokens},
                                {"batches", p.batches},
                                {"tokens_per_s", summary_json(p.tokens_per_s)},
                                {"gb_per_s", summary_json(p.gb_per_s)},
                                {"bandwidth_fraction", fraction(p.gb_per_s.median, r.bandwidth_gbs)}});
    j["decode"] = nlohmann::json::array();
    for (const DecodeRow& d : r.decode)
        j["decode"].push_back({{"depth", d.depth},
                               {"bytes_per_token", d.bytes_per_token},
                               {"tokens_per_s", summary_json(d.tokens_per_s)},
                               {"gb_per_s", summary_json(d.gb_per_s)},
                               {"bandwidth_fraction", fraction(d.gb_per_s.median, r.bandwidth_gbs)}});
    if (r.has_load) {
        auto load_json = [](const LoadRow& l) {
            return nlohmann::json{{"load_s", summary_json(l.load_s)},
                                  {"first_token_s", summary_json(l.first_token_s)},
                                  {"cached_fraction_before", summary_json(l.resident_before)}};
        };
        j["load"] = {{"n_ctx", r.load_n_ctx}, {"cold", load_json(r.cold)}, {"warm", load_json(r.warm)}};
    }
    if (r.has_memory) {
        const MemoryReport& m = r.memory;
        j["memory"] = {
            {"n_ctx", m.n_ctx},
            {"rss_anon_after_load", m.anon_after_load},
            {"rss_file_after_load", m.file_after_load},
            {"rss_anon_after_warmup", m.anon_after_warmup},
            {"rss_file_after_warmup", m.file_after_warmup},
            {"weights_resident", m.weights_resident},
            {"ledger", {{"weights_mapped", m.ledger_weights}, {"kv", m.ledger_kv}, {"scratch", m.ledger_scratch}}},
            {"kv_per_1k_ctx_computed", m.kv_per_1k_computed},
            {"kv_per_1k_ctx_planned", m.kv_per_1k_plan},
            {"anon_per_1k_ctx_planned", m.anon_per_1k_plan},
            {"rss_anon_per_1k_ctx_measured", m.anon_per_1k_measured},
            {"ctx_small", m.ctx_small},
            {"ctx_large", m.ctx_large}};
    }
    j["parallel"] = nlohmann::json::array();
    for (const ParallelRow& p : r.parallel)
        j["parallel"].push_back({{"streams", p.streams},
                                 {"tokens_per_s", summary_json(p.tokens_per_s)},
                                 {"per_stream_tokens_per_s", summary_json(p.per_stream_tokens_per_s)},
                                 {"speedup", p.speedup}});
    j["parallel_prompt_tokens"] = r.parallel_prompt;
    if (r.has_grammar) {
        const GrammarReport& g = r.grammar;
        nlohmann::json schemas = nlohmann::json::array();
        for (const GrammarSchemaRow& s : g.schemas)
            schemas.push_back({{"name", s.name},
                               {"compile_ms", summary_json(s.compile_ms)},
                               {"states", s.states},
                               {"bytes", s.bytes}});
        j["grammar"] = {{"vocabulary", g.vocab_label},
                        {"n_vocab", g.n_vocab},
                        {"trie_nodes", g.trie_nodes},
                        {"vocabulary_bytes", g.vocab_bytes},
                        {"vocabulary_build_ms", g.vocab_build_ms},
                        {"schemas", schemas},
                        {"decode_schema", g.decode_schema},
                        {"tokens_per_repetition", g.tokens},
                        {"unconstrained_tokens_per_s", summary_json(g.free_tps)},
                        {"constrained_tokens_per_s", summary_json(g.constrained_tps)},
                        {"constrained_over_unconstrained", g.ratio},
                        {"documents", g.documents},
                        {"constrained_tokens", g.constrained_tokens},
                        {"full_masks", g.masked_tokens},
                        {"spent_us",
                         {{"median", g.spent_median_us},
                          {"p99", g.spent_p99_us},
                          {"mean", g.spent_mean_us},
                          {"max", g.spent_max_us}}},
                        {"mask_thread", g.mask_thread},
                        {"beside_mean_us", g.beside_mean_us},
                        {"replay_positions", g.replay_steps},
                        {"full_mask_cached_us", {{"median", g.full_cached_median_us}, {"p99", g.full_cached_p99_us}}},
                        {"full_mask_walk_us", {{"median", g.full_walk_median_us}, {"p99", g.full_walk_p99_us}}},
                        {"mask_cache", {{"hits", g.cache_hits}, {"misses", g.cache_misses}, {"bytes", g.cache_bytes}}}};
    }
    return j.dump(2);
}

}  // namespace berth::cli::bench
