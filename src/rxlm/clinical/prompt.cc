// Rendering of the chat messages and the strict answer parser.
#include "rxlm/clinical/prompt.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <unordered_set>

#include "rxlm/core/error.h"
#include "rxlm/io/jsonl.h"

namespace rxlm::clinical {
namespace {

std::string_view or_unknown(std::string_view text) { return text.empty() ? "unknown" : text; }

// The user and assistant messages, written through a sink: `text` takes format text (plain ASCII, no
// line ends, nothing JSON escapes), `line_end` a line end, `value` a field's text, `integer` and
// `measurement` numbers. The format lives here only; the sinks below write it as it is or as JSON.
template <class Sink>
void write_user(Sink& out, const PatientFacts& p, std::span<const DiagnosisView> diagnoses) {
  out.text("Patient: age ");
  if (!p.age) out.text("unknown");
  else if (*p.age >= 90) out.text("90 or older");
  else out.integer(*p.age);
  out.text(", sex ");
  out.value(or_unknown(p.sex));
  out.text(", height ");
  out.measurement(p.height_cm, 0, " cm");
  out.text(", weight ");
  out.measurement(p.weight_kg, 1, " kg");
  out.text(", BMI ");
  out.measurement(p.bmi, 1, "");
  out.text(", admission type ");
  out.value(or_unknown(p.admission_type));
  out.text(".");
  out.line_end();
  out.text("Diagnoses (in coded order):");
  out.line_end();
  int index = 0;
  for (const auto& d : diagnoses) {  // "<index>. ICD-<version> <code>: <title>"
    out.integer(++index);
    out.diagnosis_rest(d);
  }
  out.text("List the drugs to prescribe for this admission.");
}

// A diagnosis line after its number: ". ICD-<version> <code>: <title>" and the line end.
template <class Sink>
void write_diagnosis_rest(Sink& out, const DiagnosisView& d) {
  out.text(". ICD-");
  out.integer(d.icd_version);
  out.text(" ");
  out.value(d.icd_code);
  out.text(": ");
  out.value(d.title.empty() ? std::string_view("title unknown") : d.title);
  out.line_end();
}

template <class Sink, class Drugs>
void write_answer(Sink& out, const Drugs& drugs) {
  out.text("Drugs:");
  for (std::size_t i = 0; i < std::size(drugs); ++i) out.drug_line(i, drugs[i]);
}

// One drug's line of the answer, the line end before it included.
template <class Sink>
void write_drug_line(Sink& out, std::string_view drug) {
  out.line_end();
  out.text("- ");
  out.value(drug);
}

// A measurement as fmt's "{:.Nf}" writes it (so ties round as they always did), into `digits`.
void format_measurement(fmt::memory_buffer& digits, double value, int decimals) {
  digits.clear();
  fmt::format_to(std::back_inserter(digits), "{:.{}f}", value, decimals);
}

// Writes the messages as they are.
struct PlainSink {
  std::string& out;
  void text(std::string_view t) { out += t; }
  void line_end() { out += '\n'; }
  void value(std::string_view t) { out += t; }
  void integer(long long value) {
    char digits[24];
    out.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
  }
  void measurement(const std::optional<double>& value, int decimals, std::string_view unit) {
    if (!value) return text("unknown");
    fmt::memory_buffer digits;
    format_measurement(digits, *value, decimals);
    out.append(digits.data(), digits.size());
    out += unit;
  }
  void diagnosis_rest(const DiagnosisView& d) { write_diagnosis_rest(*this, d); }
  void drug_line(std::size_t, std::string_view drug) { write_drug_line(*this, drug); }
};

// Writes the messages as the inside of JSON string literals, straight into a TextBuffer. `failed` is
// set when a value has a byte >= 0x80 (whose UTF-8 append_json_string has to check).
struct JsonSink {
  TextBuffer& out;
  std::span<const std::string_view> drug_json_lines = {};  // json_drug_line per drug, where known
  bool failed = false;
  void text(std::string_view t) { out.append(t); }
  void line_end() { out.append("\\n"); }
  void value(std::string_view t) {
    if (char* end = write_json_chars(out.reserve(json_chars_room(t.size())), t)) out.set_end(end);
    else failed = true;
  }
  void integer(long long value) {
    char* at = out.reserve(24);
    out.set_end(std::to_chars(at, at + 24, value).ptr);
  }
  void measurement(const std::optional<double>& value, int decimals, std::string_view unit) {
    if (!value) return text("unknown");
    fmt::memory_buffer digits;  // digits, '-', '.', "inf" or "nan": nothing to escape
    format_measurement(digits, *value, decimals);
    out.append(std::string_view(digits.data(), digits.size()));
    out.append(unit);
  }
  // The texts rendered once per code or drug (json_diagnosis_rest, json_drug_line) are copied.
  void diagnosis_rest(const DiagnosisView& d) {
    if (!d.json_rest.empty()) out.append(d.json_rest);
    else write_diagnosis_rest(*this, d);
  }
  void drug_line(std::size_t i, std::string_view drug) {
    if (i < drug_json_lines.size() && !drug_json_lines[i].empty()) out.append(drug_json_lines[i]);
    else write_drug_line(*this, drug);
  }
};

// What `write` puts into a JsonSink, as a string; "" when a text has a byte >= 0x80.
template <class Write>
std::string json_text(Write&& write) {
  TextBuffer buffer;
  JsonSink sink{buffer};
  write(sink);
  return sink.failed ? std::string() : std::string(buffer.view());
}

// Everything up to the user message is the same on every line: escaped once.
const std::string& chat_line_head() {
  static const std::string head = [] {
    std::string text = R"({"messages":[{"role":"system","content":)";
    append_json_string(text, system_prompt());
    return text + R"(},{"role":"user","content":)";
  }();
  return head;
}

constexpr std::string_view kChatLineMiddle = R"(},{"role":"assistant","content":)";

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
  std::vector<DiagnosisView> diagnoses;
  diagnoses.reserve(admission.diagnoses.size());
  for (const auto& d : admission.diagnoses) diagnoses.push_back({d.icd_version, d.icd_code, d.title});
  std::string out;
  append_user(out, admission.patient, diagnoses);
  return out;
}

void append_user(std::string& out, const PatientFacts& patient, std::span<const DiagnosisView> diagnoses) {
  PlainSink sink{out};
  write_user(sink, patient, diagnoses);
}

std::string render_answer(const std::vector<std::string>& drugs) {
  std::string out;
  PlainSink sink{out};
  write_answer(sink, drugs);
  return out;
}

void append_answer(std::string& out, std::span<const std::string_view> drugs) {
  PlainSink sink{out};
  write_answer(sink, drugs);
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
  out += chat_line_head();
  append_json_string(out, user);
  out += kChatLineMiddle;
  append_json_string(out, answer);
  out += "}]";
  if (!meta_json.empty()) {
    out += R"(,"meta":)";
    out += meta_json;
  }
  out += "}\n";
}

std::string json_diagnosis_rest(const DiagnosisView& d) {
  return json_text([&](JsonSink& sink) { write_diagnosis_rest(sink, d); });
}

std::string json_drug_line(std::string_view drug) {
  return json_text([&](JsonSink& sink) { write_drug_line(sink, drug); });
}

bool append_chat_line(TextBuffer& out, const PatientFacts& patient, std::span<const DiagnosisView> diagnoses,
                      std::span<const std::string_view> drugs, std::string_view meta_json,
                      std::span<const std::string_view> drug_json_lines) {
  const std::size_t start = out.size();
  JsonSink sink{out, drug_json_lines};
  out.append(chat_line_head());
  out.append("\"");
  write_user(sink, patient, diagnoses);
  out.append("\"");
  out.append(kChatLineMiddle);
  out.append("\"");
  write_answer(sink, drugs);
  out.append("\"}]");
  if (!meta_json.empty()) {
    out.append(R"(,"meta":)");
    out.append(meta_json);
  }
  out.append("}\n");
  if (sink.failed) out.resize_down(start);
  return !sink.failed;
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

// ---- parse_user: render_user read backwards ------------------------------------------------------------
namespace {

constexpr std::string_view kUserEnd = "List the drugs to prescribe for this admission.";
constexpr std::string_view kDiagnosesHeader = "Diagnoses (in coded order):";

[[noreturn]] void user_error(int line, std::string_view expected, std::string_view found) {
  fail("user message line {}: expected {}, found \"{}\" (the message must be as render_user writes it)", line,
       expected, found);
}

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

template <class Number>
std::optional<Number> whole_number(std::string_view text) {
  Number value{};
  if (text.empty()) return std::nullopt;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// "unknown" or "<number><unit>"; `field` names it in errors.
std::optional<double> measurement(std::string_view text, std::string_view unit, std::string_view field) {
  if (text == "unknown") return std::nullopt;
  if (text.size() < unit.size() || text.substr(text.size() - unit.size()) != unit)
    user_error(1,
               fmt::format("{} as \"unknown\" or a number{}", field,
                           unit.empty() ? "" : fmt::format(" then \"{}\"", unit)),
               text);
  auto value = whole_number<double>(text.substr(0, text.size() - unit.size()));
  if (!value) user_error(1, fmt::format("{} as a number", field), text);
  return value;
}

PatientFacts parse_patient_line(std::string_view line) {
  constexpr std::string_view prefix = "Patient: age ";
  if (!starts_with(line, prefix) || line.size() < prefix.size() + 1 || line.back() != '.')
    user_error(1, "\"Patient: age ..., admission type ....\"", line);
  std::string_view rest = line.substr(prefix.size(), line.size() - prefix.size() - 1);
  // The fields in render order; each value runs to the next marker (the last one to the end).
  constexpr std::string_view markers[] = {", sex ", ", height ", ", weight ", ", BMI ", ", admission type "};
  std::string_view values[6];
  for (int i = 0; i < 5; ++i) {
    std::size_t at = rest.find(markers[i]);
    if (at == std::string_view::npos) user_error(1, fmt::format("\"{}\" after the previous field", markers[i]), line);
    values[i] = rest.substr(0, at);
    rest.remove_prefix(at + markers[i].size());
  }
  values[5] = rest;
  PatientFacts p;
  if (values[0] == "90 or older") {
    p.age = 90;
  } else if (values[0] != "unknown") {
    p.age = whole_number<int>(values[0]);
    if (!p.age) user_error(1, "an age as a whole number, \"90 or older\" or \"unknown\"", values[0]);
  }
  if (values[1].empty()) user_error(1, "a sex (\"female\", \"male\" or \"unknown\")", values[1]);
  p.sex = values[1] == "unknown" ? "" : std::string(values[1]);
  p.height_cm = measurement(values[2], " cm", "height");
  p.weight_kg = measurement(values[3], " kg", "weight");
  p.bmi = measurement(values[4], "", "BMI");
  if (values[5].empty()) user_error(1, "an admission type (or \"unknown\")", values[5]);
  p.admission_type = values[5] == "unknown" ? "" : std::string(values[5]);
  return p;
}

// "<index>. ICD-<version> <code>: <title>"
DiagnosisLine parse_diagnosis_line(std::string_view line, int line_number, int index) {
  const std::string expected = fmt::format("\"{}. ICD-<9|10> <code>: <title>\"", index);
  const std::string number_prefix = fmt::format("{}. ICD-", index);
  if (!starts_with(line, number_prefix)) user_error(line_number, expected, line);
  std::string_view rest = line.substr(number_prefix.size());
  std::size_t space = rest.find(' ');
  auto version = whole_number<int>(rest.substr(0, space));
  if (space == std::string_view::npos || !version) user_error(line_number, expected, line);
  rest.remove_prefix(space + 1);
  std::size_t colon = rest.find(": ");
  if (colon == std::string_view::npos || colon == 0) user_error(line_number, expected, line);
  DiagnosisLine d;
  d.icd_version = *version;
  d.icd_code = std::string(rest.substr(0, colon));
  std::string_view title = rest.substr(colon + 2);
  d.title = title == "title unknown" ? "" : std::string(title);
  return d;
}

}  // namespace

AdmissionPrompt parse_user(std::string_view text) {
  std::vector<std::string_view> lines;
  for (std::size_t start = 0;;) {
    std::size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  AdmissionPrompt admission;
  admission.patient = parse_patient_line(lines[0]);
  if (lines.size() < 3) user_error(static_cast<int>(lines.size()) + 1, "more lines", "end of message");
  if (lines[1] != kDiagnosesHeader) user_error(2, fmt::format("\"{}\"", kDiagnosesHeader), lines[1]);
  if (lines.back() != kUserEnd)
    user_error(static_cast<int>(lines.size()), fmt::format("\"{}\"", kUserEnd), lines.back());
  for (std::size_t i = 2; i + 1 < lines.size(); ++i)
    admission.diagnoses.push_back(parse_diagnosis_line(lines[i], static_cast<int>(i) + 1, static_cast<int>(i) - 1));
  return admission;
}

}  // namespace rxlm::clinical
