// Next-token cross-entropy with ignored targets (PyTorch's ignore_index -100), forward and backward.
#pragma once
#include <cstdint>

namespace rxlm {

inline constexpr int32_t kIgnoreTarget = -100;

// Σ over rows with targets[r] ≥ 0 of −log softmax(logits[r])[targets[r]] (log-sum-exp in f64, max-shifted).
// *n_counted receives how many rows counted. Throws rxlm::Error on a target ≥ vocab or another negative.
double cross_entropy_forward(const float* logits, const int32_t* targets, int64_t n_rows, int64_t vocab,
                             int64_t* n_counted);

// d_logits = d_loss · (softmax(logits) − onehot(target)) for counted rows, 0 for ignored rows; overwritten
// (logits are an activation). For the mean loss pass d_loss = 1 / n_counted. d_logits may alias logits.
void cross_entropy_backward(const float* logits, const int32_t* targets, int64_t n_rows, int64_t vocab, double d_loss,
                            float* d_logits);

}  // namespace rxlm
