// SGD and AdamW on LoRA tensors.
#include "rxlm/train/optimizer.h"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <numbers>
#include <string>

#include "rxlm/core/error.h"
#include "rxlm/io/safetensors.h"
#include "rxlm/lora/peft_adapter.h"

namespace rxlm {

void sgd_step(LoraWeights& lora, double learning_rate) {
  const float lr = static_cast<float>(learning_rate);
  for (LoraAdapter& a : lora.adapters) {
    for (size_t i = 0; i < a.b.size(); ++i) a.b[i] -= lr * a.grad_b[i];
    if (!lora.config.freeze_a)
      for (size_t i = 0; i < a.a.size(); ++i) a.a[i] -= lr * a.grad_a[i];
  }
}

double clip_grad_norm(LoraWeights& lora, double max_norm) {
  double sum_sq = 0;
  for (const LoraAdapter& a : lora.adapters) {
    for (float g : a.grad_b) sum_sq += static_cast<double>(g) * g;
    for (float g : a.grad_a) sum_sq += static_cast<double>(g) * g;  // empty when A is frozen
  }
  const double norm = std::sqrt(sum_sq);
  const double coefficient = max_norm / (norm + 1e-6);
  if (coefficient < 1.0) {
    const float c = static_cast<float>(coefficient);
    for (LoraAdapter& a : lora.adapters) {
      for (float& g : a.grad_b) g *= c;
      for (float& g : a.grad_a) g *= c;
    }
  }
  return norm;
}

double schedule_factor(const std::string& schedule, int64_t step, int64_t warmup_steps, int64_t total_steps) {
  const double s = static_cast<double>(step), warmup = static_cast<double>(warmup_steps);
  const double total = static_cast<double>(total_steps);
  const bool warming = step < warmup_steps;
  if (schedule == "constant" || schedule == "constant_with_warmup") return warming ? s / std::max(1.0, warmup) : 1.0;
  if (warming) return s / std::max(1.0, warmup);
  if (schedule == "linear") return std::max(0.0, (total - s) / std::max(1.0, total - warmup));
  if (schedule == "cosine") {
    const double progress = (s - warmup) / std::max(1.0, total - warmup);
    return std::max(0.0, 0.5 * (1.0 + std::cos(std::numbers::pi * progress)));
  }
  fail("schedule '{}': choose constant, constant_with_warmup, linear or cosine", schedule);
}

AdamW::AdamW(const LoraWeights& lora, AdamWSettings settings) : settings_(settings) {
  if (!(settings.beta1 >= 0 && settings.beta1 < 1 && settings.beta2 >= 0 && settings.beta2 < 1))
    fail("adamw: betas ({}, {}) must lie in [0, 1)", settings.beta1, settings.beta2);
  if (!(settings.eps > 0)) fail("adamw: eps {} must be positive", settings.eps);
  for (const LoraAdapter& a : lora.adapters) {
    b_.push_back({std::vector<float>(a.b.size(), 0.f), std::vector<float>(a.b.size(), 0.f)});
    if (!lora.config.freeze_a) a_.push_back({std::vector<float>(a.a.size(), 0.f), std::vector<float>(a.a.size(), 0.f)});
  }
}

void AdamW::update(std::vector<float>& p, const std::vector<float>& g, Moments& s, double lr) const {
  // Scalars as PyTorch forms them (Python floats, i.e. f64), elementwise arithmetic in f32 like its kernels.
  const double t = static_cast<double>(step_);
  const float decay = static_cast<float>(1.0 - lr * settings_.weight_decay);
  const float one_minus_beta1 = static_cast<float>(1.0 - settings_.beta1);
  const float beta2 = static_cast<float>(settings_.beta2), one_minus_beta2 = static_cast<float>(1.0 - settings_.beta2);
  const float step_size = static_cast<float>(lr / (1.0 - std::pow(settings_.beta1, t)));
  const float correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(settings_.beta2, t)));
  const float eps = static_cast<float>(settings_.eps);
  for (size_t i = 0; i < p.size(); ++i) {
    p[i] *= decay;
    s.m[i] += one_minus_beta1 * (g[i] - s.m[i]);
    s.v[i] = s.v[i] * beta2 + one_minus_beta2 * g[i] * g[i];
    const float denom = std::sqrt(s.v[i]) / correction2_sqrt + eps;
    p[i] -= step_size * (s.m[i] / denom);
  }
}

void AdamW::step(LoraWeights& lora, double learning_rate) {
  if (lora.adapters.size() != b_.size()) fail("adamw: the optimiser was made for {} adapters, not {}", b_.size(),
                                              lora.adapters.size());
  ++step_;
  for (size_t i = 0; i < lora.adapters.size(); ++i) {
    LoraAdapter& a = lora.adapters[i];
    update(a.b, a.grad_b, b_[i], learning_rate);
    if (!a_.empty()) update(a.a, a.grad_a, a_[i], learning_rate);
  }
}

}  // namespace rxlm

namespace rxlm {

void AdamW::write_state(const std::filesystem::path& path, const LoraWeights& lora) const {
  std::vector<SafetensorsEntry> entries;
  auto add = [&](const LoraTarget& t, char matrix, const Moments& m, int64_t rows, int64_t cols) {
    entries.push_back({peft_tensor_name(t, matrix, "exp_avg"), DType::F32, {rows, cols},
                       std::as_bytes(std::span<const float>(m.m))});
    entries.push_back({peft_tensor_name(t, matrix, "exp_avg_sq"), DType::F32, {rows, cols},
                       std::as_bytes(std::span<const float>(m.v))});
  };
  const int64_t r = lora.config.rank;
  for (size_t i = 0; i < lora.adapters.size(); ++i) {
    const LoraTarget& t = lora.adapters[i].target;
    add(t, 'B', b_[i], t.out_features, r);
    if (!a_.empty()) add(t, 'A', a_[i], r, t.in_features);
  }
  write_safetensors(path, entries, {{"format", "rxlm-adamw"}, {"version", "1"}, {"step", std::to_string(step_)}});
}

void AdamW::read_state(const std::filesystem::path& path, const LoraWeights& lora) {
  const auto file = SafetensorsFile::open(path);
  const auto& meta = file->metadata();
  if (!meta.count("format") || meta.at("format") != "rxlm-adamw" || !meta.count("version") ||
      meta.at("version") != "1" || !meta.count("step"))
    fail("{}: not an rxlm AdamW state (version 1); was the run trained with another optimizer?", path.string());
  auto read = [&](const std::string& name, std::vector<float>& out) {
    const TensorView* t = file->find(name);
    if (!t || t->dtype != DType::F32 || static_cast<size_t>(t->numel()) != out.size())
      fail("{}: {} is missing or shaped unlike the adapter", path.string(), name);
    std::memcpy(out.data(), t->data, out.size() * sizeof(float));
  };
  for (size_t i = 0; i < lora.adapters.size(); ++i) {
    const LoraTarget& t = lora.adapters[i].target;
    read(peft_tensor_name(t, 'B', "exp_avg"), b_[i].m);
    read(peft_tensor_name(t, 'B', "exp_avg_sq"), b_[i].v);
    if (!a_.empty()) {
      read(peft_tensor_name(t, 'A', "exp_avg"), a_[i].m);
      read(peft_tensor_name(t, 'A', "exp_avg_sq"), a_[i].v);
    }
  }
  step_ = std::stoll(meta.at("step"));
}

}  // namespace rxlm
