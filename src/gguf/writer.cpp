#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>

#include "gguf/gguf.h"

namespace berth {
namespace {
template <typename T>
void append(std::string& s, T v) {
    s.append(reinterpret_cast<const char*>(&v), sizeof v);
}
void append_string(std::string& s, const std::string& v) {
    append<uint64_t>(s, v.size());
    s += v;
}
}  // namespace

void GgufWriter::put(const std::string& key, GgufType type, std::string bytes) {
    for (auto& kv : kvs_)
        if (kv.key == key) {
            kv.type = type;
            kv.bytes = std::move(bytes);
            return;
        }
    kvs_.push_back({key, type, std::move(bytes)});
}

void GgufWriter::set_u32(const std::string& key, uint32_t v) {
    std::string b;
    append(b, v);
    put(key, GgufType::UINT32, b);
}
void GgufWriter::set_i32(const std::string& key, int32_t v) {
    std::string b;
    append(b, v);
    put(key, GgufType::INT32, b);
}
void GgufWriter::set_u64(const std::string& key, uint64_t v) {
    std::string b;
    append(b, v);
    put(key, GgufType::UINT64, b);
}
void GgufWriter::set_f32(const std::string& key, float v) {
    std::string b;
    append(b, v);
    put(key, GgufType::FLOAT32, b);
}
void GgufWriter::set_bool(const std::string& key, bool v) {
    std::string b;
    append<uint8_t>(b, v);
    put(key, GgufType::BOOL, b);
}
void GgufWriter::set_string(const std::string& key, const std::string& v) {
    std::string b;
    append_string(b, v);
    put(key, GgufType::STRING, b);
}
void GgufWriter::set_array_string(const std::string& key, const std::vector<std::string>& v) {
    std::string b;
    append<uint32_t>(b, uint32_t(GgufType::STRING));
    append<uint64_t>(b, v.size());
    for (auto& s : v) append_string(b, s);
    put(key, GgufType::ARRAY, b);
}
void GgufWriter::set_array_f32(const std::string& key, const std::vector<float>& v) {
    std::string b;
    append<uint32_t>(b, uint32_t(GgufType::FLOAT32));
    append<uint64_t>(b, v.size());
    for (float x : v) append(b, x);
    put(key, GgufType::ARRAY, b);
}
void GgufWriter::set_array_i32(const std::string& key, const std::vector<int32_t>& v) {
    std::string b;
    append<uint32_t>(b, uint32_t(GgufType::INT32));
    append<uint64_t>(b, v.size());
    for (int32_t x : v) append(b, x);
    put(key, GgufType::ARRAY, b);
}
void GgufWriter::set_raw(const std::string& key, GgufType type, std::string value_bytes) {
    put(key, type, std::move(value_bytes));
}
void GgufWriter::set_alignment(uint32_t a) {
    alignment_ = a;
    set_u32("general.alignment", a);
}

void GgufWriter::add_tensor(const std::string& name, DType type, std::vector<int64_t> ne, std::string data) {
    CHECK(!ne.empty() && ne.size() <= size_t(MAX_DIMS));
    int64_t rows = 1;
    for (size_t i = 1; i < ne.size(); i++) rows *= ne[i];
    CHECK_MSG(int64_t(data.size()) == row_bytes(type, ne[0]) * rows, "tensor data size does not match its shape");
    tensors_.push_back({name, type, std::move(ne), std::move(data)});
}

std::string GgufWriter::serialize() const {
    std::string out;
    out += "GGUF";
    append<uint32_t>(out, 3);
    append<uint64_t>(out, tensors_.size());
    append<uint64_t>(out, kvs_.size());
    for (auto& kv : kvs_) {
        append_string(out, kv.key);
        append<uint32_t>(out, uint32_t(kv.type));
        out += kv.bytes;
    }
    uint64_t offset = 0;
    for (auto& t : tensors_) {
        append_string(out, t.name);
        append<uint32_t>(out, uint32_t(t.ne.size()));
        for (int64_t d : t.ne) append<int64_t>(out, d);
        append<uint32_t>(out, uint32_t(t.type));
        append<uint64_t>(out, offset);
        offset += (t.data.size() + alignment_ - 1) / alignment_ * alignment_;
    }
    out.resize((out.size() + alignment_ - 1) / alignment_ * alignment_, '\0');
    for (auto& t : tensors_) {
        out += t.data;
        out.resize((out.size() + alignment_ - 1) / alignment_ * alignment_, '\0');
    }
    return out;
}

Status GgufWriter::write(const std::string& path) const {
    // A temporary name of this process and call, so that two writers of the same path never share one.
    static std::atomic<uint64_t> calls{0};
    std::string tmp = path + ".tmp." + std::to_string(getpid()) + "." + std::to_string(calls++);
    FILE* f = fopen(tmp.c_str(), "wb");
    if (!f) return io_error("cannot create %s: %s", tmp.c_str(), strerror(errno));
    std::string bytes = serialize();
    size_t n = fwrite(bytes.data(), 1, bytes.size(), f);
    bool ok = n == bytes.size() && fflush(f) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        return io_error("cannot write %s: %s", path.c_str(), strerror(errno));
    }
    return Status::ok();
}

}  // namespace berth
