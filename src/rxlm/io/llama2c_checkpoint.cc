// llama2.c legacy (version 0) checkpoints: 7 int32 header, then f32 weights stacked over layers.
#include <cstring>

#include "rxlm/core/error.h"
#include "rxlm/io/checkpoint_formats.h"

namespace rxlm {
namespace {

constexpr uint32_t kVersion1Magic = 0x616b3432;  // "ak42": llama2.c export.py version 1/2 files

struct Header {
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};

}  // namespace

Checkpoint load_llama2c_checkpoint(const std::filesystem::path& path) {
  Checkpoint checkpoint;
  checkpoint.path = path;
  checkpoint.format = "llama2c";
  auto file = MappedFile::open(path);
  checkpoint.files.push_back(file);
  const std::string name = path.string();
  if (file->size() >= 4) {
    uint32_t magic;
    std::memcpy(&magic, file->data(), 4);
    if (magic == kVersion1Magic)
      fail("{}: llama2.c export version 1/2 (magic 'ak42') is not supported; export with --version 0 (legacy)", name);
  }
  Header h;
  std::memcpy(&h, file->range(0, sizeof(Header), "llama2.c header (7 int32)").data(), sizeof(Header));
  // vocab_size < 0 marks a separate classifier (the format's sign flag); llama2.c shares it otherwise.
  const bool shared_classifier = h.vocab_size > 0;
  const int64_t vocab = h.vocab_size < 0 ? -static_cast<int64_t>(h.vocab_size) : h.vocab_size;
  // Limits far above any llama2.c model keep the size arithmetic below from overflowing.
  struct Field {
    int64_t value;
    const char* name;
    int64_t limit;
  };
  for (const Field& field : {Field{h.dim, "dim", 1 << 16}, Field{h.hidden_dim, "hidden_dim", 1 << 18},
                             Field{h.n_layers, "n_layers", 1 << 12}, Field{h.n_heads, "n_heads", 1 << 12},
                             Field{h.n_kv_heads, "n_kv_heads", 1 << 12}, Field{vocab, "vocab_size", 1 << 22},
                             Field{h.seq_len, "seq_len", 1 << 24}})
    if (field.value <= 0 || field.value > field.limit)
      fail("{}: header field {} = {} is out of range (1..{}); not a llama2.c checkpoint (or a corrupt one)", name,
           field.name, field.value, field.limit);
  if (h.dim % h.n_heads != 0 || h.n_heads % h.n_kv_heads != 0 || (h.dim / h.n_heads) % 2 != 0)
    fail("{}: header has dim {} with {} heads and {} kv heads, which is not a valid Llama shape; not a llama2.c "
         "checkpoint (or a corrupt one)", name, h.dim, h.n_heads, h.n_kv_heads);

  LlamaConfig& c = checkpoint.config;
  c.hidden_size = h.dim;
  c.intermediate_size = h.hidden_dim;
  c.num_hidden_layers = h.n_layers;
  c.num_attention_heads = h.n_heads;
  c.num_key_value_heads = h.n_kv_heads;
  c.head_dim = h.dim / h.n_heads;
  c.vocab_size = vocab;
  c.max_position_embeddings = h.seq_len;
  c.rms_norm_eps = 1e-5;  // run.c hard-codes these two
  c.rope_theta = 10000.0;
  c.tie_word_embeddings = shared_classifier;
  c.rope_adjacent_pairs = true;
  c.bos_token_ids = {1};
  c.eos_token_ids = {2};
  c.validate(name);

  const int64_t d = h.dim, kv = c.kv_dim(), f = h.hidden_dim, layers = h.n_layers;
  // The whole size first, so a truncated file or a lying header is reported as such (sizes < 2^62).
  const int64_t floats = vocab * d * (shared_classifier ? 1 : 2) + d +
                         layers * (2 * d + 2 * d * d + 2 * kv * d + 3 * f * d) + int64_t{h.seq_len} * c.head_dim;
  const uint64_t expected = sizeof(Header) + static_cast<uint64_t>(floats) * 4;
  if (expected != file->size())
    fail("{}: the header (dim {}, hidden_dim {}, {} layers, {} heads, {} kv heads, vocab {}, seq_len {}) implies {} "
         "bytes but the file has {}; the file is {} or the header lies", name, h.dim, h.hidden_dim, h.n_layers,
         h.n_heads, h.n_kv_heads, h.vocab_size, h.seq_len, expected, file->size(),
         expected > file->size() ? "truncated" : "longer than its header says");

  uint64_t offset = sizeof(Header);
  // Places `count` stacked tensors of `shape` at the current offset, one per layer (or one global).
  auto place = [&](const std::string& pattern, std::vector<int64_t> shape, int64_t count) {
    int64_t numel = 1;
    for (int64_t s : shape) numel *= s;
    const uint64_t nbytes = static_cast<uint64_t>(numel) * 4;
    for (int64_t i = 0; i < count; ++i) {
      TensorView t;
      t.name = count == 1 && pattern.find("{}") == std::string::npos ? pattern : fmt::format(fmt::runtime(pattern), i);
      t.dtype = DType::F32;
      t.shape = shape;
      t.nbytes = nbytes;
      t.file = name;
      t.data = file->range(offset, nbytes, fmt::format("tensor '{}'", t.name)).data();
      offset += nbytes;
      checkpoint.tensors.emplace(t.name, std::move(t));
    }
  };
  place("model.embed_tokens.weight", {vocab, d}, 1);
  place("model.layers.{}.input_layernorm.weight", {d}, layers);
  place("model.layers.{}.self_attn.q_proj.weight", {d, d}, layers);
  place("model.layers.{}.self_attn.k_proj.weight", {kv, d}, layers);
  place("model.layers.{}.self_attn.v_proj.weight", {kv, d}, layers);
  place("model.layers.{}.self_attn.o_proj.weight", {d, d}, layers);
  place("model.layers.{}.post_attention_layernorm.weight", {d}, layers);
  place("model.layers.{}.mlp.gate_proj.weight", {f, d}, layers);  // w1
  place("model.layers.{}.mlp.down_proj.weight", {d, f}, layers);  // w2
  place("model.layers.{}.mlp.up_proj.weight", {f, d}, layers);    // w3
  place("model.norm.weight", {d}, 1);
  offset += 2 * static_cast<uint64_t>(h.seq_len) * static_cast<uint64_t>(c.head_dim / 2) * 4;  // freq_cis_real/imag
  if (!shared_classifier) place("lm_head.weight", {vocab, d}, 1);
  check_llama_tensors(checkpoint);
  return checkpoint;
}

}  // namespace rxlm
