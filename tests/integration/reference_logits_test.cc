// Logits of rxlm's forward pass against transformers' LlamaForCausalLM on tiny random checkpoints
// (tools/reference/make_tiny_llama.py): every position of a fixed batch, f32 / bf16 / tied / sharded /
// GGUF variants. Each position is run through the KV cache in two chunks, so batched prefill and
// cached decoding are both exercised.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "rxlm/io/checkpoint.h"
#include "rxlm/model/llama.h"

namespace rxlm {
namespace {

const std::filesystem::path kFixtures = std::filesystem::path(RXLM_SOURCE_DIR) / "tests/fixtures/tiny_llama";

struct Reference {
  std::vector<std::vector<int32_t>> input_ids;
  std::vector<float> logits;  // [batch, seq, vocab]
  int64_t vocab = 0;
};

// `reference` is a reference.json; its logits file lies beside it.
Reference read_reference(const std::filesystem::path& reference) {
  const std::filesystem::path dir = reference.parent_path();
  std::ifstream in(reference);
  const auto j = nlohmann::json::parse(in);
  Reference ref;
  ref.input_ids = j.at("input_ids").get<std::vector<std::vector<int32_t>>>();
  const auto shape = j.at("shape").get<std::vector<int64_t>>();
  ref.vocab = shape.at(2);
  ref.logits.resize(static_cast<size_t>(shape[0] * shape[1] * shape[2]));
  std::ifstream raw(dir / j.at("logits_file").get<std::string>(), std::ios::binary);
  raw.read(reinterpret_cast<char*>(ref.logits.data()), static_cast<std::streamsize>(ref.logits.size() * 4));
  EXPECT_TRUE(raw.good()) << "short logits file in " << dir;
  return ref;
}

// Largest over positions of max|rxlm − reference| / max|reference| at that position.
double max_relative_error(const std::filesystem::path& model_path, const std::filesystem::path& reference) {
  const Reference ref = read_reference(reference);
  Checkpoint checkpoint = load_checkpoint(model_path);
  LlamaModel model(checkpoint);
  double worst = 0;
  for (size_t b = 0; b < ref.input_ids.size(); ++b) {
    const auto& ids = ref.input_ids[b];
    const int64_t seq = static_cast<int64_t>(ids.size()), split = seq / 3;
    KvCache cache = model.make_cache(seq);
    std::vector<float> logits = model.forward(std::span(ids).first(split), cache, true);
    std::vector<float> rest = model.forward(std::span(ids).subspan(split), cache, true);
    logits.insert(logits.end(), rest.begin(), rest.end());
    for (int64_t t = 0; t < seq; ++t) {
      const float* expected = ref.logits.data() + (b * seq + t) * ref.vocab;
      const float* actual = logits.data() + t * ref.vocab;
      double max_diff = 0, max_ref = 0;
      for (int64_t v = 0; v < ref.vocab; ++v) {
        max_diff = std::max(max_diff, std::abs(double(actual[v]) - expected[v]));
        max_ref = std::max(max_ref, std::abs(double(expected[v])));
      }
      worst = std::max(worst, max_diff / max_ref);
    }
  }
  std::printf("%s: max relative error %.3g\n", model_path.filename().c_str(), worst);
  return worst;
}

TEST(ReferenceLogits, F32MatchesTransformers) {
  const double err = max_relative_error(kFixtures / "f32", kFixtures / "f32/reference.json");
  RecordProperty("max_relative_error", std::to_string(err));
  EXPECT_LE(err, 1e-4);
}

TEST(ReferenceLogits, Bf16WeightsMatchTransformers) {
  const double err = max_relative_error(kFixtures / "bf16", kFixtures / "bf16/reference.json");
  RecordProperty("max_relative_error", std::to_string(err));
  EXPECT_LE(err, 1e-2);
}

TEST(ReferenceLogits, TiedEmbeddingsMatchTransformers) {
  const double err = max_relative_error(kFixtures / "tied", kFixtures / "tied/reference.json");
  EXPECT_LE(err, 1e-4);
}

TEST(ReferenceLogits, ShardedCheckpointMatchesTransformers) {
  const double err = max_relative_error(kFixtures / "sharded", kFixtures / "sharded/reference.json");
  EXPECT_LE(err, 1e-4);
}

// GGUF stores q/k rows permuted for adjacent-pair RoPE: same logits with rope_adjacent_pairs.
TEST(ReferenceLogits, GgufF32MatchesTransformers) {
  const double err = max_relative_error(kFixtures / "gguf/tiny-f32.gguf", kFixtures / "gguf/tiny-f32.reference.json");
  EXPECT_LE(err, 1e-4);
}

// Q8_0 weights with 8-bit activations: close to the f32 model, not equal.
TEST(ReferenceLogits, GgufQ8_0IsCloseToTransformers) {
  const double err = max_relative_error(kFixtures / "gguf/tiny-q8_0.gguf", kFixtures / "gguf/tiny-q8_0.reference.json");
  EXPECT_LE(err, 3e-2);  // measured 2.4e-2: 8-bit activations through 2 layers of random weights
}

}  // namespace
}  // namespace rxlm
