// llama2.c stories260K: header values from its PROVENANCE.md, weights at the offsets the format implies
// (element values read independently with numpy), and damaged copies.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "io_test_files.h"
#include "rxlm/core/paths.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/io/checkpoint_formats.h"

namespace rxlm {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::error_of;

std::filesystem::path stories() { return shared_dir() / "models" / "stories260K" / "stories260K.bin"; }

float at(const TensorView& t, int64_t row, int64_t col) {
  float v;
  std::memcpy(&v, t.data + 4 * (row * t.cols() + col), 4);
  return v;
}

TEST(Llama2cCheckpoint, Stories260KHeaderAndWeights) {
  Checkpoint ck = load_checkpoint(stories());
  EXPECT_EQ(ck.format, "llama2c");
  const LlamaConfig& c = ck.config;
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 172);
  EXPECT_EQ(c.num_hidden_layers, 5);
  EXPECT_EQ(c.num_attention_heads, 8);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.max_position_embeddings, 512);
  EXPECT_TRUE(c.tie_word_embeddings);  // vocab_size > 0 in the header
  EXPECT_TRUE(c.rope_adjacent_pairs);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(ck.tensors.size(), 47u);  // embedding + 5 x 9 + final norm
  EXPECT_FALSE(ck.has("lm_head.weight"));
  EXPECT_EQ(c.parameter_count(), 260'032);  // 264,128 floats minus the two 512x4 RoPE tables

  // Element values numpy reads at the same positions (see the layout in PROVENANCE.md).
  EXPECT_FLOAT_EQ(at(ck.tensor("model.embed_tokens.weight"), 3, 5), 0.23134264f);
  EXPECT_FLOAT_EQ(at(ck.tensor("model.layers.2.self_attn.k_proj.weight"), 31, 63), 0.01866939f);
  EXPECT_FLOAT_EQ(at(ck.tensor("model.layers.4.mlp.down_proj.weight"), 10, 171), -0.09656164f);  // w2
  EXPECT_FLOAT_EQ(at(ck.tensor("model.layers.0.mlp.up_proj.weight"), 0, 1), 0.0479559f);         // w3
  EXPECT_FLOAT_EQ(at(ck.tensor("model.norm.weight"), 0, 63), 1.7077769f);
  EXPECT_FLOAT_EQ(at(ck.tensor("model.layers.1.post_attention_layernorm.weight"), 0, 7), 0.7667599f);
  EXPECT_EQ(ck.tensor("model.embed_tokens.weight").data, ck.files[0]->data() + 28);
}

class Llama2cCorrupt : public ::testing::Test {
 protected:
  void SetUp() override { bytes_ = testing::read_bytes(stories()); }
  std::string load_error(const std::string& bytes) {
    testing::write_bytes(dir_ / "model.bin", bytes);
    return error_of([&] { load_checkpoint(dir_ / "model.bin"); });
  }
  std::string with_header_field(int index, int32_t value) const {
    std::string b = bytes_;
    std::memcpy(b.data() + 4 * index, &value, 4);
    return b;
  }
  testing::ScratchDir dir_;
  std::string bytes_;
};

TEST_F(Llama2cCorrupt, TruncatedFile) {
  EXPECT_THAT(load_error(bytes_.substr(0, bytes_.size() - 100)),
              AllOf(HasSubstr("model.bin"), HasSubstr("1056540 bytes but the file has 1056440"), HasSubstr("truncated")));
  EXPECT_THAT(load_error(bytes_.substr(0, 12)), AllOf(HasSubstr("model.bin"), HasSubstr("header")));
}

TEST_F(Llama2cCorrupt, HeaderThatLiesAboutTheSizes) {
  EXPECT_THAT(load_error(with_header_field(2, 6)), AllOf(HasSubstr("6 layers"), HasSubstr("truncated")));
  EXPECT_THAT(load_error(with_header_field(2, 4)), HasSubstr("longer than its header says"));
  // A negative vocab_size asks for a separate classifier that the file does not have.
  EXPECT_THAT(load_error(with_header_field(5, -512)), HasSubstr("truncated"));
}

TEST_F(Llama2cCorrupt, AbsurdHeaderValues) {
  EXPECT_THAT(load_error(with_header_field(0, 1 << 30)), AllOf(HasSubstr("dim"), HasSubstr("out of range")));
  EXPECT_THAT(load_error(with_header_field(3, 0)), AllOf(HasSubstr("n_heads"), HasSubstr("out of range")));
  EXPECT_THAT(load_error(with_header_field(4, 3)), HasSubstr("not a valid Llama shape"));
}

TEST_F(Llama2cCorrupt, VersionOneExportIsNamed) {
  EXPECT_THAT(load_error(with_header_field(0, 0x616b3432)), HasSubstr("version 1/2"));
}

}  // namespace
}  // namespace rxlm
