#include <cpuid.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

#include "kernels/kernels.h"

namespace berth {
namespace {

bool os_saves_zmm() {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return false;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return (lo & 0xe6) == 0xe6;  // XMM, YMM, opmask, ZMM_Hi256, Hi16_ZMM
}

bool os_saves_ymm() {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return false;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return (lo & 0x6) == 0x6;
}

Isa detect() {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return Isa::scalar;
    bool fma = c & bit_FMA, f16c = c & bit_F16C;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return Isa::scalar;
    bool avx2 = b & bit_AVX2;
    bool avx512 =
        (b & bit_AVX512F) && (b & bit_AVX512BW) && (b & bit_AVX512DQ) && (b & bit_AVX512VL) && (c & bit_AVX512VNNI);
    if (avx512 && fma && f16c && os_saves_zmm()) return Isa::avx512;
    if (avx2 && fma && f16c && os_saves_ymm()) return Isa::avx2;
    return Isa::scalar;
}

Isa initial_isa() {
    Isa best = detect();
    const char* env = getenv("BERTH_ISA");
    if (!env || !*env) return best;
    Isa want = best;
    if (!strcmp(env, "scalar"))
        want = Isa::scalar;
    else if (!strcmp(env, "avx2"))
        want = Isa::avx2;
    else if (!strcmp(env, "avx512"))
        want = Isa::avx512;
    else
        fprintf(stderr, "berth: ignoring BERTH_ISA=%s (use scalar, avx2 or avx512)\n", env);
    return int(want) <= int(best) ? want : best;
}

Isa g_active = initial_isa();

}  // namespace

Isa detected_isa() {
    static const Isa isa = detect();
    return isa;
}

Isa active_isa() { return g_active; }

void set_active_isa(Isa isa) {
    CHECK_MSG(int(isa) <= int(detected_isa()), "this CPU does not support the requested instruction set");
    g_active = isa;
}

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::scalar: return "scalar";
        case Isa::avx2: return "avx2";
        case Isa::avx512: return "avx512";
    }
    return "?";
}

int physical_core_count() {
    // Count distinct (physical id, core id) pairs; fall back to the online CPU count.
    FILE* f = fopen("/proc/cpuinfo", "re");
    std::set<std::pair<int, int>> cores;
    if (f) {
        char line[512];
        int phys = 0;
        while (fgets(line, sizeof line, f)) {
            int v;
            if (sscanf(line, "physical id : %d", &v) == 1)
                phys = v;
            else if (sscanf(line, "core id : %d", &v) == 1)
                cores.insert({phys, v});
        }
        fclose(f);
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores.empty()) return online > 0 ? int(online) : 1;
    return int(cores.size());
}

}  // namespace berth
