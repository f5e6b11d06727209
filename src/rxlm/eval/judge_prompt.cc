#include "rxlm/eval/judge_prompt.h"

#include <openssl/evp.h>

#include <string_view>

#include <fmt/format.h>

#include "rxlm/core/error.h"

namespace rxlm::eval {

const std::string& judge_system_prompt() {
  static const std::string text =
      "You are a senior clinical pharmacist. You review drug prescriptions suggested for a hospital "
      "admission and judge, for each suggested drug, whether it is appropriate for this patient and these "
      "diagnoses. You answer with one JSON object and nothing else.";
  return text;
}

const std::string& judge_user_template() {
  static const std::string text =
      "Check whether the drug prescriptions suggested for this hospital admission are appropriate for this "
      "patient and these diagnoses, and tell me the number of appropriate and the number of inappropriate "
      "prescriptions.\n"
      "\n"
      "{admission}\n"
      "\n"
      "Suggested drugs ({count}):\n"
      "{drugs}\n"
      "\n"
      "Answer with one JSON object and nothing else, in this form:\n"
      "{\"appropriate\": <number of appropriate drugs>, \"inappropriate\": <number of inappropriate drugs>, "
      "\"verdicts\": [{\"drug\": \"<name>\", \"appropriate\": true or false}, ...]}\n"
      "The two numbers must add up to {count}, and \"verdicts\" must list every suggested drug once.";
  return text;
}

std::string judge_admission_text(const std::string& user) {
  std::string_view text = user;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  const std::size_t last_line = text.rfind('\n');
  if (last_line != std::string_view::npos && text.substr(last_line + 1).starts_with("List the drugs"))
    text = text.substr(0, last_line);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  return std::string(text);
}

namespace {

void replace_all(std::string& text, std::string_view placeholder, std::string_view value) {
  for (std::size_t at = 0; (at = text.find(placeholder, at)) != std::string::npos; at += value.size())
    text.replace(at, placeholder.size(), value);
}

}  // namespace

std::string render_judge_prompt(const PredictionRecord& record) {
  if (record.drugs.empty()) fail("judge: sample {} has no suggested drugs to judge", record.sample_id);
  std::string drugs;
  for (std::size_t i = 0; i < record.drugs.size(); ++i)
    drugs += fmt::format("{}{}. {}", i ? "\n" : "", i + 1, record.drugs[i]);
  std::string admission = judge_admission_text(record.user);
  if (admission.empty()) admission = "(no patient information was recorded with this prediction)";
  // {admission} last: patient text could itself contain "{count}" or "{drugs}".
  std::string prompt = judge_user_template();
  replace_all(prompt, "{count}", std::to_string(record.drugs.size()));
  replace_all(prompt, "{drugs}", drugs);
  replace_all(prompt, "{admission}", admission);
  return prompt;
}

nlohmann::json chat_completion_request(const JudgeRequestOptions& options, const std::string& user_message) {
  nlohmann::json body;
  body["model"] = options.model;
  body["messages"] = nlohmann::json::array({{{"role", "system"}, {"content", judge_system_prompt()}},
                                            {{"role", "user"}, {"content", user_message}}});
  body["temperature"] = options.temperature;
  body["max_tokens"] = options.max_tokens;
  body["stream"] = false;
  if (options.json_mode) body["response_format"] = {{"type", "json_object"}};
  return body;
}

std::string judge_cache_key(const std::string& model, const std::string& user_message) {
  // Length-prefixed fields: no two different (model, prompt) pairs give the same byte stream.
  std::string material;
  for (const std::string& field : {std::to_string(kJudgePromptVersion), model, judge_system_prompt(), user_message})
    material += fmt::format("{}:{}\n", field.size(), field);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(material.data(), material.size(), digest, &length, EVP_sha256(), nullptr) != 1)
    fail("judge: SHA-256 failed in OpenSSL");
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

}  // namespace rxlm::eval
