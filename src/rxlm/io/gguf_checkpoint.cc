// GGUF (llama architecture) → Checkpoint: llama.* metadata to LlamaConfig, tensor names to HF names.
#include <charconv>

#include "rxlm/core/error.h"
#include "rxlm/io/checkpoint_formats.h"
#include "rxlm/io/gguf.h"

namespace rxlm {
namespace {

// GGUF block tensor suffix → Hugging Face name inside model.layers.{i}.
constexpr std::pair<const char*, const char*> kLayerNames[] = {
    {"attn_q.weight", "self_attn.q_proj.weight"},     {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_v.weight", "self_attn.v_proj.weight"},     {"attn_output.weight", "self_attn.o_proj.weight"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},      {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},      {"attn_norm.weight", "input_layernorm.weight"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
};
constexpr std::pair<const char*, const char*> kGlobalNames[] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
};

// The Hugging Face name for a GGUF tensor name; names we do not know (rope_freqs.weight, ...) are kept.
std::string canonical_name(const std::string& gguf_name) {
  for (auto [from, to] : kGlobalNames)
    if (gguf_name == from) return to;
  static const std::string prefix = "blk.";
  if (gguf_name.compare(0, prefix.size(), prefix) == 0) {
    int64_t layer = -1;
    const char* begin = gguf_name.data() + prefix.size();
    auto [end, ec] = std::from_chars(begin, gguf_name.data() + gguf_name.size(), layer);
    if (ec == std::errc() && end != begin && *end == '.') {
      std::string suffix(end + 1);
      for (auto [from, to] : kLayerNames)
        if (suffix == from) return fmt::format("model.layers.{}.{}", layer, to);
    }
  }
  return gguf_name;
}

LlamaConfig read_config(const GgufFile& gguf, const Checkpoint& checkpoint) {
  const std::string source = gguf.path().string();
  const std::string arch = gguf.get_string("general.architecture");
  if (arch != "llama")
    fail("{}: general.architecture is '{}'; rxlm runs the llama architecture (Llama 2/3, SmolLM2, ...)", source, arch);
  auto key = [](const char* name) { return std::string("llama.") + name; };
  auto positive = [&](const std::string& k) {
    int64_t v = gguf.get_int(k);
    if (v <= 0 || v > (int64_t{1} << 30)) fail("{}: metadata key '{}' = {} is out of range", source, k, v);
    return v;
  };
  LlamaConfig c;
  c.hidden_size = positive(key("embedding_length"));
  c.intermediate_size = positive(key("feed_forward_length"));
  c.num_hidden_layers = positive(key("block_count"));
  c.num_attention_heads = positive(key("attention.head_count"));
  c.num_key_value_heads = gguf.has(key("attention.head_count_kv")) ? positive(key("attention.head_count_kv"))
                                                                     : c.num_attention_heads;
  if (gguf.has(key("attention.key_length"))) {
    c.head_dim = positive(key("attention.key_length"));
  } else {
    if (c.hidden_size % c.num_attention_heads != 0)
      fail("{}: embedding_length {} is not a multiple of head_count {} and attention.key_length is absent", source,
           c.hidden_size, c.num_attention_heads);
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (gguf.has(key("rope.dimension_count")) && gguf.get_int(key("rope.dimension_count")) != c.head_dim)
    fail("{}: llama.rope.dimension_count {} differs from the head size {}; partial rotary embeddings are not "
         "supported", source, gguf.get_int(key("rope.dimension_count")), c.head_dim);
  c.max_position_embeddings = gguf.has(key("context_length")) ? positive(key("context_length")) : 2048;
  c.rms_norm_eps = gguf.has(key("attention.layer_norm_rms_epsilon"))
                       ? gguf.get_float(key("attention.layer_norm_rms_epsilon")) : 1e-5;
  c.rope_theta = gguf.has(key("rope.freq_base")) ? gguf.get_float(key("rope.freq_base")) : 10000.0;

  if (gguf.has(key("vocab_size"))) {
    c.vocab_size = positive(key("vocab_size"));
  } else if (gguf.has("tokenizer.ggml.tokens")) {
    c.vocab_size = static_cast<int64_t>(gguf.get_string_array("tokenizer.ggml.tokens").size());
  } else if (checkpoint.has("model.embed_tokens.weight")) {
    c.vocab_size = checkpoint.tensor("model.embed_tokens.weight").shape.front();
  }
  // Scaling written as metadata (linear, yarn, ...); llama.cpp stores Llama 3.1's llama3 scaling as the
  // rope_freqs.weight tensor instead, which the checkpoint keeps.
  if (auto type = gguf.find_string(key("rope.scaling.type")); type && *type != "none") {
    c.rope_scaling.type = *type;
    if (gguf.has(key("rope.scaling.factor"))) c.rope_scaling.factor = gguf.get_float(key("rope.scaling.factor"));
    if (auto original = gguf.find_int(key("rope.scaling.original_context_length")))
      c.rope_scaling.original_max_position_embeddings = *original;
  }
  c.tie_word_embeddings = !checkpoint.has("lm_head.weight");
  c.rope_adjacent_pairs = true;  // llama.cpp's converter permuted q/k rows for adjacent-pair RoPE
  if (auto bos = gguf.find_int("tokenizer.ggml.bos_token_id")) c.bos_token_ids = {*bos};
  if (auto eos = gguf.find_int("tokenizer.ggml.eos_token_id")) c.eos_token_ids = {*eos};
  c.validate(source);
  return c;
}

}  // namespace

Checkpoint load_gguf_checkpoint(const std::filesystem::path& file) {
  Checkpoint checkpoint;
  checkpoint.path = file;
  checkpoint.format = "gguf";
  checkpoint.gguf = GgufFile::open(file);
  checkpoint.files.push_back(checkpoint.gguf->file());
  for (const TensorView& t : checkpoint.gguf->tensors()) {
    TensorView view = t;
    view.name = canonical_name(t.name);
    if (!checkpoint.tensors.emplace(view.name, view).second)
      fail("{}: tensor '{}' maps to '{}', which another tensor already uses; the file is corrupt", file.string(),
           t.name, view.name);
  }
  checkpoint.config = read_config(*checkpoint.gguf, checkpoint);
  if (checkpoint.has("rope_freqs.weight")) {
    const TensorView& f = checkpoint.tensor("rope_freqs.weight");
    if (f.dtype != DType::F32 || f.shape != std::vector<int64_t>{checkpoint.config.head_dim / 2})
      fail("{}: tensor 'rope_freqs.weight' must be F32 with {} elements (head_dim / 2); the file is corrupt",
           file.string(), checkpoint.config.head_dim / 2);
  }
  check_llama_tensors(checkpoint);
  return checkpoint;
}

}  // namespace rxlm
