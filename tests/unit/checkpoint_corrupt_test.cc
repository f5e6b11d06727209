// Inconsistent checkpoints, crafted from the valid tiny fixtures: missing tensors, configs that
// disagree with the weights, broken shard indexes, GGUF metadata that lies. Each gives an rxlm::Error
// that names the file and the tensor or key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "io_test_files.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/io/safetensors.h"

namespace rxlm {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::error_of;
using testing::tiny_llama_dir;

class CheckpointCorrupt : public ::testing::Test {
 protected:
  std::filesystem::path copy_of(const std::string& variant) {
    auto to = dir_ / variant;
    testing::copy_dir(tiny_llama_dir() / variant, to);
    return to;
  }
  static void edit_json(const std::filesystem::path& path, const std::function<void(nlohmann::json&)>& edit) {
    auto j = nlohmann::json::parse(testing::read_bytes(path));
    edit(j);
    testing::write_bytes(path, j.dump(2));
  }
  // Rewrites model.safetensors in `model_dir` without the tensor `drop`.
  static void drop_tensor(const std::filesystem::path& model_dir, const std::string& drop) {
    auto st = SafetensorsFile::open(tiny_llama_dir() / "f32" / "model.safetensors");
    std::vector<SafetensorsEntry> keep;
    for (const auto& t : st->tensors())
      if (t.name != drop) keep.push_back({t.name, t.dtype, t.shape, {t.data, t.nbytes}});
    write_safetensors(model_dir / "model.safetensors", keep, st->metadata());
  }
  // Replaces the first occurrence of `from` by `to` (same length) in a binary file.
  static void patch_bytes(const std::filesystem::path& path, const std::string& from, const std::string& to) {
    std::string bytes = testing::read_bytes(path);
    size_t at = bytes.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    ASSERT_EQ(from.size(), to.size());
    bytes.replace(at, from.size(), to);
    testing::write_bytes(path, bytes);
  }
  testing::ScratchDir dir_;
};

TEST_F(CheckpointCorrupt, MissingTensor) {
  auto model = copy_of("f32");
  drop_tensor(model, "model.layers.1.mlp.up_proj.weight");
  EXPECT_THAT(error_of([&] { load_checkpoint(model); }),
              AllOf(HasSubstr(model.string()), HasSubstr("model.layers.1.mlp.up_proj.weight"), HasSubstr("missing")));
}

TEST_F(CheckpointCorrupt, UntiedConfigWithoutLmHead) {
  auto model = copy_of("f32");
  drop_tensor(model, "lm_head.weight");
  EXPECT_THAT(error_of([&] { load_checkpoint(model); }),
              AllOf(HasSubstr("lm_head.weight"), HasSubstr("tie_word_embeddings")));
}

TEST_F(CheckpointCorrupt, ShapeDisagreesWithConfig) {
  auto model = copy_of("f32");
  edit_json(model / "config.json", [](auto& j) { j["intermediate_size"] = 128; });
  EXPECT_THAT(error_of([&] { load_checkpoint(model); }),
              AllOf(HasSubstr((model / "model.safetensors").string()), HasSubstr("mlp.gate_proj.weight"),
                    HasSubstr("[160, 64]"), HasSubstr("[128, 64]")));
}

TEST_F(CheckpointCorrupt, KvHeadsDisagreeWithKProjection) {
  auto model = copy_of("f32");
  edit_json(model / "config.json", [](auto& j) { j["num_key_value_heads"] = 4; });
  EXPECT_THAT(error_of([&] { load_checkpoint(model); }),
              AllOf(HasSubstr("self_attn.k_proj.weight"), HasSubstr("[32, 64]"), HasSubstr("[64, 64]")));
}

TEST_F(CheckpointCorrupt, MoreLayersInTheWeightsThanInTheConfig) {
  auto model = copy_of("f32");
  edit_json(model / "config.json", [](auto& j) { j["num_hidden_layers"] = 1; });
  EXPECT_THAT(error_of([&] { load_checkpoint(model); }),
              AllOf(HasSubstr("model.layers.1."), HasSubstr("only 1 layers")));
}

TEST_F(CheckpointCorrupt, MalformedConfigJson) {
  auto model = copy_of("f32");
  testing::write_bytes(model / "config.json", "{\"hidden_size\": 64,");
  EXPECT_THAT(error_of([&] { load_checkpoint(model); }),
              AllOf(HasSubstr((model / "config.json").string()), HasSubstr("not valid JSON")));
}

TEST_F(CheckpointCorrupt, IndexPointsToAMissingShard) {
  auto model = copy_of("sharded");
  std::filesystem::remove(model / "model-00002-of-00003.safetensors");
  EXPECT_THAT(error_of([&] { load_checkpoint(model); }),
              AllOf(HasSubstr("model.safetensors.index.json"), HasSubstr("model-00002-of-00003.safetensors"),
                    HasSubstr("does not exist")));
}

TEST_F(CheckpointCorrupt, IndexDisagreesWithTheShards) {
  auto model = copy_of("sharded");
  edit_json(model / "model.safetensors.index.json",
            [](auto& j) { j["weight_map"]["model.norm.weight"] = "model-00001-of-00003.safetensors"; });
  EXPECT_THAT(error_of([&] { load_checkpoint(model); }),
              AllOf(HasSubstr("model.norm.weight"), HasSubstr("disagree")));
}

TEST_F(CheckpointCorrupt, IndexShardNameLeavesTheDirectory) {
  auto model = copy_of("sharded");
  edit_json(model / "model.safetensors.index.json",
            [](auto& j) { j["weight_map"]["model.norm.weight"] = "../f32/model.safetensors"; });
  EXPECT_THAT(error_of([&] { load_checkpoint(model); }),
              AllOf(HasSubstr("model.norm.weight"), HasSubstr("not a file name")));
}

TEST_F(CheckpointCorrupt, MalformedIndex) {
  auto model = copy_of("sharded");
  testing::write_bytes(model / "model.safetensors.index.json", "{\"weight_map\": [1, 2]}");
  EXPECT_THAT(error_of([&] { load_checkpoint(model); }),
              AllOf(HasSubstr("model.safetensors.index.json"), HasSubstr("weight_map")));
}

TEST_F(CheckpointCorrupt, ConfigOnlyDirectoryAndPickleWeights) {
  auto model = dir_ / "config-only";
  std::filesystem::create_directories(model);
  std::filesystem::copy_file(tiny_llama_dir() / "f32" / "config.json", model / "config.json");
  EXPECT_THAT(error_of([&] { load_checkpoint(model); }), AllOf(HasSubstr(model.string()), HasSubstr("config-only")));
  testing::write_bytes(model / "pytorch_model.bin", "not a pickle");
  EXPECT_THAT(error_of([&] { load_checkpoint(model); }), HasSubstr("safetensors only"));
  EXPECT_THAT(error_of([&] { load_checkpoint(dir_ / "nothing-here"); }), HasSubstr("no such file"));
}

TEST_F(CheckpointCorrupt, GgufOfAnotherArchitecture) {
  auto model = copy_of("gguf");
  // general.architecture is a 5-byte string "llama": make it "gpt2x".
  patch_bytes(model / "tiny-f32.gguf", std::string("\x05\0\0\0\0\0\0\0llama", 13), std::string("\x05\0\0\0\0\0\0\0gpt2x", 13));
  EXPECT_THAT(error_of([&] { load_checkpoint(model / "tiny-f32.gguf"); }),
              AllOf(HasSubstr("tiny-f32.gguf"), HasSubstr("'gpt2x'")));
}

TEST_F(CheckpointCorrupt, GgufMetadataDisagreesWithTensors) {
  auto model = copy_of("gguf");
  // llama.feed_forward_length (uint32, type 4) = 160 → 128.
  std::string key = "llama.feed_forward_length";
  std::string from = key + std::string("\x04\0\0\0\xa0\0\0\0", 8), to = key + std::string("\x04\0\0\0\x80\0\0\0", 8);
  patch_bytes(model / "tiny-q8_0.gguf", from, to);
  EXPECT_THAT(error_of([&] { load_checkpoint(model / "tiny-q8_0.gguf"); }),
              AllOf(HasSubstr("tiny-q8_0.gguf"), HasSubstr("mlp.gate_proj.weight"), HasSubstr("[128, 64]")));
}

TEST_F(CheckpointCorrupt, GgufWithoutRequiredMetadata) {
  auto model = copy_of("gguf");
  std::string key = "llama.block_count";
  patch_bytes(model / "tiny-f32.gguf", key, "llama.block_cnt__");
  EXPECT_THAT(error_of([&] { load_checkpoint(model / "tiny-f32.gguf"); }),
              AllOf(HasSubstr("tiny-f32.gguf"), HasSubstr("'llama.block_count' is missing")));
}

}  // namespace
}  // namespace rxlm
