// Built without CUDA (BERTH_CUDA=OFF, or no toolkit found): no CUDA device can be opened.
#include "backend/cuda_device.h"

namespace berth {

bool cuda_compiled() { return false; }

std::vector<std::unique_ptr<Device>> open_cuda_devices(int, std::string* why_none) {
    *why_none = "built without CUDA: serving on the CPU";
    return {};
}

}  // namespace berth
