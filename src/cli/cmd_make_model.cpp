// berth debug make-model: writes a synthetic GGUF with random weights for any supported architecture/type.
#include <cstdio>

#include "cli/command.h"
#include "model/model.h"

namespace berth::cli {
namespace {

std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
}

int cmd_make_model(const std::vector<std::string>& argv) {
    Args a(argv);
    SyntheticSpec s;
    s.arch = a.get_or("arch", s.arch);
    s.n_embd = int(a.get_int("n-embd", s.n_embd));
    s.n_ff = int(a.get_int("n-ff", s.n_ff));
    s.n_layer = int(a.get_int("n-layer", s.n_layer));
    s.n_head = int(a.get_int("n-head", s.n_head));
    s.n_head_kv = int(a.get_int("n-head-kv", s.n_head));
    s.n_vocab = int(a.get_int("n-vocab", s.n_vocab));
    s.type = a.get_or("type", s.type);
    s.seed = uint64_t(a.get_int("seed", 1));
    s.n_ctx = int(a.get_int("n-ctx", s.n_ctx));
    s.n_expert = int(a.get_int("n-expert", s.n_expert));
    s.n_expert_used = int(a.get_int("n-expert-used", s.n_expert_used));
    s.n_threads = int(a.get_int("threads", 0));
    auto unknown = a.unknown({"arch", "n-embd", "n-ff", "n-layer", "n-head", "n-head-kv", "n-vocab", "type", "seed",
                              "n-ctx", "n-expert", "n-expert-used", "threads"});
    if (!unknown.empty()) return fail("unknown option --%s", unknown[0].c_str());
    if (a.positional().size() != 1) return fail("expected one output path (OUT.gguf)");
    bool arch_ok = false, type_ok = false;
    for (const std::string& x : synthetic_architectures()) arch_ok |= x == s.arch;
    for (const std::string& x : synthetic_types()) type_ok |= x == s.type;
    if (!arch_ok)
        return fail("unknown --arch %s (supported: %s)", s.arch.c_str(), joined(synthetic_architectures()).c_str());
    if (!type_ok) return fail("unknown --type %s (supported: %s)", s.type.c_str(), joined(synthetic_types()).c_str());
    int64_t t0 = now_ns();
    Status st = write_synthetic_model(s, a.positional()[0]);
    if (!st.is_ok()) return fail("%s", st.to_string().c_str());
    fprintf(stderr, "wrote %s (%s %s) in %.1f s\n", a.positional()[0].c_str(), s.arch.c_str(), s.type.c_str(),
            double(now_ns() - t0) * 1e-9);
    return 0;
}

}  // namespace

BERTH_COMMAND(make_model, "debug make-model",
              "berth debug make-model --arch ARCH --n-embd N --n-ff N --n-layer N --n-head N --n-head-kv N "
              "--n-vocab N --type TYPE [--seed S] OUT.gguf",
              "write a synthetic model with random weights", cmd_make_model);

}  // namespace berth::cli
