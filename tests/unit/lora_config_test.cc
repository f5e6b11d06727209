// LoRA parameter counts against figures computed by hand from Llama-3.1-8B's published shapes
// (q_proj 4096→4096, v_proj 4096→1024, 32 layers), plus shape and validation checks.
#include <gtest/gtest.h>

#include <string>

#include "rxlm/core/error.h"
#include "rxlm/io/hf_config.h"
#include "rxlm/lora/lora_config.h"

namespace rxlm {
namespace {

LlamaConfig llama31_8b() {
  return load_hf_config(std::string(RXLM_SOURCE_DIR) + "/tests/fixtures/configs/llama-3.1-8b/config.json");
}

TEST(LoraConfig, FfaLoraRank32OnQvTrainsOnlyB) {
  LoraConfig lora;
  lora.rank = 32;
  const LoraParameterCounts c = count_lora_parameters(llama31_8b(), lora);
  EXPECT_EQ(c.trainable, 5'242'880);            // 32 layers × 32 × (4096 + 1024)
  EXPECT_EQ(c.frozen_adapter, 32 * 32 * 4096 * 2);  // A of q and v
  EXPECT_EQ(c.frozen_base, 8'030'261'248);
}

TEST(LoraConfig, FfaLoraRank16) {
  LoraConfig lora;
  EXPECT_EQ(count_lora_parameters(llama31_8b(), lora).trainable, 2'621'440);
}

TEST(LoraConfig, StandardLoraRank16TrainsAAndB) {
  LoraConfig lora;
  lora.freeze_a = false;
  const LoraParameterCounts c = count_lora_parameters(llama31_8b(), lora);
  EXPECT_EQ(c.trainable, 6'815'744);
  EXPECT_EQ(c.frozen_adapter, 0);
}

TEST(LoraConfig, AllSevenModulesHaveLlamaShapes) {
  LoraConfig lora;
  lora.rank = 8;
  lora.target_modules = {"down_proj", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj"};
  const auto targets = lora_targets(llama31_8b(), lora);
  ASSERT_EQ(targets.size(), 32u * 7);
  // Layer-major, HF module order regardless of the order given.
  EXPECT_EQ(targets[0].weight_name, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(targets[6].weight_name, "model.layers.0.mlp.down_proj.weight");
  EXPECT_EQ(targets[6].in_features, 14336);
  EXPECT_EQ(targets[6].out_features, 4096);
  EXPECT_EQ(targets[1].out_features, 1024);  // k_proj: 8 KV heads × 128
  EXPECT_EQ(targets[7].layer, 1);
}

TEST(LoraConfig, ScaleIsAlphaOverRankOrOverSqrtRankForRsLora) {
  LoraConfig lora;
  lora.rank = 16;
  lora.alpha = 32;
  EXPECT_DOUBLE_EQ(lora.scale(), 2.0);
  lora.use_rslora = true;
  EXPECT_DOUBLE_EQ(lora.scale(), 8.0);
}

TEST(LoraConfig, RejectsBadSettings) {
  LoraConfig lora;
  lora.rank = 0;
  EXPECT_THROW(lora.validate(), Error);
  lora = {};
  lora.target_modules = {"q_proj", "q_proj"};
  EXPECT_THROW(lora.validate(), Error);
  lora.target_modules = {"qproj"};
  EXPECT_THROW(lora.validate(), Error);
  EXPECT_THROW(parse_lora_targets("q_proj,,v_proj"), Error);
  EXPECT_EQ(parse_lora_targets("q_proj,v_proj"), (std::vector<std::string>{"q_proj", "v_proj"}));
}

}  // namespace
}  // namespace rxlm
