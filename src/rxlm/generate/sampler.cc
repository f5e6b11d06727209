// Next-token sampling (see sampler.h).
#include "rxlm/generate/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "rxlm/core/error.h"

namespace rxlm {

Sampler::Sampler(const SamplerConfig& config) : config_(config), state_(config.seed ? config.seed : 0x9e3779b97f4a7c15ull) {
  if (!(config.temperature >= 0)) fail("temperature must be ≥ 0, got {}", config.temperature);
  if (config.top_k < 0) fail("top-k must be ≥ 0, got {}", config.top_k);
  if (!(config.repetition_penalty > 0)) fail("repetition penalty must be > 0, got {}", config.repetition_penalty);
}

float Sampler::random_unit() {
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  const uint32_t r = static_cast<uint32_t>((state_ * 0x2545F4914F6CDD1Dull) >> 32);
  return static_cast<float>(r >> 8) / 16777216.0f;
}

int32_t Sampler::sample(std::span<float> logits, std::span<const int32_t> history) {
  const int64_t n = static_cast<int64_t>(logits.size());
  if (config_.repetition_penalty != 1.0f) {
    std::unordered_set<int32_t> seen(history.begin(), history.end());
    for (int32_t id : seen) {
      if (id < 0 || id >= n) continue;
      float& l = logits[id];
      l = l > 0 ? l / config_.repetition_penalty : l * config_.repetition_penalty;
    }
  }
  if (config_.temperature == 0.0f)
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());

  for (float& l : logits) l /= config_.temperature;
  if (config_.top_k > 0 && config_.top_k < n) {
    std::vector<float> sorted(logits.begin(), logits.end());
    std::nth_element(sorted.begin(), sorted.begin() + (config_.top_k - 1), sorted.end(), std::greater<>());
    const float kth = sorted[config_.top_k - 1];
    for (float& l : logits)
      if (l < kth) l = -INFINITY;
  }
  // softmax in f32, as run.c
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  float sum = 0.f;
  for (float& l : logits) sum += (l = std::exp(l - max_logit));
  for (float& l : logits) l /= sum;
  const float coin = random_unit();

  if (config_.top_p <= 0.0f || config_.top_p >= 1.0f) {
    float cdf = 0.f;
    for (int64_t i = 0; i < n; ++i)
      if (coin < (cdf += logits[i])) return static_cast<int32_t>(i);
    return static_cast<int32_t>(n - 1);
  }
  // Nucleus: tokens below (1-p)/(n-1) can never be in the nucleus, so drop them before sorting.
  const float cutoff = (1.0f - config_.top_p) / static_cast<float>(n - 1);
  candidates_.clear();
  for (int64_t i = 0; i < n; ++i)
    if (logits[i] >= cutoff) candidates_.emplace_back(logits[i], static_cast<int32_t>(i));
  std::stable_sort(candidates_.begin(), candidates_.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  float cumulative = 0.f;
  size_t last = candidates_.size() - 1;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    cumulative += candidates_[i].first;
    if (cumulative > config_.top_p) {
      last = i;
      break;
    }
  }
  const float r = coin * cumulative;
  float cdf = 0.f;
  for (size_t i = 0; i <= last; ++i)
    if (r < (cdf += candidates_[i].first)) return candidates_[i].second;
  return candidates_[last].second;
}

}  // namespace rxlm
