// LoRA settings, target shapes and parameter counts.
#include "rxlm/lora/lora_config.h"

#include <algorithm>
#include <cmath>

#include "rxlm/core/error.h"

namespace rxlm {

const std::vector<std::string>& lora_module_names() {
  static const std::vector<std::string> names = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                 "gate_proj", "up_proj", "down_proj"};
  return names;
}

double LoraConfig::scale() const {
  return use_rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / static_cast<double>(rank);
}

void LoraConfig::validate() const {
  if (rank < 1) fail("lora.rank is {}; it must be at least 1 (the paper uses 16 or 32)", rank);
  if (!(alpha > 0)) fail("lora.alpha is {}; it must be positive (the paper uses 16)", alpha);
  if (target_modules.empty()) fail("lora.target_modules is empty; name at least one of q_proj,k_proj,v_proj,...");
  const auto& known = lora_module_names();
  for (size_t i = 0; i < target_modules.size(); ++i) {
    const std::string& m = target_modules[i];
    if (std::find(known.begin(), known.end(), m) == known.end())
      fail("lora.target_modules: unknown module '{}' (choose from q_proj, k_proj, v_proj, o_proj, gate_proj, "
           "up_proj, down_proj)", m);
    if (std::find(target_modules.begin(), target_modules.begin() + static_cast<std::ptrdiff_t>(i), m) !=
        target_modules.begin() + static_cast<std::ptrdiff_t>(i))
      fail("lora.target_modules: '{}' is listed twice", m);
  }
}

std::vector<LoraTarget> lora_targets(const LlamaConfig& model, const LoraConfig& lora) {
  lora.validate();
  const int64_t hidden = model.hidden_size, inter = model.intermediate_size;
  std::vector<LoraTarget> out;
  for (int64_t l = 0; l < model.num_hidden_layers; ++l) {
    for (const std::string& m : lora_module_names()) {
      if (std::find(lora.target_modules.begin(), lora.target_modules.end(), m) == lora.target_modules.end()) continue;
      LoraTarget t;
      t.layer = l;
      t.module = m;
      const bool attention = m == "q_proj" || m == "k_proj" || m == "v_proj" || m == "o_proj";
      t.weight_name = "model.layers." + std::to_string(l) + (attention ? ".self_attn." : ".mlp.") + m + ".weight";
      if (m == "q_proj") t.in_features = hidden, t.out_features = model.q_dim();
      else if (m == "k_proj" || m == "v_proj") t.in_features = hidden, t.out_features = model.kv_dim();
      else if (m == "o_proj") t.in_features = model.q_dim(), t.out_features = hidden;
      else if (m == "down_proj") t.in_features = inter, t.out_features = hidden;
      else t.in_features = hidden, t.out_features = inter;
      out.push_back(std::move(t));
    }
  }
  return out;
}

LoraParameterCounts count_lora_parameters(const LlamaConfig& model, const LoraConfig& lora) {
  LoraParameterCounts counts;
  for (const LoraTarget& t : lora_targets(model, lora)) {
    const int64_t a = lora.rank * t.in_features, b = t.out_features * lora.rank;
    counts.trainable += b + (lora.freeze_a ? 0 : a);
    counts.frozen_adapter += lora.freeze_a ? a : 0;
  }
  counts.frozen_base = model.parameter_count();
  return counts;
}

std::vector<std::string> parse_lora_targets(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t comma = list.find(',', start);
    std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty()) fail("--targets '{}': empty module name (write e.g. q_proj,v_proj)", list);
    out.push_back(std::move(item));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace rxlm
