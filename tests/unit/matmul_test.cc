// matmul fast paths (sgemm, fused dequantise-dot, blocked dequantise+sgemm) against the f64 scalar
// reference, for every weight dtype, on random data of awkward sizes.
#include "rxlm/ops/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace rxlm {
namespace {

// Random weights of shape [out, in] stored in `dtype` (quantised blocks get random scales and codes).
std::vector<std::byte> random_weights(DType dtype, int64_t out, int64_t in, std::mt19937& rng) {
  std::vector<std::byte> bytes(dtype_bytes(dtype, out * in));
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_int_distribution<int> byte(0, 255);
  if (dtype == DType::F32) {
    auto* p = reinterpret_cast<float*>(bytes.data());
    for (int64_t i = 0; i < out * in; ++i) p[i] = normal(rng);
  } else if (dtype == DType::F16 || dtype == DType::BF16) {
    auto* p = reinterpret_cast<uint16_t*>(bytes.data());
    for (int64_t i = 0; i < out * in; ++i) p[i] = dtype == DType::F16 ? f32_to_f16(normal(rng)) : f32_to_bf16(normal(rng));
  } else {
    for (auto& b : bytes) b = static_cast<std::byte>(byte(rng));
    const int64_t block = dtype_block_bytes(dtype);
    for (int64_t k = 0; k < out * in / 32; ++k) {  // sane f16 scales (random bytes could be inf/nan)
      uint16_t d = f32_to_f16(0.01f + 0.1f * std::abs(normal(rng))), m = f32_to_f16(-0.5f * std::abs(normal(rng)));
      std::memcpy(bytes.data() + k * block, &d, 2);
      if (dtype == DType::Q4_1) std::memcpy(bytes.data() + k * block + 2, &m, 2);
    }
  }
  return bytes;
}

class MatmulTest : public ::testing::TestWithParam<DType> {};

TEST_P(MatmulTest, FastMatchesReference) {
  const DType dtype = GetParam();
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (int64_t in : {32, 64, 96, 544}) {
    for (int64_t out : {1, 7, 300}) {
      for (int64_t n : {1, 3, 8, 9, 37}) {
        auto bytes = random_weights(dtype, out, in, rng);
        TensorView w{"w", dtype, {out, in}, bytes.data(), bytes.size(), "test"};
        std::vector<float> x(n * in), fast(n * out), ref(n * out);
        for (float& v : x) v = normal(rng);
        matmul(x.data(), n, w, fast.data());
        matmul_reference(x.data(), n, w, ref.data());
        double max_ref = 0, max_err = 0;
        for (size_t i = 0; i < ref.size(); ++i) {
          max_ref = std::max(max_ref, std::abs(static_cast<double>(ref[i])));
          max_err = std::max(max_err, std::abs(static_cast<double>(fast[i]) - ref[i]));
        }
        EXPECT_LE(max_err, 1e-5 * max_ref + 1e-6) << dtype_name(dtype) << " in=" << in << " out=" << out << " n=" << n;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllDtypes, MatmulTest,
                         ::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace rxlm

namespace rxlm {
namespace {

// Quantising the activations to 8 bits must stay close to the exact f32-activation product.
TEST(Matmul, ActivationQuantisationErrorIsSmall) {
  std::mt19937 rng(99);
  std::normal_distribution<float> normal(0.f, 1.f);
  const int64_t in = 576, out = 64, n = 4;
  for (DType dtype : {DType::Q8_0, DType::Q4_0, DType::Q4_1}) {
    auto bytes = random_weights(dtype, out, in, rng);
    TensorView w{"w", dtype, {out, in}, bytes.data(), bytes.size(), "test"};
    std::vector<float> x(n * in), y(n * out), wf(out * in);
    for (float& v : x) v = normal(rng);
    matmul(x.data(), n, w, y.data());
    dequantize_row(dtype, bytes.data(), wf.data(), out * in);
    double max_err = 0, max_ref = 0;
    for (int64_t t = 0; t < n; ++t)
      for (int64_t o = 0; o < out; ++o) {
        double exact = 0;
        for (int64_t i = 0; i < in; ++i) exact += double(wf[o * in + i]) * x[t * in + i];
        max_ref = std::max(max_ref, std::abs(exact));
        max_err = std::max(max_err, std::abs(exact - y[t * out + o]));
      }
    EXPECT_LE(max_err, 2e-2 * max_ref) << dtype_name(dtype);
    EXPECT_GT(max_err, 0.0) << "8-bit activations cannot be exact on random data";
  }
}

}  // namespace
}  // namespace rxlm

namespace rxlm {
namespace {

// A token's output must not depend on how many tokens share the call (prefill vs decode give the
// same bits) while n stays on the decode kernels: every tail of the 4-token tiles for quantised
// weights (n < 16), the fused path for f16/bf16 (n ≤ 8). Larger prefills go through sgemm.
TEST(Matmul, RowResultsDoNotDependOnBatchSize) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.f, 1.f);
  const int64_t in = 128, out = 33, n = 7;
  for (DType dtype : {DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1}) {
    auto bytes = random_weights(dtype, out, in, rng);
    TensorView w{"w", dtype, {out, in}, bytes.data(), bytes.size(), "test"};
    std::vector<float> x(n * in), batched(n * out), single(out);
    for (float& v : x) v = normal(rng);
    matmul(x.data(), n, w, batched.data());
    for (int64_t t = 0; t < n; ++t) {
      matmul(x.data() + t * in, 1, w, single.data());
      for (int64_t o = 0; o < out; ++o)
        ASSERT_EQ(single[o], batched[t * out + o]) << dtype_name(dtype) << " token " << t << " row " << o;
    }
  }
}

}  // namespace
}  // namespace rxlm
