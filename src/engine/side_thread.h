// One thread that runs a job beside the engine's worker: the worker posts a job before a forward pass and
// waits for it after, so work that does not need the logits (the next constrained token's full mask) takes
// none of the step's time when a core is free for it. Nothing is allocated per job.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace berth {

class SideThread {
  public:
    using Fn = void (*)(void* ctx);
    SideThread();
    ~SideThread();  // waits for a posted job, then joins
    SideThread(const SideThread&) = delete;
    SideThread& operator=(const SideThread&) = delete;

    // Starts fn(ctx) on the side thread; one job at a time (CHECKed): wait() before posting again.
    void post(Fn fn, void* ctx);
    // Blocks until the posted job has returned (at once when none is pending); returns the nanoseconds it
    // blocked. Everything the job wrote is visible to the caller afterwards.
    int64_t wait();

  private:
    void loop();
    std::mutex mu_;
    std::condition_variable cv_;
    Fn fn_ = nullptr;
    void* ctx_ = nullptr;
    bool pending_ = false;  // posted and not yet returned
    bool stop_ = false;
    std::thread thread_;
};

// CPUs this process may run on (its affinity mask); at least 1.
int usable_cpus();

}  // namespace berth
