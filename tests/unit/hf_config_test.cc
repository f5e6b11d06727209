// config.json parsing: Meta's Llama 3.1 8B values (parameter count from the model card), the tiny
// fixture, transformers' defaults, and malformed configs.
#include "rxlm/io/hf_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "io_test_files.h"

namespace rxlm {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::error_of;

TEST(HfConfig, Llama31_8B_HasThePublishedParameterCount) {
  LlamaConfig c = load_hf_config(testing::fixtures_dir() / "configs" / "llama-3.1-8b");
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.intermediate_size, 14336);
  EXPECT_EQ(c.num_hidden_layers, 32);
  EXPECT_EQ(c.num_attention_heads, 32);
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 128);  // not in the file: hidden / heads
  EXPECT_EQ(c.vocab_size, 128256);
  EXPECT_EQ(c.max_position_embeddings, 131072);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 8.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.rope_adjacent_pairs);
  EXPECT_EQ(c.bos_token_ids, std::vector<int64_t>{128000});
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  // "8.03B" on the model card; 8,030,261,248 is the exact sum of the safetensors shapes.
  EXPECT_EQ(c.parameter_count(), 8'030'261'248);
}

TEST(HfConfig, TinyFixtureConfig) {
  LlamaConfig c = load_hf_config(testing::tiny_llama_dir() / "f32" / "config.json");
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.kv_dim(), 32);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 32);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(load_hf_config(testing::tiny_llama_dir() / "tied").tie_word_embeddings);
}

TEST(HfConfig, DefaultsFollowTransformers) {
  LlamaConfig c = parse_hf_config(R"({"hidden_size": 96, "intermediate_size": 256, "num_hidden_layers": 3,
      "num_attention_heads": 6, "vocab_size": 1000, "eos_token_id": 2, "rope_scaling": null})", "t");
  EXPECT_EQ(c.num_key_value_heads, 6);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.max_position_embeddings, 2048);
  EXPECT_TRUE(c.rope_scaling.type.empty());
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_TRUE(c.bos_token_ids.empty());
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{2});
}

TEST(HfConfig, LegacyTypeKeyAndTransformers5RopeParameters) {
  LlamaConfig legacy = parse_hf_config(R"({"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
      "num_attention_heads": 4, "vocab_size": 10, "rope_scaling": {"type": "llama3", "factor": 32.0,
      "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}})", "t");
  EXPECT_EQ(legacy.rope_scaling.type, "llama3");
  EXPECT_DOUBLE_EQ(legacy.rope_scaling.factor, 32.0);
  LlamaConfig v5 = parse_hf_config(R"({"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
      "num_attention_heads": 4, "vocab_size": 10, "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0,
      "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}})", "t");
  EXPECT_DOUBLE_EQ(v5.rope_theta, 500000.0);
  EXPECT_EQ(v5.rope_scaling.original_max_position_embeddings, 64);
  LlamaConfig plain = parse_hf_config(R"({"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
      "num_attention_heads": 4, "vocab_size": 10, "rope_parameters": {"rope_type": "default", "rope_theta": 7.0}})", "t");
  EXPECT_TRUE(plain.rope_scaling.type.empty());
  EXPECT_DOUBLE_EQ(plain.rope_theta, 7.0);
}

TEST(HfConfig, MalformedConfigsAreRejectedWithTheKey) {
  const std::string base = R"("intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 10)";
  EXPECT_THAT(error_of([&] { parse_hf_config("{\"hidden_size\": 64, " + base, "cfg.json"); }),
              AllOf(HasSubstr("cfg.json"), HasSubstr("not valid JSON")));
  EXPECT_THAT(error_of([&] { parse_hf_config("{" + base + "}", "cfg.json"); }),
              AllOf(HasSubstr("cfg.json"), HasSubstr("\"hidden_size\" is missing")));
  EXPECT_THAT(error_of([&] { parse_hf_config("{\"hidden_size\": \"64\", " + base + "}", "cfg.json"); }),
              AllOf(HasSubstr("\"hidden_size\""), HasSubstr("integer")));
  EXPECT_THAT(error_of([&] { parse_hf_config("{\"hidden_size\": -64, " + base + "}", "cfg.json"); }),
              HasSubstr("\"hidden_size\" = -64"));
  EXPECT_THAT(error_of([&] { parse_hf_config("{\"hidden_size\": 4000000000000, " + base + "}", "cfg.json"); }),
              HasSubstr("outside"));
  EXPECT_THAT(error_of([&] { parse_hf_config("{\"hidden_size\": 64, \"num_key_value_heads\": 3, " + base + "}", "c"); }),
              HasSubstr("multiple of num_key_value_heads"));
  EXPECT_THAT(error_of([&] {
                parse_hf_config("{\"hidden_size\": 64, \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}, " +
                                    base + "}", "c");
              }),
              HasSubstr("'yarn' is not supported"));
  EXPECT_THAT(error_of([&] {
                parse_hf_config("{\"hidden_size\": 64, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8}, " +
                                    base + "}", "c");
              }),
              HasSubstr("\"low_freq_factor\""));
  EXPECT_THAT(error_of([&] { parse_hf_config("{\"hidden_size\": 64, \"model_type\": \"mistral\", " + base + "}", "c"); }),
              HasSubstr("mistral"));
  EXPECT_THAT(error_of([&] { parse_hf_config("{\"hidden_size\": 64, \"eos_token_id\": [1, \"x\"], " + base + "}", "c"); }),
              HasSubstr("eos_token_id"));
  EXPECT_THAT(error_of([&] { load_hf_config("/nonexistent/model"); }), HasSubstr("config.json"));
}

}  // namespace
}  // namespace rxlm
