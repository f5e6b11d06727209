// Sampler rules on hand-made logits: greedy, top-k, top-p, repetition penalty, seeding.
#include "rxlm/generate/sampler.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace rxlm {
namespace {

std::vector<float> logits() { return {1.0f, 3.0f, 2.9f, -1.0f, 0.5f}; }

TEST(Sampler, GreedyPicksTheFirstMaximum) {
  Sampler s({.temperature = 0});
  auto l = logits();
  EXPECT_EQ(s.sample(l, {}), 1);
  std::vector<float> tie = {0.f, 2.f, 2.f};
  EXPECT_EQ(s.sample(tie, {}), 1);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  Sampler s({.temperature = 0, .repetition_penalty = 2.0f});
  auto l = logits();
  const std::vector<int32_t> history = {1, 3, 1};
  EXPECT_EQ(s.sample(l, history), 2);  // 3.0 / 2 = 1.5 < 2.9
  EXPECT_FLOAT_EQ(l[1], 1.5f);
  EXPECT_FLOAT_EQ(l[3], -2.0f);  // applied once per distinct token, negative multiplied
}

TEST(Sampler, TopKOneIsGreedyAtAnyTemperature) {
  Sampler s({.temperature = 5.0f, .top_k = 1, .seed = 3});
  for (int i = 0; i < 50; ++i) {
    auto l = logits();
    EXPECT_EQ(s.sample(l, {}), 1);
  }
}

TEST(Sampler, TopKTwoOnlyDrawsTheTwoBest) {
  Sampler s({.temperature = 1.0f, .top_k = 2, .seed = 11});
  std::map<int32_t, int> counts;
  for (int i = 0; i < 2000; ++i) {
    auto l = logits();
    ++counts[s.sample(l, {})];
  }
  EXPECT_EQ(counts.size(), 2u);
  // p(1) / p(2) = e^0.1 ≈ 1.105 → share of token 1 ≈ 0.525
  EXPECT_NEAR(counts[1] / 2000.0, 0.525, 0.04);
}

TEST(Sampler, SmallTopPKeepsOnlyTheMostLikelyToken) {
  Sampler s({.temperature = 1.0f, .top_p = 0.05f, .seed = 5});
  for (int i = 0; i < 50; ++i) {
    auto l = logits();
    EXPECT_EQ(s.sample(l, {}), 1);
  }
}

TEST(Sampler, SameSeedSameDrawsDifferentSeedDifferentDraws) {
  auto draws = [](uint64_t seed) {
    Sampler s({.temperature = 1.0f, .seed = seed});
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) {
      auto l = logits();
      out.push_back(s.sample(l, {}));
    }
    return out;
  };
  EXPECT_EQ(draws(7), draws(7));
  EXPECT_NE(draws(7), draws(8));
}

TEST(Sampler, RejectsNonsenseSettings) {
  EXPECT_ANY_THROW(Sampler({.temperature = -1.0f}));
  EXPECT_ANY_THROW(Sampler({.top_k = -2}));
  EXPECT_ANY_THROW(Sampler({.repetition_penalty = 0.0f}));
}

}  // namespace
}  // namespace rxlm
