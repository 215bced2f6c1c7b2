// Internal to backend: the CUDA devices (cuda_device.cpp when built with CUDA, cuda_stub.cpp otherwise).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace berth {

// Opens CUDA GPU `only` (or every GPU when only < 0). None usable → empty, with the reason in *why_none
// (no driver, no GPU, a driver too old for this build's runtime, ...).
std::vector<std::unique_ptr<Device>> open_cuda_devices(int only, std::string* why_none);

}  // namespace berth
