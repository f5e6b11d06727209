// Training on a bf16 base gives the loss and LoRA gradients of the same weights stored as f32, whether the
// trainer converts the weights once at construction (the f32 cache) or per use (cache limit 0): both
// conversion paths of the frozen-weight forward and backward are checked against the f32 path.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>

#include "rxlm/io/checkpoint.h"
#include "rxlm/train/llama_train.h"

namespace rxlm {
namespace {

class TrainDtype : public ::testing::TestWithParam<uint64_t> {};

TEST_P(TrainDtype, Bf16BaseMatchesItsF32Copy) {
  const Checkpoint bf16 = load_checkpoint(std::string(RXLM_SOURCE_DIR) + "/tests/fixtures/tiny_llama/bf16");
  ASSERT_EQ(bf16.tensor("model.layers.0.self_attn.q_proj.weight").dtype, DType::BF16);
  // The same values as f32 tensors owned here.
  Checkpoint f32 = bf16;
  std::deque<std::vector<float>> storage;
  for (auto& [name, view] : f32.tensors) {
    auto& values = storage.emplace_back(static_cast<size_t>(view.numel()));
    dequantize_row(view.dtype, view.data, values.data(), view.numel());
    view.dtype = DType::F32;
    view.data = reinterpret_cast<const std::byte*>(values.data());
    view.nbytes = values.size() * sizeof(float);
  }
  std::vector<TrainSequence> batch = {{{5, 9, 200, 17, 33, 4, 81, 90, 12, 140, 7, 66, 3, 250, 8, 19, 44},
                                       {-100, -100, -100, 17, 33, 4, 81, 90, 12, 140, 7, 66, 3, 250, 8, 19, 44}},
                                      {{100, 101, 102, 103, 104, 105}, {-100, -100, 102, 103, 104, 105}}};
  LoraConfig config;
  config.freeze_a = false;
  config.target_modules = {"q_proj", "v_proj", "o_proj", "down_proj"};
  LoraWeights lora_bf16 = init_lora_weights(bf16.config, config, 3);
  for (LoraAdapter& a : lora_bf16.adapters)
    for (size_t i = 0; i < a.b.size(); ++i) a.b[i] = 0.02f * std::sin(static_cast<float>(i));
  LoraWeights lora_f32 = lora_bf16;
  LlamaLoraTrainer bf16_trainer(bf16, lora_bf16, GetParam());
  EXPECT_EQ(bf16_trainer.weights_cached_f32(), GetParam() > 0);
  const double loss_bf16 = bf16_trainer.forward_backward(batch);
  const double loss_f32 = LlamaLoraTrainer(f32, lora_f32).forward_backward(batch);
  EXPECT_NEAR(loss_bf16, loss_f32, 1e-5 * loss_f32);
  for (size_t i = 0; i < lora_f32.adapters.size(); ++i) {
    const auto& want = lora_f32.adapters[i];
    const auto& got = lora_bf16.adapters[i];
    double scale = 0, diff = 0;
    for (size_t k = 0; k < want.grad_a.size(); ++k) {
      scale = std::max(scale, std::abs(double(want.grad_a[k])));
      diff = std::max(diff, std::abs(double(want.grad_a[k]) - got.grad_a[k]));
    }
    for (size_t k = 0; k < want.grad_b.size(); ++k) {
      scale = std::max(scale, std::abs(double(want.grad_b[k])));
      diff = std::max(diff, std::abs(double(want.grad_b[k]) - got.grad_b[k]));
    }
    ASSERT_GT(scale, 0) << want.target.weight_name;
    EXPECT_LE(diff / scale, 1e-5) << want.target.weight_name;
  }
}

INSTANTIATE_TEST_SUITE_P(CachedOrPerUse, TrainDtype,
                         ::testing::Values(LlamaLoraTrainer::kDefaultF32CacheBytes, uint64_t{0}),
                         [](const auto& info) { return info.param ? std::string("CachedF32") : std::string("PerUse"); });

}  // namespace
}  // namespace rxlm
