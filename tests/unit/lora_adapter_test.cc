// PEFT adapter layout: save → load round trip is exact, names and config keys are PEFT's, and adapters
// that are not plain LoRA or do not fit the model are refused with the reason.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "rxlm/core/error.h"
#include "rxlm/io/hf_config.h"
#include "rxlm/io/safetensors.h"
#include "rxlm/lora/peft_adapter.h"

namespace rxlm {
namespace {

namespace fs = std::filesystem;

LlamaConfig tiny() { return load_hf_config(std::string(RXLM_SOURCE_DIR) + "/tests/fixtures/tiny_llama/f32"); }

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("rxlm_lora_adapter_test_" + std::to_string(getpid()));
  ~TempDir() { fs::remove_all(path); }
};

LoraWeights random_adapter(const LoraConfig& config) {
  LoraWeights w = init_lora_weights(tiny(), config, 42);
  float v = 0.01f;
  for (LoraAdapter& a : w.adapters)
    for (float& b : a.b) b = (v = -v * 1.01f);  // nonzero and varied, so a swapped tensor would show
  return w;
}

TEST(PeftAdapter, SaveThenLoadIsExactWithPeftNamesAndKeys) {
  TempDir dir;
  LoraConfig config;
  config.rank = 8;
  config.alpha = 32;
  config.target_modules = {"q_proj", "v_proj", "down_proj"};
  const LoraWeights saved = random_adapter(config);
  save_peft_adapter(dir.path, saved, "tests/fixtures/tiny_llama/f32");

  const auto file = SafetensorsFile::open(dir.path / "adapter_model.safetensors");
  EXPECT_EQ(file->tensors().size(), 2u * 3 * 2);  // 2 layers × 3 modules × (A, B)
  ASSERT_NE(file->find("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"), nullptr);
  ASSERT_NE(file->find("base_model.model.model.layers.0.mlp.down_proj.lora_A.weight"), nullptr);
  EXPECT_EQ(file->find("base_model.model.model.layers.0.mlp.down_proj.lora_A.weight")->shape,
            (std::vector<int64_t>{8, 160}));
  std::ifstream in(dir.path / "adapter_config.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["peft_type"], "LORA");
  EXPECT_EQ(j["r"], 8);
  EXPECT_EQ(j["lora_alpha"], 32.0);
  EXPECT_EQ(j["base_model_name_or_path"], "tests/fixtures/tiny_llama/f32");
  // Atomic writes leave no temporary files behind: exactly PEFT's two files.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator{}), 2);

  const LoraWeights loaded = load_peft_adapter(dir.path, tiny(), /*freeze_a=*/false);
  EXPECT_EQ(loaded.config.rank, 8);
  EXPECT_DOUBLE_EQ(loaded.config.scale(), 4.0);
  EXPECT_FALSE(loaded.config.freeze_a);
  ASSERT_EQ(loaded.adapters.size(), saved.adapters.size());
  for (size_t i = 0; i < saved.adapters.size(); ++i) {
    EXPECT_EQ(loaded.adapters[i].a, saved.adapters[i].a);
    EXPECT_EQ(loaded.adapters[i].b, saved.adapters[i].b);
    EXPECT_EQ(loaded.adapters[i].grad_a.size(), saved.adapters[i].a.size());  // standard LoRA trains A
  }
}

TEST(PeftAdapter, RefusesDoraAndAdaptersForAnotherModel) {
  TempDir dir;
  save_peft_adapter(dir.path, random_adapter(LoraConfig{}), "base");
  // Another model: hidden 128 instead of 64, so A [16, 64] no longer fits.
  LlamaConfig wider = tiny();
  wider.hidden_size = 128;
  wider.head_dim = 32;
  EXPECT_THAT([&] { load_peft_adapter(dir.path, wider); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("lora_A.weight has shape [16, 64]")));
  std::ifstream in(dir.path / "adapter_config.json");
  nlohmann::json j = nlohmann::json::parse(in);
  j["use_dora"] = true;
  std::ofstream(dir.path / "adapter_config.json") << j.dump();
  EXPECT_THAT([&] { load_peft_adapter(dir.path, tiny()); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("use_dora is not supported")));
}

}  // namespace
}  // namespace rxlm
