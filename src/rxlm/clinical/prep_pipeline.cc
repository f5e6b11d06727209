// run_prep: orchestration of the prep stages and the output files.
#include "rxlm/clinical/prep_pipeline.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <thread>

#include "rxlm/clinical/atc_map.h"
#include "rxlm/clinical/cohort.h"
#include "rxlm/clinical/split.h"
#include "rxlm/core/batch_memory.h"
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

// "s" then the index, zero-padded to six digits (as fmt's "s{:06d}" wrote it).
void append_sample_id(std::string& out, std::size_t index) {
  char digits[24];
  const auto length = static_cast<std::size_t>(std::to_chars(digits, digits + sizeof digits, index).ptr - digits);
  out += 's';
  if (length < 6) out.append(6 - length, '0');
  out.append(digits, length);
}

// Sample indices in output order: the patients in `patient_order` (each subject once), each patient's
// samples by admission date, then hadm_id. Every key is distinct, so this is the order of a sort by
// (rank, admit_day, hadm_id); it is made by bucketing on the rank, with an open-addressing table from
// subject to rank (no node per patient, about one cache miss per sample).
// Also sets rank_of[i], the rank of sample i's patient.
std::vector<std::size_t> output_order(const std::vector<Sample>& samples, const std::vector<std::int64_t>& patient_order,
                                      std::vector<std::size_t>& rank_of) {
  constexpr std::int64_t kEmpty = std::numeric_limits<std::int64_t>::min();
  struct Slot {
    std::int64_t subject_id = kEmpty;
    std::size_t rank = 0;
  };
  std::vector<Slot> slots(std::bit_ceil(patient_order.size() * 3 / 2 + 16));  // at most 2/3 full
  const int shift = 64 - std::countr_zero(slots.size());
  auto slot_of = [&](std::int64_t subject_id) {
    std::size_t i = static_cast<std::size_t>((static_cast<std::uint64_t>(subject_id) * 0x9E3779B97F4A7C15ull) >> shift);
    while (slots[i].subject_id != subject_id && slots[i].subject_id != kEmpty) i = (i + 1) & (slots.size() - 1);
    return i;
  };
  for (std::size_t rank = 0; rank < patient_order.size(); ++rank)
    slots[slot_of(patient_order[rank])] = {patient_order[rank], rank};

  rank_of.assign(samples.size(), 0);
  std::vector<std::size_t> bucket(patient_order.size() + 1, 0);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const Slot& slot = slots[slot_of(samples[i].subject_id)];
    if (slot.subject_id != samples[i].subject_id) fail("internal: subject of sample {} not in the patient order", i);
    rank_of[i] = slot.rank;
    ++bucket[slot.rank + 1];
  }
  for (std::size_t r = 1; r < bucket.size(); ++r) bucket[r] += bucket[r - 1];
  std::vector<std::size_t> output(samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i) output[bucket[rank_of[i]]++] = i;
  // Now bucket[r] is where patient r's samples end; put each patient's few samples in date order.
  auto earlier = [&](std::size_t a, std::size_t b) {
    return std::tie(samples[a].admit_day, samples[a].hadm_id) < std::tie(samples[b].admit_day, samples[b].hadm_id);
  };
  for (std::size_t r = 0, begin = 0; r < patient_order.size(); begin = bucket[r++])
    if (bucket[r] - begin > 1) std::sort(output.begin() + begin, output.begin() + bucket[r], earlier);
  return output;
}

// Samples are rendered in shuffled order, so each one's struct and lists are fetched from memory ahead
// of use: the struct kPrefetch samples ahead, its lists (read from the struct) half as far.
constexpr std::size_t kPrefetch = 8;

void prefetch_struct(const Sample& s) {
  for (std::size_t offset = 0; offset < sizeof(Sample); offset += 64)
    __builtin_prefetch(reinterpret_cast<const char*>(&s) + offset);
}

void prefetch_lists(const Sample& s) {
  __builtin_prefetch(s.diagnoses.data());
  __builtin_prefetch(s.drugs.data());
}

// JSONL lines of a run of samples, back to back.
struct RenderedBatch {
  TextBuffer bytes;  // reused from batch to batch
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
  // The drug maps do not depend on the tables: they are loaded on a thread of their own meanwhile. A
  // broken table is still reported before a broken map, as when they were loaded after.
  const DrugNormaliser normaliser(config.drug_rules);
  std::future<AtcMap> loading_atc =
      std::async(std::launch::async, [&] { return AtcMap(config.drug_maps, normaliser); });
  HospTables tables = read_hosp_tables(source, config.skip_malformed);
  lap("read_tables");
  const AtcMap atc = loading_atc.get();
  lap("load_drug_maps");  // what of the loading was left after the tables
  Cohort cohort = build_cohort(tables, config, normaliser, atc);
  lap("build_cohort");

