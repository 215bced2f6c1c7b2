#include <cctype>

#include "tensor/tensor.h"

namespace berth {
namespace {
struct Entry {
    uint32_t id;
    DTypeInfo info;
};
const Entry kTypes[] = {
    {0, {"f32", 1, 4, false}},
    {1, {"f16", 1, 2, false}},
    {2, {"q4_0", QK4_0, sizeof(BlockQ4_0), true}},
    {3, {"q4_1", QK4_1, sizeof(BlockQ4_1), true}},
    {6, {"q5_0", QK5_0, sizeof(BlockQ5_0), true}},
    {7, {"q5_1", QK5_1, sizeof(BlockQ5_1), true}},
    {8, {"q8_0", QK8_0, sizeof(BlockQ8_0), true}},
    {9, {"q8_1", QK8_1, sizeof(BlockQ8_1), true}},
    {10, {"q2_K", QK_K, sizeof(BlockQ2_K), true}},
    {11, {"q3_K", QK_K, sizeof(BlockQ3_K), true}},
    {12, {"q4_K", QK_K, sizeof(BlockQ4_K), true}},
    {13, {"q5_K", QK_K, sizeof(BlockQ5_K), true}},
    {14, {"q6_K", QK_K, sizeof(BlockQ6_K), true}},
    {15, {"q8_K", QK_K, sizeof(BlockQ8_K), true}},
    {24, {"i8", 1, 1, false}},
    {25, {"i16", 1, 2, false}},
    {26, {"i32", 1, 4, false}},
    {30, {"bf16", 1, 2, false}},
};
// Same bytes per row as their source types: 16 rows of a group hold 16 rows' blocks, interleaved.
const Entry kInternalTypes[] = {
    {uint32_t(DType::Q4_0_R16), {"q4_0_r16", QK4_0, sizeof(BlockQ4_0), true}},
    {uint32_t(DType::Q8_0_R16), {"q8_0_r16", QK8_0, sizeof(BlockQ8_0), true}},
    {uint32_t(DType::Q4_K_R16), {"q4_k_r16", QK_K, sizeof(BlockQ4_K), true}},
    {uint32_t(DType::Q6_K_R16), {"q6_k_r16", QK_K, sizeof(BlockQ6_K), true}},
};
}  // namespace

const DTypeInfo* dtype_info(uint32_t id) {
    for (const Entry& e : kTypes)
        if (e.id == id) return &e.info;
    return nullptr;
}

const DTypeInfo& dtype_info(DType t) {
    const DTypeInfo* i = dtype_info(uint32_t(t));
    for (const Entry& e : kInternalTypes)
        if (e.id == uint32_t(t)) i = &e.info;
    CHECK_MSG(i, "unknown dtype");
    return *i;
}

int64_t row_bytes(DType t, int64_t n) {
    const DTypeInfo& i = dtype_info(t);
    CHECK_MSG(n % i.block_elems == 0, "row length not a multiple of the block size");
    return n / i.block_elems * i.block_bytes;
}

bool parse_dtype(std::string_view name, DType* out) {
    for (const Entry& e : kTypes) {
        std::string_view n = e.info.name;
        if (n.size() != name.size()) continue;
        bool eq = true;
        for (size_t i = 0; i < n.size(); i++)
            if (tolower((unsigned char)n[i]) != tolower((unsigned char)name[i])) eq = false;
        if (eq) {
            *out = DType(e.id);
            return true;
        }
    }
    return false;
}

std::string TensorView::shape_string() const {
    std::string s = "[";
    for (int i = 0; i < n_dims; i++) {
        if (i) s += ", ";
        s += std::to_string(ne[i]);
    }
    return s + "]";
}

}  // namespace berth
