// A loaded checkpoint: config + named tensor views into memory-mapped files, whatever the format
// (Hugging Face directory with safetensors, GGUF, llama2.c .bin). Tensor names are canonical Hugging
// Face names:
//   model.embed_tokens.weight                          [vocab, hidden]
//   model.layers.{i}.input_layernorm.weight            [hidden]
//   model.layers.{i}.self_attn.{q,k,v,o}_proj.weight   [out, in]
//   model.layers.{i}.post_attention_layernorm.weight   [hidden]
//   model.layers.{i}.mlp.{gate,up,down}_proj.weight    [out, in]
//   model.norm.weight                                  [hidden]
//   lm_head.weight                                     [vocab, hidden]  (absent when tied)
// GGUF files converted from Llama 3.1 by llama.cpp also carry
//   rope_freqs.weight                                  [head_dim / 2] F32
// llama.cpp's form of rope_scaling "llama3": per-frequency divisors, inv_freq[i] = theta^(-2i/d) /
// rope_freqs[i]. config.rope_scaling is then empty; a forward pass must use this tensor when present.
// Other tensors a file holds are kept under their own names; the loaders check only the ones above.
#pragma once
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "rxlm/core/mapped_file.h"
#include "rxlm/core/tensor.h"
#include "rxlm/model/config.h"

namespace rxlm {

class GgufFile;

struct Checkpoint {
  std::filesystem::path path;
  std::string format;  // "hf", "gguf", "llama2c"
  LlamaConfig config;
  std::map<std::string, TensorView> tensors;
  std::vector<std::shared_ptr<const MappedFile>> files;  // keep the mappings alive
  std::shared_ptr<const GgufFile> gguf;                  // set for GGUF: metadata, tokenizer, chat template

  bool has(const std::string& name) const { return tensors.count(name) != 0; }
  // Throws naming the checkpoint and the tensor if it is missing.
  const TensorView& tensor(const std::string& name) const;
};

// Dispatches on what `path` is: a directory with config.json (or its config.json / *.safetensors), a
// file starting with "GGUF", or else a llama2.c .bin. The per-format loaders are in checkpoint_formats.h.
// Checks every tensor the Llama architecture needs, with shapes against the config.
Checkpoint load_checkpoint(const std::filesystem::path& path);

}  // namespace rxlm
