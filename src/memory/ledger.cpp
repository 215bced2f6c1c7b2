#include <cstdio>

#include "memory/memory.h"

namespace berth {

const char* memory_kind_name(MemoryKind k) {
    switch (k) {
        case MemoryKind::weights_mapped: return "weights_mapped";
        case MemoryKind::weights_resident: return "weights_resident";
        case MemoryKind::weights_copy: return "weights_copy";
        case MemoryKind::kv: return "kv";
        case MemoryKind::scratch: return "scratch";
        case MemoryKind::cache: return "cache";
        case MemoryKind::weights_repacked: return "weights_repacked";
        case MemoryKind::count_: break;
    }
    return "?";
}

bool memory_kind_is_anonymous(MemoryKind k) {
    return k == MemoryKind::weights_copy || k == MemoryKind::kv || k == MemoryKind::scratch || k == MemoryKind::cache ||
           k == MemoryKind::weights_repacked;
}

void Ledger::set(const std::string& model, MemoryKind kind, int64_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    Row& r = rows_[model];
    r.model = model;
    r.bytes[int(kind)] = bytes;
}

void Ledger::add(const std::string& model, MemoryKind kind, int64_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    Row& r = rows_[model];
    r.model = model;
    r.bytes[int(kind)] += bytes;
}

void Ledger::erase_model(const std::string& model) {
    std::lock_guard<std::mutex> lock(mu_);
    rows_.erase(model);
}

int64_t Ledger::get(const std::string& model, MemoryKind kind) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = rows_.find(model);
    return it == rows_.end() ? 0 : it->second.bytes[int(kind)];
}

const char* device_memory_kind_name(DeviceMemoryKind k) {
    switch (k) {
        case DeviceMemoryKind::weights: return "weights";
        case DeviceMemoryKind::kv: return "kv";
        case DeviceMemoryKind::scratch: return "scratch";
        case DeviceMemoryKind::count_: break;
    }
    return "?";
}

int64_t Ledger::Row::device_total(int device) const {
    CHECK(device >= 0 && device < kMaxDevices);
    int64_t t = 0;
    for (int k = 0; k < int(DeviceMemoryKind::count_); k++) t += device_bytes[device][k];
    return t;
}

int64_t Ledger::host_backed_device_bytes_locked(const Row& r) const {
    int64_t t = 0;
    for (int d = 0; d < kMaxDevices; d++)
        if (device_host_backed_[d]) t += r.device_total(d);
    return t;
}

int64_t Ledger::row_total_locked(const Row& r) const {
    int64_t t = r.bytes[int(MemoryKind::weights_mapped)];
    for (int k = 0; k < int(MemoryKind::count_); k++)
        if (memory_kind_is_anonymous(MemoryKind(k))) t += r.bytes[k];
    return t + host_backed_device_bytes_locked(r);
}

int64_t Ledger::model_total(const std::string& model) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = rows_.find(model);
    return it == rows_.end() ? 0 : row_total_locked(it->second);
}

int64_t Ledger::host_contexts_locked() const {
    int64_t t = 0;
    for (int d = 0; d < kMaxDevices; d++) t += device_host_context_[d];
    return t;
}

int64_t Ledger::total() const {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t t = host_contexts_locked();
    for (auto& [_, r] : rows_) t += row_total_locked(r);
    return t;
}

int64_t Ledger::anonymous_total() const {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t t = host_contexts_locked();
    for (auto& [_, r] : rows_) {
        for (int k = 0; k < int(MemoryKind::count_); k++)
            if (memory_kind_is_anonymous(MemoryKind(k))) t += r.bytes[k];
        t += host_backed_device_bytes_locked(r);
    }
    return t;
}

void Ledger::set_device(const std::string& model, int device, DeviceMemoryKind kind, int64_t bytes) {
    CHECK(device >= 0 && device < kMaxDevices);
    std::lock_guard<std::mutex> lock(mu_);
    Row& r = rows_[model];
    r.model = model;
    r.device_bytes[device][int(kind)] = bytes;
}

int64_t Ledger::get_device(const std::string& model, int device, DeviceMemoryKind kind) const {
    CHECK(device >= 0 && device < kMaxDevices);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = rows_.find(model);
    return it == rows_.end() ? 0 : it->second.device_bytes[device][int(kind)];
}

int64_t Ledger::model_device_total(const std::string& model, int device) const {
    CHECK(device >= 0 && device < kMaxDevices);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = rows_.find(model);
    return it == rows_.end() ? 0 : it->second.device_total(device);
}

int64_t Ledger::device_total(int device) const {
    CHECK(device >= 0 && device < kMaxDevices);
    std::lock_guard<std::mutex> lock(mu_);
    int64_t t = 0;
    for (auto& [_, r] : rows_) t += r.device_total(device);
    return t;
}

void Ledger::set_device_context(int device, int64_t bytes) {
    CHECK(device >= 0 && device < kMaxDevices);
    std::lock_guard<std::mutex> lock(mu_);
    device_context_[device] = bytes;
}

int64_t Ledger::device_context(int device) const {
    CHECK(device >= 0 && device < kMaxDevices);
    std::lock_guard<std::mutex> lock(mu_);
    return device_context_[device];
}

void Ledger::set_device_host_context(int device, int64_t bytes) {
    CHECK(device >= 0 && device < kMaxDevices);
    std::lock_guard<std::mutex> lock(mu_);
    device_host_context_[device] = bytes;
}

int64_t Ledger::device_host_context(int device) const {
    CHECK(device >= 0 && device < kMaxDevices);
    std::lock_guard<std::mutex> lock(mu_);
    return device_host_context_[device];
}

void Ledger::set_device_host_backed(int device, bool host_backed) {
    CHECK(device >= 0 && device < kMaxDevices);
    std::lock_guard<std::mutex> lock(mu_);
    device_host_backed_[device] = host_backed;
}

std::vector<Ledger::Row> Ledger::snapshot() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Row> out;
    out.reserve(rows_.size());
    for (auto& [_, r] : rows_) out.push_back(r);
    return out;
}

Result<ProcessMemory> read_process_memory(int pid) {
    char path[64];
    if (pid == 0)
        snprintf(path, sizeof path, "/proc/self/status");
    else
        snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE* f = fopen(path, "re");
    if (!f) return io_error("cannot read %s", path);
    ProcessMemory m;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        long long kb = 0;
        if (sscanf(line, "VmRSS: %lld kB", &kb) == 1)
            m.rss = kb * 1024;
        else if (sscanf(line, "RssAnon: %lld kB", &kb) == 1)
            m.rss_anon = kb * 1024;
        else if (sscanf(line, "RssFile: %lld kB", &kb) == 1)
            m.rss_file = kb * 1024;
        else if (sscanf(line, "RssShmem: %lld kB", &kb) == 1)
            m.rss_shmem = kb * 1024;
        else if (sscanf(line, "VmSwap: %lld kB", &kb) == 1)
            m.vm_swap = kb * 1024;
        else if (sscanf(line, "VmSize: %lld kB", &kb) == 1)
            m.vm_size = kb * 1024;
    }
    fclose(f);
    return m;
}

}  // namespace berth
