// berth bench: engine benchmarks of a model file or of a synthetic model made on the fly: prefill at several
// prompt lengths, decode at several context depths (both also as GB/s and as a share of the read bandwidth
// measured here), load time cold and warm, resident memory, and parallel streams. See bench.h.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "cli/bench.h"
#include "cli/command.h"
#include "model/model.h"

namespace berth::cli {
namespace {

// "tinyllama" (TinyLlama-1.1B's shape) or "tiny" (a few MiB), then ":TYPE"; false on an unknown name.
bool synthetic_spec(const std::string& arg, SyntheticSpec& s, std::string* error) {
    const size_t colon = arg.find(':');
    const std::string shape = arg.substr(0, colon);
    s.type = colon == std::string::npos ? "q4_k_m" : arg.substr(colon + 1);
    if (shape == "tinyllama" || shape == "1.1b") {
        s.arch = "llama", s.n_embd = 2048, s.n_ff = 5632, s.n_layer = 22, s.n_head = 32, s.n_head_kv = 4;
        s.n_vocab = 32000, s.n_ctx = 2048;
    } else if (shape != "tiny") {
        *error = "unknown shape '" + shape + "' (tinyllama, tiny)";
        return false;
    }
    for (const std::string& t : synthetic_types())
        if (t == s.type) return true;
    *error = "unknown type '" + s.type + "'";
    return false;
}

// A file that is removed when this goes out of scope.
struct TempFile {
    std::string path;
    ~TempFile() {
        if (!path.empty()) ::unlink(path.c_str());
    }
};

int cmd_bench(const std::vector<std::string>& argv) {
    Args a(argv, {"json"});
    bench::Options o;
    std::string err;
    auto list = [&](const char* key, const char* def, int min_value) {
        std::vector<int> v = bench::parse_int_list(a.get_or(key, def), min_value, &err);
        if (!err.empty()) err = std::string("--") + key + ": " + err;
        return v;
    };
    o.prompts = list("prompts", "32,128,512", 1);
    if (err.empty()) o.depths = list("depths", "0,512,1536", 0);
    if (err.empty()) o.parallel = list("parallel", "1,2,4,8", 1);
    if (!err.empty()) return fail("%s", err.c_str());
    o.gen = int(a.get_int("gen", o.gen));
    o.reps = int(a.get_int("reps", o.reps));
    o.threads = int(a.get_int("threads", 0));
    o.parallel_prompt = int(a.get_int("parallel-prompt", o.parallel_prompt));
    o.num_gpu = int(a.get_int("num-gpu", o.num_gpu));
    if (a.has("only") && (o.sections = bench::parse_sections(a.get_or("only", ""), &err)) == 0)
        return fail("--only: %s", err.c_str());
    o.grammar_vocab = a.get_or("grammar-vocab", "");
    o.grammar_tokens = int(a.get_int("grammar-tokens", o.grammar_tokens));
    const std::string mask_thread = a.get_or("mask-thread", "auto");
    if (mask_thread == "on" || mask_thread == "off")
        o.mask_thread = mask_thread == "on";
    else if (mask_thread != "auto")
        return fail("--mask-thread: expected on, off or auto, got \"%s\"", mask_thread.c_str());
    const bool json = a.has("json");
    const std::optional<std::string> synthetic = a.get("synthetic");
    auto unknown = a.unknown({"prompts", "depths", "parallel", "gen", "reps", "threads", "parallel-prompt", "only",
                              "json", "synthetic", "num-gpu", "grammar-vocab", "grammar-tokens", "mask-thread"});
    if (!unknown.empty()) return fail("unknown option --%s", unknown[0].c_str());
    if (o.gen < 1 || o.reps < 1 || o.parallel_prompt < 1 || o.grammar_tokens < 1)
        return fail("--gen, --reps, --parallel-prompt and --grammar-tokens must be ≥ 1");
    if (a.positional().size() != (synthetic ? 0u : 1u)) return fail("expected one model path or --synthetic SHAPE");

    TempFile temp;
    if (synthetic) {
        SyntheticSpec spec;
        spec.n_threads = o.threads;
        if (!synthetic_spec(*synthetic, spec, &err)) return fail("--synthetic: %s", err.c_str());
        if (!o.grammar_vocab.empty()) {
            // The synthetic model gets as many outputs as the grammar vocabulary has tokens.
            Result<std::unique_ptr<GgufFile>> vf = GgufFile::open(o.grammar_vocab);
            if (!vf.is_ok()) return fail("--grammar-vocab: %s", vf.status().to_string().c_str());
            const GgufValue* tokens = (*vf)->get_array("tokenizer.ggml.tokens");
            if (!tokens || tokens->count == 0)
                return fail("--grammar-vocab: %s has no tokenizer.ggml.tokens", o.grammar_vocab.c_str());
            spec.n_vocab = int(tokens->count);
        }
        const char* tmpdir = getenv("TMPDIR");
        std::string tmpl = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/berth-bench-XXXXXX.gguf";
        const int fd = mkstemps(tmpl.data(), 5);
        if (fd < 0) return fail("cannot create a temporary file in %s", tmpdir && *tmpdir ? tmpdir : "/tmp");
        ::close(fd);
        temp.path = tmpl;
        const int64_t t0 = now_ns();
        Status st = write_synthetic_model(spec, temp.path);
        if (!st.is_ok()) return fail("%s", st.to_string().c_str());
        fprintf(stderr, "made synthetic %s in %.1f s (%s, deleted at the end)\n", synthetic->c_str(),
                double(now_ns() - t0) * 1e-9, temp.path.c_str());
        o.path = temp.path;
        o.label = "synthetic " + *synthetic;
    } else {
        o.path = o.label = a.positional()[0];
    }
    bench::Report r;
    if (!bench::run(o, r, &err)) return fail("%s", err.c_str());
    if (json)
        printf("%s\n", bench::to_json(r).c_str());
    else
        bench::print_table(r);
    return 0;
}

}  // namespace

BERTH_COMMAND(bench, "bench",
              "berth bench MODEL.gguf | --synthetic tinyllama|tiny[:TYPE] [--prompts 32,128,512] "
              "[--depths 0,512,1536] [--gen 32] [--reps 3] [--parallel 1,2,4,8] [--parallel-prompt 16] "
              "[--threads N] [--num-gpu N] [--only prefill,decode,load,memory,parallel,grammar] "
              "[--grammar-vocab VOCAB.gguf] [--grammar-tokens 96] [--mask-thread auto|on|off] [--json]",
              "benchmark prefill, decode, load time, memory and parallel streams, as tokens/s and shares of the "
              "measured memory bandwidth; --only grammar: constrained decoding (schema compile time, "
              "constrained vs unconstrained decode, per-token mask time)",
              cmd_bench);

}  // namespace berth::cli
