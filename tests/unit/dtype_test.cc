// dtype conversions against values computed by hand from the IEEE/ggml definitions.
#include "rxlm/core/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace rxlm {

TEST(DType, HalfAndBfloatKnownValues) {
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  // 1 + 2^-8 is exactly half-way between two bf16 values: ties go to even (1.0).
  EXPECT_EQ(f32_to_bf16(1.00390625f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.01171875f), 0x3f82);  // 1 + 3·2^-8 rounds up to even 0x3f82
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

TEST(DType, VectorAndScalarPathsAgree) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.f, 3.f);
  for (DType dtype : {DType::F16, DType::BF16}) {
    for (int n : {1, 7, 8, 9, 33}) {
      std::vector<uint16_t> src(n);
      for (auto& s : src) s = dtype == DType::F16 ? f32_to_f16(dist(rng)) : f32_to_bf16(dist(rng));
      std::vector<float> dst(n);
      dequantize_row(dtype, src.data(), dst.data(), n);
      for (int i = 0; i < n; ++i)
        EXPECT_EQ(dst[i], dtype == DType::F16 ? f16_to_f32(src[i]) : bf16_to_f32(src[i]));
    }
  }
}

TEST(DType, QuantBlocksFollowGgmlLayout) {
  BlockQ4_0 q4{};
  q4.d = f32_to_f16(0.5f);
  for (int j = 0; j < 16; ++j) q4.qs[j] = static_cast<uint8_t>((j & 0xf) | ((15 - j) << 4));
  float out[32];
  dequantize_row(DType::Q4_0, &q4, out, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_FLOAT_EQ(out[j], 0.5f * (j - 8));
    EXPECT_FLOAT_EQ(out[j + 16], 0.5f * (15 - j - 8));
  }
  BlockQ4_1 q41{};
  q41.d = f32_to_f16(0.25f);
  q41.m = f32_to_f16(-1.0f);
  for (int j = 0; j < 16; ++j) q41.qs[j] = static_cast<uint8_t>(3 | (12 << 4));
  dequantize_row(DType::Q4_1, &q41, out, 32);
  EXPECT_FLOAT_EQ(out[0], 0.25f * 3 - 1.0f);
  EXPECT_FLOAT_EQ(out[31], 0.25f * 12 - 1.0f);
  BlockQ8_0 q8{};
  q8.d = f32_to_f16(2.0f);
  for (int j = 0; j < 32; ++j) q8.qs[j] = static_cast<int8_t>(j - 16);
  dequantize_row(DType::Q8_0, &q8, out, 32);
  for (int j = 0; j < 32; ++j) EXPECT_FLOAT_EQ(out[j], 2.0f * (j - 16));
}

}  // namespace rxlm
