// THE prediction record: one JSON line per test sample, written by `rxlm predict` and `rxlm baseline`,
// read by `rxlm eval` and `rxlm judge`. Every metric applies to every method because they share it.
//
// {"sample_id":"s000000","method":"model","text":"Drugs:\n- heparin","parsed":true,"drugs":["heparin"],
//  "parse_error":"","reference":["heparin","insulin"],"reference_atc":["B01AB01","A10AB"],"user":"Patient: ...",
//  "constrained":false,"prompt_tokens":312,"generated_tokens":9,"seconds":1.25}
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rxlm::eval {

struct PredictionRecord {
  std::string sample_id;
  std::string method;          // "model", "model+adapter", "baseline:cooccurrence", ...
  std::string text;            // the raw answer text (for baselines: render_answer(drugs))
  bool parsed = false;         // accepted by clinical::parse_answer
  std::vector<std::string> drugs;      // the parsed list, in order (empty when !parsed)
  std::string parse_error;             // why the parser refused it ("" when parsed)
  std::vector<std::string> reference;  // the recorded drugs of the sample
  std::vector<std::string> reference_atc;  // meta.atc of the sample, aligned with reference (may be empty)
  std::string user;            // the user message (patient and diagnoses), for the judge and reports
  bool constrained = false;    // produced with constrained decoding
  int64_t prompt_tokens = 0, generated_tokens = 0;
  double seconds = 0;          // wall time spent on this sample
};

// Fills parsed/drugs/parse_error from text with the strict parser (clinical::parse_answer).
void parse_prediction_text(PredictionRecord& record);

nlohmann::ordered_json to_json(const PredictionRecord& record);
// `where` ("file:line") prefixes errors about missing or mistyped fields.
PredictionRecord prediction_from_json(const nlohmann::json& j, const std::string& where);

// Reads every record; errors name file:line. A final line without its newline (a run killed while
// writing it) is ignored when `tolerate_torn_tail`, otherwise it is an error.
std::vector<PredictionRecord> read_predictions(const std::filesystem::path& path, bool tolerate_torn_tail = false);

// Appends records to a predictions file, one flushed line each, so a killed run loses at most the line
// being written. Opening an existing file first cuts a torn last line (see read_predictions) so that
// resuming appends cleanly; `done_ids()` lists the sample ids already in the file.
class PredictionWriter {
 public:
  // resume=false truncates the file; resume=true keeps its complete records.
  PredictionWriter(const std::filesystem::path& path, bool resume);
  ~PredictionWriter();
  PredictionWriter(const PredictionWriter&) = delete;
  PredictionWriter& operator=(const PredictionWriter&) = delete;

  const std::set<std::string>& done_ids() const { return done_; }
  void append(const PredictionRecord& record);

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
  std::set<std::string> done_;
};

}  // namespace rxlm::eval
