// load_checkpoint: format dispatch, and the check that a checkpoint holds a whole Llama model.
#include "rxlm/io/checkpoint.h"

#include <charconv>
#include <cstring>
#include <fstream>
#include <optional>

#include "rxlm/core/error.h"
#include "rxlm/io/checkpoint_formats.h"

namespace rxlm {
namespace {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// The layer index of a "model.layers.{i}." name, if it is one.
std::optional<int64_t> layer_of(const std::string& name) {
  static const std::string prefix = "model.layers.";
  if (name.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  int64_t layer = -1;
  const char* begin = name.data() + prefix.size();
  auto [end, ec] = std::from_chars(begin, name.data() + name.size(), layer);
  if (ec != std::errc() || end == begin || *end != '.') return std::nullopt;
  return layer;
}

}  // namespace

const TensorView& Checkpoint::tensor(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end())
    fail("{}: tensor '{}' is missing from this {} checkpoint ({} tensors)", path.string(), name, format, tensors.size());
  return it->second;
}

void check_llama_tensors(const Checkpoint& checkpoint) {
  const LlamaConfig& c = checkpoint.config;
  const int64_t h = c.hidden_size;
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected = {
      {"model.embed_tokens.weight", {c.vocab_size, h}}, {"model.norm.weight", {h}}};
  if (!c.tie_word_embeddings || checkpoint.has("lm_head.weight")) expected.push_back({"lm_head.weight", {c.vocab_size, h}});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    std::string p = fmt::format("model.layers.{}.", i);
    expected.push_back({p + "input_layernorm.weight", {h}});
    expected.push_back({p + "self_attn.q_proj.weight", {c.q_dim(), h}});
    expected.push_back({p + "self_attn.k_proj.weight", {c.kv_dim(), h}});
    expected.push_back({p + "self_attn.v_proj.weight", {c.kv_dim(), h}});
    expected.push_back({p + "self_attn.o_proj.weight", {h, c.q_dim()}});
    expected.push_back({p + "post_attention_layernorm.weight", {h}});
    expected.push_back({p + "mlp.gate_proj.weight", {c.intermediate_size, h}});
    expected.push_back({p + "mlp.up_proj.weight", {c.intermediate_size, h}});
    expected.push_back({p + "mlp.down_proj.weight", {h, c.intermediate_size}});
  }
  for (const auto& [name, shape] : expected) {
    auto it = checkpoint.tensors.find(name);
    if (it == checkpoint.tensors.end()) {
      if (name == "lm_head.weight")
        fail("{}: tensor 'lm_head.weight' is missing but the config says the embeddings are not tied; set "
             "tie_word_embeddings to true if the model shares them, or restore the missing tensor",
             checkpoint.path.string());
      fail("{}: tensor '{}' is missing (a Llama model with {} layers needs it); the checkpoint is incomplete or "
           "its shards/index disagree", checkpoint.path.string(), name, c.num_hidden_layers);
    }
    const TensorView& t = it->second;
    if (t.shape != shape)
      fail("{}: tensor '{}' has shape {} but the config implies {} (hidden_size {}, heads {}, kv heads {}, head_dim "
           "{}, intermediate_size {}, vocab_size {}); the config and the weights disagree", t.file, name,
           shape_string(t.shape), shape_string(shape), h, c.num_attention_heads, c.num_key_value_heads, c.head_dim,
           c.intermediate_size, c.vocab_size);
  }
  for (const auto& [name, t] : checkpoint.tensors) {
    auto layer = layer_of(name);
    if (layer && *layer >= c.num_hidden_layers)
      fail("{}: tensor '{}' belongs to layer {} but the config has only {} layers; the config and the weights "
           "disagree", t.file, name, *layer, c.num_hidden_layers);
  }
}

Checkpoint load_checkpoint(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    fail("{}: no such file or directory; pass a Hugging Face model directory, a .gguf file or a llama2.c .bin",
         path.string());
  if (std::filesystem::is_directory(path, ec)) {
    if (!std::filesystem::exists(path / "config.json"))
      fail("{}: directory without config.json; pass a Hugging Face model directory, or the .gguf/.bin file itself",
           path.string());
    return load_hf_checkpoint(path);
  }
  const std::string filename = path.filename().string();
  if (filename == "config.json" || path.extension() == ".safetensors" || filename == "model.safetensors.index.json")
    return load_hf_checkpoint(path.parent_path().empty() ? "." : path.parent_path());
  char magic[4] = {};
  std::ifstream in(path, std::ios::binary);
  in.read(magic, 4);
  if (in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0) return load_gguf_checkpoint(path);
  if (path.extension() == ".gguf")
    fail("{}: named .gguf but does not start with the GGUF magic; the file is corrupt or not GGUF", path.string());
  return load_llama2c_checkpoint(path);
}

}  // namespace rxlm
