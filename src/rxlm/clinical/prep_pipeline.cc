// run_prep: orchestration of the prep stages and the output files.
#include "rxlm/clinical/prep_pipeline.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
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

std::string sample_id(std::size_t index) { return fmt::format("s{:06d}", index); }

// JSONL lines of a run of samples, back to back.
struct RenderedBatch {
  std::string bytes;
  std::vector<std::size_t> ends;    // where each sample's line ends in `bytes`
  std::vector<std::size_t> tokens;  // per sample, only when a tokenizer is set
};

// Calls render(first, count, batch) for consecutive batches of `items` on `threads` threads (this
// one and at most one more) and write(first, batch) on this thread, in order, a few batches behind.
template <class Render, class Write>
void render_in_order(std::size_t items, int threads, Render&& render, Write&& write) {
  constexpr std::size_t kBatch = 512, kSlots = 4;
  enum class Slot { Free, Rendering, Ready };
  const std::size_t batches = (items + kBatch - 1) / kBatch;
  std::vector<RenderedBatch> slots(kSlots);
  std::vector<Slot> state(kSlots, Slot::Free);
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t next = 0, written = 0;  // next batch to render; batches written
  std::exception_ptr error;

  // Renders the next batch if the window allows; false when there is none to take now.
  auto render_one = [&](std::unique_lock<std::mutex>& lock) {
    if (error || next == batches || next == written + kSlots) return false;
    const std::size_t b = next++;
    state[b % kSlots] = Slot::Rendering;
    lock.unlock();
    std::exception_ptr failed;
    try {
      render(b * kBatch, std::min(kBatch, items - b * kBatch), slots[b % kSlots]);
    } catch (...) {
      failed = std::current_exception();
    }
    lock.lock();
    if (failed && !error) error = failed;
    state[b % kSlots] = Slot::Ready;
    changed.notify_all();
    return true;
  };
  std::thread helper;
  if (threads > 1 && batches > 1)
    helper = std::thread([&] {
      std::unique_lock lock(mutex);
      while (!error && next < batches)
        if (!render_one(lock)) changed.wait(lock);
    });
  {
    std::unique_lock lock(mutex);
    while (!error && written < batches) {
      if (state[written % kSlots] == Slot::Ready) {
        lock.unlock();
        try {
          write(written * kBatch, slots[written % kSlots]);
        } catch (...) {
          lock.lock();
          error = std::current_exception();
          changed.notify_all();
          break;
        }
        lock.lock();
        state[written % kSlots] = Slot::Free;
        ++written;
        changed.notify_all();
      } else if (!render_one(lock)) {
        changed.wait(lock);
      }
    }
  }
  if (helper.joinable()) helper.join();
  if (error) std::rethrow_exception(error);
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
  std::vector<std::size_t> patient_rank(cohort.samples.size()), output(cohort.samples.size());
  std::vector<const std::string*> split_of(cohort.samples.size());  // per sample
  for (std::size_t i = 0; i < output.size(); ++i) {
    patient_rank[i] = position.at(cohort.samples[i].subject_id);
    split_of[i] = &split.at(cohort.samples[i].subject_id);
    output[i] = i;
  }
  std::sort(output.begin(), output.end(), [&](std::size_t a, std::size_t b) {
    const Sample &x = cohort.samples[a], &y = cohort.samples[b];
    return std::tuple(patient_rank[a], x.admit_day, x.hadm_id) < std::tuple(patient_rank[b], y.admit_day, y.hadm_id);
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
  for (const auto& name : split_names)
    files[name] = std::make_unique<AtomicFile>(out_dir / (name + ".jsonl"), /*large=*/true);
  std::unique_ptr<AtomicFile> links;
  if (!link_file.empty()) {
    links = std::make_unique<AtomicFile>(link_file);
    links->write("sample_id\tsubject_id\thadm_id\n");
  }

  // Rendering (the bulk of the work) runs on two threads, batch by batch; lines are written and
  // counted in output order on this one. With a tokenizer it runs on this thread alone.
  std::vector<std::int64_t> drug_admissions(cohort.drug_names.size(), 0);
  std::size_t max_tokens_seen = 0;
  std::int64_t samples_out = 0, last_subject = -1;
  auto render = [&](std::size_t first, std::size_t count, RenderedBatch& batch) {
    batch.bytes.clear();
    batch.ends.clear();
    batch.tokens.clear();
    AdmissionPrompt prompt;
    std::vector<std::string> drugs;
    std::string meta;
    for (std::size_t i = first; i < first + count; ++i) {
      const Sample& s = cohort.samples[output[i]];
      meta.assign(R"({"sample_id":")").append(sample_id(i)).append(R"(","split":")");
      meta.append(*split_of[output[i]]).append(R"(","atc":[)");
      for (std::size_t d = 0; d < s.drugs.size(); ++d) {
        if (d) meta += ',';
        append_json_string(meta, cohort.drugs[s.drugs[d]].atc);
      }
      meta += "]}";
      render_prompt(cohort, tables, s, prompt, drugs);
      const std::string user = render_user(prompt), answer = render_answer(drugs);
      if (tokenizer) batch.tokens.push_back(sample_tokens(*tokenizer, user, answer));
      append_chat_line(batch.bytes, user, answer, meta);
      batch.ends.push_back(batch.bytes.size());
    }
  };
  auto write = [&](std::size_t first, const RenderedBatch& batch) {
    for (std::size_t k = 0; k < batch.ends.size(); ++k) {
      const Sample& s = cohort.samples[output[first + k]];
      if (tokenizer) {
        max_tokens_seen = std::max(max_tokens_seen, batch.tokens[k]);
        if (batch.tokens[k] > static_cast<std::size_t>(config.max_tokens)) {
          ++cohort.drops[too_long];
          continue;
        }
      }
      const std::string& name = *split_of[output[first + k]];
      const std::size_t begin = k == 0 ? 0 : batch.ends[k - 1];
      files[name]->write(std::string_view(batch.bytes).substr(begin, batch.ends[k] - begin));
      if (links) links->write(fmt::format("{}\t{}\t{}\n", sample_id(first + k), s.subject_id, s.hadm_id));
      ++split_samples[name];
      if (s.subject_id != last_subject) ++split_patients_count[name];
      last_subject = s.subject_id;
      ++samples_out;
      for (auto drug : s.drugs) ++drug_admissions[drug];
    }
  };
  render_in_order(output.size(), tokenizer ? 1 : 2, render, write);

  lap("write_samples");
  std::string vocabulary = "drug\tadmissions\tprescription_rows\tatc\tatc_name\n";
  std::size_t drugs_in_samples = 0;
  for (std::size_t id = 0; id < cohort.drug_names.size(); ++id) {
    const DrugInfo& info = cohort.drugs[id];
    drugs_in_samples += drug_admissions[id] > 0;
    vocabulary += fmt::format("{}\t{}\t{}\t{}\t{}\n", cohort.drug_names[id], drug_admissions[id], info.rows, info.atc,
                              atc.name(info.atc));
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
  report["drug_vocabulary_size"] = drugs_in_samples;
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

  // The tables and samples (hundreds of MB at full scale) are freed on another thread while the output
  // is flushed to disk; jthread joins when this function returns or throws.
  std::jthread release([tables = std::move(tables), samples = std::move(cohort.samples)]() mutable {
    [[maybe_unused]] HospTables freed_tables = std::move(tables);
    [[maybe_unused]] std::vector<Sample> freed_samples = std::move(samples);
  });
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
