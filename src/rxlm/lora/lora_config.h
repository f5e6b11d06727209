// LoRA adapter settings (rank, alpha, target modules, frozen A for FFA-LoRA, rsLoRA) and the shapes and
// parameter counts they imply for a Llama config.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "rxlm/model/config.h"

namespace rxlm {

// Defaults are the paper's profile: FFA-LoRA (A frozen, only B trained) on q_proj and v_proj, rank 16,
// alpha 16. The adapted linear layer computes y = W x + scale · B (A x).
struct LoraConfig {
  int64_t rank = 16;
  double alpha = 16.0;
  std::vector<std::string> target_modules = {"q_proj", "v_proj"};
  bool freeze_a = true;     // FFA-LoRA; false = standard LoRA (A and B trained)
  bool use_rslora = false;  // rank-stabilised scale alpha/√r instead of alpha/r

  double scale() const;
  // Throws rxlm::Error naming the bad field (rank < 1, alpha ≤ 0, unknown or repeated module, none).
  void validate() const;
};

// The Llama linear layers LoRA can adapt, in HF order: q_proj k_proj v_proj o_proj gate_proj up_proj down_proj.
const std::vector<std::string>& lora_module_names();

// One adapted linear layer: W is [out_features, in_features]; A is [rank, in], B is [out, rank] (PEFT's shapes).
struct LoraTarget {
  int64_t layer = 0;
  std::string module;       // "q_proj", ...
  std::string weight_name;  // the base weight, e.g. model.layers.3.self_attn.q_proj.weight
  int64_t in_features = 0, out_features = 0;
};

// Every adapted layer, layer-major then in lora_module_names() order.
std::vector<LoraTarget> lora_targets(const LlamaConfig& model, const LoraConfig& lora);

struct LoraParameterCounts {
  int64_t trainable = 0;      // B, plus A when !freeze_a
  int64_t frozen_adapter = 0;  // A when freeze_a
  int64_t frozen_base = 0;    // every base-model weight (LlamaConfig::parameter_count)
  int64_t frozen() const { return frozen_adapter + frozen_base; }
};

LoraParameterCounts count_lora_parameters(const LlamaConfig& model, const LoraConfig& lora);

// Comma-separated module list ("q_proj,v_proj") → names; throws on an empty item.
std::vector<std::string> parse_lora_targets(const std::string& list);

}  // namespace rxlm
