// Per-layer activation checkpointing: the same loss and bit-identical LoRA gradients as keeping every
// activation, while the saved activations shrink to one block input per layer plus one block; and the
// dry-run memory estimate equals what is saved.
#include <gtest/gtest.h>

#include "rxlm/io/checkpoint.h"
#include "rxlm/train/llama_train.h"
#include "rxlm/train/memory_estimate.h"

namespace rxlm {
namespace {

TEST(TrainCheckpointing, SameGradientsWithLessSavedActivation) {
  const Checkpoint checkpoint = load_checkpoint(std::string(RXLM_SOURCE_DIR) + "/tests/fixtures/tiny_llama/f32");
  const LlamaConfig& c = checkpoint.config;
  std::vector<TrainSequence> batch = {{{7, 19, 200, 31, 45, 90, 3, 120, 77, 5, 64, 18, 222},
                                       {-100, -100, -100, -100, 45, 90, 3, 120, 77, 5, 64, 18, 222}},
                                      {{150, 2, 99, 13, 8, 240, 41}, {-100, -100, 99, 13, 8, 240, 41}}};
  const int64_t n = 20;
  LoraConfig config;
  config.freeze_a = false;
  config.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  LoraWeights plain = init_lora_weights(c, config, 5);
  for (LoraAdapter& a : plain.adapters)
    for (size_t i = 0; i < a.b.size(); ++i) a.b[i] = 0.01f * static_cast<float>((i * 7) % 13) - 0.06f;
  LoraWeights checkpointed = plain;

  LlamaLoraTrainer keep_all(checkpoint, plain);
  const double loss = keep_all.forward_backward(batch);
  LlamaLoraTrainer recompute(checkpoint, checkpointed);
  recompute.set_activation_checkpointing(true);
  EXPECT_EQ(recompute.forward_backward(batch), loss);
  for (size_t i = 0; i < plain.adapters.size(); ++i) {
    EXPECT_EQ(checkpointed.adapters[i].grad_a, plain.adapters[i].grad_a) << plain.adapters[i].target.weight_name;
    EXPECT_EQ(checkpointed.adapters[i].grad_b, plain.adapters[i].grad_b) << plain.adapters[i].target.weight_name;
  }

  // Saved: the final norm per token and the logits per scored token in both; per layer everything vs
  // only the block input.
  const int64_t scored = count_scored_tokens(batch);
  ASSERT_EQ(scored, 9 + 5);
  const int64_t head = n * 2 * c.hidden_size + scored * c.vocab_size;
  const int64_t per_layer_inputs = c.num_hidden_layers * n * c.hidden_size;
  EXPECT_GT(keep_all.peak_saved_floats(), head + per_layer_inputs * 5);
  const int64_t one_block = (keep_all.peak_saved_floats() - head) / c.num_hidden_layers;
  EXPECT_EQ(recompute.peak_saved_floats(), head + per_layer_inputs + one_block - n * c.hidden_size);

  // The dry-run estimate counts exactly what the implementation saves.
  const TrainMemoryEstimate estimate = estimate_train_memory(c, config, 4, n, "sgd", scored);
  EXPECT_EQ(estimate.activations, 4u * static_cast<uint64_t>(keep_all.peak_saved_floats()));
  EXPECT_EQ(estimate.activations_checkpointed, 4u * static_cast<uint64_t>(recompute.peak_saved_floats()));
}

}  // namespace
}  // namespace rxlm
