#include <gtest/gtest.h>

#include <cmath>

#include "base/base.h"

namespace berth {

TEST(Half, RoundTripsEveryHalfValue) {
    for (uint32_t i = 0; i < 65536; i++) {
        float f = fp16_to_fp32(fp16_t(i));
        if (std::isnan(f)) {
            EXPECT_TRUE(std::isnan(fp16_to_fp32(fp32_to_fp16(f))));
            continue;
        }
        EXPECT_EQ(fp32_to_fp16(f), fp16_t(i)) << i;
    }
}

TEST(Half, RoundsToNearestEven) {
    EXPECT_EQ(fp16_to_fp32(fp32_to_fp16(1.0f + 1.0f / 2048)), 1.0f);                // tie → even (down)
    EXPECT_EQ(fp16_to_fp32(fp32_to_fp16(1.0f + 3.0f / 2048)), 1.0f + 2.0f / 1024);  // tie → even (up)
    EXPECT_EQ(fp32_to_fp16(70000.0f), 0x7c00);
    EXPECT_EQ(fp16_to_fp32(fp32_to_fp16(5.96046448e-08f)), 5.96046448e-08f);  // smallest subnormal
}

TEST(Half, Bf16) {
    EXPECT_EQ(bf16_to_fp32(fp32_to_bf16(1.5f)), 1.5f);
    EXPECT_EQ(fp32_to_bf16(1.0f + 1.0f / 256), fp32_to_bf16(1.0f));  // tie → even
    EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(NAN))));
}

TEST(Status, ResultCarriesValueOrError) {
    Result<int> ok = 3;
    EXPECT_TRUE(ok.is_ok());
    EXPECT_EQ(*ok, 3);
    Result<int> bad = corrupt_data("bad magic %x", 7);
    EXPECT_FALSE(bad.is_ok());
    EXPECT_EQ(bad.status().code(), StatusCode::corrupt_data);
    EXPECT_EQ(bad.status().message(), "bad magic 7");
    EXPECT_EQ(bad.status().with_context("x.gguf").message(), "x.gguf: bad magic 7");
}

static Result<int> twice(Result<int> in) {
    ASSIGN_OR_RETURN(int v, std::move(in));
    return v * 2;
}

TEST(Status, AssignOrReturnPropagates) {
    EXPECT_EQ(*twice(4), 8);
    EXPECT_EQ(twice(invalid_argument("no")).status().message(), "no");
}

TEST(Sizes, ParseByteSize) {
    EXPECT_EQ(*parse_byte_size("12GiB"), 12LL << 30);
    EXPECT_EQ(*parse_byte_size("512 MiB"), 512LL << 20);
    EXPECT_EQ(*parse_byte_size("1.5GB"), 1500000000LL);
    EXPECT_EQ(*parse_byte_size("123456"), 123456);
    EXPECT_FALSE(parse_byte_size("12 parsecs").is_ok());
    EXPECT_FALSE(parse_byte_size("").is_ok());
    EXPECT_FALSE(parse_byte_size("-5").is_ok());
}

}  // namespace berth
