// Chat samples to training sequences.
#include "rxlm/train/chat_samples.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "rxlm/core/error.h"
#include "rxlm/ops/cross_entropy.h"

namespace rxlm {

TrainSequence tokenize_chat_sample(const Tokenizer& tokenizer, std::span<const ChatMessage> messages,
                                   int64_t max_length) {
  if (messages.empty() || messages.back().role != "assistant")
    fail("chat sample: the last message must be the assistant's answer (got {})",
         messages.empty() ? std::string("no messages") : "role '" + messages.back().role + "'");
  if (max_length < 2) fail("max_length {} is too short to train on (need at least 2 tokens)", max_length);
  const std::string prompt_text = render_chat(tokenizer, messages.first(messages.size() - 1), true);
  const std::string full_text = render_chat(tokenizer, messages, false);
  // As `rxlm generate` feeds a chat: the rendered text carries its own BOS and turn tokens, so specials
  // are parsed and no BOS is added; training sees exactly what inference will.
  const std::vector<int32_t> prompt = tokenizer.encode(prompt_text, /*parse_special=*/true);
  TrainSequence seq;
  seq.tokens = tokenizer.encode(full_text, /*parse_special=*/true);
  if (seq.tokens.size() <= prompt.size() || !std::equal(prompt.begin(), prompt.end(), seq.tokens.begin()))
    fail("chat sample: the prompt's {} tokens are not a prefix of the full conversation's {} tokens, so the "
         "answer cannot be located (chat template or tokenizer mismatch)", prompt.size(), seq.tokens.size());
  if (static_cast<int64_t>(seq.tokens.size()) > max_length) seq.tokens.resize(static_cast<size_t>(max_length));
  seq.labels = seq.tokens;
  std::fill(seq.labels.begin(), seq.labels.begin() + std::min(prompt.size(), seq.labels.size()), kIgnoreTarget);
  return seq;
}

ChatDataset load_chat_jsonl(const std::filesystem::path& path, const Tokenizer& tokenizer, int64_t max_length) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open (expected JSONL chat samples as `rxlm prep` writes them)", path.string());
  ChatDataset data;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    std::vector<ChatMessage> messages;
    try {
      const nlohmann::json j = nlohmann::json::parse(line);
      for (const auto& m : j.at("messages")) messages.push_back({m.at("role"), m.at("content")});
    } catch (const nlohmann::json::exception& e) {
      fail("{}:{}: not a chat sample ({}); expected {{\"messages\": [{{\"role\": ..., \"content\": ...}}, ...]}}",
           path.string(), number, e.what());
    }
    try {
      TrainSequence seq = tokenize_chat_sample(tokenizer, messages, max_length);
      if (std::all_of(seq.labels.begin() + 1, seq.labels.end(), [](int32_t l) { return l == kIgnoreTarget; }))
        ++data.skipped_no_answer_left;
      else
        data.sequences.push_back(std::move(seq));
    } catch (const Error& e) {
      fail("{}:{}: {}", path.string(), number, e.what());
    }
  }
  return data;
}

}  // namespace rxlm
