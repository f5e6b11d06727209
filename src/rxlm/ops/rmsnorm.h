// RMSNorm: y = x / sqrt(mean(x²) + eps) · weight, per row, in f32.
#pragma once
#include <cstdint>

namespace rxlm {

void rmsnorm_forward(const float* x, const float* weight, int64_t n_rows, int64_t dim, double eps, float* y);

}  // namespace rxlm
