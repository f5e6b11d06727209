// RMSNorm backward, paired with rmsnorm_forward (rmsnorm.h); follows the ops gradient rule (README.md).
#pragma once
#include <cstdint>

namespace rxlm {

// From the forward's input x and weight and the output gradient d_y: d_x is overwritten (an activation);
// d_weight, when not null, is accumulated (+=, a parameter). With r = 1/sqrt(mean(x²) + eps):
//   d_x_i = r · w_i · dy_i − r³ · x_i · Σ_j (w_j · dy_j · x_j) / dim
void rmsnorm_backward(const float* x, const float* weight, const float* d_y, int64_t n_rows, int64_t dim, double eps,
                      float* d_x, float* d_weight = nullptr);

}  // namespace rxlm
