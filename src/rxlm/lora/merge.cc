// LoRA merge into a Hugging Face checkpoint.
#include "rxlm/lora/merge.h"

#include <cblas.h>

#include <deque>
#include <fstream>

#include "rxlm/core/error.h"
#include "rxlm/io/jsonl.h"
#include "rxlm/io/safetensors.h"

namespace rxlm {

void merge_lora(const Checkpoint& base, const LoraWeights& lora, const std::filesystem::path& out_dir) {
  if (base.format != "hf")
    fail("merge: the base {} is {}; merging writes a Hugging Face checkpoint and needs a Hugging Face base",
         base.path.string(), base.format);
  const std::filesystem::path config_path =
      std::filesystem::is_directory(base.path) ? base.path / "config.json" : base.path.parent_path() / "config.json";
  std::ifstream config_in(config_path, std::ios::binary);
  if (!config_in) fail("merge: cannot read {}", config_path.string());
  const std::string config_text(std::istreambuf_iterator<char>(config_in), {});

  const float scale = static_cast<float>(lora.config.scale());
  std::deque<std::vector<std::byte>> merged;  // stable addresses for the entries' spans
  std::vector<SafetensorsEntry> entries;
  for (const auto& [name, t] : base.tensors) {
    if (dtype_is_quantized(t.dtype))
      fail("merge: {} is {}; only F32, F16 and BF16 bases can be merged", name, dtype_name(t.dtype));
    const LoraAdapter* adapter = nullptr;
    for (const LoraAdapter& a : lora.adapters)
      if (a.target.weight_name == name) adapter = &a;
    if (!adapter) {
      entries.push_back({name, t.dtype, t.shape, std::span<const std::byte>(t.data, t.nbytes)});
      continue;
    }
    const int64_t out = t.rows(), in = t.cols(), r = lora.config.rank;
    if (out != adapter->target.out_features || in != adapter->target.in_features)
      fail("merge: {} is [{}, {}] but the adapter expects [{}, {}]", name, out, in, adapter->target.out_features,
           adapter->target.in_features);
    std::vector<float> w(static_cast<size_t>(out * in));
    dequantize_row(t.dtype, t.data, w.data(), t.numel());
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, out, in, r, scale, adapter->b.data(), r,
                adapter->a.data(), in, 1.f, w.data(), in);
    std::vector<std::byte>& bytes = merged.emplace_back(dtype_bytes(t.dtype, t.numel()));
    if (t.dtype == DType::F32) {
      std::memcpy(bytes.data(), w.data(), bytes.size());
    } else {
      auto* h = reinterpret_cast<uint16_t*>(bytes.data());
      for (size_t i = 0; i < w.size(); ++i) h[i] = t.dtype == DType::BF16 ? f32_to_bf16(w[i]) : f32_to_f16(w[i]);
    }
    entries.push_back({name, t.dtype, t.shape, bytes});
  }
  std::filesystem::create_directories(out_dir);
  write_safetensors(out_dir / "model.safetensors", entries, {{"format", "pt"}});
  write_file_atomic(out_dir / "config.json", config_text);
}

}  // namespace rxlm
