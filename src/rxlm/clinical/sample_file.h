// Reading prep's JSONL chat samples back as clinical records: the prompt messages, the recorded drug
// list (the assistant message, parsed by the strict parser) and meta. Used by predict, baselines, eval
// and the judge, so every consumer agrees on what a sample is.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace rxlm::clinical {

struct ClinicalSample {
  std::string sample_id;           // meta.sample_id ("" when the line has no meta)
  std::string system, user;        // the prompt messages
  std::string answer;              // the recorded assistant message
  std::vector<std::string> drugs;  // the recorded drugs, parse_answer(answer)
  std::vector<std::string> atc;    // meta.atc, aligned with drugs ("" where unknown); may be empty
  int64_t line = 0;                // 1-based line in the file, for messages
};

// Every non-empty line must be {"messages":[system,user,assistant],"meta":{...}} with an answer the
// strict parser accepts; errors name the file and line. Sample ids must be unique (when present).
std::vector<ClinicalSample> read_samples(const std::filesystem::path& path);

}  // namespace rxlm::clinical
