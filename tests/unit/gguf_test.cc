// GGUF reader on real files from llama.cpp/ollama (values from their PROVENANCE.md, read independently).
#include "rxlm/io/gguf.h"

#include <gtest/gtest.h>

#include "rxlm/core/error.h"
#include "rxlm/core/paths.h"

namespace rxlm {
namespace {

std::filesystem::path tiny_gguf_dir() { return shared_dir() / "models" / "tiny-gguf"; }

TEST(Gguf, ReadsLlama2TinyRandomHeaderMetadataAndTensors) {
  auto gguf = GgufFile::open(tiny_gguf_dir() / "llama-2-tiny-random.gguf");
  EXPECT_EQ(gguf->version(), 3u);
  EXPECT_EQ(gguf->metadata().size(), 18u);
  EXPECT_EQ(gguf->tensors().size(), 12u);
  EXPECT_EQ(gguf->get_string("general.architecture"), "llama");
  EXPECT_EQ(gguf->get_int("llama.embedding_length"), 8);
  EXPECT_EQ(gguf->get_int("llama.block_count"), 1);
  EXPECT_EQ(gguf->get_int("llama.feed_forward_length"), 32);
  EXPECT_EQ(gguf->get_int("llama.attention.head_count"), 2);
  EXPECT_EQ(gguf->get_int("llama.context_length"), 4096);
  EXPECT_FLOAT_EQ(static_cast<float>(gguf->get_float("llama.attention.layer_norm_rms_epsilon")), 1e-5f);
  EXPECT_EQ(gguf->get_int("general.file_type"), 1);
  EXPECT_EQ(gguf->get_string("tokenizer.ggml.model"), "llama");
  auto tokens = gguf->get_string_array("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 32000u);
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(gguf->get_float_array("tokenizer.ggml.scores").size(), 32000u);
  EXPECT_EQ(gguf->get_int_array("tokenizer.ggml.token_type").size(), 32000u);
  EXPECT_EQ(gguf->find_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(gguf->find_int("tokenizer.ggml.eos_token_id"), 2);
  EXPECT_FALSE(gguf->find_string("tokenizer.chat_template").has_value());

  const TensorView* embd = gguf->find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->dtype, DType::F16);
  EXPECT_EQ(embd->shape, (std::vector<int64_t>{32000, 8}));  // PyTorch order: GGUF ne = [8, 32000]
  EXPECT_EQ(embd->nbytes, 32000u * 8 * 2);
  const TensorView* down = gguf->find_tensor("blk.0.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->shape, (std::vector<int64_t>{8, 32}));
  const TensorView* norm = gguf->find_tensor("output_norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->dtype, DType::F32);
  EXPECT_EQ(norm->shape, (std::vector<int64_t>{8}));
  // Every tensor lies inside the mapping, at a 32-byte aligned address relative to the file start.
  for (const auto& t : gguf->tensors()) {
    auto offset = static_cast<uint64_t>(t.data - gguf->file()->data());
    EXPECT_EQ(offset % 32, 0u) << t.name;
    EXPECT_LE(offset + t.nbytes, gguf->file()->size()) << t.name;
  }
  // The last tensor ends exactly at the end of the file (no hidden trailing data in this one).
  uint64_t end = 0;
  for (const auto& t : gguf->tensors())
    end = std::max<uint64_t>(end, static_cast<uint64_t>(t.data - gguf->file()->data()) + t.nbytes);
  EXPECT_EQ(end, gguf->file()->size());
}

TEST(Gguf, ReadsVocabOnlyFileWithNoTensors) {
  auto gguf = GgufFile::open(tiny_gguf_dir() / "ggml-vocab-llama-spm.gguf");
  EXPECT_EQ(gguf->tensors().size(), 0u);
  EXPECT_EQ(gguf->metadata().size(), 22u);
  EXPECT_EQ(gguf->get_string("tokenizer.ggml.pre"), "default");
  EXPECT_TRUE(gguf->get_bool("tokenizer.ggml.add_bos_token"));
  EXPECT_FALSE(gguf->get_bool("tokenizer.ggml.add_eos_token"));
  EXPECT_EQ(gguf->get_string_array("tokenizer.ggml.tokens").size(), 32000u);
}

TEST(Gguf, TypedAccessorsNameFileAndKey) {
  auto gguf = GgufFile::open(tiny_gguf_dir() / "llama-2-tiny-random.gguf");
  try {
    gguf->get_int("general.architecture");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("general.architecture"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("llama-2-tiny-random.gguf"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("string"), std::string::npos);
  }
  EXPECT_THROW(gguf->get_string("no.such.key"), Error);
  EXPECT_FALSE(gguf->find_int("no.such.key").has_value());
  EXPECT_THROW(gguf->get_string_array("tokenizer.ggml.scores"), Error);
}

}  // namespace
}  // namespace rxlm
