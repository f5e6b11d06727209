// `rxlm merge --model BASE --adapter DIR --out DIR` on the tiny Llama fixture with the rxlm-trained adapter of
// tests/fixtures/lora/interop: the merged checkpoint's inference logits equal the unmerged base + adapter
// logits (rxlm's LoRA forward) and PEFT's logits with that adapter; a bf16 base stays bf16; GGUF bases,
// missing adapters, adapters of another shape and --out = the base's directory are refused with what to do.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "../support/run_cli.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/io/safetensors.h"
#include "rxlm/lora/peft_adapter.h"
#include "rxlm/model/llama.h"
#include "rxlm/train/llama_train.h"

namespace rxlm::test {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
const fs::path root = RXLM_SOURCE_DIR;
const fs::path adapter = root / "tests/fixtures/lora/interop/adapter";

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("rxlm_merge_cli_" + std::to_string(getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

double max_diff(const std::vector<float>& a, const float* b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(double(a[i]) - b[i]));
  return d;
}

TEST(MergeCli, MergedLogitsEqualUnmergedAndPefts) {
  TempDir dir;
  const fs::path base_dir = root / "tests/fixtures/tiny_llama/f32";
  const CliResult r = run_cli("merge --model " + base_dir.string() + " --adapter " + adapter.string() + " --out " +
                              (dir.path / "merged").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("merged: 4 adapters (rank 8, alpha 16, scale 2, on q_proj,v_proj)"));

  const Checkpoint base = load_checkpoint(base_dir);
  const Checkpoint merged = load_checkpoint(dir.path / "merged");
  EXPECT_EQ(merged.tensor("model.layers.0.self_attn.q_proj.weight").dtype, DType::F32);
  const auto interop = nlohmann::json::parse(read_file(root / "tests/fixtures/lora/interop/interop.json"));
  const std::vector<int32_t> tokens = interop["input_ids"].get<std::vector<int32_t>>();
  LlamaModel model(merged);
  KvCache cache = model.make_cache(static_cast<int64_t>(tokens.size()));
  const std::vector<float> merged_logits = model.forward(tokens, cache, /*all_logits=*/true);

  LoraWeights lora = load_peft_adapter(adapter, base.config);
  LlamaLoraTrainer unmerged(base, lora);
  const std::vector<TrainSequence> batch = {{tokens, std::vector<int32_t>(tokens.size(), -100)}};
  const std::vector<float> lora_logits = unmerged.logits(batch);
  ASSERT_EQ(merged_logits.size(), lora_logits.size());
  const double vs_unmerged = max_diff(merged_logits, lora_logits.data());
  EXPECT_LE(vs_unmerged, 1e-4);

  const auto peft = SafetensorsFile::open(root / "tests/fixtures/lora/interop/logits.safetensors");
  const TensorView& peft_logits = *peft->find("logits");
  const TensorView& base_logits = *peft->find("base_logits");
  ASSERT_EQ(peft_logits.numel(), static_cast<int64_t>(merged_logits.size()));
  const double vs_peft = max_diff(merged_logits, reinterpret_cast<const float*>(peft_logits.data));
  EXPECT_LE(vs_peft, 1e-4);
  // Not vacuous: merging moved the logits away from the base's.
  EXPECT_GT(max_diff(merged_logits, reinterpret_cast<const float*>(base_logits.data)), 1e-2);
  std::printf("merged vs unmerged: %.2e, merged vs PEFT: %.2e\n", vs_unmerged, vs_peft);
}

TEST(MergeCli, Bf16BaseGivesABf16Checkpoint) {
  TempDir dir;
  const CliResult r = run_cli("merge --model " + (root / "tests/fixtures/tiny_llama/bf16").string() + " --adapter " +
                              adapter.string() + " --out " + (dir.path / "merged").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Checkpoint merged = load_checkpoint(dir.path / "merged");
  EXPECT_EQ(merged.tensor("model.layers.1.self_attn.v_proj.weight").dtype, DType::BF16);
  EXPECT_EQ(merged.tensor("model.layers.1.self_attn.k_proj.weight").dtype, DType::BF16);
}

TEST(MergeCli, RefusesWhatItCannotMergeAndSaysWhatToDo) {
  TempDir dir;
  const std::string out = " --out " + (dir.path / "merged").string();
  CliResult r = run_cli("merge --model " + (root / "tests/fixtures/tiny_llama/gguf/tiny-q8_0.gguf").string() +
                        " --adapter " + adapter.string() + out);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("tiny-q8_0.gguf: a GGUF base cannot be merged"));
  EXPECT_THAT(r.err, HasSubstr("convert_hf_to_gguf.py"));
  EXPECT_FALSE(fs::exists(dir.path / "merged"));

  const std::string model = " --model " + (root / "tests/fixtures/tiny_llama/f32").string();
  r = run_cli("merge" + model + " --adapter " + (dir.path / "no_adapter").string() + out);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("no_adapter: not a PEFT adapter directory (it needs adapter_config.json"));

  // An adapter of another rank than its tensors: the shapes do not fit.
  const fs::path wrong = dir.path / "wrong_rank";
  fs::create_directories(wrong);
  fs::copy_file(adapter / "adapter_model.safetensors", wrong / "adapter_model.safetensors");
  auto config = nlohmann::json::parse(read_file(adapter / "adapter_config.json"));
  config["r"] = 4;
  std::ofstream(wrong / "adapter_config.json") << config.dump(2);
  r = run_cli("merge" + model + " --adapter " + wrong.string() + out);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("has shape [8, 64] but the model needs [4, 64]"));
  EXPECT_FALSE(fs::exists(dir.path / "merged" / "model.safetensors"));

  // --out must not be the base itself (a copy of the fixture, so a failure cannot damage it).
  const fs::path base_copy = dir.path / "base";
  fs::copy(root / "tests/fixtures/tiny_llama/f32", base_copy);
  r = run_cli("merge --model " + base_copy.string() + " --adapter " + adapter.string() + " --out " + base_copy.string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("the output directory is the base's own"));

  r = run_cli("merge --model " + (dir.path / "missing_model").string() + " --adapter " + adapter.string() + out);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("missing_model: no such base model"));
}

}  // namespace
}  // namespace rxlm::test
