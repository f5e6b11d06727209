// Autoregressive generation (see generator.h).
#include "rxlm/generate/generator.h"

#include <algorithm>
#include <chrono>

#include "rxlm/core/error.h"

namespace rxlm {

GenerationResult generate(LlamaModel& model, const Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                          const GenerationOptions& options, const std::function<void(std::string_view)>& on_text) {
  if (prompt.empty()) fail("generate: the prompt is empty and the tokenizer has no BOS token to start from");
  if (options.max_tokens < 0) fail("generate: max tokens must be ≥ 0");
  int64_t context = static_cast<int64_t>(prompt.size()) + options.max_tokens;
  const int64_t limit = model.config().max_position_embeddings;
  if (limit > 0 && static_cast<int64_t>(prompt.size()) > limit)
    fail("generate: the prompt has {} tokens but the model's context is {}", prompt.size(), limit);
  if (limit > 0) context = std::min(context, limit);
  KvCache cache = model.make_cache(context);
  Sampler sampler(options.sampler);
  const auto& stops = tokenizer.stop_ids();

  GenerationResult result;
  result.prompt_tokens = static_cast<int64_t>(prompt.size());
  std::vector<int32_t> history = prompt;
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  std::vector<float> logits = model.forward(prompt, cache);
  result.prefill_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  t0 = clock::now();
  int32_t previous = prompt.back();
  for (int64_t step = 0; step < options.max_tokens; ++step) {
    const int32_t next = sampler.sample(logits, history);
    if (std::find(stops.begin(), stops.end(), next) != stops.end()) {
      result.stopped = true;
      break;
    }
    result.tokens.push_back(next);
    history.push_back(next);
    if (on_text) on_text(tokenizer.decode_next(previous, next));
    previous = next;
    if (step + 1 == options.max_tokens || cache.length >= cache.capacity) break;
    const int32_t fed[1] = {next};
    logits = model.forward(fed, cache);
  }
  result.decode_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  return result;
}

}  // namespace rxlm
