#include "rxlm/eval/judge_reply.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace rxlm::eval {

namespace {

using nlohmann::json;

// End of the balanced object starting at text[start] == '{', or npos. Quotes count only inside braces,
// so an apostrophe or a quotation in the surrounding prose cannot derail the scan.
std::size_t object_end(std::string_view text, std::size_t start) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (std::size_t i = start; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{') ++depth;
    else if (c == '}' && --depth == 0) return i;
  }
  return std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// The value of `key` in `object`, matched case-insensitively; nullptr when absent.
const json* member(const json& object, std::string_view key) {
  for (auto it = object.begin(); it != object.end(); ++it)
    if (lower(it.key()) == key) return &it.value();
  return nullptr;
}

bool has_verdict_keys(const json& object) {
  return member(object, "appropriate") || member(object, "inappropriate") || member(object, "verdicts");
}

// The first object (this one, then nested objects depth-first) that carries the verdict keys, so a
// reply wrapped as {"result": {...}} still counts.
const json* find_verdict_object(const json& value, int depth) {
  if (!value.is_object() || depth > 3) return nullptr;
  if (has_verdict_keys(value)) return &value;
  for (const auto& [key, child] : value.items())
    if (const json* found = find_verdict_object(child, depth + 1)) return found;
  return nullptr;
}

// A count as a JSON number, or a string holding one ("3", " 3 "); returns the error otherwise.
std::optional<int> read_count(const json& value, const char* name, std::string& error) {
  double number = 0;
  if (value.is_number_integer() || value.is_number_unsigned()) {
    number = value.get<double>();
  } else if (value.is_number_float()) {
    number = value.get<double>();
    if (number != std::floor(number)) {
      error = fmt::format("\"{}\" is {}, not a whole number", name, value.dump());
      return std::nullopt;
    }
  } else if (value.is_string()) {
    const std::string text = trim(value.get<std::string>());
    if (text.empty() || text.size() > 6 || !std::all_of(text.begin(), text.end(), ::isdigit)) {
      error = fmt::format("\"{}\" is {}, not a number", name, value.dump());
      return std::nullopt;
    }
    number = std::stod(text);
  } else {
    error = fmt::format("\"{}\" is {}, not a number", name, value.dump());
    return std::nullopt;
  }
  if (number < 0 || number > 1e6) {
    error = fmt::format("\"{}\" is {}, outside 0..1000000", name, value.dump());
    return std::nullopt;
  }
  return static_cast<int>(number);
}

std::optional<bool> read_flag(const json& value) {
  if (value.is_boolean()) return value.get<bool>();
  if (!value.is_string()) return std::nullopt;
  const std::string text = lower(trim(value.get<std::string>()));
  if (text == "true" || text == "yes" || text == "appropriate") return true;
  if (text == "false" || text == "no" || text == "inappropriate") return false;
  return std::nullopt;
}

// Per-drug verdicts [{"drug": "...", "appropriate": true}, ...]; returns the error when unusable.
std::optional<std::vector<DrugVerdict>> read_verdicts(const json& value, std::string& error) {
  if (!value.is_array()) {
    error = "\"verdicts\" is not a list";
    return std::nullopt;
  }
  std::vector<DrugVerdict> verdicts;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const json& item = value[i];
    const json* drug = item.is_object() ? member(item, "drug") : nullptr;
    const json* flag = item.is_object() ? member(item, "appropriate") : nullptr;
    std::optional<bool> appropriate = flag ? read_flag(*flag) : std::nullopt;
    if (!drug || !drug->is_string() || !appropriate) {
      error = fmt::format("verdicts[{}] is {}, not {{\"drug\": name, \"appropriate\": true|false}}", i, item.dump());
      return std::nullopt;
    }
    verdicts.push_back({drug->get<std::string>(), *appropriate});
  }
  return verdicts;
}

JudgeVerdict refuse(std::string reason) {
  JudgeVerdict verdict;
  verdict.error = std::move(reason);
  return verdict;
}

}  // namespace

std::vector<std::string> find_json_objects(std::string_view text) {
  std::vector<std::string> objects;
  std::size_t i = 0;
  while ((i = text.find('{', i)) != std::string_view::npos) {
    const std::size_t end = object_end(text, i);
    if (end == std::string_view::npos) {
      ++i;  // unbalanced: maybe a stray brace in prose before the real object
      continue;
    }
    objects.emplace_back(text.substr(i, end - i + 1));
    i = end + 1;
  }
  return objects;
}

JudgeVerdict parse_judge_reply(std::string_view reply, int suggested) {
  if (trim(reply).empty()) return refuse("empty reply");
  const std::vector<std::string> objects = find_json_objects(reply);
  if (objects.empty()) return refuse("no JSON object in the reply");

  std::optional<json> parsed_any;
  const json* verdict_object = nullptr;
  json holder;
  for (const std::string& text : objects) {
    json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) continue;
    if (!parsed_any) parsed_any = value;
    if (find_verdict_object(value, 0)) {
      holder = std::move(value);
      verdict_object = find_verdict_object(holder, 0);
      break;
    }
  }
  if (!parsed_any) return refuse(fmt::format("no valid JSON object in the reply (first candidate: {})", objects[0].substr(0, 80)));
  if (!verdict_object) {
    std::string keys;
    if (parsed_any->is_object())
      for (const auto& [key, value] : parsed_any->items()) keys += (keys.empty() ? "" : ", ") + key;
    return refuse(fmt::format("the JSON has no \"appropriate\"/\"inappropriate\" counts (keys: {})",
                              keys.empty() ? std::string("none") : keys));
  }

  JudgeVerdict verdict;
  std::string error;
  std::optional<int> appropriate, inappropriate;
  if (const json* v = member(*verdict_object, "appropriate"); v && !(appropriate = read_count(*v, "appropriate", error)))
    return refuse(error);
  if (const json* v = member(*verdict_object, "inappropriate");
      v && !(inappropriate = read_count(*v, "inappropriate", error)))
    return refuse(error);

  std::optional<std::vector<DrugVerdict>> verdicts;
  if (const json* v = member(*verdict_object, "verdicts")) {
    std::string verdict_error;
    verdicts = read_verdicts(*v, verdict_error);
    // Per-drug verdicts are optional: broken ones are dropped when the counts stand on their own.
    if (!verdicts && !(appropriate && inappropriate)) return refuse(verdict_error);
  }
  if (verdicts) {
    const int yes = static_cast<int>(std::count_if(verdicts->begin(), verdicts->end(),
                                                   [](const DrugVerdict& d) { return d.appropriate; }));
    const int no = static_cast<int>(verdicts->size()) - yes;
    if (!appropriate && !inappropriate) appropriate = yes, inappropriate = no;
    if (appropriate && inappropriate && (*appropriate != yes || *inappropriate != no))
      return refuse(fmt::format("the per-drug verdicts ({} appropriate, {} inappropriate) contradict the counts "
                                "({} and {})", yes, no, *appropriate, *inappropriate));
  }
  if (!appropriate) return refuse("missing \"appropriate\"");
  if (!inappropriate) return refuse("missing \"inappropriate\"");
  if (*appropriate + *inappropriate != suggested)
    return refuse(fmt::format("counts {} + {} = {}, but {} drug{} suggested", *appropriate, *inappropriate,
                              *appropriate + *inappropriate, suggested, suggested == 1 ? " was" : "s were"));
  verdict.ok = true;
  verdict.appropriate = *appropriate;
  verdict.inappropriate = *inappropriate;
  if (verdicts) verdict.verdicts = std::move(*verdicts);
  return verdict;
}

}  // namespace rxlm::eval
