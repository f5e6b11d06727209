// evaluate() and the JSON / Markdown / text writers of eval results.
#include "rxlm/eval/eval_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "rxlm/clinical/prompt.h"
#include "rxlm/core/error.h"
#include "rxlm/core/paths.h"

namespace rxlm::eval {
namespace {

std::filesystem::path drug_maps_or_default(const std::filesystem::path& drug_maps) {
  return drug_maps.empty() ? shared_dir() / "data" / "drug-maps" : drug_maps;
}

bool parser_agrees(const PredictionRecord& record) {
  const clinical::ParsedAnswer parsed = clinical::parse_answer(record.text);
  return parsed.ok == record.parsed && (!parsed.ok || parsed.drugs == record.drugs);
}

nlohmann::ordered_json number_or_null(double value) {
  return std::isfinite(value) ? nlohmann::ordered_json(value) : nlohmann::ordered_json(nullptr);
}

nlohmann::ordered_json scores_json(const SetScores& s) {
  return {{"suggested", s.predicted}, {"recorded", s.reference}, {"matched", s.matched},
          {"precision", s.precision}, {"recall", s.recall},      {"f1", s.f1},
          {"jaccard", s.jaccard}};
}

nlohmann::ordered_json sample_json(const SampleMetrics& m) {
  nlohmann::ordered_json j;
  j["sample_id"] = m.sample_id;
  j["parsed"] = m.parsed;
  j["suggested"] = m.suggested;
  j["suggested_duplicates"] = m.suggested_duplicates;
  j["recorded"] = m.recorded;
  j["drug"] = scores_json(m.drug);
  j["atc4"] = scores_json(m.atc4);
  j["atc3"] = scores_json(m.atc3);
  j["unknown_suggested"] = m.unknown_suggested;
  j["unknown_recorded"] = m.unknown_recorded;
  j["ddi"] = {{"pairs", m.ddi.pairs}, {"interacting", m.ddi.interacting}, {"uncovered_atc3", m.ddi.uncovered_codes}};
  j["recorded_ddi"] = {{"pairs", m.recorded_ddi.pairs},
                       {"interacting", m.recorded_ddi.interacting},
                       {"uncovered_atc3", m.recorded_ddi.uncovered_codes}};
  return j;
}

// "41.2" for a share (as %), "3.85" for a count, "n/a" when undefined.
std::string format_value(const OverallMetric& m, double value) {
  if (!std::isfinite(value)) return "n/a";
  return m.share ? fmt::format("{:.1f}", 100 * value) : fmt::format("{:.2f}", value);
}

std::string cell(const OverallMetric& m) {
  std::string text = format_value(m, m.value);
  if (m.has_interval && std::isfinite(m.value))
    text += fmt::format(" [{}, {}]", format_value(m, m.interval.low), format_value(m, m.interval.high));
  return text;
}

struct Column {
  const char* header;
  const char* key;
};
// The headline columns; the rest is in the full table.
const std::vector<Column>& summary_columns() {
  static const std::vector<Column> columns{
      {"Output rate %", "output_rate"},      {"Accuracy % (parsed)", "accuracy_parsed"},
      {"Accuracy % (all)", "accuracy_all"},  {"F1 % (all)", "f1_all"},
      {"Jaccard % (all)", "jaccard_all"},    {"ATC-3 Jaccard % (all)", "atc3_jaccard_all"},
      {"Drugs/sample (parsed)", "drugs_per_sample_parsed"}, {"DDI rate %", "ddi_rate"},
      {"Recorded DDI rate %", "recorded_ddi_rate"},
  };
  return columns;
}

std::vector<std::vector<std::string>> summary_rows(const std::vector<NamedResult>& results) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header{"Method", "N"};
  for (const auto& c : summary_columns()) header.emplace_back(c.header);
  rows.push_back(header);
  for (const auto& r : results) {
    std::vector<std::string> row{r.name, std::to_string(r.result.samples)};
    for (const auto& c : summary_columns()) row.push_back(cell(r.result.metric(c.key)));
    rows.push_back(row);
  }
  return rows;
}

std::string markdown_table(const std::vector<std::vector<std::string>>& rows) {
  std::string out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    out += "|";
    for (const auto& c : rows[i]) out += " " + c + " |";
    out += "\n";
    if (i == 0) {
      out += "|";
      for (std::size_t k = 0; k < rows[i].size(); ++k) out += k == 0 ? "---|" : "---:|";
      out += "\n";
    }
  }
  return out;
}

