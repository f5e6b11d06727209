// Rendering of the chat messages and the strict answer parser.
#include "rxlm/clinical/prompt.h"

#include <fmt/format.h>

#include <cmath>
#include <unordered_set>

#include "rxlm/io/jsonl.h"

namespace rxlm::clinical {
namespace {

std::string number(const std::optional<double>& value, int decimals, std::string_view unit) {
  if (!value) return "unknown";
  return fmt::format("{:.{}f}{}", *value, decimals, unit);
}

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ' ' || c == '/' || c == '-' || c == '.' ||
         c == ',' || c == '\'' || c == '(' || c == ')' || c == '+' || c == '&';
}

}  // namespace

const std::string& system_prompt() {
  static const std::string text =
      "You are a clinical decision-support assistant. From a hospital admission's patient information and "
      "diagnoses, suggest the drugs to prescribe during the admission. A clinician reviews every suggestion. "
      "Answer with the line \"Drugs:\" followed by one drug per line, each starting with \"- \".";
  return text;
}

std::string render_user(const AdmissionPrompt& admission) {
  const PatientFacts& p = admission.patient;
  std::string age = !p.age ? "unknown" : *p.age >= 90 ? "90 or older" : std::to_string(*p.age);
  std::string out = fmt::format("Patient: age {}, sex {}, height {}, weight {}, BMI {}, admission type {}.\n", age,
                                p.sex.empty() ? "unknown" : p.sex, number(p.height_cm, 0, " cm"),
                                number(p.weight_kg, 1, " kg"), number(p.bmi, 1, ""),
                                p.admission_type.empty() ? "unknown" : p.admission_type);
  out += "Diagnoses (in coded order):\n";
  int index = 0;
  for (const auto& d : admission.diagnoses)
    out += fmt::format("{}. ICD-{} {}: {}\n", ++index, d.icd_version, d.icd_code,
                       d.title.empty() ? "title unknown" : d.title);
  out += "List the drugs to prescribe for this admission.";
  return out;
}

std::string render_answer(const std::vector<std::string>& drugs) {
  std::string out = "Drugs:";
  for (const auto& drug : drugs) out += "\n- " + drug;
  return out;
}

nlohmann::ordered_json chat_sample(const AdmissionPrompt& admission, const std::vector<std::string>& drugs,
                                   const nlohmann::ordered_json& meta) {
  nlohmann::ordered_json sample;
  sample["messages"] = nlohmann::ordered_json::array({
      {{"role", "system"}, {"content", system_prompt()}},
      {{"role", "user"}, {"content", render_user(admission)}},
      {{"role", "assistant"}, {"content", render_answer(drugs)}},
  });
  if (!meta.is_null()) sample["meta"] = meta;
  return sample;
}

void append_chat_line(std::string& out, std::string_view user, std::string_view answer, std::string_view meta_json) {
  out += R"({"messages":[{"role":"system","content":)";
  append_json_string(out, system_prompt());
  out += R"(},{"role":"user","content":)";
  append_json_string(out, user);
  out += R"(},{"role":"assistant","content":)";
  append_json_string(out, answer);
  out += "}]";
  if (!meta_json.empty()) {
    out += R"(,"meta":)";
    out += meta_json;
  }
  out += "}\n";
}

ParsedAnswer parse_answer(std::string_view text) {
  ParsedAnswer result;
  auto reject = [&](std::string why) {
    result.drugs.clear();
    result.error = std::move(why);
    return result;
  };
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r')) text.remove_suffix(1);
  constexpr std::string_view header = "Drugs:";
  if (text.substr(0, header.size()) != header) return reject("does not start with \"Drugs:\"");
  text.remove_prefix(header.size());
  std::unordered_set<std::string> seen;
  int line_number = 1;
  while (!text.empty()) {
    ++line_number;
    if (text.front() != '\n') return reject(fmt::format("line {}: expected a new line", line_number - 1));
    text.remove_prefix(1);
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
    if (line.substr(0, 2) != "- ") return reject(fmt::format("line {}: does not start with \"- \"", line_number));
    std::string_view name = line.substr(2);
    if (name.empty() || name.front() == ' ') return reject(fmt::format("line {}: empty drug name", line_number));
    for (char c : name)
      if (!name_char(c)) return reject(fmt::format("line {}: character '{}' not allowed in a drug name", line_number, c));
    if (!seen.insert(std::string(name)).second)
      return reject(fmt::format("line {}: '{}' repeated", line_number, name));
    result.drugs.emplace_back(name);
  }
  if (result.drugs.empty()) return reject("no drug listed");
  result.ok = true;
  return result;
}

}  // namespace rxlm::clinical
