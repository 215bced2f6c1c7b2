#include <cstdio>

#include "cli/command.h"
#include "gguf/gguf.h"

namespace berth::cli {
namespace {

void print_value(const GgufValue& v) {
    switch (v.type) {
        case GgufType::STRING: {
            std::string s(v.str.substr(0, 120));
            for (char& c : s)
                if (c == '\n') c = ' ';
            printf("\"%s\"%s", s.c_str(), v.str.size() > 120 ? "…" : "");
            break;
        }
        case GgufType::FLOAT32:
        case GgufType::FLOAT64: printf("%g", v.f); break;
        case GgufType::BOOL: printf("%s", v.i ? "true" : "false"); break;
        case GgufType::UINT64: printf("%llu", (unsigned long long)v.u); break;
        case GgufType::ARRAY:
            printf("[%s × %llu]", gguf_type_name(v.elem_type), (unsigned long long)v.count);
            if (v.elem_type == GgufType::STRING && !v.strings.empty())
                printf(" \"%.*s\", …", int(std::min<size_t>(v.strings[0].size(), 40)), v.strings[0].data());
            break;
        default: printf("%lld", (long long)v.i);
    }
}

// Prints a GGUF file's header, metadata and tensor table (what a loader sees), or the reason it is refused.
int debug_gguf_main(const std::vector<std::string>& argv) {
    Args a(argv, {"tensors"});
    if (a.positional().size() != 1) return fail("usage: berth debug gguf FILE.gguf [--tensors]");
    auto f = GgufFile::open(a.positional()[0]);
    if (!f.is_ok()) return fail("%s", f.status().message().c_str());
    const GgufFile& g = **f;
    printf("GGUF v%u, %zu metadata keys, %zu tensors (%.1f MiB), alignment %llu, data at %llu\n", g.version(),
           g.metadata().size(), g.tensors().size(), double(g.tensor_bytes()) / (1 << 20),
           (unsigned long long)g.alignment(), (unsigned long long)g.data_offset());
    for (const auto& [k, v] : g.metadata()) {
        printf("  %-48s ", k.c_str());
        print_value(v);
        printf("\n");
    }
    bool all = a.has("tensors");
    for (const auto& t : g.tensors()) {
        bool first_block = t.name.rfind("blk.", 0) != 0 || t.name.rfind("blk.0.", 0) == 0;
        if (!all && !first_block) continue;
        printf("  %-40s %-6s %s\n", t.name.c_str(), dtype_name(t.type), g.view(t).shape_string().c_str());
    }
    if (!all) printf("  (blk.1 and later omitted; --tensors lists every tensor)\n");
    return 0;
}

}  // namespace

BERTH_COMMAND(debug_gguf, "debug gguf", "berth debug gguf FILE.gguf [--tensors]",
              "print a GGUF file's metadata and tensor table, or why it is refused", debug_gguf_main);

}  // namespace berth::cli
