// LoRA at inference (LlamaModel::set_adapter) and the batched decode step (LlamaModel::forward_batch) on
// the tiny Llama fixtures: adapted logits equal the merged checkpoint's (lora/merge.h) and PEFT's own
// logits; GGUF bases (f32, and Q8_0 within quantisation error) take adapters in their permuted q/k row
// order; a batched step equals each sequence run alone; adapters for another shape are refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "rxlm/core/error.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/io/safetensors.h"
#include "rxlm/lora/merge.h"
#include "rxlm/lora/peft_adapter.h"
#include "rxlm/model/llama.h"

namespace rxlm {
namespace {

namespace fs = std::filesystem;
const std::string root = RXLM_SOURCE_DIR;
const std::string tiny_dir = root + "/tests/fixtures/tiny_llama/";

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("rxlm_llama_adapter_test_" + std::to_string(getpid()));
  ~TempDir() { fs::remove_all(path); }
};

// Standard LoRA on all seven modules with A and B both random (B = 0 would make the adapter a no-op).
LoraWeights random_adapter(const LlamaConfig& config, int64_t rank = 8, double alpha = 32) {
  LoraConfig lc;
  lc.rank = rank;
  lc.alpha = alpha;
  lc.freeze_a = false;
  lc.target_modules = lora_module_names();
  LoraWeights w = init_lora_weights(config, lc, 7);
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.f, 0.05f);
  for (LoraAdapter& a : w.adapters)
    for (float& v : a.b) v = normal(rng);
  return w;
}

std::vector<float> prefill_logits(LlamaModel& model, const std::vector<int32_t>& tokens) {
  KvCache cache = model.make_cache(static_cast<int64_t>(tokens.size()));
  return model.forward(tokens, cache, /*all_logits=*/true);
}

// The same logits, one token at a time through the decode path.
std::vector<float> decode_logits(LlamaModel& model, const std::vector<int32_t>& tokens) {
  KvCache cache = model.make_cache(static_cast<int64_t>(tokens.size()));
  std::vector<float> all;
  for (int32_t t : tokens) {
    const int32_t one[1] = {t};
    const std::vector<float> l = model.forward(one, cache);
    all.insert(all.end(), l.begin(), l.end());
  }
  return all;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) d = std::max(d, std::abs(double(a[i]) - b[i]));
  return d;
}

const std::vector<int32_t> kTokens = {1, 17, 200, 45, 3, 99, 128, 7, 64, 250, 31, 12, 5, 77, 180, 2, 9, 140};

TEST(LlamaAdapter, AllSevenModulesEqualTheMergedCheckpoint) {
  TempDir dir;
  const Checkpoint base = load_checkpoint(tiny_dir + "f32");
  const LoraWeights adapter = random_adapter(base.config);
  merge_lora(base, adapter, dir.path);
  const Checkpoint merged = load_checkpoint(dir.path);
  LlamaModel merged_model(merged);
  const std::vector<float> want = prefill_logits(merged_model, kTokens);

  LlamaModel model(base);
  const std::vector<float> plain = prefill_logits(model, kTokens);
  model.set_adapter(&adapter);
  EXPECT_EQ(model.adapter(), &adapter);
  const double prefill = max_abs_diff(prefill_logits(model, kTokens), want);
  const double decode = max_abs_diff(decode_logits(model, kTokens), want);
  const double effect = max_abs_diff(plain, want);
  std::printf("adapter (7 modules) vs merged f32: prefill %.2e, decode %.2e; adapter's effect %.2e\n", prefill,
              decode, effect);
  EXPECT_LE(prefill, 1e-4);
  EXPECT_LE(decode, 1e-4);
  EXPECT_GT(effect, 0.1) << "the adapter must change the logits for the comparison to mean anything";

  model.set_adapter(nullptr);
  EXPECT_EQ(max_abs_diff(prefill_logits(model, kTokens), plain), 0.0) << "removing the adapter restores the base";
}

