// `rxlm generate`: stream a completion (or a chat reply) from a checkpoint to stdout.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "rxlm/cli/command.h"
#include "rxlm/core/error.h"
#include "rxlm/core/threads.h"
#include "rxlm/generate/generator.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/model/llama.h"
#include "rxlm/tokenizer/chat_template.h"
#include "rxlm/tokenizer/tokenizer.h"

namespace rxlm::cli {
namespace {

struct GenerateArgs {
  std::string model, tokenizer, prompt, system, chat_format;
  bool chat = false;
  int64_t max_tokens = 256;
  SamplerConfig sampler;
  int threads = 0;
  bool stats = false;
  std::string numerics = "rxlm";
};

void run_generate(const GenerateArgs& args) {
  set_num_threads(args.threads);
  Checkpoint checkpoint = load_checkpoint(args.model);
  LlamaModel model(checkpoint);
  model.set_numerics(args.numerics == "ggml" ? Numerics::Ggml : Numerics::Rxlm);  // refuse early
  std::unique_ptr<Tokenizer> tokenizer =
      args.tokenizer.empty() ? load_tokenizer(checkpoint) : load_tokenizer(args.tokenizer);
  if (tokenizer->vocab_size() > checkpoint.config.vocab_size)
    fail("tokenizer {} has {} tokens but the model {} has only {} embeddings: wrong tokenizer for this model?",
         args.tokenizer.empty() ? args.model : args.tokenizer, tokenizer->vocab_size(), args.model,
         checkpoint.config.vocab_size);
  std::vector<int32_t> prompt;
  if (args.chat) {
    std::vector<ChatMessage> messages;
    if (!args.system.empty()) messages.push_back({"system", args.system});
    messages.push_back({"user", args.prompt});
    // The rendered text carries its own BOS/turn tokens: encode specials, add no BOS.
    const std::string text = args.chat_format.empty()
                                 ? render_chat(*tokenizer, messages, true)
                                 : render_chat(parse_chat_format(args.chat_format), messages, true);
    prompt = tokenizer->encode(text, /*parse_special=*/true);
  } else {
    if (!args.system.empty() || !args.chat_format.empty()) fail("--system and --chat-format need --chat");
    if (tokenizer->add_bos() && tokenizer->bos_id()) prompt.push_back(*tokenizer->bos_id());
    auto ids = tokenizer->encode(args.prompt);
    prompt.insert(prompt.end(), ids.begin(), ids.end());
  }
  GenerationOptions options;
  options.max_tokens = args.max_tokens;
  options.sampler = args.sampler;
  GenerationResult result = generate(model, *tokenizer, prompt, options, [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  });
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (args.stats) {
    std::fprintf(stderr, "prompt %lld tokens in %.3f s (%.1f tok/s); generated %zu tokens in %.3f s (%.1f tok/s)\n",
                 static_cast<long long>(result.prompt_tokens), result.prefill_seconds,
                 result.prompt_tokens / std::max(result.prefill_seconds, 1e-9), result.tokens.size(),
                 result.decode_seconds, result.tokens.size() / std::max(result.decode_seconds, 1e-9));
  }
}

const bool registered = register_command("generate", "Generate text from a model (greedy unless --temperature > 0)", [](CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  app.add_option("--model", args->model, "Checkpoint: Hugging Face directory, .gguf or llama2.c .bin")->required();
  app.add_option("--tokenizer", args->tokenizer, "Tokenizer file (default: the one the checkpoint carries)");
  app.add_option("--prompt", args->prompt, "Prompt text (default: empty, start from BOS)");
  app.add_flag("--chat", args->chat, "Wrap the prompt as a user turn in the model's chat template");
  app.add_option("--system", args->system, "System message for --chat");
  app.add_option("--chat-format", args->chat_format, "Override the chat template: llama3 | chatml");
  app.add_option("--max-tokens", args->max_tokens, "Most tokens to generate")->capture_default_str();
  app.add_option("--temperature", args->sampler.temperature, "0 = greedy")->capture_default_str();
  app.add_option("--top-p", args->sampler.top_p, "Nucleus sampling mass (1 = off)")->capture_default_str();
  app.add_option("--top-k", args->sampler.top_k, "Keep the k most likely tokens (0 = off)")->capture_default_str();
  app.add_option("--repetition-penalty", args->sampler.repetition_penalty, "1 = off")->capture_default_str();
  app.add_option("--seed", args->sampler.seed, "RNG seed for sampling")->capture_default_str();
  app.add_option("--threads", args->threads, "CPU threads (default: all cores)");
  app.add_flag("--stats", args->stats, "Print prefill/decode speed to stderr");
  app.add_option("--numerics", args->numerics,
                 "rxlm: rxlm's kernels (batched prefill, default); ggml: llama.cpp's CPU arithmetic op for op, one "
                 "token at a time, for token-for-token comparisons with llama.cpp (GGUF Q4_1/Q8_0/F32 only, slower)")
      ->check(CLI::IsMember({"rxlm", "ggml"}))
      ->capture_default_str();
  app.callback([args] { run_generate(*args); });
});

}  // namespace
}  // namespace rxlm::cli
