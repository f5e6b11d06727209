// Cross-entropy with ignored targets: loss against a direct fp64 formula, gradient against central
// finite differences of an fp64 loss, and bad targets refused.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "rxlm/core/error.h"
#include "rxlm/ops/cross_entropy.h"

namespace rxlm {
namespace {

double loss_f64(const std::vector<double>& z, const std::vector<int32_t>& t, int64_t vocab) {
  double s = 0;
  for (size_t r = 0; r < t.size(); ++r) {
    if (t[r] < 0) continue;
    double e = 0;
    for (int64_t i = 0; i < vocab; ++i) e += std::exp(z[r * vocab + i]);
    s += std::log(e) - z[r * vocab + t[r]];
  }
  return s;
}

TEST(CrossEntropy, LossAndGradientOfTheMeanOverCountedRows) {
  const int64_t rows = 4, vocab = 9;
  const std::vector<int32_t> targets = {3, kIgnoreTarget, 0, 8};
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-6.f, 6.f);
  std::vector<float> logits(rows * vocab);
  for (float& x : logits) x = u(rng);
  logits[5] = 60.f;  // a large logit: the max shift must keep exp finite
  int64_t counted = 0;
  const double sum = cross_entropy_forward(logits.data(), targets.data(), rows, vocab, &counted);
  ASSERT_EQ(counted, 3);
  std::vector<double> zd(logits.begin(), logits.end());
  EXPECT_NEAR(sum, loss_f64(zd, targets, vocab), 1e-9);

  std::vector<float> d_logits(rows * vocab, 7.f);
  cross_entropy_backward(logits.data(), targets.data(), rows, vocab, 1.0 / counted, d_logits.data());
  const double h = 1e-6;
  for (size_t i = 0; i < zd.size(); ++i) {
    const double keep = zd[i];
    zd[i] = keep + h;
    const double plus = loss_f64(zd, targets, vocab);
    zd[i] = keep - h;
    const double minus = loss_f64(zd, targets, vocab);
    zd[i] = keep;
    EXPECT_NEAR(d_logits[i], (plus - minus) / (2 * h) / counted, 1e-6) << "at " << i;
  }
  for (int64_t i = vocab; i < 2 * vocab; ++i) EXPECT_EQ(d_logits[i], 0.f);  // the ignored row
}

TEST(CrossEntropy, BackwardMayOverwriteTheLogits) {
  const int64_t vocab = 5;
  std::vector<float> logits = {0.1f, -2.f, 3.f, 0.5f, 1.f}, separate(5);
  const std::vector<int32_t> t = {2};
  cross_entropy_backward(logits.data(), t.data(), 1, vocab, 1.0, separate.data());
  cross_entropy_backward(logits.data(), t.data(), 1, vocab, 1.0, logits.data());
  // In place: each row's softmax is computed before the row is overwritten.
  for (int i = 0; i < vocab; ++i) EXPECT_FLOAT_EQ(logits[i], separate[i]);
}

TEST(CrossEntropy, RefusesTargetsOutsideTheVocabulary) {
  std::vector<float> logits(4, 0.f);
  const std::vector<int32_t> too_big = {4}, negative = {-1};
  EXPECT_THROW(cross_entropy_forward(logits.data(), too_big.data(), 1, 4, nullptr), Error);
  EXPECT_THROW(cross_entropy_forward(logits.data(), negative.data(), 1, 4, nullptr), Error);
}

}  // namespace
}  // namespace rxlm
