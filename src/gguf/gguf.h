// gguf: parsing of GGUF v2/v3 files (header, metadata, tensor infos) with bounds checks on every read, typed
// getters, and a writer for tools and tests. Knows nothing of architectures.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/base.h"
#include "memory/memory.h"
#include "tensor/tensor.h"

namespace berth {

enum class GgufType : uint32_t {
    UINT8 = 0,
    INT8 = 1,
    UINT16 = 2,
    INT16 = 3,
    UINT32 = 4,
    INT32 = 5,
    FLOAT32 = 6,
    BOOL = 7,
    STRING = 8,
    ARRAY = 9,
    UINT64 = 10,
    INT64 = 11,
    FLOAT64 = 12,
};
const char* gguf_type_name(GgufType t);

// One metadata value. Scalars are held decoded; arrays keep a pointer into the file and decode on access.
struct GgufValue {
    GgufType type = GgufType::UINT8;
    // scalars
    int64_t i = 0;   // every integer type and bool
    uint64_t u = 0;  // UINT64 keeps its full range here (also set for the other unsigned types)
    double f = 0;
    std::string_view str;  // STRING (points into the file)
    // arrays
    GgufType elem_type = GgufType::UINT8;
    uint64_t count = 0;
    const uint8_t* elems = nullptr;         // first element in the file
    std::vector<std::string_view> strings;  // decoded for arrays of strings

    bool is_int() const;
    bool is_float() const { return type == GgufType::FLOAT32 || type == GgufType::FLOAT64; }
    // Element access for numeric arrays (any integer or float element type).
    int64_t int_at(uint64_t idx) const;
    double float_at(uint64_t idx) const;
};

struct GgufTensorInfo {
    std::string name;
    int n_dims = 0;
    int64_t ne[MAX_DIMS] = {1, 1, 1, 1};
    DType type = DType::F32;
    uint64_t offset = 0;  // relative to the data section
    uint64_t n_bytes = 0;
};

class GgufFile {
  public:
    // Maps and parses a file. Every structural problem is a corrupt_data/unsupported Status naming the file.
    static Result<std::unique_ptr<GgufFile>> open(const std::string& path);
    // Parses bytes that the caller keeps alive (tests, in-memory files).
    static Result<std::unique_ptr<GgufFile>> parse(const uint8_t* data, size_t size);

    uint32_t version() const { return version_; }
    uint64_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; }
    const uint8_t* bytes() const { return data_; }
    size_t size() const { return size_; }
    const std::string& path() const { return path_; }
    MappedFile* mapping() { return mapping_ ? &*mapping_ : nullptr; }

    const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kvs_; }
    const GgufValue* find(std::string_view key) const;
    std::optional<int64_t> get_int(std::string_view key) const;   // any integer type or bool
    std::optional<double> get_float(std::string_view key) const;  // any float or integer type
    std::optional<std::string_view> get_string(std::string_view key) const;
    std::optional<bool> get_bool(std::string_view key) const;
    const GgufValue* get_array(std::string_view key) const;  // nullptr unless an array

    const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
    const GgufTensorInfo* find_tensor(std::string_view name) const;
    TensorView view(const GgufTensorInfo& t) const;
    // Sum of all tensor data bytes.
    uint64_t tensor_bytes() const;

  private:
    GgufFile() = default;
    Status parse_all();

    std::optional<MappedFile> mapping_;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
    std::string path_;
    uint32_t version_ = 0;
    uint64_t alignment_ = 32;
    uint64_t data_offset_ = 0;
    std::vector<std::pair<std::string, GgufValue>> kvs_;
    std::unordered_map<std::string_view, size_t> kv_index_;
    std::vector<GgufTensorInfo> tensors_;
    std::unordered_map<std::string_view, size_t> tensor_index_;
};

// Builds GGUF v3 files. Metadata keeps insertion order; tensors are written aligned in insertion order.
class GgufWriter {
  public:
    void set_u32(const std::string& key, uint32_t v);
    void set_i32(const std::string& key, int32_t v);
    void set_u64(const std::string& key, uint64_t v);
    void set_f32(const std::string& key, float v);
    void set_bool(const std::string& key, bool v);
    void set_string(const std::string& key, const std::string& v);
    void set_array_string(const std::string& key, const std::vector<std::string>& v);
    void set_array_f32(const std::string& key, const std::vector<float>& v);
    void set_array_i32(const std::string& key, const std::vector<int32_t>& v);
    // Raw value bytes (after the type id), for tests that need unusual encodings.
    void set_raw(const std::string& key, GgufType type, std::string value_bytes);
    void set_alignment(uint32_t a);
    // data must hold row_bytes(type, ne[0]) * rows bytes.
    void add_tensor(const std::string& name, DType type, std::vector<int64_t> ne, std::string data);
    // The whole file as bytes.
    std::string serialize() const;
    Status write(const std::string& path) const;

  private:
    struct KV {
        std::string key;
        GgufType type;
        std::string bytes;
    };
    struct Tensor {
        std::string name;
        DType type;
        std::vector<int64_t> ne;
        std::string data;
    };
    void put(const std::string& key, GgufType type, std::string bytes);
    std::vector<KV> kvs_;
    std::vector<Tensor> tensors_;
    uint32_t alignment_ = 32;
};

}  // namespace berth
