// berth bench: engine benchmarks of one model (prefill, decode at context depths, load cold/warm, memory,
// parallel streams, constrained decoding). Options and statistics (bench_stats.cpp, unit-tested), the
// measurements (bench_engine.cpp, bench_grammar.cpp) and the table / JSON output (bench_report.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace berth::cli::bench {

// Median, min and max of repeated measurements (zeros when empty).
struct Summary {
    double median = 0, min = 0, max = 0;
    int n = 0;
    Summary scaled(double k) const { return {median * k, min * k, max * k, n}; }
};
Summary summarize(const std::vector<double>& v);

// "32,128,512" → {32, 128, 512}. Empty items, non-numbers and values outside [min_value, 1e9] are errors
// (`error` receives the reason and the result is empty).
std::vector<int> parse_int_list(const std::string& s, int min_value, std::string* error);

// Sorted, without duplicates.
std::vector<int> sorted_unique(std::vector<int> v);

enum Section : unsigned {
    section_prefill = 1,
    section_decode = 2,
    section_load = 4,
    section_memory = 8,
    section_parallel = 16,
    section_all = 31,     // every section but grammar
    section_grammar = 32  // constrained decoding (--only grammar)
};
// "prefill,decode" → the section bits; 0 with `error` set on an unknown name.
unsigned parse_sections(const std::string& s, std::string* error);

struct Options {
    std::string path;           // the GGUF file measured
    std::string label;          // what the report calls it (the path, or "synthetic SHAPE:TYPE")
    std::vector<int> prompts;   // prefill lengths
    std::vector<int> depths;    // decode context depths
    std::vector<int> parallel;  // stream counts
    int gen = 32;               // decode tokens timed per repetition (and per stream)
    int parallel_prompt = 16;   // prompt tokens of every parallel stream
    int reps = 3;               // counted repetitions (a warm-up run before each section is not counted)
    int threads = 0;            // 0 = physical cores
    unsigned sections = section_all;
    // Layers on the device BERTH_DEVICE opens (Ollama's num_gpu): 0 the CPU, -1 as many as fit, N the first N.
    int num_gpu = 0;
    std::string grammar_vocab;  // grammar section: a vocabulary GGUF whose tokenizer replaces the model's
    int grammar_tokens = 96;    // grammar section: decode tokens per repetition
    int mask_thread = -1;       // grammar section: EngineLimits::mask_thread (-1 auto, 0 off, 1 on)
};

struct PrefillRow {
    int tokens = 0;
    int batches = 0;  // forward() calls per repetition
    Summary tokens_per_s, gb_per_s;
};

struct DecodeRow {
    int depth = 0;
    double bytes_per_token = 0;  // weights + KV read at the mean position of the run
    Summary tokens_per_s, gb_per_s;
};

struct LoadRow {
    Summary load_s;           // Model::load until it returns (maps, reserves KV and scratch, starts threads)
    Summary first_token_s;    // load plus one forward() of one token: every weight page read once
    Summary resident_before;  // fraction of the file in the page cache before loading (after eviction if cold)
};

struct MemoryReport {
    int n_ctx = 0;
    int64_t file_bytes = 0;
    int64_t anon_after_load = 0, file_after_load = 0;      // RssAnon / RssFile deltas over the baseline
    int64_t anon_after_warmup = 0, file_after_warmup = 0;  // after one prefill and decode
    int64_t weights_resident = 0;                          // bytes of the mapping resident (mincore)
    int64_t ledger_weights = 0, ledger_kv = 0, ledger_scratch = 0;
    int64_t kv_per_1k_computed = 0;  // kv_bytes_per_position × 1000
    int ctx_small = 0, ctx_large = 0;
    double kv_per_1k_plan = 0;        // planned KV pool difference between the two contexts, per 1,000
    double anon_per_1k_plan = 0;      // planned KV + scratch difference (scratch grows with n_ctx too)
    double anon_per_1k_measured = 0;  // RssAnon difference between loads at the two contexts, per 1,000
};

struct ParallelRow {
    int streams = 0;
    Summary tokens_per_s;             // all streams' generated tokens over the wall time
    Summary per_stream_tokens_per_s;  // each stream's decode rate (eval_count / eval_ns), over streams and reps
    double speedup = 0;               // median over the median at one stream
};

struct GrammarSchemaRow {
    std::string name;
    Summary compile_ms;
    int states = 0;
    int64_t bytes = 0;
};

// Constrained decoding through the Engine: unconstrained and schema-constrained decode on the same model,
// the grammar time each generated token really cost (sample, check that token; full mask and resample only
// when it is refused), and the time of full masks replayed over the same token sequences.
struct GrammarReport {
    std::string vocab_label;
    int n_vocab = 0, trie_nodes = 0;
    int64_t vocab_bytes = 0;
    double vocab_build_ms = 0;
    std::vector<GrammarSchemaRow> schemas;
    std::string decode_schema;
    int tokens = 0;  // generated per repetition and mode
    Summary free_tps, constrained_tps;
    double ratio = 0;  // median constrained / median unconstrained
    int64_t constrained_tokens = 0, masked_tokens = 0, documents = 0;
    double spent_median_us = 0, spent_p99_us = 0, spent_mean_us = 0, spent_max_us = 0;
    int replay_steps = 0;
    double full_cached_median_us = 0, full_cached_p99_us = 0;  // full mask, mask cache warm
    double full_walk_median_us = 0, full_walk_p99_us = 0;      // full mask by trie walk, no cache
    int64_t cache_hits = 0, cache_misses = 0, cache_bytes = 0;
    // The mask thread (full masks computed while the forward pass runs): whether it ran, and its time per
    // constrained token (off the step's critical path; the wait for it after the pass is in spent_*).
    bool mask_thread = false;
    double beside_mean_us = 0;
};

struct Report {
    std::string label, path, arch, isa;
    int n_layer = 0, n_embd = 0, n_vocab = 0, n_ctx_train = 0, threads = 0, reps = 0, gen = 0;
    int parallel_prompt = 0;
    int64_t file_bytes = 0, weight_bytes_per_token = 0, kv_bytes_per_position = 0;
    double bandwidth_gbs = 0;        // of the memory the weights are read from: host reads, or the device's copy rate
    int64_t bandwidth_bytes = 0;     // the host reads' buffer (host_bandwidth_bytes in bench_engine.cpp)
    std::string device;              // "cuda:0 NVIDIA H100 ..." when layers are on a device
    int n_gpu_layers = 0;            // as MemoryPlan (n_layer + 1: every layer and the output head)
    std::vector<std::string> notes;  // clamped lengths and other caveats
    std::vector<PrefillRow> prefill;
    std::vector<DecodeRow> decode;
    bool has_load = false, has_memory = false;
    int load_n_ctx = 0;
    LoadRow cold, warm;
    MemoryReport memory;
    std::vector<ParallelRow> parallel;
    bool has_grammar = false;
    GrammarReport grammar;
};

// Runs the sections `o` asks for; an environmental failure returns a message in `error` and false.
bool run(const Options& o, Report& r, std::string* error);

void print_table(const Report& r);
std::string to_json(const Report& r);

}  // namespace berth::cli::bench
