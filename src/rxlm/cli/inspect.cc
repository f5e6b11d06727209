// rxlm inspect --model PATH: config, tensor count, parameter count and bytes by dtype of a checkpoint
// (HF directory, config-only HF directory, GGUF or llama2.c .bin).
#include <fmt/format.h>

#include <filesystem>
#include <map>

#include "rxlm/cli/command.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/io/checkpoint_formats.h"
#include "rxlm/io/gguf.h"
#include "rxlm/io/hf_config.h"
#include "rxlm/cli/format.h"

namespace rxlm::cli {
namespace {

std::string id_list(const std::vector<int64_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? ", " : "") + std::to_string(ids[i]);
  return out + "]";
}

void print_config(const LlamaConfig& c) {
  auto row = [](const char* key, const std::string& value) { fmt::print("  {:<26}{}\n", key, value); };
  fmt::print("config:\n");
  row("hidden_size", std::to_string(c.hidden_size));
  row("intermediate_size", std::to_string(c.intermediate_size));
  row("num_hidden_layers", std::to_string(c.num_hidden_layers));
  row("num_attention_heads", std::to_string(c.num_attention_heads));
  row("num_key_value_heads", std::to_string(c.num_key_value_heads));
  row("head_dim", std::to_string(c.head_dim));
  row("vocab_size", std::to_string(c.vocab_size));
  row("max_position_embeddings", std::to_string(c.max_position_embeddings));
  row("rms_norm_eps", fmt::format("{:g}", c.rms_norm_eps));
  row("rope_theta", fmt::format("{:g}", c.rope_theta));
  const RopeScaling& s = c.rope_scaling;
  row("rope_scaling", s.type.empty() ? "none"
                                     : fmt::format("{} (factor {:g}, low_freq_factor {:g}, high_freq_factor {:g}, "
                                                   "original_max_position_embeddings {})",
                                                   s.type, s.factor, s.low_freq_factor, s.high_freq_factor,
                                                   s.original_max_position_embeddings));
  row("tie_word_embeddings", c.tie_word_embeddings ? "true" : "false");
  row("rope_adjacent_pairs", c.rope_adjacent_pairs ? "true" : "false");
  row("bos_token_ids", id_list(c.bos_token_ids));
  row("eos_token_ids", id_list(c.eos_token_ids));
  if (!c.torch_dtype.empty()) row("torch_dtype", c.torch_dtype);
  fmt::print("parameters (config): {}\n", grouped(static_cast<uint64_t>(c.parameter_count())));
}

void print_gguf(const GgufFile& gguf) {
  fmt::print("gguf: version {}, {} metadata keys", gguf.version(), gguf.metadata().size());
  if (auto model = gguf.find_string("tokenizer.ggml.model")) fmt::print(", tokenizer.ggml.model {}", *model);
  if (gguf.has("tokenizer.ggml.tokens"))
    fmt::print(", {} tokens", gguf.get_string_array("tokenizer.ggml.tokens").size());
  fmt::print(", chat template: {}\n", gguf.has("tokenizer.chat_template") ? "yes" : "no");
}

void inspect(const std::filesystem::path& path) {
  fmt::print("model: {}\n", path.string());
  if (std::filesystem::is_directory(path) && std::filesystem::exists(path / "config.json") &&
      !hf_directory_has_weights(path)) {
    fmt::print("format: hf (config only, no weights)\n");
    LlamaConfig config = load_hf_config(path);
    print_config(config);
    fmt::print("bytes at bf16 (from config): {}\n", grouped(2 * static_cast<uint64_t>(config.parameter_count())));
    return;
  }
  Checkpoint checkpoint = load_checkpoint(path);
  fmt::print("format: {}\n", checkpoint.format);
  if (checkpoint.gguf) print_gguf(*checkpoint.gguf);
  print_config(checkpoint.config);
  if (checkpoint.has("rope_freqs.weight"))
    fmt::print("rope_freqs.weight: present (llama.cpp's form of llama3 rope scaling: per-frequency divisors)\n");
  struct Totals {
    uint64_t bytes = 0, tensors = 0;
  };
  std::map<std::string, Totals> by_dtype;
  uint64_t parameters = 0;
  for (const auto& [name, t] : checkpoint.tensors) {
    auto& totals = by_dtype[std::string(dtype_name(t.dtype))];
    totals.bytes += t.nbytes;
    totals.tensors += 1;
    parameters += static_cast<uint64_t>(t.numel());
  }
  fmt::print("tensors: {}\n", checkpoint.tensors.size());
  fmt::print("parameters (tensors): {}\n", grouped(parameters));
  fmt::print("bytes by dtype:\n");
  for (const auto& [dtype, totals] : by_dtype)
    fmt::print("  {:<6}{} bytes in {} tensors\n", dtype, grouped(totals.bytes), totals.tensors);
}

const bool registered = register_command("inspect", "Print a checkpoint's config, tensor count, parameter count "
                                         "and bytes by dtype", [](CLI::App& app) {
  auto model = std::make_shared<std::string>();
  app.add_option("--model", *model, "Hugging Face directory (config-only is fine), .gguf or llama2.c .bin")
      ->required();
  app.callback([model] { inspect(*model); });
});

}  // namespace
}  // namespace rxlm::cli
