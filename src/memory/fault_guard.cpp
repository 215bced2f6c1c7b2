// The SIGBUS guard: see fault_guard.h. The table is a fixed array of atomics, so that the handler (which may run on
// any thread, at any point) reads it without locks or allocation; mmap and sigaction are plain system calls.
#include "memory/fault_guard.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>

namespace berth {

namespace {

constexpr int kSlots = 256;  // mapped model files at once; more are mapped unguarded

struct Slot {
    std::atomic<uintptr_t> begin{0}, end{0};  // 0: free
    std::atomic<bool> faulted{false};
};

Slot g_slots[kSlots];
struct sigaction g_previous;
std::once_flag g_installed;

void on_sigbus(int sig, siginfo_t* info, void* context) {
    const uintptr_t at = reinterpret_cast<uintptr_t>(info->si_addr);
    const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
    for (Slot& s : g_slots) {
        uintptr_t b = s.begin.load(std::memory_order_acquire), e = s.end.load(std::memory_order_acquire);
        if (b == 0 || at < b || at >= e) continue;
        uintptr_t from = at & ~(page - 1);
        void* p =
            mmap(reinterpret_cast<void*>(from), e - from, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (p != MAP_FAILED) {
            s.faulted.store(true, std::memory_order_release);
            return;  // the read is retried and finds zeros
        }
        break;
    }
    // Not a guarded mapping: whoever handled SIGBUS before, or the default action (the faulting access repeats).
    if (g_previous.sa_flags & SA_SIGINFO) {
        if (g_previous.sa_sigaction) return g_previous.sa_sigaction(sig, info, context);
    } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
        return g_previous.sa_handler(sig);
    }
    signal(SIGBUS, SIG_DFL);
}

void install() {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &g_previous);
}

}  // namespace

int fault_guard_register(void* begin, size_t bytes) {
    std::call_once(g_installed, install);
    const uintptr_t b = reinterpret_cast<uintptr_t>(begin);
    for (int i = 0; i < kSlots; ++i) {
        uintptr_t expected = 0;
        if (!g_slots[i].begin.compare_exchange_strong(expected, b, std::memory_order_acq_rel)) continue;
        g_slots[i].faulted.store(false, std::memory_order_relaxed);
        g_slots[i].end.store(b + bytes, std::memory_order_release);
        return i;
    }
    return -1;
}

void fault_guard_unregister(int slot) {
    if (slot < 0) return;
    g_slots[slot].end.store(0, std::memory_order_release);
    g_slots[slot].begin.store(0, std::memory_order_release);
}

bool fault_guard_faulted(int slot) { return slot >= 0 && g_slots[slot].faulted.load(std::memory_order_acquire); }

}  // namespace berth
