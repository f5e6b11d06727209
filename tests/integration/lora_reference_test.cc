// rxlm's LoRA training against transformers + PEFT on the tiny f32 Llama (fixtures written by
// tools/reference/make_lora_reference.py): initial loss, every LoRA gradient and a 10-step loss trajectory
// for FFA-LoRA r16/r32 on q,v, standard LoRA on q,v and on all seven modules, SGD and AdamW, with
// transformers' warmup schedules and torch's gradient clipping; and the logits of a PEFT-saved adapter.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rxlm/io/checkpoint.h"
#include "rxlm/io/safetensors.h"
#include "rxlm/lora/peft_adapter.h"
#include "rxlm/train/llama_train.h"
#include "rxlm/train/optimizer.h"

namespace rxlm {
namespace {

const std::string root = RXLM_SOURCE_DIR;

struct ReferenceCase {
  nlohmann::json json;
  std::vector<TrainSequence> batch;
  LoraConfig lora;
};

ReferenceCase load_case(const std::string& name) {
  std::ifstream in(root + "/tests/fixtures/lora/" + name + "/case.json");
  ReferenceCase c;
  c.json = nlohmann::json::parse(in);
  for (const auto& s : c.json["sequences"])
    c.batch.push_back({s["tokens"].get<std::vector<int32_t>>(), s["labels"].get<std::vector<int32_t>>()});
  c.lora.rank = c.json["r"];
  c.lora.alpha = c.json["lora_alpha"];
  c.lora.freeze_a = c.json["freeze_a"];
  c.lora.target_modules = c.json["target_modules"].get<std::vector<std::string>>();
  return c;
}

// max |got − want| relative to max |want| over one tensor: the tensor's size-independent error.
double relative_error(const std::vector<float>& got, const TensorView& want) {
  const float* w = reinterpret_cast<const float*>(want.data);
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(got[i]) - w[i]));
    scale = std::max(scale, std::abs(static_cast<double>(w[i])));
  }
  return diff / scale;
}

class LoraReference : public ::testing::TestWithParam<std::string> {};

TEST_P(LoraReference, LossGradientsAndTrajectoryMatchPeft) {
  const ReferenceCase c = load_case(GetParam());
  const Checkpoint checkpoint = load_checkpoint(root + "/tests/fixtures/tiny_llama/f32");
  LoraWeights lora = init_lora_weights(checkpoint.config, c.lora, 1);
  const auto tensors = SafetensorsFile::open(root + "/tests/fixtures/lora/" + GetParam() + "/tensors.safetensors");
  read_lora_tensors(*tensors, lora);  // PEFT's initial A and B
  LlamaLoraTrainer trainer(checkpoint, lora);

  const double loss = trainer.forward_backward(c.batch);
  const double want_loss = c.json["loss"];
  EXPECT_LE(std::abs(loss - want_loss) / want_loss, 1e-5) << loss << " vs PEFT " << want_loss;
  int compared = 0;
  double worst_grad = 0;
  for (const LoraAdapter& a : lora.adapters) {
    const TensorView* grad_b = tensors->find(peft_tensor_name(a.target, 'B', "grad"));
    ASSERT_NE(grad_b, nullptr);
    const double err_b = relative_error(a.grad_b, *grad_b);
    EXPECT_LE(err_b, 1e-4) << a.target.weight_name << " lora_B";
    worst_grad = std::max(worst_grad, err_b);
    ++compared;
    const TensorView* grad_a = tensors->find(peft_tensor_name(a.target, 'A', "grad"));
    ASSERT_EQ(grad_a != nullptr, !c.lora.freeze_a) << "PEFT has a gradient for A exactly when A is trained";
    if (grad_a) {
      const double err_a = relative_error(a.grad_a, *grad_a);
      EXPECT_LE(err_a, 1e-4) << a.target.weight_name << " lora_A";
      worst_grad = std::max(worst_grad, err_a);
      ++compared;
    }
  }
  // 2 layers × every target × (B, and A when trained)
  EXPECT_EQ(compared, 2 * static_cast<int>(c.lora.target_modules.size()) * (c.lora.freeze_a ? 1 : 2));

  // 10 optimiser steps from the same start: loss before each step, as the reference records it.
  read_lora_tensors(*tensors, lora);
  const bool adamw = c.json["optimizer"] == "adamw";
  AdamWSettings settings;
  if (adamw) {
    settings.beta1 = c.json["adamw"]["betas"][0];
    settings.beta2 = c.json["adamw"]["betas"][1];
    settings.eps = c.json["adamw"]["eps"];
    settings.weight_decay = c.json["adamw"]["weight_decay"];
  }
  AdamW adam(lora, settings);
  const std::string schedule = c.json["schedule"];
  const int64_t warmup = c.json["warmup_steps"], total = c.json["total_steps"];
  const bool clip = !c.json["max_grad_norm"].is_null();
  const auto want_norms = c.json["grad_norms"].get<std::vector<double>>();
  const auto trajectory = c.json["trajectory"].get<std::vector<double>>();
  ASSERT_EQ(trajectory.size(), 10u);
  double worst_step = 0, last_loss = 0;
  for (size_t step = 0; step < trajectory.size(); ++step) {
    lora.zero_grad();
    last_loss = trainer.forward_backward(c.batch);
    const double err = std::abs(last_loss - trajectory[step]) / trajectory[step];
    EXPECT_LE(err, 1e-4) << "step " << step;
    worst_step = std::max(worst_step, err);
    if (clip) {
      const double norm = clip_grad_norm(lora, c.json["max_grad_norm"].get<double>());
      EXPECT_LE(std::abs(norm - want_norms[step]) / want_norms[step], 1e-4) << "gradient norm, step " << step;
    }
    const double lr = c.json["lr"].get<double>() * schedule_factor(schedule, static_cast<int64_t>(step), warmup, total);
    if (adamw)
      adam.step(lora, lr);
    else
      sgd_step(lora, lr);
  }
  // The measured figures, for the acceptance note.
  std::printf("%s (%s, %s%s): loss %.7f (PEFT %.7f, rel err %.2e); worst gradient rel err %.2e over %d tensors; "
              "trajectory %.6f -> %.6f, worst step rel err %.2e\n",
              GetParam().c_str(), adamw ? "adamw" : "sgd", schedule.c_str(), clip ? ", clipped" : "", loss, want_loss, std::abs(loss - want_loss) / want_loss, worst_grad, compared,
              trajectory.front(), last_loss, worst_step);
  EXPECT_LT(trajectory.back(), 0.95 * trajectory.front()) << "the reference loss must move for the test to mean much";
}

