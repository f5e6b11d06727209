// The judge's reply parser: finds the JSON verdict {"appropriate": n, "inappropriate": m} in whatever
// an LLM wrote (bare JSON, a ```json fence, JSON inside prose), accepts numbers written as strings,
// and checks the counts against the number of suggested drugs. A reply it cannot use is "malformed"
// with a reason; it never throws on model output. Rules: docs/judge.md.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rxlm::eval {

struct DrugVerdict {
  std::string drug;
  bool appropriate = false;
};

struct JudgeVerdict {
  bool ok = false;                   // false: the reply is malformed, see `error`
  int appropriate = 0, inappropriate = 0;
  std::vector<DrugVerdict> verdicts;  // optional per-drug verdicts (empty when the judge gave none)
  std::string error;                 // why the reply was refused (only when !ok)
};

// `suggested`: how many drugs the judge was asked about; the counts must add up to it.
JudgeVerdict parse_judge_reply(std::string_view reply, int suggested);

// The JSON object texts found in `text`, in order of appearance: a fenced block's body first when the
// text has fences, then every balanced {...} at the top level (braces inside JSON strings ignored).
std::vector<std::string> find_json_objects(std::string_view text);

}  // namespace rxlm::eval
