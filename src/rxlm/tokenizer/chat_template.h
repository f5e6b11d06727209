// Chat rendering: Llama 3.1 (as Meta's official Jinja template renders it) and ChatML (SmolLM2),
// chosen from a checkpoint's metadata or overridden by name (--chat-format llama3|chatml).
#pragma once
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rxlm/tokenizer/tokenizer.h"

namespace rxlm {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" (Llama 3.1 also "ipython"/"tool")
  std::string content;
};

struct ChatOptions {
  // Llama 3.1: the "Today Date:" line; the official template's default when no date_string is given.
  std::string date = "26 Jul 2024";
  // ChatML: the system turn some templates insert when the conversation has none (SmolLM2 does).
  std::string default_system;
};

// The prompt text. Llama 3 output starts with "<|begin_of_text|>" (the template emits bos_token), so
// encode it with parse_special = true and without adding another BOS.
std::string render_chat(ChatFormat format, std::span<const ChatMessage> messages, bool add_generation_prompt,
                        const ChatOptions& options = {});
// Format and options the tokenizer's metadata implies (template text first, then its special tokens).
std::string render_chat(const Tokenizer& tokenizer, std::span<const ChatMessage> messages, bool add_generation_prompt);

// From a template text and/or the vocabulary's special tokens: <|start_header_id|> → Llama3,
// <|im_start|> → ChatML, else None.
ChatFormat detect_chat_format(std::string_view template_text, const Tokenizer* tokenizer = nullptr);
ChatFormat detect_chat_format(const Tokenizer& tokenizer);
// The options a template implies (ChatML default system prompt).
ChatOptions chat_options_from_template(std::string_view template_text);
// "llama3" | "chatml" (for --chat-format); throws naming the accepted values otherwise.
ChatFormat parse_chat_format(std::string_view name);
std::string_view chat_format_name(ChatFormat format);

// Python's str.strip() (Jinja's trim filter): Unicode whitespace off both ends.
std::string trim_unicode_whitespace(std::string_view text);

}  // namespace rxlm