INSTANTIATE_TEST_SUITE_P(Peft, LoraReference, ::testing::Values("ffa_r16", "ffa_r32", "standard_r16", "standard_all_r8",
                                                           "ffa_r16_adamw", "standard_r16_adamw", "ffa_r16_cosine_clip",
                                                           "standard_r16_linear_clip"));

// A PEFT-saved adapter (nonzero B, so the adapter changes the logits) read through rxlm's PEFT loader gives
// PEFT's logits on every real (unpadded) token.
TEST(LoraReference, PeftSavedAdapterGivesPeftLogits) {
  const ReferenceCase c = load_case("standard_r16");
  const Checkpoint checkpoint = load_checkpoint(root + "/tests/fixtures/tiny_llama/f32");
  LoraWeights lora = load_peft_adapter(root + "/tests/fixtures/lora/standard_r16/adapter", checkpoint.config);
  EXPECT_EQ(lora.config.rank, 16);
  EXPECT_EQ(lora.adapters.size(), 4u);
  LlamaLoraTrainer trainer(checkpoint, lora);
  const std::vector<float> logits = trainer.logits(c.batch);
  const auto ref = SafetensorsFile::open(root + "/tests/fixtures/lora/standard_r16/logits.safetensors");
  const TensorView* want = ref->find("logits");
  ASSERT_NE(want, nullptr);
  const int64_t width = want->shape[1], vocab = want->shape[2];
  const float* w = reinterpret_cast<const float*>(want->data);
  double max_diff = 0, max_ref = 0;
  int64_t row = 0;
  for (size_t s = 0; s < c.batch.size(); ++s)
    for (size_t t = 0; t < c.batch[s].tokens.size(); ++t, ++row)
      for (int64_t v = 0; v < vocab; ++v) {
        const double ref_value = w[(static_cast<int64_t>(s) * width + static_cast<int64_t>(t)) * vocab + v];
        max_diff = std::max(max_diff, std::abs(logits[row * vocab + v] - ref_value));
        max_ref = std::max(max_ref, std::abs(ref_value));
      }
  EXPECT_LE(max_diff, 1e-4) << "largest |logit| " << max_ref;
  std::printf("PEFT-saved adapter: max |logit diff| %.2e (largest |logit| %.2f)\n", max_diff, max_ref);

  // Without the adapter the logits differ: the comparison above really exercises the LoRA path.
  LoraWeights zero_b = lora;
  for (LoraAdapter& a : zero_b.adapters) std::fill(a.b.begin(), a.b.end(), 0.f);
  LlamaLoraTrainer plain(checkpoint, zero_b);
  const std::vector<float> base_logits = plain.logits(c.batch);
  double change = 0;
  for (size_t i = 0; i < logits.size(); ++i) change = std::max(change, std::abs(double(logits[i]) - base_logits[i]));
  EXPECT_GT(change, 1e-2);
}

}  // namespace
}  // namespace rxlm
