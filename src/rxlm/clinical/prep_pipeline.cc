// run_prep: orchestration of the prep stages and the output files.
#include "rxlm/clinical/prep_pipeline.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <unordered_map>

#include "rxlm/clinical/atc_map.h"
#include "rxlm/clinical/cohort.h"
#include "rxlm/clinical/split.h"
#include "rxlm/core/error.h"
#include "rxlm/io/jsonl.h"
#include "rxlm/tokenizer/tokenizer.h"

namespace rxlm::clinical {
namespace {

// Tokens a sample costs in a chat template: the three contents plus a fixed allowance per message for
// the role header and end-of-turn tokens (5 covers Llama-3's), plus BOS.
constexpr int kTokensPerMessage = 5;

std::size_t sample_tokens(const Tokenizer& tokenizer, std::string_view user, std::string_view answer) {
  return 1 + 3 * kTokensPerMessage + tokenizer.encode(system_prompt()).size() + tokenizer.encode(user).size() +
         tokenizer.encode(answer).size();
}

}  // namespace

nlohmann::ordered_json run_prep(HospSource& source, const PrepConfig& config, const std::filesystem::path& out_dir,
                                const std::filesystem::path& link_file) {
  const auto started = std::chrono::steady_clock::now();
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) fail("{}: cannot create the output folder ({})", out_dir.string(), ec.message());

  nlohmann::ordered_json timings;
  auto lap = [&, last = started](const char* stage) mutable {
    auto now = std::chrono::steady_clock::now();
    timings[stage] = std::chrono::duration<double>(now - last).count();
    last = now;
  };
  HospTables tables = read_hosp_tables(source, config.skip_malformed);
  lap("read_tables");
  DrugNormaliser normaliser(config.drug_rules);
  AtcMap atc(config.drug_maps, normaliser);
  lap("load_drug_maps");
  Cohort cohort = build_cohort(tables, config, normaliser, atc);
  lap("build_cohort");

  // Split by patient over the admissions that made it this far.
  std::vector<std::int64_t> subjects;
  for (const auto& s : cohort.samples) subjects.push_back(s.subject_id);
  auto split = config.folds >= 2 ? fold_patients(subjects, config.seed, config.folds)
                                 : split_patients(subjects, config.seed, config.validation, config.test);
  // Output order = shuffled patient order, then admission date: ids reveal nothing about MIMIC ids.
  auto order = shuffled_patients(subjects, config.seed);
  std::unordered_map<std::int64_t, std::size_t> position;
  for (std::size_t i = 0; i < order.size(); ++i) position[order[i]] = i;
  std::sort(cohort.samples.begin(), cohort.samples.end(), [&](const Sample& a, const Sample& b) {
    return std::tuple(position[a.subject_id], a.admit_day, a.hadm_id) <
           std::tuple(position[b.subject_id], b.admit_day, b.hadm_id);
  });

  std::unique_ptr<Tokenizer> tokenizer;
  if (!config.tokenizer.empty()) {
    if (config.max_tokens <= 0) fail("--tokenizer needs --max-tokens N with N > 0");
    tokenizer = load_tokenizer(config.tokenizer);
  }
  const std::string too_long = fmt::format("7 longer than {} tokens", config.max_tokens);
  if (tokenizer) cohort.drops[too_long] = 0;

  std::vector<std::string> split_names;
  if (config.folds >= 2) {
    for (int i = 0; i < config.folds; ++i) split_names.push_back("fold_" + std::to_string(i));
  } else {
    split_names = {"train", "validation", "test"};
  }
  std::map<std::string, std::unique_ptr<AtomicFile>> files;
  std::map<std::string, std::int64_t> split_samples, split_patients_count;
  for (const auto& name : split_names) files[name] = std::make_unique<AtomicFile>(out_dir / (name + ".jsonl"));
  std::unique_ptr<AtomicFile> links;
  if (!link_file.empty()) {
    links = std::make_unique<AtomicFile>(link_file);
    links->write("sample_id\tsubject_id\thadm_id\n");
  }

  std::map<std::string, std::int64_t> drug_admissions;
  std::size_t max_tokens_seen = 0, index = 0;
  std::string meta, line;
  std::int64_t samples_out = 0, last_subject = -1;
  for (const auto& s : cohort.samples) {
    const std::string& name = split.at(s.subject_id);
    std::string sample_id = fmt::format("s{:06d}", index++);
    meta.assign(R"({"sample_id":")").append(sample_id).append(R"(","split":")").append(name).append(R"(","atc":[)");
    for (std::size_t i = 0; i < s.drugs.size(); ++i) {
      if (i) meta += ',';
      append_json_string(meta, cohort.drugs.at(s.drugs[i]).atc);
    }
    meta += "]}";
    const std::string user = render_user(s.prompt), answer = render_answer(s.drugs);
    if (tokenizer) {
      std::size_t tokens = sample_tokens(*tokenizer, user, answer);
      max_tokens_seen = std::max(max_tokens_seen, tokens);
      if (tokens > static_cast<std::size_t>(config.max_tokens)) {
        ++cohort.drops[too_long];
        continue;
      }
    }
    line.clear();
    append_chat_line(line, user, answer, meta);
    files[name]->write(line);
    if (links) links->write(fmt::format("{}\t{}\t{}\n", sample_id, s.subject_id, s.hadm_id));
    ++split_samples[name];
    if (s.subject_id != last_subject) ++split_patients_count[name];
    last_subject = s.subject_id;
    ++samples_out;
    for (const auto& drug : s.drugs) ++drug_admissions[drug];
  }

