// Hugging Face config.json parsing for Llama-architecture models.
#include "rxlm/io/hf_config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "rxlm/core/error.h"

namespace rxlm {
namespace {

using nlohmann::json;

// Sizes beyond these are corrupt configs, not models: they would overflow shape arithmetic.
constexpr int64_t kMaxDimension = 1 << 24;
constexpr int64_t kMaxLayers = 4096;

class ConfigReader {
 public:
  ConfigReader(const json& root, const std::string& source) : root_(root), source_(source) {}

  const json* find(const json& object, const char* key) const {
    auto it = object.find(key);
    return it == object.end() || it->is_null() ? nullptr : &*it;
  }
  int64_t integer(const json& object, const char* key, std::optional<int64_t> fallback, int64_t limit) const {
    const json* v = find(object, key);
    if (!v) {
      if (!fallback) fail("{}: \"{}\" is missing; a LlamaForCausalLM config.json needs it", source_, key);
      return *fallback;
    }
    if (!v->is_number_integer())
      fail("{}: \"{}\" must be an integer, got {}", source_, key, v->dump());
    int64_t n = v->get<int64_t>();
    if (n <= 0 || n > limit) fail("{}: \"{}\" = {} is outside 1..{}; the config is corrupt", source_, key, n, limit);
    return n;
  }
  double number(const json& object, const char* key, double fallback) const {
    const json* v = find(object, key);
    if (!v) return fallback;
    if (!v->is_number()) fail("{}: \"{}\" must be a number, got {}", source_, key, v->dump());
    return v->get<double>();
  }
  std::vector<int64_t> token_ids(const char* key) const {
    const json* v = find(root_, key);
    std::vector<int64_t> ids;
    if (!v) return ids;
    auto add = [&](const json& id) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0)
        fail("{}: \"{}\" must be a token id or a list of token ids, got {}", source_, key, v->dump());
      ids.push_back(id.get<int64_t>());
    };
    if (v->is_array()) {
      for (const auto& id : *v) add(id);
    } else {
      add(*v);
    }
    return ids;
  }

  LlamaConfig read() const {
    if (!root_.is_object()) fail("{}: not a JSON object; expected a Hugging Face config.json", source_);
    check_architecture();
    LlamaConfig c;
    c.hidden_size = integer(root_, "hidden_size", std::nullopt, kMaxDimension);
    c.intermediate_size = integer(root_, "intermediate_size", std::nullopt, kMaxDimension);
    c.num_hidden_layers = integer(root_, "num_hidden_layers", std::nullopt, kMaxLayers);
    c.num_attention_heads = integer(root_, "num_attention_heads", std::nullopt, kMaxDimension);
    c.num_key_value_heads = integer(root_, "num_key_value_heads", c.num_attention_heads, kMaxDimension);
    if (!find(root_, "head_dim") && c.hidden_size % c.num_attention_heads != 0)
      fail("{}: hidden_size {} is not a multiple of num_attention_heads {}; set head_dim explicitly", source_,
           c.hidden_size, c.num_attention_heads);
    c.head_dim = integer(root_, "head_dim", c.hidden_size / c.num_attention_heads, kMaxDimension);
    c.vocab_size = integer(root_, "vocab_size", std::nullopt, kMaxDimension);
    c.max_position_embeddings = integer(root_, "max_position_embeddings", 2048, int64_t{1} << 30);
    c.rms_norm_eps = number(root_, "rms_norm_eps", 1e-6);
    read_rope(c);
    if (const json* tie = find(root_, "tie_word_embeddings")) {
      if (!tie->is_boolean()) fail("{}: \"tie_word_embeddings\" must be true or false, got {}", source_, tie->dump());
      c.tie_word_embeddings = tie->get<bool>();
    }
    c.bos_token_ids = token_ids("bos_token_id");
    c.eos_token_ids = token_ids("eos_token_id");
    for (const char* key : {"torch_dtype", "dtype"})
      if (const json* d = find(root_, key); d && d->is_string()) c.torch_dtype = d->get<std::string>();
    c.rope_adjacent_pairs = false;
    c.validate(source_);
    return c;
  }

 private:
  void check_architecture() const {
    if (const json* type = find(root_, "model_type"); type && type->is_string() && type->get<std::string>() != "llama")
      fail("{}: model_type is \"{}\"; rxlm runs Llama-architecture models (model_type \"llama\")", source_,
           type->get<std::string>());
    if (const json* arch = find(root_, "architectures"); arch && arch->is_array() && !arch->empty()) {
      for (const auto& a : *arch)
        if (a == "LlamaForCausalLM") return;
      fail("{}: architectures {} does not include LlamaForCausalLM; rxlm runs Llama-architecture models", source_,
           arch->dump());
    }
  }

  // rope_theta and rope_scaling at the top level (transformers 4.x), or both inside rope_parameters (5.x).
  void read_rope(LlamaConfig& c) const {
    const json* params = find(root_, "rope_parameters");
    if (params && !params->is_object())
      fail("{}: \"rope_parameters\" must be an object, got {}", source_, params->dump());
    c.rope_theta = number(root_, "rope_theta", params ? number(*params, "rope_theta", 10000.0) : 10000.0);
    const json* scaling = find(root_, "rope_scaling");
    if (!scaling) scaling = params;
    if (!scaling) return;
    if (!scaling->is_object()) fail("{}: \"rope_scaling\" must be an object or null, got {}", source_, scaling->dump());
    std::string type;
    for (const char* key : {"rope_type", "type"})
      if (const json* t = find(*scaling, key); t && t->is_string()) {
        type = t->get<std::string>();
        break;
      }
    if (type.empty() || type == "default") return;
    c.rope_scaling.type = type;
    if (type != "llama3") return;  // validate() names the unsupported type
    auto required = [&](const char* key) {
      if (!find(*scaling, key))
        fail("{}: rope_scaling of type llama3 needs \"{}\"; copy it from the model's original config.json", source_,
             key);
    };
    for (const char* key : {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"})
      required(key);
    c.rope_scaling.factor = number(*scaling, "factor", 0);
    c.rope_scaling.low_freq_factor = number(*scaling, "low_freq_factor", 0);
    c.rope_scaling.high_freq_factor = number(*scaling, "high_freq_factor", 0);
    c.rope_scaling.original_max_position_embeddings =
        integer(*scaling, "original_max_position_embeddings", std::nullopt, int64_t{1} << 30);
  }

  const json& root_;
  const std::string& source_;
};

}  // namespace

LlamaConfig parse_hf_config(std::string_view json_text, const std::string& source) {
  json root;
  try {
    root = json::parse(json_text.begin(), json_text.end());
  } catch (const json::exception& e) {
    fail("{}: not valid JSON ({}); fix or re-download config.json", source, e.what());
  }
  return ConfigReader(root, source).read();
}

LlamaConfig load_hf_config(const std::filesystem::path& path) {
  std::filesystem::path file = std::filesystem::is_directory(path) ? path / "config.json" : path;
  std::ifstream in(file, std::ios::binary);
  if (!in) fail("cannot read {}: a Hugging Face model directory needs a config.json", file.string());
  std::ostringstream text;
  text << in.rdbuf();
  return parse_hf_config(text.str(), file.string());
}

}  // namespace rxlm
