#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

#include "kernels/kernels.h"

namespace berth {
namespace {

uint64_t xcr0() {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return uint64_t(lo) | (uint64_t(hi) << 32);
}

// Linux hands out the AMX tile state only on request (arch_prctl ARCH_REQ_XCOMP_PERM for XTILEDATA, 5.16+);
// refused or unknown, AMX stays off and the AVX-512 kernels run.
bool request_amx_permission() {
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

// Bit i: the CPU and OS support Isa(i).
unsigned detect_supported() {
    unsigned a, b, c, d;
    unsigned mask = 1u << int(Isa::scalar);
    if (!__get_cpuid(1, &a, &b, &c, &d)) return mask;
    const bool fma = c & bit_FMA, f16c = c & bit_F16C;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return mask;
    const unsigned b7 = b, c7 = c, d7 = d;
    unsigned a71 = 0;
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) a71 = a;
    const uint64_t xcr = xcr0();
    const bool ymm = (xcr & 0x6) == 0x6, zmm = (xcr & 0xe6) == 0xe6;
    const bool avx2 = (b7 & bit_AVX2) && fma && f16c && ymm;
    if (avx2) mask |= 1u << int(Isa::avx2);
    if (avx2 && (a71 & (1u << 4))) mask |= 1u << int(Isa::avxvnni);  // CPUID.(7,1):EAX[4] AVX-VNNI
    const bool avx512 = avx2 && zmm && (b7 & bit_AVX512F) && (b7 & bit_AVX512BW) && (b7 & bit_AVX512DQ) &&
                        (b7 & bit_AVX512VL) && (c7 & bit_AVX512VNNI);
    if (avx512) mask |= 1u << int(Isa::avx512);
    // AMX-TILE (EDX[24]) and AMX-INT8 (EDX[25]), tile state enabled by the OS (XCR0 bits 17, 18).
    const bool amx = avx512 && (d7 & (1u << 24)) && (d7 & (1u << 25)) && ((xcr >> 17) & 3) == 3;
    if (amx && request_amx_permission()) mask |= 1u << int(Isa::amx);
    return mask;
}

unsigned supported_mask() {
    static const unsigned mask = detect_supported();
    return mask;
}

Isa best_isa() {
    for (Isa isa : {Isa::amx, Isa::avx512, Isa::avxvnni, Isa::avx2})
        if (supported_mask() & (1u << int(isa))) return isa;
    return Isa::scalar;
}

Isa initial_isa() {
    const Isa best = best_isa();
    const char* env = getenv("BERTH_ISA");
    if (!env || !*env) return best;
    for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avxvnni, Isa::avx512, Isa::amx}) {
        if (strcmp(env, isa_name(isa)) != 0) continue;
        if (isa_supported(isa)) return isa;
        fprintf(stderr, "berth: BERTH_ISA=%s is not supported by this CPU; using %s\n", env, isa_name(best));
        return best;
    }
    fprintf(stderr, "berth: ignoring BERTH_ISA=%s (use scalar, avx2, avxvnni, avx512 or amx)\n", env);
    return best;
}

Isa g_active = initial_isa();

}  // namespace

Isa detected_isa() { return best_isa(); }

bool isa_supported(Isa isa) { return supported_mask() & (1u << int(isa)); }

Isa active_isa() { return g_active; }

void set_active_isa(Isa isa) {
    CHECK_MSG(isa_supported(isa), "this CPU does not support the requested instruction set");
    g_active = isa;
}

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::scalar: return "scalar";
        case Isa::avx2: return "avx2";
        case Isa::avxvnni: return "avxvnni";
        case Isa::avx512: return "avx512";
        case Isa::amx: return "amx";
    }
    return "?";
}

// The CPU's vendor and (display) family: base family, plus the extended family where the base is 0xF.
struct CpuId {
    bool intel = false, amd = false;
    unsigned family = 0;
};
static CpuId cpu_id() {
    CpuId id;
    unsigned a = 0, b = 0, c = 0, d = 0, vendor[3] = {0, 0, 0};
    if (!__get_cpuid(0, &a, &vendor[0], &vendor[2], &vendor[1])) return id;  // EBX, EDX, ECX: the name
    id.intel = memcmp(vendor, "GenuineIntel", 12) == 0;
    id.amd = memcmp(vendor, "AuthenticAMD", 12) == 0;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        id.family = (a >> 8) & 0xF;
        if (id.family == 0xF) id.family += (a >> 20) & 0xFF;
    }
    return id;
}

// How one or two tokens prefetch by default (kernels.h): l2_l1 on Intel, l1 on AMD from Zen 5 (family 0x1A) on,
// none on earlier AMD cores and other vendors.
static Prefetch decode_prefetch_default(const CpuId& id) {
    if (id.intel) return Prefetch::l2_l1;
    if (id.amd && id.family >= 0x1A) return Prefetch::l1;
    return Prefetch::none;
}

Prefetch kernel_prefetch(int tokens) {
    static const Prefetch decode = decode_prefetch_default(cpu_id());
    // Bit 0: one token; bit 1: batches.
    static const unsigned mask = [] {
        const char* env = getenv("BERTH_PREFETCH");
        if (env && *env && strcmp(env, "auto") != 0) {
            const struct {
                const char* name;
                unsigned mask;
            } kModes[] = {{"none", 0}, {"decode", 1}, {"batch", 2}, {"all", 3}};
            for (const auto& m : kModes)
                if (strcmp(env, m.name) == 0) return m.mask;
            fprintf(stderr, "berth: ignoring BERTH_PREFETCH=%s (use auto, none, decode, batch or all)\n", env);
        }
        return decode == Prefetch::none ? 2u : 3u;
    }();
    if (!(mask & (tokens == 1 ? 1u : 2u))) return Prefetch::none;
    return decode == Prefetch::l2_l1 && tokens <= 2 ? Prefetch::l2_l1 : Prefetch::l1;
}

static int k_two_streams_set = -1;  // set_kernel_k_two_streams; -1: by the CPU
bool kernel_k_two_streams() {
    static const bool two = cpu_id().intel;
    return k_two_streams_set < 0 ? two : k_two_streams_set == 1;
}
void set_kernel_k_two_streams(bool two) { k_two_streams_set = two ? 1 : 0; }

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
