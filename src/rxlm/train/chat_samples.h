// Chat samples (prep's JSONL: {"messages": [system, user, assistant]}) → token ids with labels on the
// final assistant turn only, as completion-only fine-tuning (TRL) trains: the model learns the answer and
// its end-of-turn token, never the prompt or the template.
#pragma once
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "rxlm/tokenizer/chat_template.h"
#include "rxlm/train/llama_train.h"

namespace rxlm {

// Renders the conversation with the tokenizer's chat format twice: without the last (assistant) message
// plus the generation prompt, which is masked (-100), and in full; the rest of the full tokens are the
// labels. Throws when the last message is not the assistant's, or when the prompt's tokens are not a
// prefix of the full tokens (a template whose assistant header tokenises differently in context).
// Sequences longer than max_length are cut at max_length (the answer's tail is lost, not the prompt).
TrainSequence tokenize_chat_sample(const Tokenizer& tokenizer, std::span<const ChatMessage> messages,
                                   int64_t max_length);

struct ChatDataset {
  std::vector<TrainSequence> sequences;
  int64_t skipped_no_answer_left = 0;  // cut so short by max_length that no answer token remained
};

// Reads every line of a JSONL file of {"messages": [...]} samples; errors name the file and line.
ChatDataset load_chat_jsonl(const std::filesystem::path& path, const Tokenizer& tokenizer, int64_t max_length);

}  // namespace rxlm
