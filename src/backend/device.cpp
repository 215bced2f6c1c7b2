// Device memory bookkeeping shared by every device: counted allocations and their buffers.
#include "backend/backend.h"

namespace berth {

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
        release();
        device_ = o.device_;
        data_ = o.data_;
        size_ = o.size_;
        o.device_ = nullptr;
        o.data_ = nullptr;
        o.size_ = 0;
    }
    return *this;
}

void DeviceBuffer::release() {
    if (device_ && data_) device_->free_buffer(data_, size_);
    device_ = nullptr;
    data_ = nullptr;
    size_ = 0;
}

Device::~Device() = default;

Result<DeviceBuffer> Device::allocate(size_t bytes, const char* what) {
    CHECK(bytes > 0);
    const size_t rounded = round_up(bytes, allocation_granularity());
    allocations_.fetch_add(1);
    Result<void*> p = raw_allocate(rounded);
    if (!p.is_ok()) {
        DeviceMemoryInfo mi = memory_info();
        return resource_exhausted("cannot allocate %s for %s on %s:%d (%s free of %s): %s",
                                  format_bytes(int64_t(rounded)).c_str(), what, type(), index_,
                                  format_bytes(mi.free).c_str(), format_bytes(mi.total).c_str(),
                                  p.status().message().c_str());
    }
    allocated_.fetch_add(int64_t(rounded));
    DeviceBuffer b;
    b.device_ = this;
    b.data_ = static_cast<uint8_t*>(*p);
    b.size_ = rounded;
    return b;
}

void Device::free_buffer(uint8_t* p, size_t bytes) {
    raw_free(p, bytes);
    allocated_.fetch_sub(int64_t(bytes));
}

}  // namespace berth
