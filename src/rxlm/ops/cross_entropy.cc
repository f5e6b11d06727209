// Cross-entropy forward and backward.
#include "rxlm/ops/cross_entropy.h"

#include <algorithm>
#include <cmath>

#include "rxlm/core/error.h"

namespace rxlm {
namespace {

void check_target(int32_t target, int64_t row, int64_t vocab) {
  if (target >= vocab || (target < 0 && target != kIgnoreTarget))
    fail("cross entropy: target {} at row {} is outside the vocabulary (0..{}) and is not {} (ignored)", target, row,
         vocab - 1, kIgnoreTarget);
}

// max and log Σ exp(x − max) of one row.
void row_logsumexp(const float* z, int64_t vocab, double* max_out, double* log_sum) {
  const double m = *std::max_element(z, z + vocab);
  double s = 0;
  for (int64_t i = 0; i < vocab; ++i) s += std::exp(static_cast<double>(z[i]) - m);
  *max_out = m;
  *log_sum = std::log(s);
}

}  // namespace

double cross_entropy_forward(const float* logits, const int32_t* targets, int64_t n_rows, int64_t vocab,
                             int64_t* n_counted) {
  double total = 0;
  int64_t counted = 0;
  for (int64_t r = 0; r < n_rows; ++r) {
    check_target(targets[r], r, vocab);
    if (targets[r] < 0) continue;
    const float* z = logits + r * vocab;
    double m, log_sum;
    row_logsumexp(z, vocab, &m, &log_sum);
    total += m + log_sum - z[targets[r]];
    ++counted;
  }
  if (n_counted) *n_counted = counted;
  return total;
}

void cross_entropy_backward(const float* logits, const int32_t* targets, int64_t n_rows, int64_t vocab, double d_loss,
                            float* d_logits) {
  for (int64_t r = 0; r < n_rows; ++r) {
    check_target(targets[r], r, vocab);
    const float* z = logits + r * vocab;
    float* dz = d_logits + r * vocab;
    if (targets[r] < 0) {
      std::fill(dz, dz + vocab, 0.f);
      continue;
    }
    double m, log_sum;
    row_logsumexp(z, vocab, &m, &log_sum);
    const int32_t target = targets[r];
    for (int64_t i = 0; i < vocab; ++i) {
      const double p = std::exp(static_cast<double>(z[i]) - m - log_sum);
      dz[i] = static_cast<float>(d_loss * (p - (i == target ? 1.0 : 0.0)));
    }
  }
}

}  // namespace rxlm
