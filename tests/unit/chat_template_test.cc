// Chat rendering: Llama 3.1 equals transformers' rendering of Meta's official template (and its ids equal
// tiktoken's with specials allowed); ChatML equals transformers' rendering of SmolLM2's template;
// format detection and the --chat-format names.
#include "rxlm/tokenizer/chat_template.h"
#include "rxlm/tokenizer/tokenizer.h"
#include "tokenizer_fixture.h"

namespace rxlm {
namespace {

using namespace rxlm::testing;

std::vector<ChatMessage> messages_of(const nlohmann::json& list) {
  std::vector<ChatMessage> messages;
  for (const auto& m : list) messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  return messages;
}

TEST(ChatTemplate, Llama31MatchesOfficialTemplate) {
  auto tokenizer = load_tokenizer(shared_dir() / "models" / "llama3-tokenizer" / "tokenizer.model");
  const auto fixture = read_fixture("llama3_chat.json");
  ASSERT_GE(fixture["cases"].size(), 5u);
  for (const auto& c : fixture["cases"]) {
    const auto messages = messages_of(c["messages"]);
    const std::string text = render_chat(ChatFormat::Llama3, messages, c["add_generation_prompt"].get<bool>());
    EXPECT_EQ(text, c["text"].get<std::string>());
    // The rendering carries <|begin_of_text|> as text: encode with specials and no extra BOS.
    EXPECT_EQ(tokenizer->encode(text, true), c["ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(render_chat(*tokenizer, messages, c["add_generation_prompt"].get<bool>()), text);
  }
}

TEST(ChatTemplate, Llama31SystemHeaderLines) {
  const std::vector<ChatMessage> messages = {{"system", " Be brief. "}, {"user", "Hi"}, {"assistant", "Hello\n"}};
  EXPECT_EQ(render_chat(ChatFormat::Llama3, messages, false),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|>");
  ChatOptions options;
  options.date = "04 Dec 2026";
  EXPECT_NE(render_chat(ChatFormat::Llama3, messages, true, options).find("Today Date: 04 Dec 2026\n\n"), std::string::npos);
}

TEST(ChatTemplate, ChatMLMatchesSmolLM2Template) {
  const auto fixture = read_fixture("smollm2_llamacpp.json");
  ChatOptions options;
  options.default_system = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
  for (const auto& c : fixture["chats"])
    EXPECT_EQ(render_chat(ChatFormat::ChatML, messages_of(c["messages"]), c["add_generation_prompt"].get<bool>(), options),
              c["text"].get<std::string>());
}

TEST(ChatTemplate, DetectionAndOptions) {
  const std::string smollm2 =
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
      "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + "
      "message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}";
  EXPECT_EQ(detect_chat_format(smollm2), ChatFormat::ChatML);
  EXPECT_EQ(chat_options_from_template(smollm2).default_system, "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  // A ChatML template whose system turn comes from the messages has no default.
  EXPECT_EQ(chat_options_from_template("{{'<|im_start|>system\n' + message['content'] + '<|im_end|>'}}").default_system, "");
  const std::string llama = read_bytes(shared_dir() / "models" / "llama3-tokenizer" / "meta-llama-Llama-3.1-8B-Instruct.jinja");
  EXPECT_EQ(detect_chat_format(llama), ChatFormat::Llama3);
  EXPECT_EQ(detect_chat_format("{{ messages }}"), ChatFormat::None);
  EXPECT_EQ(parse_chat_format("llama3"), ChatFormat::Llama3);
  EXPECT_EQ(parse_chat_format("chatml"), ChatFormat::ChatML);
  expect_error([] { parse_chat_format("vicuna"); }, {"vicuna", "llama3 or chatml"});
  expect_error([] { render_chat(ChatFormat::None, std::vector<ChatMessage>{{"user", "x"}}, true); }, {"--chat-format"});
}

// Jinja's trim is Python's str.strip(): Unicode whitespace, not just ASCII.
TEST(ChatTemplate, TrimIsPythonStrip) {
  EXPECT_EQ(trim_unicode_whitespace(" \t\r\n x y \n"), "x y");
  EXPECT_EQ(trim_unicode_whitespace("\u3000\u00a0x\u2028\u0085"), "x");
  EXPECT_EQ(trim_unicode_whitespace("\x1c" "x" "\x1f"), "x");
  EXPECT_EQ(trim_unicode_whitespace("\u200bx"), "\u200bx");  // zero-width space is not whitespace
  EXPECT_EQ(trim_unicode_whitespace("   "), "");
  EXPECT_EQ(trim_unicode_whitespace("한국어 "), "한국어");
}

}  // namespace
}  // namespace rxlm