std::string interval_note(const std::vector<NamedResult>& results) {
  if (results.empty() || results.front().result.bootstrap.resamples == 0) return "No confidence intervals (--bootstrap 0).";
  const auto& b = results.front().result.bootstrap;
  return fmt::format("[low, high]: {:.0f}% percentile bootstrap interval, {} resamples of the samples, seed {}.",
                     100 * b.level, b.resamples, b.seed);
}

}  // namespace

EvalResources EvalResources::load(const std::filesystem::path& drug_maps) {
  const auto maps = drug_maps_or_default(drug_maps);
  if (!std::filesystem::is_directory(maps))
    fail("{}: no drug-maps folder here (pass --drug-maps DIR, or set RXLM_SHARED to the shared folder)", maps.string());
  return {AtcCoder(maps), DdiTable::load(maps)};
}

const OverallMetric& EvalResult::metric(const std::string& key) const {
  for (const auto& m : overall)
    if (m.key == key) return m;
  fail("eval: no metric \"{}\"", key);
}

EvalResult evaluate(const std::vector<PredictionRecord>& records, const EvalResources& resources,
                    const EvalOptions& options) {
  if (records.empty()) fail("eval: no prediction records to evaluate");
  // A suggested name scores at ATC level as prep coded it in the references, then through the maps.
  std::unordered_map<std::string, std::string> recorded_codes;
  for (const auto& r : records)
    for (std::size_t i = 0; i < r.reference_atc.size(); ++i) recorded_codes.emplace(r.reference[i], r.reference_atc[i]);
  std::unordered_map<std::string, std::string> cache;
  const auto code_of = [&](const std::string& name) -> std::string {
    if (auto it = recorded_codes.find(name); it != recorded_codes.end()) return it->second;
    auto [it, added] = cache.try_emplace(name);
    if (added) it->second = resources.coder.code(name);
    return it->second;
  };

  EvalResult result;
  result.samples = records.size();
  result.bootstrap = options.bootstrap;
  for (const auto& r : records) {
    result.per_sample.push_back(score_sample(r, code_of, resources.ddi));
    result.parsed += r.parsed;
    if (!parser_agrees(r)) ++result.parser_disagreements;
    for (const auto& name : result.per_sample.back().unknown_suggested) ++result.unknown_suggested[name];
  }

  std::vector<std::size_t> all(records.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  const std::vector<double> values = summarise(result.per_sample, all);
  const std::vector<Interval> intervals = bootstrap_intervals(
      records.size(), options.bootstrap,
      [&](const std::vector<std::size_t>& indices) { return summarise(result.per_sample, indices); });
  const auto& catalogue = metric_catalogue();
  for (std::size_t k = 0; k < catalogue.size(); ++k) {
    OverallMetric m;
    m.key = catalogue[k].key, m.label = catalogue[k].label, m.share = catalogue[k].share, m.value = values[k];
    if (!intervals.empty()) m.has_interval = true, m.interval = intervals[k];
    result.overall.push_back(std::move(m));
  }
  return result;
}

EvalResult evaluate(const std::vector<PredictionRecord>& records, const EvalOptions& options) {
  return evaluate(records, EvalResources::load(options.drug_maps), options);
}

nlohmann::ordered_json to_json(const EvalResult& result, bool per_sample) {
  nlohmann::ordered_json j;
  j["samples"] = result.samples;
  j["parsed"] = result.parsed;
  j["parser_disagreements"] = result.parser_disagreements;
  j["bootstrap"] = {{"resamples", result.bootstrap.resamples},
                    {"seed", result.bootstrap.seed},
                    {"level", result.bootstrap.level}};
  nlohmann::ordered_json overall = nlohmann::ordered_json::object();
  for (const auto& m : result.overall) {
    nlohmann::ordered_json one{{"value", number_or_null(m.value)}};
    if (m.has_interval) one["ci"] = {number_or_null(m.interval.low), number_or_null(m.interval.high)};
    one["label"] = m.label;
    overall[m.key] = one;
  }
  j["overall"] = overall;
  j["unknown_suggested_drugs"] = result.unknown_suggested;
  if (per_sample) {
    j["per_sample"] = nlohmann::ordered_json::array();
    for (const auto& m : result.per_sample) j["per_sample"].push_back(sample_json(m));
  }
  return j;
}

nlohmann::ordered_json to_json(const std::vector<NamedResult>& results, bool per_sample) {
  nlohmann::ordered_json j;
  j["format"] = "rxlm-eval/1";
  j["definitions"] = "docs/evaluation.md";
  j["results"] = nlohmann::ordered_json::array();
  for (const auto& r : results) {
    nlohmann::ordered_json one{{"name", r.name}, {"source", r.source}};
    one.update(to_json(r.result, per_sample));
    j["results"].push_back(one);
  }
  return j;
}

std::string markdown_summary_table(const std::vector<NamedResult>& results) {
  return markdown_table(summary_rows(results));
}

std::string markdown_report(const std::vector<NamedResult>& results) {
  std::string out = "# Evaluation\n\n";
  out += markdown_summary_table(results);
  out += "\n" + interval_note(results) +
         " \"parsed\": averaged over the answers the strict parser accepted; \"all\": over every sample, an "
         "unparsed answer scoring 0. Definitions: docs/evaluation.md.\n\n## All metrics\n\n";
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header{"Metric"};
  for (const auto& r : results) header.push_back(r.name);
  rows.push_back(header);
  for (const auto& info : metric_catalogue()) {
    std::vector<std::string> row{std::string(info.label) + (info.share ? " %" : "")};
    for (const auto& r : results) row.push_back(cell(r.result.metric(info.key)));
    rows.push_back(row);
  }
  out += markdown_table(rows);
  out += "\n## Notes\n\n";
  for (const auto& r : results) {
    const EvalResult& e = r.result;
    out += fmt::format("- **{}**{}: {} samples, {} parsed", r.name, r.source.empty() ? "" : " (`" + r.source + "`)",
                       e.samples, e.parsed);
    if (e.parser_disagreements)
      out += fmt::format("; **{} records' stored parse differs from the strict parser's verdict on their text** "
                         "(metrics use the stored fields)",
                         e.parser_disagreements);
    if (!e.unknown_suggested.empty()) {
      std::vector<std::pair<std::string, int64_t>> unknown(e.unknown_suggested.begin(), e.unknown_suggested.end());
      std::stable_sort(unknown.begin(), unknown.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
      out += fmt::format("; {} distinct suggested names without ATC code (left out of ATC-level sets):",
                         unknown.size());
      for (std::size_t i = 0; i < unknown.size() && i < 10; ++i)
        out += fmt::format("{} {} ({})", i ? "," : "", unknown[i].first, unknown[i].second);
      if (unknown.size() > 10) out += ", ...";
    }
    out += "\n";
  }
  return out;
}

std::string text_summary_table(const std::vector<NamedResult>& results) {
  // Up to three results: transposed (one column per result) so that intervals fit a terminal. More: one
  // row per result with point estimates only, the intervals being in eval.md.
  if (results.size() > 3) {
    std::vector<std::vector<std::string>> rows{{"Method", "N"}};
    for (const auto& c : summary_columns()) rows[0].emplace_back(c.header);
    for (const auto& r : results) {
      std::vector<std::string> row{r.name, std::to_string(r.result.samples)};
      for (const auto& c : summary_columns()) {
        const OverallMetric& m = r.result.metric(c.key);
        row.push_back(format_value(m, m.value));
      }
      rows.push_back(row);
    }
    std::vector<std::size_t> widths(rows[0].size(), 0);
    for (const auto& row : rows)
      for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
    std::string out;
    for (std::size_t line = 0; line < rows.size(); ++line) {
      for (std::size_t c = 0; c < rows[line].size(); ++c)
        out += (c ? "  " : "") + (c == 0 ? fmt::format("{:<{}}", rows[line][c], widths[c])
                                         : fmt::format("{:>{}}", rows[line][c], widths[c]));
      out += "\n";
      if (line == 0) {
        std::size_t total = 0;
        for (auto w : widths) total += w;
        out += std::string(total + 2 * (widths.size() - 1), '-') + "\n";
      }
    }
    out += "Point estimates; their 95% intervals are in eval.md (--out).\n";
    return out;
  }
  const auto rows = summary_rows(results);
  std::vector<std::size_t> widths(rows.size(), 0);
  for (std::size_t c = 0; c < rows.size(); ++c)
    for (const auto& text : rows[c]) widths[c] = std::max(widths[c], text.size());
  std::string out;
  for (std::size_t line = 0; line < rows.front().size(); ++line) {
    for (std::size_t c = 0; c < rows.size(); ++c) {
      if (c) out += "  ";
      out += c == 0 ? fmt::format("{:<{}}", rows[c][line], widths[c]) : fmt::format("{:>{}}", rows[c][line], widths[c]);
    }
    out += "\n";
    if (line == 0) {
      std::size_t total = 0;
      for (auto w : widths) total += w;
      out += std::string(total + 2 * (widths.size() - 1), '-') + "\n";
    }
  }
  out += interval_note(results) + "\n";
  return out;
}

}  // namespace rxlm::eval