TEST(LlamaAdapter, PeftSavedAdapterGivesPeftLogits) {
  std::ifstream in(root + "/tests/fixtures/lora/standard_r16/case.json");
  const nlohmann::json c = nlohmann::json::parse(in);
  const Checkpoint base = load_checkpoint(tiny_dir + "f32");
  const LoraWeights adapter = load_peft_adapter(root + "/tests/fixtures/lora/standard_r16/adapter", base.config);
  LlamaModel model(base);
  model.set_adapter(&adapter);
  const auto ref = SafetensorsFile::open(root + "/tests/fixtures/lora/standard_r16/logits.safetensors");
  const TensorView* want = ref->find("logits");
  ASSERT_NE(want, nullptr);
  const int64_t width = want->shape[1], vocab = want->shape[2];
  ASSERT_EQ(vocab, base.config.vocab_size);
  const float* w = reinterpret_cast<const float*>(want->data);
  double worst = 0;
  int64_t s = 0;
  for (const auto& sequence : c["sequences"]) {
    const std::vector<int32_t> tokens = sequence["tokens"].get<std::vector<int32_t>>();
    const std::vector<float> got = decode_logits(model, tokens);
    for (size_t t = 0; t < tokens.size(); ++t)
      for (int64_t v = 0; v < vocab; ++v)
        worst = std::max(worst, std::abs(double(got[t * vocab + v]) - w[(s * width + int64_t(t)) * vocab + v]));
    ++s;
  }
  std::printf("PEFT adapter (q,v r16) at inference vs PEFT: max |logit diff| %.2e\n", worst);
  EXPECT_LE(worst, 1e-4);
}

// llama.cpp's q/k row permutation (convert_hf_to_gguf.py LlamaModel.permute) applied to B's rows.
void permute_rows(std::vector<float>& b, int64_t heads, int64_t head_dim, int64_t rank) {
  const std::vector<float> old = b;
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < head_dim / 2; ++i)
      for (int64_t j = 0; j < 2; ++j)
        std::copy_n(old.begin() + (h * head_dim + j * (head_dim / 2) + i) * rank, rank,
                    b.begin() + (h * head_dim + 2 * i + j) * rank);
}

TEST(LlamaAdapter, GgufBasesTakeAdaptersInTheirRowOrder) {
  TempDir dir;
  const Checkpoint hf = load_checkpoint(tiny_dir + "f32");
  const LoraWeights adapter = random_adapter(hf.config);
  merge_lora(hf, adapter, dir.path);
  const Checkpoint merged = load_checkpoint(dir.path);
  LlamaModel merged_model(merged);
  const std::vector<float> want = prefill_logits(merged_model, kTokens);

  const Checkpoint gguf = load_checkpoint(tiny_dir + "gguf/tiny-f32.gguf");
  LoraWeights permuted = adapter;
  for (LoraAdapter& a : permuted.adapters) {
    if (a.target.module == "q_proj")
      permute_rows(a.b, gguf.config.num_attention_heads, gguf.config.head_dim, adapter.config.rank);
    if (a.target.module == "k_proj")
      permute_rows(a.b, gguf.config.num_key_value_heads, gguf.config.head_dim, adapter.config.rank);
  }
  LlamaModel f32(gguf);
  f32.set_adapter(&permuted);
  const double f32_diff = max_abs_diff(prefill_logits(f32, kTokens), want);
  EXPECT_LE(f32_diff, 1e-4);

  // Q8_0 weights: the adapted model is as close to the merged f32 one as the plain Q8_0 model is to the
  // plain f32 one (quantisation error only), through both the prefill and the decode kernels.
  const Checkpoint q8 = load_checkpoint(tiny_dir + "gguf/tiny-q8_0.gguf");
  LlamaModel q8_model(q8), f32_plain(gguf);
  const double quant_error = max_abs_diff(decode_logits(q8_model, kTokens), decode_logits(f32_plain, kTokens));
  q8_model.set_adapter(&permuted);
  const double q8_prefill = max_abs_diff(prefill_logits(q8_model, kTokens), want);
  const double q8_decode = max_abs_diff(decode_logits(q8_model, kTokens), want);
  std::printf("GGUF f32 + adapter vs merged: %.2e; Q8_0 + adapter vs merged: prefill %.2e, decode %.2e "
              "(plain Q8_0 vs f32: %.2e)\n", f32_diff, q8_prefill, q8_decode, quant_error);
  EXPECT_LE(q8_prefill, 3 * quant_error + 1e-3);
  EXPECT_LE(q8_decode, 3 * quant_error + 1e-3);
}

