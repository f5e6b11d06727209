// Autoregressive generation: prefill the prompt in one batch, then sample token by token, streaming
// the decoded bytes, until max_tokens or a stop token (EOS / end of turn).
#pragma once
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "rxlm/generate/sampler.h"
#include "rxlm/model/llama.h"
#include "rxlm/tokenizer/tokenizer.h"

namespace rxlm {

struct GenerationOptions {
  int64_t max_tokens = 256;  // generated tokens, stop token excluded
  SamplerConfig sampler;
};

struct GenerationResult {
  std::vector<int32_t> tokens;  // generated ids (no prompt, no stop token)
  bool stopped = false;         // ended on a stop token rather than max_tokens
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
};

// `prompt` already holds BOS / template tokens as wanted. `on_text` receives each token's bytes.
GenerationResult generate(LlamaModel& model, const Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                          const GenerationOptions& options, const std::function<void(std::string_view)>& on_text);

}  // namespace rxlm