  // Split by patient over the admissions that made it this far.
  std::vector<std::int64_t> subjects;
  subjects.reserve(cohort.samples.size());
  for (const auto& s : cohort.samples) subjects.push_back(s.subject_id);
  const std::vector<std::string> split_names = rxlm::clinical::split_names(config.folds);
  // Each patient's split and the output order both come from the shuffled distinct patients (what
  // split_patients does, so the result is the same): the split by position in that order, and the
  // output by patient in that order, then admission date, so ids reveal nothing about MIMIC ids.
  std::vector<std::int64_t> patients;  // the samples' subjects in the order of tables.patients: sorted
  {
    std::vector<std::uint8_t> has_sample(tables.patients.size(), 0);
    for (const auto& s : cohort.samples) has_sample[s.patient_row] = 1;
    for (std::size_t i = 0; i < has_sample.size(); ++i)
      if (has_sample[i]) patients.push_back(tables.patients[i].subject_id);
  }
  const std::vector<std::int64_t> patient_order = shuffled_patients(patients, config.seed);
  const std::vector<std::uint32_t> split_by_rank =
      config.folds >= 2 ? fold_by_position(patient_order.size(), config.folds)
                        : split_by_position(patient_order.size(), config.validation, config.test);
  std::vector<std::size_t> rank_of;
  const std::vector<std::size_t> output = output_order(cohort.samples, patient_order, rank_of);
  std::vector<std::uint32_t> split_of(cohort.samples.size());
  for (std::size_t i = 0; i < split_of.size(); ++i) split_of[i] = split_by_rank[rank_of[i]];

  std::unique_ptr<Tokenizer> tokenizer;
  if (!config.tokenizer.empty()) {
    if (config.max_tokens <= 0) fail("--tokenizer needs --max-tokens N with N > 0");
    tokenizer = load_tokenizer(config.tokenizer);
  }
  const std::string too_long = fmt::format("7 longer than {} tokens", config.max_tokens);
  if (tokenizer) cohort.drops[too_long] = 0;

  std::map<std::string, std::unique_ptr<AtomicFile>> files;  // committed in name order
  std::vector<AtomicFile*> split_file;                        // per split_names index
  std::vector<std::int64_t> split_samples(split_names.size(), 0), split_patients_count(split_names.size(), 0);
  for (const auto& name : split_names) {
    auto& file = files[name] = std::make_unique<AtomicFile>(out_dir / (name + ".jsonl"), /*large=*/true);
    split_file.push_back(file.get());
  }
  std::unique_ptr<AtomicFile> links;
  if (!link_file.empty()) {
    links = std::make_unique<AtomicFile>(link_file);
    links->write("sample_id\tsubject_id\thadm_id\n");
  }