// forward_batch over sequences of different lengths equals each sequence's own forward(), for every
// weight dtype the fixtures have; bit for bit where matmul's one-row kernels apply (bf16, Q8_0).
TEST(LlamaAdapter, BatchedDecodeStepEqualsEachSequenceAlone) {
  struct Case {
    std::string path;
    bool exact;
  };
  for (const Case& c : {Case{"f32", false}, Case{"bf16", true}, Case{"gguf/tiny-q8_0.gguf", true}}) {
    const Checkpoint checkpoint = load_checkpoint(tiny_dir + c.path);
    const LoraWeights adapter = random_adapter(checkpoint.config);
    for (bool with_adapter : {false, true}) {
      LlamaModel model(checkpoint);
      if (with_adapter) model.set_adapter(&adapter);
      const int64_t vocab = checkpoint.config.vocab_size;
      // 11 sequences (more than one row group for bf16) with prompts of different lengths.
      const int batch = 11;
      std::vector<KvCache> alone, together;
      std::vector<int32_t> next(batch);
      for (int b = 0; b < batch; ++b) {
        std::vector<int32_t> prompt(kTokens.begin(), kTokens.begin() + 2 + b);
        prompt[0] = 1 + b;
        alone.push_back(model.make_cache(40));
        together.push_back(model.make_cache(40));
        model.forward(prompt, alone.back());
        model.forward(prompt, together.back());
        next[b] = 10 * b + 3;
      }
      double worst = 0;
      for (int step = 0; step < 4; ++step) {
        std::vector<KvCache*> caches;
        for (auto& k : together) caches.push_back(&k);
        const std::vector<float> batched = model.forward_batch(next, caches);
        ASSERT_EQ(batched.size(), size_t(batch * vocab));
        for (int b = 0; b < batch; ++b) {
          const int32_t one[1] = {next[b]};
          const std::vector<float> single = model.forward(one, alone[b]);
          EXPECT_EQ(together[b].length, alone[b].length);
          for (int64_t v = 0; v < vocab; ++v) {
            const double d = std::abs(double(single[v]) - batched[b * vocab + v]);
            worst = std::max(worst, d);
            if (c.exact) ASSERT_EQ(single[v], batched[b * vocab + v]) << c.path << " sequence " << b << " step " << step;
          }
          next[b] = static_cast<int32_t>((next[b] * 7 + step) % vocab);
        }
      }
      std::printf("%s%s: batched vs alone max |diff| %.2e\n", c.path.c_str(), with_adapter ? " + adapter" : "", worst);
      EXPECT_LE(worst, 1e-4);
    }
  }
}

TEST(LlamaAdapter, RefusesAnAdapterOfAnotherShapeAndBadBatches) {
  const Checkpoint base = load_checkpoint(tiny_dir + "f32");
  LlamaConfig other = base.config;
  other.hidden_size = 32;
  other.head_dim = 8;
  const LoraWeights wrong = random_adapter(other);
  LlamaModel model(base);
  EXPECT_THAT([&] { model.set_adapter(&wrong); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("adapter made for another model")));
  EXPECT_EQ(model.adapter(), nullptr);

  LlamaConfig deeper = base.config;
  deeper.num_hidden_layers = 3;
  const LoraWeights too_deep = random_adapter(deeper);
  EXPECT_THAT([&] { model.set_adapter(&too_deep); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("does not exist in a model of 2 layers")));

  KvCache a = model.make_cache(4), b = model.make_cache(4);
  const std::vector<int32_t> two = {1, 2};
  std::vector<KvCache*> one_cache = {&a};
  EXPECT_THAT([&] { model.forward_batch(two, one_cache); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("2 tokens but 1 caches")));
  std::vector<KvCache*> shared = {&a, &a};
  EXPECT_THAT([&] { model.forward_batch(two, shared); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("share one KV cache")));
  b.length = 4;
  std::vector<KvCache*> full = {&a, &b};
  EXPECT_THAT([&] { model.forward_batch(two, full); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("KV cache holds 4")));
}

}  // namespace
}  // namespace rxlm
