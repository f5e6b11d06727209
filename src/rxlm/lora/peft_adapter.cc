// PEFT adapter read and write.
#include "rxlm/lora/peft_adapter.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "rxlm/core/error.h"
#include "rxlm/io/jsonl.h"

namespace rxlm {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out;
  for (int64_t d : shape) out += (out.empty() ? "" : ", ") + std::to_string(d);
  return out;
}

void read_into(const SafetensorsFile& file, const std::string& name, const std::vector<int64_t>& shape,
               std::vector<float>& out) {
  const TensorView* t = file.find(name);
  if (!t) fail("{}: tensor {} is missing (is this adapter for this model and these target modules?)",
               file.path().string(), name);
  if (t->shape != shape)
    fail("{}: tensor {} has shape [{}] but the model needs [{}] (adapter made for another model or rank?)",
         file.path().string(), name, shape_text(t->shape), shape_text(shape));
  out.resize(static_cast<size_t>(t->numel()));
  dequantize_row(t->dtype, t->data, out.data(), t->numel());
}

}  // namespace

std::string peft_tensor_name(const LoraTarget& target, char matrix, const std::string& suffix) {
  const bool attention = target.module == "q_proj" || target.module == "k_proj" || target.module == "v_proj" ||
                         target.module == "o_proj";
  return "base_model.model.model.layers." + std::to_string(target.layer) + (attention ? ".self_attn." : ".mlp.") +
         target.module + ".lora_" + matrix + "." + suffix;
}

void read_lora_tensors(const SafetensorsFile& file, LoraWeights& lora, const std::string& suffix) {
  const int64_t r = lora.config.rank;
  for (LoraAdapter& a : lora.adapters) {
    read_into(file, peft_tensor_name(a.target, 'A', suffix), {r, a.target.in_features}, a.a);
    read_into(file, peft_tensor_name(a.target, 'B', suffix), {a.target.out_features, r}, a.b);
  }
}

LoraWeights load_peft_adapter(const std::filesystem::path& dir, const LlamaConfig& model, bool freeze_a) {
  const std::filesystem::path config_path = dir / "adapter_config.json";
  std::ifstream in(config_path);
  if (!in) fail("{}: cannot open (a PEFT adapter directory holds adapter_config.json and "
                "adapter_model.safetensors)", config_path.string());
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", config_path.string(), e.what());
  }
  auto refuse_if = [&](bool bad, const std::string& what) {
    if (bad) fail("{}: {} is not supported (plain LoRA adapters only)", config_path.string(), what);
  };
  try {
    refuse_if(j.value("peft_type", "LORA") != "LORA", "peft_type " + j.value("peft_type", ""));
    refuse_if(j.value("use_dora", false), "use_dora");
    refuse_if(j.value("bias", "none") != "none", "bias " + j.value("bias", ""));
    refuse_if(j.contains("rank_pattern") && !j["rank_pattern"].empty(), "rank_pattern");
    refuse_if(j.contains("alpha_pattern") && !j["alpha_pattern"].empty(), "alpha_pattern");
    LoraConfig lora;
    lora.rank = j.at("r").get<int64_t>();
    lora.alpha = j.at("lora_alpha").get<double>();
    lora.use_rslora = j.value("use_rslora", false);
    lora.freeze_a = freeze_a;
    lora.target_modules = j.at("target_modules").get<std::vector<std::string>>();
    LoraWeights weights = init_lora_weights(model, lora, 0);
    const auto file = SafetensorsFile::open(dir / "adapter_model.safetensors");
    read_lora_tensors(*file, weights);
    return weights;
  } catch (const nlohmann::json::exception& e) {
    fail("{}: {} (expected PEFT's keys r, lora_alpha, target_modules)", config_path.string(), e.what());
  }
}

void save_peft_adapter(const std::filesystem::path& dir, const LoraWeights& lora, const std::string& base_model) {
  std::filesystem::create_directories(dir);
  std::vector<SafetensorsEntry> entries;
  const int64_t r = lora.config.rank;
  for (const LoraAdapter& a : lora.adapters) {
    entries.push_back({peft_tensor_name(a.target, 'A'), DType::F32, {r, a.target.in_features},
                       std::as_bytes(std::span<const float>(a.a))});
    entries.push_back({peft_tensor_name(a.target, 'B'), DType::F32, {a.target.out_features, r},
                       std::as_bytes(std::span<const float>(a.b))});
  }
  write_safetensors(dir / "adapter_model.safetensors", entries, {{"format", "pt"}});
  const nlohmann::json config = {
      {"peft_type", "LORA"},          {"task_type", "CAUSAL_LM"},
      {"r", lora.config.rank},         {"lora_alpha", lora.config.alpha},
      {"target_modules", lora.config.target_modules},
      {"use_rslora", lora.config.use_rslora},
      {"lora_dropout", 0.0},           {"bias", "none"},
      {"fan_in_fan_out", false},       {"init_lora_weights", true},
      {"inference_mode", true},        {"base_model_name_or_path", base_model},
      {"modules_to_save", nullptr},    {"use_dora", false}};
  write_file_atomic(dir / "adapter_config.json", config.dump(2) + "\n");
}

}  // namespace rxlm
