// The process's devices, opened once from BERTH_DEVICE (or by open_devices).
#include <cstdlib>

#include "backend/backend.h"
#include "backend/cuda_device.h"

namespace berth {
namespace {

struct Registry {
    std::mutex mu;
    bool opened = false;
    std::vector<std::unique_ptr<Device>> owned;
    std::vector<Device*> list;
    std::string status = "no device opened";
};

Registry& registry() {
    static Registry* r = new Registry();  // never destroyed: devices outlive every static that may use them
    return *r;
}

struct Opened {
    std::vector<std::unique_ptr<Device>> devices;
    std::string why_none;  // when devices is empty
};

// Syntax: what open_spec will open; `only` is the CUDA index (-1 all), `fake` the stand-in's size (0 none).
struct Spec {
    bool none = false;
    int64_t fake = 0;
    int only = -1;
};

Result<Spec> parse_spec(const std::string& spec) {
    Spec p;
    if (spec == "cpu" || spec == "none") {
        p.none = true;
    } else if (spec.rfind("fake:", 0) == 0) {
        Result<int64_t> size = parse_byte_size(spec.substr(5));
        if (!size.is_ok() || *size <= 0)
            return invalid_argument("BERTH_DEVICE=%s: the stand-in device needs a size, e.g. fake:2GiB", spec.c_str());
        p.fake = *size;
    } else if (spec == "cuda") {
        p.only = 0;
    } else if (spec.rfind("cuda:", 0) == 0) {
        char* end = nullptr;
        long n = std::strtol(spec.c_str() + 5, &end, 10);
        if (spec.size() == 5 || *end || n < 0 || n >= kMaxDevices)
            return invalid_argument("BERTH_DEVICE=%s: expected cuda:N with N from 0 to %d", spec.c_str(),
                                    kMaxDevices - 1);
        p.only = int(n);
    } else if (!spec.empty() && spec != "auto") {
        return invalid_argument("BERTH_DEVICE=%s: expected auto, cpu, cuda, cuda:N or fake:SIZE", spec.c_str());
    }
    return p;
}

Result<Opened> open_spec(const std::string& text) {
    ASSIGN_OR_RETURN(Spec spec, parse_spec(text));
    Opened o;
    if (spec.none) {
        o.why_none = "BERTH_DEVICE=" + text + ": serving on the CPU";
        return o;
    }
    if (spec.fake > 0) {
        o.devices.push_back(make_fake_device(0, spec.fake));
        return o;
    }
    if (!cuda_compiled()) {
        o.why_none = spec.only >= 0 ? "BERTH_DEVICE=" + text +
                                          ", but this berth was built without CUDA (BERTH_CUDA=OFF or no toolkit): "
                                          "serving on the CPU"
                                    : "built without CUDA: serving on the CPU";
        return o;
    }
    o.devices = open_cuda_devices(spec.only, &o.why_none);
    return o;
}

// Replaces the registry's devices; r.mu held.
Status open_locked(Registry& r, const std::string& spec) {
    ASSIGN_OR_RETURN(Opened o, open_spec(spec));
    r.list.clear();
    r.owned = std::move(o.devices);
    for (auto& d : r.owned) r.list.push_back(d.get());
    r.opened = true;
    if (r.list.empty()) {
        r.status = o.why_none.empty() ? "no device: serving on the CPU" : o.why_none;
        LOG_INFO("%s", r.status.c_str());
        return Status::ok();
    }
    r.status.clear();
    for (Device* d : r.list) {
        DeviceMemoryInfo mi = d->memory_info();
        std::string line = string_printf("%s:%d %s, %s of %s free", d->type(), d->index(), d->name().c_str(),
                                         format_bytes(mi.free).c_str(), format_bytes(mi.total).c_str());
        LOG_INFO("device %s", line.c_str());
        r.status += (r.status.empty() ? "" : "; ") + line;
    }
    return Status::ok();
}

}  // namespace

Status parse_device_spec(const std::string& spec) { return parse_spec(spec).status(); }

Status open_devices(const std::string& spec) {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    return open_locked(r, spec);
}

const std::vector<Device*>& devices() {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    if (!r.opened) {
        std::string spec = env_or("BERTH_DEVICE", nullptr, "");
        if (Status st = open_locked(r, spec); !st.is_ok()) {
            r.opened = true;
            r.status = st.message() + "; serving on the CPU";
            LOG_WARN("%s", r.status.c_str());
        }
    }
    return r.list;
}

Device* device(int index) {
    for (Device* d : devices())
        if (d->index() == index) return d;
    return nullptr;
}

std::string device_status() {
    devices();
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    return r.status;
}

}  // namespace berth
