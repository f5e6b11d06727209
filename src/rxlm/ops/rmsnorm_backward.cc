// RMSNorm backward (sums in f64: they mix dim terms of both signs).
#include "rxlm/ops/rmsnorm_backward.h"

#include <cmath>

namespace rxlm {

void rmsnorm_backward(const float* x, const float* weight, const float* d_y, int64_t n_rows, int64_t dim, double eps,
                      float* d_x, float* d_weight) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * dim;
    const float* dyr = d_y + r * dim;
    float* dxr = d_x + r * dim;
    double sum_sq = 0, dot = 0;
    for (int64_t i = 0; i < dim; ++i) {
      sum_sq += static_cast<double>(xr[i]) * xr[i];
      dot += static_cast<double>(weight[i]) * dyr[i] * xr[i];
    }
    const double inv = 1.0 / std::sqrt(sum_sq / static_cast<double>(dim) + eps);
    const double c = inv * inv * inv * dot / static_cast<double>(dim);
    for (int64_t i = 0; i < dim; ++i) {
      if (d_weight) d_weight[i] += static_cast<float>(dyr[i] * xr[i] * inv);
      dxr[i] = static_cast<float>(inv * weight[i] * dyr[i] - c * xr[i]);
    }
  }
}

}  // namespace rxlm