  lap("write_samples");
  std::string vocabulary = "drug\tadmissions\tprescription_rows\tatc\tatc_name\n";
  for (const auto& [drug, info] : cohort.drugs) {
    auto admissions = drug_admissions.count(drug) ? drug_admissions.at(drug) : 0;
    vocabulary += fmt::format("{}\t{}\t{}\t{}\t{}\n", drug, admissions, info.rows, info.atc, atc.name(info.atc));
  }

  nlohmann::ordered_json report;
  report["format"] = "rxlm-prep-report/1";
  report["source"] = source.describe();
  report["admissions_in"] = tables.admissions.size();
  report["patients_in"] = tables.patients.size();
  std::int64_t dropped = 0;
  nlohmann::ordered_json drops = nlohmann::ordered_json::object();
  for (const auto& [reason, count] : cohort.drops) {
    drops[reason.substr(2)] = count;  // the leading digit only fixes the order of the checks
    dropped += count;
  }
  report["admissions_dropped"] = drops;
  report["admissions_out"] = samples_out;
  report["dropped_total"] = dropped;
  nlohmann::ordered_json splits = nlohmann::ordered_json::object();
  for (const auto& name : split_names)
    splits[name] = {{"samples", split_samples[name]}, {"patients", split_patients_count[name]}};
  report["splits"] = splits;
  nlohmann::ordered_json table_counts = nlohmann::ordered_json::object();
  for (const auto& [name, count] : tables.counts)
    table_counts[name] = {{"rows", count.rows},
                          {"malformed_skipped", count.skipped},
                          {"duplicates_removed", count.duplicates},
                          {"unusable", count.unusable},
                          {"skip_examples", count.skip_examples}};
  report["tables"] = table_counts;
  for (auto& [key, value] : cohort.stats.items()) report[key] = value;
  report["drug_vocabulary_size"] = drug_admissions.size();
  if (tokenizer) report["max_tokens_seen"] = max_tokens_seen;
  report["config"] = {{"seed", config.seed},
                      {"ratios", {config.train, config.validation, config.test}},
                      {"folds", config.folds},
                      {"age_range", {config.min_age, config.max_age}},
                      {"drug_count_percentile", config.drug_count_percentile},
                      {"omr_days_before", config.omr_days_before},
                      {"max_tokens", config.max_tokens}};
  report["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  report["stage_seconds"] = timings;
  if (dropped + samples_out != static_cast<std::int64_t>(tables.admissions.size()))
    fail("internal: {} admissions in but {} out + {} dropped", tables.admissions.size(), samples_out, dropped);

  for (auto& [name, file] : files) file->commit();
  if (links) links->commit();
  write_file_atomic(out_dir / "drug_vocabulary.tsv", vocabulary);
  write_file_atomic(out_dir / "prep_report.json", report.dump(2) + "\n");
  write_file_atomic(out_dir / "prep_report.md", report_markdown(report));
  return report;
}

std::string report_markdown(const nlohmann::ordered_json& r) {
  std::string md = "# rxlm prep report\n\n";
  md += fmt::format("Source: {}\n\n", r["source"].get<std::string>());
  md += "## Admissions\n\n| step | admissions |\n|---|---:|\n";
  md += fmt::format("| in | {} |\n", r["admissions_in"].dump());
  for (const auto& [reason, count] : r["admissions_dropped"].items()) md += fmt::format("| dropped: {} | {} |\n", reason, count.dump());
  md += fmt::format("| **out (samples)** | **{}** |\n\n", r["admissions_out"].dump());
  md += "## Splits (by patient)\n\n| split | samples | patients |\n|---|---:|---:|\n";
  for (const auto& [name, s] : r["splits"].items())
    md += fmt::format("| {} | {} | {} |\n", name, s["samples"].dump(), s["patients"].dump());
  const auto& p = r["prescriptions"];
  md += "\n## Prescriptions\n\n| | rows |\n|---|---:|\n";
  md += fmt::format("| all rows | {} |\n", p["rows"].dump());
  for (const auto& [category, count] : p["non_therapeutic_rows"].items())
    md += fmt::format("| excluded as non-therapeutic: {} | {} |\n", category, count.dump());
  md += fmt::format("| therapeutic | {} |\n", p["therapeutic_rows"].dump());
  md += fmt::format("| therapeutic with ATC via GSN / drug name / canonical name | {} / {} / {} |\n",
                    p["atc_rows_by_gsn"].dump(), p["atc_rows_by_drug_name"].dump(),
                    p["atc_rows_by_canonical_name"].dump());
  md += fmt::format("| therapeutic without ATC | {} |\n\n", p["atc_rows_none"].dump());
  md += fmt::format("Share of therapeutic rows with an ATC code: **{:.2f}%** (row level); {:.2f}% once each "
                    "canonical drug carries its majority code.\n\n",
                    100 * p["atc_row_share"].get<double>(), 100 * p["atc_drug_level_row_share"].get<double>());
  md += fmt::format("Drug vocabulary: {} canonical drugs in the output samples; drug-list limit {} drugs.\n\n",
                    r["drug_vocabulary_size"].dump(), r["drug_count_limit"].dump());
  md += "## Diagnoses\n\n";
  for (const auto& [key, value] : r["diagnoses"].items()) md += fmt::format("- {}: {}\n", key, value.dump());
  md += "\n## Demographics (admissions with diagnoses and drugs)\n\n";
  for (const auto& [key, value] : r["demographics"].items()) md += fmt::format("- {}: {}\n", key, value.dump());
  md += "\n## Tables read\n\n| table | rows | malformed skipped | duplicates removed | unusable |\n|---|---:|---:|---:|---:|\n";
  for (const auto& [name, t] : r["tables"].items())
    md += fmt::format("| {} | {} | {} | {} | {} |\n", name, t["rows"].dump(), t["malformed_skipped"].dump(),
                      t["duplicates_removed"].dump(), t["unusable"].dump());
  return md;
}

}  // namespace rxlm::clinical
