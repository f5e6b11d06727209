#include "rxlm/eval/judge.h"

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "rxlm/core/error.h"
#include "rxlm/core/progress.h"
#include "rxlm/eval/judge_cache.h"
#include "rxlm/io/jsonl.h"

namespace rxlm::eval {

namespace {

// One distinct question: every sample that asks it shares the answer.
struct Question {
  std::string key, prompt, first_sample_id;
  int suggested = 0;
  std::vector<std::size_t> samples;  // indices into the report
};

void apply_reply(JudgeSampleResult& sample, const std::string& reply) {
  sample.reply = reply;
  const JudgeVerdict verdict = parse_judge_reply(reply, sample.suggested);
  if (!verdict.ok) {
    sample.status = "malformed";
    sample.error = verdict.error;
    return;
  }
  sample.status = "judged";
  sample.appropriate = verdict.appropriate;
  sample.inappropriate = verdict.inappropriate;
  sample.appropriateness = static_cast<double>(verdict.appropriate) / sample.suggested;
  sample.verdicts = verdict.verdicts;
}

}  // namespace

JudgeReport run_judge(const std::vector<PredictionRecord>& records, const JudgeOptions& options) {
  if (options.request.model.empty()) fail("judge: the judge model name is empty (give --model)");
  if (options.concurrency < 1) fail("judge: concurrency must be at least 1 (got {})", options.concurrency);
  if (options.endpoint.retries < 0) fail("judge: retries must be 0 or more (got {})", options.endpoint.retries);
  if (!(options.endpoint.timeout_seconds > 0)) fail("judge: the timeout must be positive");
  chat_completions_url(options.endpoint.url);  // a bad URL fails before any work
  const auto start = std::chrono::steady_clock::now();

  JudgeReport report;
  report.records = static_cast<int64_t>(records.size());
  report.samples.resize(records.size());
  JudgeCache cache(options.cache_path);
  std::vector<Question> questions;
  std::map<std::string, std::size_t> question_of_key;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const PredictionRecord& record = records[i];
    JudgeSampleResult& sample = report.samples[i];
    sample.sample_id = record.sample_id;
    sample.suggested = static_cast<int>(record.drugs.size());
    if (!record.parsed || record.drugs.empty()) {
      sample.status = "skipped";
      sample.error = record.parsed ? "no drugs suggested" : "prediction not parsed: " + record.parse_error;
      continue;
    }
    const std::string prompt = render_judge_prompt(record);
    sample.cache_key = judge_cache_key(options.request.model, prompt);
    if (auto hit = cache.find(sample.cache_key)) {
      sample.cached = true;
      apply_reply(sample, hit->reply);
      continue;
    }
    auto [it, fresh] = question_of_key.try_emplace(sample.cache_key, questions.size());
    if (fresh) questions.push_back({sample.cache_key, prompt, record.sample_id, sample.suggested, {}});
    else sample.cached = true;  // the same question as an earlier sample: asked once
    questions[it->second].samples.push_back(i);
  }

  std::atomic<std::size_t> next{0};
  std::atomic<bool> json_mode{options.request.json_mode};
  std::mutex progress_mutex;
  std::unique_ptr<ProgressBar> progress;
  if (options.show_progress && !questions.empty())
    progress = std::make_unique<ProgressBar>("judge", static_cast<int64_t>(questions.size()), stderr, 5.0);
  int64_t done = 0, malformed = 0, failed = 0;
  std::exception_ptr worker_error;

