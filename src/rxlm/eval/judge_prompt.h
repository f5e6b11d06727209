// What the judge is asked: the paper's question ("check whether the drug prescriptions are
// appropriate, and tell me the number of appropriate and the number of inappropriate prescriptions")
// about one admission and one suggested drug list, with the JSON answer contract, and the
// OpenAI-compatible chat request that carries it. The wording lives only here; docs/judge.md quotes it.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "rxlm/eval/prediction_record.h"

namespace rxlm::eval {

// Bumped whenever the wording changes, so cached replies to the old wording are never reused.
inline constexpr int kJudgePromptVersion = 1;

const std::string& judge_system_prompt();
// The user message template; placeholders {admission}, {count} and {drugs} (a numbered list).
const std::string& judge_user_template();

// The admission part of record.user: the patient and diagnoses, without the trailing instruction to
// the drug-suggesting model ("List the drugs to prescribe ...").
std::string judge_admission_text(const std::string& user);
// judge_user_template() filled for this record (record.drugs must be non-empty).
std::string render_judge_prompt(const PredictionRecord& record);

struct JudgeRequestOptions {
  std::string model;        // the judge model name sent to the endpoint
  int max_tokens = 512;
  double temperature = 0;   // deterministic judging
  bool json_mode = true;    // response_format {"type": "json_object"}
};

// The body of POST /v1/chat/completions.
nlohmann::json chat_completion_request(const JudgeRequestOptions& options, const std::string& user_message);

// The cache key: SHA-256 (hex) over the prompt version, judge model, system and user message. Nothing
// about the endpoint, key, or transport goes in, so the same question to the same model is asked once.
std::string judge_cache_key(const std::string& model, const std::string& user_message);

}  // namespace rxlm::eval
