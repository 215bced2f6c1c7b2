// SideThread: a mutex and one condition variable; the worker sleeps in wait() only when the job outlasts the
// forward pass.
#include "engine/side_thread.h"

#include <sched.h>

#include <algorithm>

#include "base/base.h"

namespace berth {

SideThread::SideThread() : thread_([this] { loop(); }) {}

SideThread::~SideThread() {
    {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return !pending_; });
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void SideThread::post(Fn fn, void* ctx) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        CHECK_MSG(!pending_, "a side job is already running");
        fn_ = fn;
        ctx_ = ctx;
        pending_ = true;
    }
    cv_.notify_all();
}

int64_t SideThread::wait() {
    std::unique_lock<std::mutex> lock(mu_);
    if (!pending_) return 0;
    const int64_t t0 = now_ns();
    cv_.wait(lock, [&] { return !pending_; });
    return now_ns() - t0;
}

void SideThread::loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
        cv_.wait(lock, [&] { return stop_ || (pending_ && fn_); });
        if (stop_) return;
        Fn fn = fn_;
        fn_ = nullptr;
        lock.unlock();
        fn(ctx_);
        lock.lock();
        pending_ = false;
        cv_.notify_all();
    }
}

int usable_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    return std::max(1, CPU_COUNT(&set));
}

}  // namespace berth