  // Each drug's ATC code as a JSON string, made once rather than per sample; "" where the code is not
  // plain ASCII: that one is escaped (or refused, as invalid UTF-8) only if a sample lists the drug.
  std::vector<std::string> atc_json(cohort.drugs.size());
  for (std::size_t id = 0; id < cohort.drugs.size(); ++id)
    if (std::ranges::all_of(cohort.drugs[id].atc, [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
      append_json_string(atc_json[id], cohort.drugs[id].atc);

  // Rendering (the bulk of the work) runs on two threads, batch by batch; lines are written and
  // counted in output order on this one. With a tokenizer it runs on this thread alone.
  std::vector<std::int64_t> drug_admissions(cohort.drug_names.size(), 0);
  std::size_t max_tokens_seen = 0;
  std::int64_t samples_out = 0, last_subject = -1;
  auto render = [&](std::size_t first, std::size_t count, RenderedBatch& batch) {
    batch.bytes.clear();
    batch.ends.clear();
    batch.tokens.clear();
    std::vector<DiagnosisView> diagnoses;
    std::vector<std::string_view> drugs, drug_json_lines;
    std::string user, answer, meta, line;
    for (std::size_t i = first; i < first + count; ++i) {
      if (i + kPrefetch < first + count) prefetch_struct(cohort.samples[output[i + kPrefetch]]);
      if (i + kPrefetch / 2 < first + count) prefetch_lists(cohort.samples[output[i + kPrefetch / 2]]);
      const Sample& s = cohort.samples[output[i]];
      meta.assign(R"({"sample_id":")");
      append_sample_id(meta, i);
      meta.append(R"(","split":")").append(split_names[split_of[output[i]]]).append(R"(","atc":[)");
      for (std::size_t d = 0; d < s.drugs.size(); ++d) {
        if (d) meta += ',';
        if (atc_json[s.drugs[d]].empty()) append_json_string(meta, cohort.drugs[s.drugs[d]].atc);
        else meta += atc_json[s.drugs[d]];
      }
      meta += "]}";
      sample_lines(cohort, s, diagnoses, drugs, &drug_json_lines);
      auto plain_messages = [&] {  // for the tokenizer, and for the checked two-pass JSON writer
        user.clear();
        append_user(user, s.patient, diagnoses);
        answer.clear();
        append_answer(answer, drugs);
      };
      if (tokenizer) {
        plain_messages();
        batch.tokens.push_back(sample_tokens(*tokenizer, user, answer));
      }
      if (!append_chat_line(batch.bytes, s.patient, diagnoses, drugs, meta, drug_json_lines)) {  // text beyond ASCII
        if (!tokenizer) plain_messages();
        line.clear();
        append_chat_line(line, user, answer, meta);
        batch.bytes.append(line);
      }
      batch.ends.push_back(batch.bytes.size());
    }
  };
  // `write` reads only small per-sample arrays (subjects, split_of), not the samples: those lie far
  // apart in memory and were fetched by the rendering thread. The drug counts are taken afterwards, in
  // memory order, from the samples marked written.
  std::vector<std::uint8_t> written(cohort.samples.size(), 0);
  auto write = [&](std::size_t first, const RenderedBatch& batch) {
    for (std::size_t k = 0; k < batch.ends.size(); ++k) {
      const std::size_t sample = output[first + k];
      if (tokenizer) {
        max_tokens_seen = std::max(max_tokens_seen, batch.tokens[k]);
        if (batch.tokens[k] > static_cast<std::size_t>(config.max_tokens)) {
          ++cohort.drops[too_long];
          continue;
        }
      }
      const std::size_t split = split_of[sample];
      const std::size_t begin = k == 0 ? 0 : batch.ends[k - 1];
      split_file[split]->write(batch.bytes.view().substr(begin, batch.ends[k] - begin));
      if (links) {
        std::string id;
        append_sample_id(id, first + k);
        links->write(fmt::format("{}\t{}\t{}\n", id, subjects[sample], cohort.samples[sample].hadm_id));
      }
      ++split_samples[split];
      if (subjects[sample] != last_subject) ++split_patients_count[split];
      last_subject = subjects[sample];
      ++samples_out;
      written[sample] = 1;
    }
  };
  render_in_order(output.size(), tokenizer ? 1 : 2, render, write);
  for (std::size_t i = 0; i < cohort.samples.size(); ++i)  // in memory order
    if (written[i])
      for (auto drug : cohort.samples[i].drugs) ++drug_admissions[drug];

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
  for (std::size_t i = 0; i < split_names.size(); ++i)
    splits[split_names[i]] = {{"samples", split_samples[i]}, {"patients", split_patients_count[i]}};
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
  // is flushed to disk, and their memory handed back to the kernel there (rather than by the exit that
  // usually follows); jthread joins when this function returns or throws.
  std::jthread release([tables = std::move(tables), samples = std::move(cohort.samples)]() mutable {
    { [[maybe_unused]] HospTables freed_tables = std::move(tables); }
    { [[maybe_unused]] std::vector<Sample> freed_samples = std::move(samples); }
    return_freed_memory();
  });
  // Every output file is flushed to disk at once (each fsync waits for a journal commit, which
  // concurrent ones share), and only when all are complete does any replace its old version, the
  // sample files first.
  AtomicFile vocabulary_file(out_dir / "drug_vocabulary.tsv"), report_json(out_dir / "prep_report.json"),
      report_md(out_dir / "prep_report.md");
  vocabulary_file.write(vocabulary);
  report_json.write(report.dump(2) + "\n");
  report_md.write(report_markdown(report));
  std::vector<AtomicFile*> outputs;
  for (auto& [name, file] : files) outputs.push_back(file.get());
  if (links) outputs.push_back(links.get());
  for (AtomicFile* file : {&vocabulary_file, &report_json, &report_md}) outputs.push_back(file);
  {
    std::vector<std::exception_ptr> flush_errors(outputs.size());
    std::vector<std::jthread> flushing;
    for (std::size_t k = 0; k < outputs.size(); ++k)
      flushing.emplace_back([&flush_errors, k, file = outputs[k]] {
        try {
          file->finish_writing();
        } catch (...) {
          flush_errors[k] = std::current_exception();
        }
      });
    flushing.clear();  // joins
    for (const auto& error : flush_errors)
      if (error) std::rethrow_exception(error);
  }
  for (AtomicFile* file : outputs) file->commit();
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
