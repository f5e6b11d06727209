// `rxlm judge`: LLM-as-judge appropriateness of predicted drug lists through any OpenAI-compatible
// chat endpoint (docs/judge.md).
#include <cstdlib>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "rxlm/cli/command.h"
#include "rxlm/core/error.h"
#include "rxlm/eval/judge.h"

namespace {

struct JudgeArgs {
  std::string preds, endpoint, model, api_key_env, out, cache;
  int concurrency = 4, retries = 3, max_tokens = 512;
  double timeout = 120, backoff = 1;
  bool no_cache = false, no_json_mode = false, quiet = false;
};

void run(const JudgeArgs& args) {
  namespace fs = std::filesystem;
  using namespace rxlm::eval;
  JudgeOptions options;
  options.endpoint.url = args.endpoint;
  options.endpoint.timeout_seconds = args.timeout;
  options.endpoint.retries = args.retries;
  options.endpoint.backoff_seconds = args.backoff;
  if (!args.api_key_env.empty()) {
    const char* key = std::getenv(args.api_key_env.c_str());
    if (!key || !*key)
      rxlm::fail("judge: --api-key-env {}: that environment variable is not set or empty", args.api_key_env);
    options.endpoint.api_key = key;
  }
  options.request.model = args.model;
  options.request.max_tokens = args.max_tokens;
  options.request.json_mode = !args.no_json_mode;
  options.concurrency = args.concurrency;
  options.show_progress = !args.quiet;
  const fs::path out = args.out.empty() ? fs::path(args.preds).parent_path() / "judge" : fs::path(args.out);
  if (!args.no_cache) options.cache_path = args.cache.empty() ? out / "judge_cache.jsonl" : fs::path(args.cache);
  else if (!args.cache.empty()) rxlm::fail("judge: --cache and --no-cache contradict each other");

  const auto records = read_predictions(args.preds);
  const JudgeReport report = run_judge(records, options);
  write_judge_outputs(out, report, options, args.preds);
  fmt::print("judge model {} at {}\n", args.model, args.endpoint);
  fmt::print("records {}: judged {}, malformed {}, failed {}, skipped (unparsed) {}\n", report.records, report.judged,
             report.malformed, report.failed, report.skipped);
  fmt::print("sent {} (requests {}), cached {}\n", report.sent, report.requests, report.cached);
  if (report.judged)
    fmt::print("appropriateness {:.1f}% (mean over {} judged samples; {} of {} drugs appropriate)\n",
               100 * report.appropriateness, report.judged, report.appropriate_total, report.suggested_total);
  else
    fmt::print("appropriateness: n/a (no well-formed verdicts)\n");
  fmt::print("report: {}\n", (out / "judge.json").string());
  if (report.failed)
    rxlm::fail("judge: {} sample(s) got no reply (first: {}); the outputs are written and the cache keeps every "
               "reply received, so rerunning asks only the failed ones",
               report.failed, [&] {
                 for (const auto& s : report.samples)
                   if (s.status == "failed") return s.sample_id + ": " + s.error;
                 return std::string();
               }());
}

const bool registered = rxlm::cli::register_command(
    "judge", "Judge predicted drug lists with an LLM (OpenAI-compatible endpoint): appropriateness",
    [](CLI::App& app) {
      auto args = std::make_shared<JudgeArgs>();
      app.add_option("--preds", args->preds, "predictions JSONL (from rxlm predict or rxlm baseline)")->required();
      app.add_option("--endpoint", args->endpoint,
                     "OpenAI-compatible server: http(s)://host:port[/v1[/chat/completions]]")->required();
      app.add_option("--model", args->model, "judge model name sent to the endpoint")->required();
      app.add_option("--api-key-env", args->api_key_env, "environment variable holding the API key (Bearer)");
      app.add_option("--out", args->out, "output folder for judge.jsonl and judge.json (default: <preds dir>/judge)");
      app.add_option("--cache", args->cache, "reply cache JSONL (default: <out>/judge_cache.jsonl)");
      app.add_flag("--no-cache", args->no_cache, "ask every question, remember nothing");
      app.add_option("--concurrency", args->concurrency, "requests in flight at once")->capture_default_str();
      app.add_option("--retries", args->retries, "retries per request on connection errors, timeouts, 5xx and 429")
          ->capture_default_str();
      app.add_option("--timeout", args->timeout, "seconds to wait for each reply")->capture_default_str();
      app.add_option("--backoff", args->backoff, "seconds before the first retry (doubling after)")
          ->capture_default_str();
      app.add_option("--max-tokens", args->max_tokens, "most tokens the judge may write")->capture_default_str();
      app.add_flag("--no-json-mode", args->no_json_mode, "do not send response_format {\"type\":\"json_object\"}");
      app.add_flag("--quiet", args->quiet, "no progress bar");
      app.callback([args] { run(*args); });
    });

}  // namespace
