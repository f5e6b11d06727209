// Chat templates written out in C++ rather than run through a Jinja engine: the two formats rxlm
// serves are fixed strings, and tests compare them with transformers' rendering of the originals.
#include "rxlm/tokenizer/chat_template.h"

#include "rxlm/core/error.h"
#include "rxlm/tokenizer/utf8.h"

namespace rxlm {
namespace {

std::string render_llama3(std::span<const ChatMessage> messages, bool add_generation_prompt, const ChatOptions& options) {
  std::string out = "<|begin_of_text|>";
  std::string system;
  if (!messages.empty() && messages[0].role == "system") {
    system = trim_unicode_whitespace(messages[0].content);
    messages = messages.subspan(1);
  }
  // Meta's template always writes the system turn, with its two header lines, even when empty.
  out += "<|start_header_id|>system<|end_header_id|>\n\n";
  out += "Cutting Knowledge Date: December 2023\n";
  out += "Today Date: " + options.date + "\n\n";
  out += system;
  out += "<|eot_id|>";
  for (const ChatMessage& message : messages) {
    if (message.role == "ipython" || message.role == "tool") {
      // Tool results go in an ipython turn, untrimmed.
      out += "<|start_header_id|>ipython<|end_header_id|>\n\n" + message.content + "<|eot_id|>";
    } else {
      out += "<|start_header_id|>" + message.role + "<|end_header_id|>\n\n" + trim_unicode_whitespace(message.content) + "<|eot_id|>";
    }
  }
  if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::string render_chatml(std::span<const ChatMessage> messages, bool add_generation_prompt, const ChatOptions& options) {
  std::string out;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i == 0 && messages[0].role != "system" && !options.default_system.empty())
      out += "<|im_start|>system\n" + options.default_system + "<|im_end|>\n";
    out += "<|im_start|>" + messages[i].role + "\n" + messages[i].content + "<|im_end|>\n";
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

}  // namespace

std::string trim_unicode_whitespace(std::string_view text) {
  while (size_t n = leading_space(text, SpaceSet::Python)) text.remove_prefix(n);
  while (size_t n = trailing_space(text, SpaceSet::Python)) text.remove_suffix(n);
  return std::string(text);
}

std::string render_chat(ChatFormat format, std::span<const ChatMessage> messages, bool add_generation_prompt,
                        const ChatOptions& options) {
  switch (format) {
    case ChatFormat::Llama3: return render_llama3(messages, add_generation_prompt, options);
    case ChatFormat::ChatML: return render_chatml(messages, add_generation_prompt, options);
    case ChatFormat::None: break;
  }
  fail("this vocabulary has no known chat format; choose one with --chat-format llama3|chatml");
}

std::string render_chat(const Tokenizer& tokenizer, std::span<const ChatMessage> messages, bool add_generation_prompt) {
  return render_chat(tokenizer.chat_format(), messages, add_generation_prompt, chat_options_from_template(tokenizer.chat_template()));
}

ChatFormat detect_chat_format(std::string_view template_text, const Tokenizer* tokenizer) {
  if (template_text.find("<|start_header_id|>") != std::string_view::npos) return ChatFormat::Llama3;
  if (template_text.find("<|im_start|>") != std::string_view::npos) return ChatFormat::ChatML;
  if (tokenizer) {
    if (tokenizer->find_token("<|start_header_id|>") && tokenizer->find_token("<|eot_id|>")) return ChatFormat::Llama3;
    if (tokenizer->find_token("<|im_start|>") && tokenizer->find_token("<|im_end|>")) return ChatFormat::ChatML;
  }
  return ChatFormat::None;
}

ChatFormat detect_chat_format(const Tokenizer& tokenizer) { return detect_chat_format(tokenizer.chat_template(), &tokenizer); }

ChatOptions chat_options_from_template(std::string_view template_text) {
  ChatOptions options;
  // A ChatML template with a built-in system turn spells it as a literal:
  // '<|im_start|>system\nYou are ...<|im_end|>\n' (SmolLM2). A system turn built from
  // message['content'] has template syntax after the header instead, and is not a default.
  for (std::string_view header : {"<|im_start|>system\n", "<|im_start|>system\\n"}) {
    const size_t at = template_text.find(header);
    if (at == std::string_view::npos) continue;
    const size_t start = at + header.size();
    const size_t end = template_text.find("<|im_end|>", start);
    if (end == std::string_view::npos) continue;
    const std::string_view text = template_text.substr(start, end - start);
    if (text.empty() || text.find_first_of("'\"{}+") != std::string_view::npos) continue;
    options.default_system = std::string(text);
    break;
  }
  return options;
}

ChatFormat parse_chat_format(std::string_view name) {
  if (name == "llama3") return ChatFormat::Llama3;
  if (name == "chatml") return ChatFormat::ChatML;
  fail("unknown chat format \"{}\" (expected llama3 or chatml)", name);
}

std::string_view chat_format_name(ChatFormat format) {
  switch (format) {
    case ChatFormat::Llama3: return "llama3";
    case ChatFormat::ChatML: return "chatml";
    case ChatFormat::None: break;
  }
  return "none";
}

}  // namespace rxlm
