// GGUF reader: every read is bounds-checked against the file size; structural problems become corrupt_data.
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstring>
#include <limits>

#include "gguf/gguf.h"

namespace berth {
namespace {

constexpr uint64_t kMaxStringLength = 1ull << 30;  // 1 GiB: any longer string is corrupt
constexpr uint64_t kMaxTensors = 1ull << 20;
constexpr uint64_t kMaxKv = 1ull << 20;

size_t scalar_size(GgufType t) {
    switch (t) {
        case GgufType::UINT8:
        case GgufType::INT8:
        case GgufType::BOOL: return 1;
        case GgufType::UINT16:
        case GgufType::INT16: return 2;
        case GgufType::UINT32:
        case GgufType::INT32:
        case GgufType::FLOAT32: return 4;
        case GgufType::UINT64:
        case GgufType::INT64:
        case GgufType::FLOAT64: return 8;
        default: return 0;
    }
}

// A cursor over the file bytes; all reads check the remaining length.
class Cursor {
  public:
    Cursor(const uint8_t* data, size_t size) : data_(data), size_(size) {}
    size_t pos() const { return pos_; }
    size_t remaining() const { return size_ - pos_; }
    const uint8_t* here() const { return data_ + pos_; }

    template <typename T>
    Status read(T* out, const char* what) {
        *out = T{};
        if (remaining() < sizeof(T))
            return corrupt_data("truncated file: %s at offset %zu needs %zu bytes, %zu left", what, pos_, sizeof(T),
                                remaining());
        std::memcpy(out, data_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return Status::ok();
    }
    Status skip(uint64_t n, const char* what) {
        if (n > remaining())
            return corrupt_data("truncated file: %s at offset %zu needs %" PRIu64 " bytes, %zu left", what, pos_, n,
                                remaining());
        pos_ += size_t(n);
        return Status::ok();
    }
    Status read_string(std::string_view* out, const char* what) {
        uint64_t len = 0;
        RETURN_IF_ERROR(read(&len, what));
        if (len > kMaxStringLength || len > remaining())
            return corrupt_data("%s: string length %" PRIu64 " at offset %zu runs past the end of the file", what, len,
                                pos_ - 8);
        *out = std::string_view(reinterpret_cast<const char*>(data_ + pos_), size_t(len));
        pos_ += size_t(len);
        return Status::ok();
    }

  private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
};

// A float from the file as an integer: truncated, saturated at the int64 limits, NaN as 0 (a plain conversion of
// an out-of-range float is undefined behaviour; found by fuzz/gguf_fuzz).
int64_t saturating_int(double x) {
    if (std::isnan(x)) return 0;
    if (x >= 9223372036854775807.0) return std::numeric_limits<int64_t>::max();
    if (x <= -9223372036854775808.0) return std::numeric_limits<int64_t>::min();
    return int64_t(x);
}

Status read_scalar(Cursor& c, GgufType t, GgufValue* v, const std::string& key) {
    switch (t) {
        case GgufType::UINT8: {
            uint8_t x;
            RETURN_IF_ERROR(c.read(&x, key.c_str()));
            v->i = x;
            v->u = x;
            break;
        }
        case GgufType::INT8: {
            int8_t x;
            RETURN_IF_ERROR(c.read(&x, key.c_str()));
            v->i = x;
            break;
        }
        case GgufType::UINT16: {
            uint16_t x;
            RETURN_IF_ERROR(c.read(&x, key.c_str()));
            v->i = x;
            v->u = x;
            break;
        }
        case GgufType::INT16: {
            int16_t x;
            RETURN_IF_ERROR(c.read(&x, key.c_str()));
            v->i = x;
            break;
        }
        case GgufType::UINT32: {
            uint32_t x;
            RETURN_IF_ERROR(c.read(&x, key.c_str()));
            v->i = x;
            v->u = x;
            break;
        }
        case GgufType::INT32: {
            int32_t x;
            RETURN_IF_ERROR(c.read(&x, key.c_str()));
            v->i = x;
            break;
        }
        case GgufType::UINT64: {
            uint64_t x;
            RETURN_IF_ERROR(c.read(&x, key.c_str()));
            v->u = x;
            v->i = x > uint64_t(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max() : int64_t(x);
            break;
        }
        case GgufType::INT64: {
            int64_t x;
            RETURN_IF_ERROR(c.read(&x, key.c_str()));
            v->i = x;
            break;
        }
        case GgufType::FLOAT32: {
            float x;
            RETURN_IF_ERROR(c.read(&x, key.c_str()));
            v->f = x;
            break;
        }
        case GgufType::FLOAT64: {
            double x;
            RETURN_IF_ERROR(c.read(&x, key.c_str()));
            v->f = x;
            break;
        }
        case GgufType::BOOL: {
            uint8_t x;
            RETURN_IF_ERROR(c.read(&x, key.c_str()));
            if (x > 1) return corrupt_data("metadata %s: bool value %u is neither 0 nor 1", key.c_str(), x);
            v->i = x;
            break;
        }
        case GgufType::STRING: RETURN_IF_ERROR(c.read_string(&v->str, key.c_str())); break;
        default: return corrupt_data("metadata %s: unknown value type %u", key.c_str(), unsigned(t));
    }
    return Status::ok();
}

Status read_value(Cursor& c, GgufType t, GgufValue* v, const std::string& key) {
    v->type = t;
    if (t != GgufType::ARRAY) return read_scalar(c, t, v, key);
    uint32_t et;
    RETURN_IF_ERROR(c.read(&et, key.c_str()));
    uint64_t n;
    RETURN_IF_ERROR(c.read(&n, key.c_str()));
    v->elem_type = GgufType(et);
    v->count = n;
    v->elems = c.here();
    if (v->elem_type == GgufType::ARRAY)
        return unsupported("metadata %s: arrays of arrays are not supported", key.c_str());
    if (v->elem_type == GgufType::STRING) {
        // Each string needs at least its 8-byte length: reject counts that cannot fit before reserving.
        if (n > c.remaining() / 8)
            return corrupt_data("metadata %s: array of %" PRIu64 " strings cannot fit in the file", key.c_str(), n);
        v->strings.reserve(size_t(n));
        for (uint64_t i = 0; i < n; i++) {
            std::string_view s;
            RETURN_IF_ERROR(c.read_string(&s, key.c_str()));
            v->strings.push_back(s);
        }
        return Status::ok();
    }
    size_t es = scalar_size(v->elem_type);
    if (es == 0) return corrupt_data("metadata %s: unknown array element type %u", key.c_str(), et);
    if (n > c.remaining() / es)
        return corrupt_data("metadata %s: array of %" PRIu64 " elements runs past the end of the file", key.c_str(), n);
    return c.skip(n * es, key.c_str());
}

}  // namespace

const char* gguf_type_name(GgufType t) {
    static const char* names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                  "bool", "string", "array", "u64", "i64", "f64"};
    unsigned i = unsigned(t);
    return i < 13 ? names[i] : "unknown";
}

bool GgufValue::is_int() const {
    switch (type) {
        case GgufType::UINT8:
        case GgufType::INT8:
        case GgufType::UINT16:
        case GgufType::INT16:
        case GgufType::UINT32:
        case GgufType::INT32:
        case GgufType::UINT64:
        case GgufType::INT64:
        case GgufType::BOOL: return true;
        default: return false;
    }
}

int64_t GgufValue::int_at(uint64_t idx) const {
    CHECK(type == GgufType::ARRAY && idx < count);
    const uint8_t* p = elems + idx * scalar_size(elem_type);
    switch (elem_type) {
        case GgufType::UINT8:
        case GgufType::BOOL: return *p;
        case GgufType::INT8: return int8_t(*p);
        case GgufType::UINT16: {
            uint16_t x;
            memcpy(&x, p, 2);
            return x;
        }
        case GgufType::INT16: {
            int16_t x;
            memcpy(&x, p, 2);
            return x;
        }
        case GgufType::UINT32: {
            uint32_t x;
            memcpy(&x, p, 4);
            return x;
        }
        case GgufType::INT32: {
            int32_t x;
            memcpy(&x, p, 4);
            return x;
        }
        case GgufType::UINT64: {
            uint64_t x;
            memcpy(&x, p, 8);
            return int64_t(x);
        }
        case GgufType::INT64: {
            int64_t x;
            memcpy(&x, p, 8);
            return x;
        }
        case GgufType::FLOAT32: {
            float x;
            memcpy(&x, p, 4);
            return saturating_int(x);
        }
        case GgufType::FLOAT64: {
            double x;
            memcpy(&x, p, 8);
            return saturating_int(x);
        }
        default: CHECK_MSG(false, "int_at on a non-numeric array");
    }
    return 0;
}

double GgufValue::float_at(uint64_t idx) const {
    CHECK(type == GgufType::ARRAY && idx < count);
    const uint8_t* p = elems + idx * scalar_size(elem_type);
    if (elem_type == GgufType::FLOAT32) {
        float x;
        memcpy(&x, p, 4);
        return x;
    }
    if (elem_type == GgufType::FLOAT64) {
        double x;
        memcpy(&x, p, 8);
        return x;
    }
    return double(int_at(idx));
}

Result<std::unique_ptr<GgufFile>> GgufFile::open(const std::string& path) {
    ASSIGN_OR_RETURN(MappedFile m, MappedFile::open(path));
    std::unique_ptr<GgufFile> f(new GgufFile());
    f->data_ = m.data();
    f->size_ = m.size();
    f->path_ = path;
    f->mapping_ = std::move(m);
    Status st = f->parse_all();
    if (!st.is_ok()) return st.with_context(path);
    return f;
}

Result<std::unique_ptr<GgufFile>> GgufFile::parse(const uint8_t* data, size_t size) {
    std::unique_ptr<GgufFile> f(new GgufFile());
    f->data_ = data;
    f->size_ = size;
    f->path_ = "<memory>";
    RETURN_IF_ERROR(f->parse_all());
    return f;
}

Status GgufFile::parse_all() {
    Cursor c(data_, size_);
    uint32_t magic;
    RETURN_IF_ERROR(c.read(&magic, "magic"));
    if (memcmp(&magic, "GGUF", 4) != 0) return corrupt_data("not a GGUF file (bad magic)");
    RETURN_IF_ERROR(c.read(&version_, "version"));
    if (version_ == 1)
        return unsupported("GGUF version 1 is not supported (only versions 2 and 3); re-convert the model");
    if (version_ < 2 || version_ > 3) return unsupported("unsupported GGUF version %u (supported: 2, 3)", version_);
    uint64_t n_tensors, n_kv;
    RETURN_IF_ERROR(c.read(&n_tensors, "tensor count"));
    RETURN_IF_ERROR(c.read(&n_kv, "metadata count"));
    // Each kv needs at least 12 bytes (key length + type), each tensor info at least 24.
    if (n_kv > kMaxKv || n_kv > c.remaining() / 12)
        return corrupt_data("metadata count %" PRIu64 " cannot fit in the file", n_kv);
    if (n_tensors > kMaxTensors || n_tensors > c.remaining() / 24)
        return corrupt_data("tensor count %" PRIu64 " cannot fit in the file", n_tensors);

    kvs_.reserve(size_t(n_kv));
    for (uint64_t i = 0; i < n_kv; i++) {
        std::string_view key;
        RETURN_IF_ERROR(c.read_string(&key, "metadata key"));
        std::string k(key);
        uint32_t t;
        RETURN_IF_ERROR(c.read(&t, "metadata type"));
        GgufValue v;
        RETURN_IF_ERROR(read_value(c, GgufType(t), &v, k));
        kvs_.emplace_back(std::move(k), std::move(v));
    }
    for (size_t i = 0; i < kvs_.size(); i++) {
        if (!kv_index_.emplace(kvs_[i].first, i).second)
            return corrupt_data("duplicate metadata key %s", kvs_[i].first.c_str());
    }
    if (const GgufValue* a = find("general.alignment")) {
        if (!a->is_int() || a->i <= 0 || (a->i & (a->i - 1)) != 0 || a->i > (1 << 20))
            return corrupt_data("general.alignment must be a power of two, got %lld", (long long)a->i);
        alignment_ = uint64_t(a->i);
    }

    tensors_.reserve(size_t(n_tensors));
    for (uint64_t i = 0; i < n_tensors; i++) {
        GgufTensorInfo t;
        std::string_view name;
        RETURN_IF_ERROR(c.read_string(&name, "tensor name"));
        t.name = std::string(name);
        uint32_t n_dims;
        RETURN_IF_ERROR(c.read(&n_dims, "tensor dims"));
        if (n_dims == 0 || n_dims > MAX_DIMS)
            return corrupt_data("tensor %s: %u dimensions (1 to %d supported)", t.name.c_str(), n_dims, MAX_DIMS);
        t.n_dims = int(n_dims);
        uint64_t n_elem = 1;
        for (uint32_t d = 0; d < n_dims; d++) {
            int64_t ne;
            RETURN_IF_ERROR(c.read(&ne, "tensor shape"));
            if (ne <= 0) return corrupt_data("tensor %s: dimension %u is %lld", t.name.c_str(), d, (long long)ne);
            if (uint64_t(ne) > (uint64_t(1) << 62) / n_elem)
                return corrupt_data("tensor %s: element count overflows", t.name.c_str());
            n_elem *= uint64_t(ne);
            t.ne[d] = ne;
        }
        uint32_t type;
        RETURN_IF_ERROR(c.read(&type, "tensor type"));
        const DTypeInfo* info = dtype_info(type);
        if (!info) return unsupported("tensor %s: unknown or unsupported tensor type %u", t.name.c_str(), type);
        t.type = DType(type);
        if (t.ne[0] % info->block_elems != 0)
            return corrupt_data("tensor %s: row length %lld is not a multiple of the %s block size %lld",
                                t.name.c_str(), (long long)t.ne[0], info->name, (long long)info->block_elems);
        RETURN_IF_ERROR(c.read(&t.offset, "tensor offset"));
        t.n_bytes = n_elem / uint64_t(info->block_elems) * uint64_t(info->block_bytes);
        tensors_.push_back(std::move(t));
    }
    for (size_t i = 0; i < tensors_.size(); i++) {
        if (!tensor_index_.emplace(tensors_[i].name, i).second)
            return corrupt_data("duplicate tensor name %s", tensors_[i].name.c_str());
    }

    data_offset_ = round_up(c.pos(), alignment_);
    if (data_offset_ > size_ && !tensors_.empty()) return corrupt_data("data section starts past the end of the file");
    uint64_t data_size = size_ >= data_offset_ ? size_ - data_offset_ : 0;
    // Bounds, alignment and overlap: sort by offset and check neighbours.
    std::vector<const GgufTensorInfo*> by_offset;
    by_offset.reserve(tensors_.size());
    for (const auto& t : tensors_) {
        if (t.offset % alignment_ != 0)
            return corrupt_data("tensor %s: offset %" PRIu64 " is not aligned to %" PRIu64, t.name.c_str(), t.offset,
                                alignment_);
        if (t.offset > data_size || t.n_bytes > data_size - t.offset)
            return corrupt_data("tensor %s: data [%" PRIu64 ", %" PRIu64 ") lies outside the data section (%" PRIu64
                                " bytes); the file may be truncated",
                                t.name.c_str(), t.offset, t.offset + t.n_bytes, data_size);
        by_offset.push_back(&t);
    }
    std::sort(by_offset.begin(), by_offset.end(),
              [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < by_offset.size(); i++) {
        const GgufTensorInfo* a = by_offset[i - 1];
        const GgufTensorInfo* b = by_offset[i];
        if (a->offset + a->n_bytes > b->offset)
            return corrupt_data("tensors %s and %s overlap", a->name.c_str(), b->name.c_str());
    }
    return Status::ok();
}

const GgufValue* GgufFile::find(std::string_view key) const {
    auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kvs_[it->second].second;
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v || !v->is_int()) return std::nullopt;
    return v->i;
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (v->is_float()) return v->f;
    if (v->is_int()) return double(v->i);
    return std::nullopt;
}

std::optional<std::string_view> GgufFile::get_string(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v || v->type != GgufType::STRING) return std::nullopt;
    return v->str;
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v || !v->is_int()) return std::nullopt;
    return v->i != 0;
}

const GgufValue* GgufFile::get_array(std::string_view key) const {
    const GgufValue* v = find(key);
    return v && v->type == GgufType::ARRAY ? v : nullptr;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

TensorView GgufFile::view(const GgufTensorInfo& t) const {
    TensorView v;
    v.type = t.type;
    v.n_dims = t.n_dims;
    for (int i = 0; i < MAX_DIMS; i++) v.ne[i] = t.ne[i];
    v.data = data_ + data_offset_ + t.offset;
    return v;
}

uint64_t GgufFile::tensor_bytes() const {
    uint64_t n = 0;
    for (const auto& t : tensors_) n += t.n_bytes;
    return n;
}

}  // namespace berth
