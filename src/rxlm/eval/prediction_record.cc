#include "rxlm/eval/prediction_record.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "rxlm/clinical/prompt.h"
#include "rxlm/core/error.h"

namespace rxlm::eval {

void parse_prediction_text(PredictionRecord& record) {
  clinical::ParsedAnswer parsed = clinical::parse_answer(record.text);
  record.parsed = parsed.ok;
  record.drugs = parsed.ok ? std::move(parsed.drugs) : std::vector<std::string>{};
  record.parse_error = parsed.ok ? "" : std::move(parsed.error);
}

nlohmann::ordered_json to_json(const PredictionRecord& r) {
  nlohmann::ordered_json j;
  j["sample_id"] = r.sample_id;
  j["method"] = r.method;
  j["text"] = r.text;
  j["parsed"] = r.parsed;
  j["drugs"] = r.drugs;
  j["parse_error"] = r.parse_error;
  j["reference"] = r.reference;
  j["reference_atc"] = r.reference_atc;
  j["user"] = r.user;
  j["constrained"] = r.constrained;
  j["prompt_tokens"] = r.prompt_tokens;
  j["generated_tokens"] = r.generated_tokens;
  j["seconds"] = r.seconds;
  return j;
}

PredictionRecord prediction_from_json(const nlohmann::json& j, const std::string& where) {
  PredictionRecord r;
  const char* field = "";
  try {
    if (!j.is_object()) fail("{}: a prediction record must be a JSON object", where);
    field = "sample_id", r.sample_id = j.at(field).get<std::string>();
    field = "method", r.method = j.value(field, std::string());
    field = "text", r.text = j.at(field).get<std::string>();
    field = "parsed", r.parsed = j.at(field).get<bool>();
    field = "drugs", r.drugs = j.at(field).get<std::vector<std::string>>();
    field = "parse_error", r.parse_error = j.value(field, std::string());
    field = "reference", r.reference = j.at(field).get<std::vector<std::string>>();
    field = "reference_atc", r.reference_atc = j.value(field, std::vector<std::string>{});
    field = "user", r.user = j.value(field, std::string());
    field = "constrained", r.constrained = j.value(field, false);
    field = "prompt_tokens", r.prompt_tokens = j.value(field, int64_t{0});
    field = "generated_tokens", r.generated_tokens = j.value(field, int64_t{0});
    field = "seconds", r.seconds = j.value(field, 0.0);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: field \"{}\": {} (expected a record as `rxlm predict` or `rxlm baseline` writes)", where, field, e.what());
  }
  if (!r.reference_atc.empty() && r.reference_atc.size() != r.reference.size())
    fail("{}: reference_atc has {} codes for {} reference drugs; they must be aligned", where, r.reference_atc.size(),
         r.reference.size());
  return r;
}

namespace {

// Splits the file into complete lines; returns the byte length of the complete part.
std::size_t complete_lines(const std::string& bytes, std::vector<std::string_view>& lines) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i)
    if (bytes[i] == '\n') {
      lines.emplace_back(bytes.data() + start, i - start);
      start = i + 1;
    }
  return start;
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open (expected a predictions JSONL file from `rxlm predict` or `rxlm baseline`)", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<PredictionRecord> parse_lines(const std::filesystem::path& path, const std::vector<std::string_view>& lines) {
  std::vector<PredictionRecord> records;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    const std::string where = path.string() + ":" + std::to_string(i + 1);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(lines[i]);
    } catch (const nlohmann::json::exception& e) {
      fail("{}: not JSON ({})", where, e.what());
    }
    PredictionRecord r = prediction_from_json(j, where);
    if (!seen.insert(r.sample_id).second) fail("{}: sample_id \"{}\" appears twice", where, r.sample_id);
    records.push_back(std::move(r));
  }
  return records;
}

}  // namespace

std::vector<PredictionRecord> read_predictions(const std::filesystem::path& path, bool tolerate_torn_tail) {
  const std::string bytes = read_all(path);
  std::vector<std::string_view> lines;
  const std::size_t complete = complete_lines(bytes, lines);
  if (complete != bytes.size() && !tolerate_torn_tail)
    fail("{}:{}: the last line has no newline (a run killed while writing it?); rerun the command with the same "
         "--out to resume, which drops it",
         path.string(), lines.size() + 1);
  return parse_lines(path, lines);
}

PredictionWriter::PredictionWriter(const std::filesystem::path& path, bool resume) : path_(path) {
  if (resume && std::filesystem::exists(path)) {
    const std::string bytes = read_all(path);
    std::vector<std::string_view> lines;
    const std::size_t complete = complete_lines(bytes, lines);
    for (const PredictionRecord& r : parse_lines(path, lines)) done_.insert(r.sample_id);
    if (complete != bytes.size()) std::filesystem::resize_file(path, complete);  // drop the torn tail
    file_ = std::fopen(path.c_str(), "ab");
  } else {
    file_ = std::fopen(path.c_str(), "wb");
  }
  if (!file_) fail("{}: cannot open for writing ({}); check that the folder exists and is writable", path.string(),
                   std::strerror(errno));
}

PredictionWriter::~PredictionWriter() {
  if (file_) std::fclose(file_);
}

void PredictionWriter::append(const PredictionRecord& record) {
  std::string line = to_json(record).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  line += '\n';
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    fail("{}: write failed ({}); is the disk full?", path_.string(), std::strerror(errno));
  done_.insert(record.sample_id);
}

}  // namespace rxlm::eval
