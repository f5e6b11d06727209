// THE prompt and answer format (used by prep, train, predict, eval, serve) and the strict answer
// parser whose acceptance rate is the paper's "output rate". Change the format only here.
#pragma once
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "rxlm/io/jsonl.h"

namespace rxlm::clinical {

// Patient physical information; nullopt / empty renders as "unknown", never a guess.
struct PatientFacts {
  std::optional<int> age;  // years at admission; 90 and above render as "90 or older" (HIPAA Safe Harbor)
  std::string sex;         // "female", "male" or "" (unknown)
  std::optional<double> height_cm, weight_kg, bmi;
  std::string admission_type;  // readable phrase, e.g. "emergency"; "" = unknown
};

struct DiagnosisLine {
  int icd_version = 0;  // 9 or 10
  std::string icd_code;
  std::string title;  // long title; "" when the code is not in d_icd_diagnoses
};

struct AdmissionPrompt {
  PatientFacts patient;
  std::vector<DiagnosisLine> diagnoses;  // in seq_num order (the coder's priority order)
};

// The system message (fixed text).
const std::string& system_prompt();
// The user message:
//   Patient: age 67, sex female, height 165 cm, weight 72.6 kg, BMI 26.7, admission type urgent.
//   Diagnoses (in coded order):
//   1. ICD-10 I2510: Atherosclerotic heart disease of native coronary artery without angina pectoris
//   ...
//   List the drugs to prescribe for this admission.
std::string render_user(const AdmissionPrompt& admission);
// One diagnosis line's fields as views, for writers that keep the strings elsewhere (prep renders from
// interned codes and titles without copying them).
struct DiagnosisView {
  int icd_version = 0;
  std::string_view icd_code, title;  // title "" when unknown
  // json_diagnosis_rest(*this) made once for a code that recurs in many messages (prep), or "": the
  // JSON writer then copies it rather than writing the line from the fields again.
  std::string_view json_rest;
};
// render_user appended to `out`: prep renders hundreds of thousands of messages into reused buffers,
// without a heap allocation per message.
void append_user(std::string& out, const PatientFacts& patient, std::span<const DiagnosisView> diagnoses);
// The inverse of render_user, for consumers that only have the chat sample (baselines read the diagnosis
// codes back from it). Numbers come back at the precision they were rendered with, "90 or older" comes
// back as age 90, "unknown" as nullopt / "", and "title unknown" as an empty title, so
// render_user(parse_user(text)) == text for every text render_user writes. Anything else throws
// rxlm::Error naming the message line and what was expected there.
AdmissionPrompt parse_user(std::string_view text);
// The assistant message: "Drugs:\n- name\n- name" (one canonical name per line, no trailing newline).
std::string render_answer(const std::vector<std::string>& drugs);
// render_answer appended to `out`, from views (see append_user).
void append_answer(std::string& out, std::span<const std::string_view> drugs);
// {"messages":[system,user,assistant]} plus "meta" when given.
nlohmann::ordered_json chat_sample(const AdmissionPrompt& admission, const std::vector<std::string>& drugs,
                                   const nlohmann::ordered_json& meta = nullptr);

// The same JSONL line as chat_sample(...).dump() + "\n", byte for byte, written without building a
// JSON tree (prep emits hundreds of thousands). `user` and `answer` come from render_user and
// render_answer; `meta_json` is a serialised JSON object, or empty for no meta.
void append_chat_line(std::string& out, std::string_view user, std::string_view answer, std::string_view meta_json);
// The same line for the same messages (append_user, append_answer), written in one pass straight from
// the views into `out`. Returns false, leaving `out` as it was, when a text has a byte >= 0x80; the
// caller then takes the append_chat_line above, which checks UTF-8 exactly as nlohmann does.
// `drug_json_lines`: json_drug_line of each drug, where known ("" or a shorter span: written from the name).
bool append_chat_line(TextBuffer& out, const PatientFacts& patient, std::span<const DiagnosisView> diagnoses,
                      std::span<const std::string_view> drugs, std::string_view meta_json,
                      std::span<const std::string_view> drug_json_lines = {});
// The pieces of a message that recur from message to message, as they stand inside a JSON string, for
// writers that render them once: a diagnosis line after its number (". ICD-9 4019: <title>" and the
// line end), and one drug's line of the answer (the line end before it, "- ", the name). "" when the
// text has a byte >= 0x80 (whose UTF-8 only the checked path validates).
std::string json_diagnosis_rest(const DiagnosisView& d);
std::string json_drug_line(std::string_view drug);

struct ParsedAnswer {
  bool ok = false;
  std::vector<std::string> drugs;  // in the order written; only when ok
  std::string error;               // why the text was rejected; only when !ok
};
// Strict: the text must be "Drugs:" then one or more lines "- <name>" and nothing else (a final
// newline and trailing spaces are tolerated). A name is lower-case ASCII letters, digits, spaces and
// / - . , ' ( ) + &; empty names and repeated names are rejected.
ParsedAnswer parse_answer(std::string_view text);

}  // namespace rxlm::clinical
