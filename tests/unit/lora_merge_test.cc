// Merging a PEFT adapter into its base: the merged checkpoint's inference logits equal the unmerged
// base + adapter logits of the training forward; untouched tensors are byte-identical; a bf16 base stays
// bf16 with W + s·B·A rounded as PyTorch rounds.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "rxlm/core/error.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/lora/merge.h"
#include "rxlm/lora/peft_adapter.h"
#include "rxlm/model/llama.h"
#include "rxlm/train/llama_train.h"

namespace rxlm {
namespace {

namespace fs = std::filesystem;
const std::string root = RXLM_SOURCE_DIR;

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("rxlm_lora_merge_test_" + std::to_string(getpid()));
  ~TempDir() { fs::remove_all(path); }
};

TEST(LoraMerge, MergedLogitsEqualUnmergedAndOtherTensorsAreCopied) {
  TempDir dir;
  const Checkpoint base = load_checkpoint(root + "/tests/fixtures/tiny_llama/f32");
  LoraWeights adapter = load_peft_adapter(root + "/tests/fixtures/lora/standard_r16/adapter", base.config);
  merge_lora(base, adapter, dir.path);
  const Checkpoint merged = load_checkpoint(dir.path);

  const std::vector<int32_t> tokens = {1, 17, 200, 45, 3, 99, 128, 7, 64, 250, 31, 12, 5, 77, 180, 2, 9, 140};
  LlamaModel model(merged);
  KvCache cache = model.make_cache(static_cast<int64_t>(tokens.size()));
  const std::vector<float> merged_logits = model.forward(tokens, cache, /*all_logits=*/true);
  LlamaLoraTrainer unmerged(base, adapter);
  const std::vector<TrainSequence> batch = {{tokens, std::vector<int32_t>(tokens.size(), -100)}};
  const std::vector<float> lora_logits = unmerged.logits(batch);
  ASSERT_EQ(merged_logits.size(), lora_logits.size());
  double diff = 0;
  for (size_t i = 0; i < lora_logits.size(); ++i) diff = std::max(diff, std::abs(double(merged_logits[i]) - lora_logits[i]));
  EXPECT_LE(diff, 1e-4);
  std::printf("merged vs unmerged: max |logit diff| %.2e\n", diff);

  // Not vacuous: the merged q_proj differs from the base's; an untouched tensor is copied exactly.
  const TensorView& q0 = base.tensor("model.layers.0.self_attn.q_proj.weight");
  EXPECT_NE(std::memcmp(q0.data, merged.tensor("model.layers.0.self_attn.q_proj.weight").data, q0.nbytes), 0);
  const TensorView& k0 = base.tensor("model.layers.0.self_attn.k_proj.weight");
  EXPECT_EQ(std::memcmp(k0.data, merged.tensor("model.layers.0.self_attn.k_proj.weight").data, k0.nbytes), 0);
  EXPECT_EQ(merged.tensors.size(), base.tensors.size());
}

TEST(LoraMerge, Bf16BaseStaysBf16WithEachMergedValueRounded) {
  TempDir dir;
  const Checkpoint base = load_checkpoint(root + "/tests/fixtures/tiny_llama/bf16");
  LoraWeights adapter = load_peft_adapter(root + "/tests/fixtures/lora/standard_r16/adapter", base.config);
  merge_lora(base, adapter, dir.path);
  const Checkpoint merged = load_checkpoint(dir.path);
  const std::string name = "model.layers.1.self_attn.v_proj.weight";
  const TensorView& w = base.tensor(name);
  const TensorView& m = merged.tensor(name);
  ASSERT_EQ(m.dtype, DType::BF16);
  const LoraAdapter& a = *adapter.find(1, "v_proj");
  const int64_t in = w.cols(), r = adapter.config.rank;
  const auto* wb = reinterpret_cast<const uint16_t*>(w.data);
  const auto* mb = reinterpret_cast<const uint16_t*>(m.data);
  int64_t off_by_more_than_rounding = 0;
  for (int64_t o = 0; o < w.rows(); ++o)
    for (int64_t i = 0; i < in; ++i) {
      double delta = 0;  // s·(B·A)[o, i] in f64
      for (int64_t k = 0; k < r; ++k) delta += double(a.b[o * r + k]) * a.a[k * in + i];
      const double exact = bf16_to_f32(wb[o * in + i]) + adapter.config.scale() * delta;
      const double got = bf16_to_f32(mb[o * in + i]);
      // bf16 has 8 significant bits: rounding moves a value by at most half an ulp, 2^-9 relative.
      if (std::abs(got - exact) > std::ldexp(std::abs(exact), -8) + 1e-30) ++off_by_more_than_rounding;
    }
  EXPECT_EQ(off_by_more_than_rounding, 0);
}

TEST(LoraMerge, RefusesQuantisedOrNonHfBases) {
  TempDir dir;
  const Checkpoint gguf = load_checkpoint(root + "/tests/fixtures/tiny_llama/gguf/tiny-q8_0.gguf");
  LoraWeights adapter = init_lora_weights(gguf.config, LoraConfig{}, 1);
  EXPECT_THAT([&] { merge_lora(gguf, adapter, dir.path); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("needs a Hugging Face base")));
}

}  // namespace
}  // namespace rxlm
