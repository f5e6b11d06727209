// LLM-as-judge (the paper's "LLM evaluation"): asks an OpenAI-compatible chat endpoint, for every
// parsed prediction, how many suggested drugs are appropriate and how many inappropriate for the
// patient and diagnoses, and averages appropriateness = appropriate / suggested over the samples
// whose reply was well-formed. Bounded concurrency, retries, and a reply cache so that a rerun sends
// nothing twice. Malformed replies and failed requests are counted per sample, never fatal.
// Library API for `rxlm judge`, `rxlm eval` and the demo; decisions in docs/judge.md.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rxlm/eval/judge_http.h"
#include "rxlm/eval/judge_prompt.h"
#include "rxlm/eval/judge_reply.h"
#include "rxlm/eval/prediction_record.h"

namespace rxlm::eval {

struct JudgeOptions {
  EndpointOptions endpoint;
  JudgeRequestOptions request;          // request.model is the judge model
  int concurrency = 4;                  // worker threads, each with its own connection
  std::filesystem::path cache_path;     // empty: no cache
  bool show_progress = true;            // a ProgressBar on stderr
};

struct JudgeSampleResult {
  std::string sample_id;
  // "judged" (well-formed verdict), "malformed" (the reply could not be used), "failed" (no reply
  // after the retries), "skipped" (the prediction did not parse, so there is no list to judge).
  std::string status;
  bool cached = false;                  // answered without a request of its own
  int suggested = 0, appropriate = 0, inappropriate = 0;
  double appropriateness = 0;           // appropriate / suggested, when judged
  std::vector<DrugVerdict> verdicts;
  std::string reply;                    // the judge's raw text
  std::string error;                    // malformed or failed: why
  std::string cache_key;
  int attempts = 0;                     // HTTP requests made for this sample in this run
};

struct JudgeReport {
  std::vector<JudgeSampleResult> samples;  // in the order of the predictions
  int64_t records = 0, skipped = 0, judged = 0, malformed = 0, failed = 0;
  int64_t sent = 0;      // distinct questions sent to the endpoint in this run
  int64_t cached = 0;    // samples answered from the cache (or by an identical question in this run)
  int64_t requests = 0;  // HTTP requests including retries
  int64_t suggested_total = 0, appropriate_total = 0, inappropriate_total = 0;
  double appropriateness = 0;  // mean over judged samples (0 when none)
  bool json_mode_used = true;  // false when the server refused response_format and we fell back
  double seconds = 0;
};

// Runs the judge over `records`; throws rxlm::Error only for bad options or an unusable cache file.
JudgeReport run_judge(const std::vector<PredictionRecord>& records, const JudgeOptions& options);

// One line of DIR/judge.jsonl.
nlohmann::ordered_json to_json(const JudgeSampleResult& sample);
// DIR/judge.json: judge model, endpoint, prompt (system text, user template, version), options,
// counts and result. Never holds the API key.
nlohmann::ordered_json judge_summary_json(const JudgeReport& report, const JudgeOptions& options,
                                          const std::string& predictions_path);
// Writes DIR/judge.jsonl and DIR/judge.json atomically.
void write_judge_outputs(const std::filesystem::path& dir, const JudgeReport& report, const JudgeOptions& options,
                         const std::string& predictions_path);

}  // namespace rxlm::eval
