// Test helper of the model module: the device the device tests run on. BERTH_TEST_DEVICE names it in the
// syntax of BERTH_DEVICE (scripts/gpu-check sets "cuda"); unset, it is the stand-in (fake:1GiB), so every CI run
// exercises the device path. A named device that cannot be opened fails the test with the reason.
#pragma once

#include <cstdlib>
#include <string>

#include "backend/backend.h"

namespace berth {

inline std::string test_device_spec() {
    const char* v = std::getenv("BERTH_TEST_DEVICE");
    return v && *v ? v : "fake:1GiB";
}

// Opened once per test binary; nullptr (with the reason in device_status()) when it cannot be.
inline Device* test_device() {
    static Device* d = [] {
        Status st = open_devices(test_device_spec());
        return st.is_ok() && !devices().empty() ? devices().front() : nullptr;
    }();
    return d;
}

// Whether the test device runs the CPU kernels (the stand-in): its results then equal the CPU's to rounding.
inline bool test_device_is_stand_in() { return test_device() && std::string(test_device()->type()) == "fake"; }

}  // namespace berth