  auto work = [&] {
    try {
      ChatClient client(options.endpoint);
      for (std::size_t q; (q = next.fetch_add(1)) < questions.size();) {
        Question& question = questions[q];
        JudgeRequestOptions request = options.request;
        request.json_mode = json_mode.load();
        ChatReply reply = client.complete(chat_completion_request(request, question.prompt));
        int attempts = reply.attempts;
        if (!reply.ok && reply.rejected_response_format && request.json_mode) {
          json_mode = false;  // this server does not take response_format: ask in plain text from now on
          request.json_mode = false;
          reply = client.complete(chat_completion_request(request, question.prompt));
          attempts += reply.attempts;
        }
        if (reply.ok) cache.put(question.key, {options.request.model, question.first_sample_id, reply.content});
        std::lock_guard lock(progress_mutex);
        for (std::size_t index : question.samples) {
          JudgeSampleResult& sample = report.samples[index];
          if (reply.ok) {
            apply_reply(sample, reply.content);
          } else {
            sample.status = "failed";
            sample.error = reply.error;
          }
          if (index == question.samples.front()) sample.attempts = attempts;
          malformed += sample.status == "malformed";
          failed += sample.status == "failed";
        }
        report.requests += attempts;
        ++done;
        if (progress) progress->update(done, fmt::format("malformed {} · failed {}", malformed, failed));
      }
    } catch (...) {
      std::lock_guard lock(progress_mutex);
      if (!worker_error) worker_error = std::current_exception();
      next = questions.size();  // stop the other workers
    }
  };
  const int threads = static_cast<int>(std::min<std::size_t>(options.concurrency, questions.size()));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) workers.emplace_back(work);
  for (auto& worker : workers) worker.join();
  if (progress) progress->finish(fmt::format("malformed {} · failed {}", malformed, failed));
  if (worker_error) std::rethrow_exception(worker_error);

  report.sent = static_cast<int64_t>(questions.size());
  report.json_mode_used = json_mode.load();
  double sum = 0;
  for (const JudgeSampleResult& sample : report.samples) {
    report.skipped += sample.status == "skipped";
    report.malformed += sample.status == "malformed";
    report.failed += sample.status == "failed";
    report.cached += sample.cached;
    if (sample.status != "judged") continue;
    ++report.judged;
    sum += sample.appropriateness;
    report.suggested_total += sample.suggested;
    report.appropriate_total += sample.appropriate;
    report.inappropriate_total += sample.inappropriate;
  }
  report.appropriateness = report.judged ? sum / static_cast<double>(report.judged) : 0;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

nlohmann::ordered_json to_json(const JudgeSampleResult& s) {
  nlohmann::ordered_json j;
  j["sample_id"] = s.sample_id;
  j["status"] = s.status;
  j["cached"] = s.cached;
  j["suggested"] = s.suggested;
  if (s.status == "judged") {
    j["appropriate"] = s.appropriate;
    j["inappropriate"] = s.inappropriate;
    j["appropriateness"] = s.appropriateness;
    if (!s.verdicts.empty()) {
      auto& verdicts = j["verdicts"] = nlohmann::ordered_json::array();
      for (const DrugVerdict& v : s.verdicts) verdicts.push_back({{"drug", v.drug}, {"appropriate", v.appropriate}});
    }
  }
  j["error"] = s.error;
  j["reply"] = s.reply;
  j["attempts"] = s.attempts;
  j["cache_key"] = s.cache_key;
  return j;
}

nlohmann::ordered_json judge_summary_json(const JudgeReport& r, const JudgeOptions& options,
                                          const std::string& predictions_path) {
  nlohmann::ordered_json j;
  j["format"] = "rxlm-judge-report";
  j["version"] = 1;
  j["predictions"] = predictions_path;
  j["judge_model"] = options.request.model;
  j["endpoint"] = options.endpoint.url;
  j["prompt"] = {{"version", kJudgePromptVersion},
                 {"system", judge_system_prompt()},
                 {"user_template", judge_user_template()}};
  j["request"] = {{"temperature", options.request.temperature},
                  {"max_tokens", options.request.max_tokens},
                  {"response_format_json", options.request.json_mode},
                  {"response_format_json_used", r.json_mode_used}};
  j["concurrency"] = options.concurrency;
  j["retries"] = options.endpoint.retries;
  j["timeout_seconds"] = options.endpoint.timeout_seconds;
  j["cache"] = options.cache_path.string();
  j["counts"] = {{"records", r.records}, {"skipped_unparsed", r.skipped}, {"judged", r.judged},
                 {"malformed", r.malformed}, {"failed", r.failed},       {"sent", r.sent},
                 {"cached", r.cached},       {"requests", r.requests}};
  j["appropriateness"] = r.judged ? nlohmann::ordered_json(r.appropriateness) : nlohmann::ordered_json(nullptr);
  j["appropriate_total"] = r.appropriate_total;
  j["inappropriate_total"] = r.inappropriate_total;
  j["suggested_total"] = r.suggested_total;
  j["seconds"] = r.seconds;
  return j;
}

void write_judge_outputs(const std::filesystem::path& dir, const JudgeReport& report, const JudgeOptions& options,
                         const std::string& predictions_path) {
  std::filesystem::create_directories(dir);
  AtomicFile lines(dir / "judge.jsonl");
  for (const JudgeSampleResult& sample : report.samples) lines.write_json_line(to_json(sample));
  lines.commit();
  write_file_atomic(dir / "judge.json", judge_summary_json(report, options, predictions_path).dump(2) + "\n");
}

}  // namespace rxlm::eval
