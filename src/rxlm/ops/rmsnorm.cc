// RMSNorm forward.
#include "rxlm/ops/rmsnorm.h"

#include <cmath>

namespace rxlm {

void rmsnorm_forward(const float* x, const float* weight, int64_t n_rows, int64_t dim, double eps, float* y) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    float sum_sq = 0.f;  // f32 like PyTorch's x.pow(2).mean() in float32
    for (int64_t i = 0; i < dim; ++i) sum_sq += xr[i] * xr[i];
    const float inv = 1.0f / std::sqrt(sum_sq / static_cast<float>(dim) + static_cast<float>(eps));
    for (int64_t i = 0; i < dim; ++i) yr[i] = weight[i] * (xr[i] * inv);
  }
}

}  // namespace rxlm
