// `rxlm eval`: prediction records (from predict or baseline) → the metrics of docs/evaluation.md with
// bootstrap confidence intervals; one table row per --preds file; --out writes eval.json and eval.md.
#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "rxlm/cli/command.h"
#include "rxlm/core/error.h"
#include "rxlm/core/threads.h"
#include "rxlm/eval/eval_report.h"
#include "rxlm/eval/sweep.h"
#include "rxlm/io/jsonl.h"

namespace rxlm::cli {
namespace {

struct EvalCliOptions {
  std::vector<std::string> preds, names;
  std::string out, drug_maps;
  int bootstrap = 1000;
  uint64_t seed = 0;
  eval::SweepOptions sweep;  // --sweep RUN
  std::string sweep_run;
  int threads = 0;
};

// The row name: the records' method when they all share one, else the file name without extension;
// a name already taken gets the file name appended.
std::string row_name(const std::vector<eval::PredictionRecord>& records, const std::filesystem::path& path,
                     std::set<std::string>& taken) {
  std::set<std::string> methods;
  for (const auto& r : records) methods.insert(r.method);
  std::string name = methods.size() == 1 && !methods.begin()->empty() ? *methods.begin() : path.stem().string();
  if (taken.count(name)) name += " (" + path.filename().string() + ")";
  const std::string base = name;
  for (int k = 2; taken.count(name); ++k) name = fmt::format("{} #{}", base, k);
  taken.insert(name);
  return name;
}

void run_sweep(EvalCliOptions& options) {
  if (!options.preds.empty()) fail("eval: give --preds files or --sweep RUN, not both");
  if (options.sweep.model.empty() || options.sweep.test.empty())
    fail("eval --sweep {}: needs --model (the base the run trained) and --data (test samples to predict)",
         options.sweep_run);
  if (!options.sweep.drug_vocab.empty() && !options.sweep.predict.constrained) fail("--drug-vocab needs --constrained");
  set_num_threads(options.threads);
  options.sweep.run_dir = options.sweep_run;
  options.sweep.drug_maps = options.drug_maps;
  options.sweep.bootstrap = options.bootstrap;
  if (!options.out.empty()) options.sweep.out_dir = options.out;
  fmt::print("{}", eval::run_sweep(options.sweep));
  const auto out = options.sweep.out_dir.empty() ? std::filesystem::path(options.sweep_run) / "sweep" : options.sweep.out_dir;
  fmt::print("wrote {0}/sweep.md, {0}/sweep.json, {0}/sweep.svg\n", out.string());
}

void run(EvalCliOptions& options) {
  if (!options.sweep_run.empty()) return run_sweep(options);
  if (options.preds.empty()) fail("eval: give --preds FILE (repeatable) or --sweep RUN");
  eval::EvalOptions eval_options;
  eval_options.drug_maps = options.drug_maps;
  eval_options.bootstrap.resamples = options.bootstrap;
  eval_options.bootstrap.seed = options.seed;
  if (options.bootstrap < 0) fail("eval: --bootstrap must be 0 (no intervals) or a positive number of resamples");

  const eval::EvalResources resources = eval::EvalResources::load(options.drug_maps);
  std::vector<eval::NamedResult> results;
  std::set<std::string> taken;
  if (!options.names.empty() && options.names.size() != options.preds.size())
    fail("eval: {} --name for {} --preds; give one name per predictions file, in the same order", options.names.size(),
         options.preds.size());
  for (std::size_t i = 0; i < options.preds.size(); ++i) {
    const std::string& file = options.preds[i];
    const auto records = eval::read_predictions(file);
    if (records.empty()) fail("{}: no prediction records (an empty file?)", file);
    if (!options.names.empty() && !taken.insert(options.names[i]).second)
      fail("eval: --name {} is given twice", options.names[i]);
    std::string name = options.names.empty() ? row_name(records, file, taken) : options.names[i];
    results.push_back({name, file, eval::evaluate(records, resources, eval_options)});
  }

  fmt::print("{}", eval::text_summary_table(results));
  for (const auto& r : results) {
    if (r.result.parser_disagreements)
      fmt::print(stderr, "warning: {}: {} records' stored parse differs from the strict parser's verdict on their text\n",
                 r.source, r.result.parser_disagreements);
    if (!r.result.unknown_suggested.empty())
      fmt::print("{}: {} distinct suggested names have no ATC code (left out of ATC-level sets)\n", r.name,
                 r.result.unknown_suggested.size());
  }
  if (!options.out.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.out, ec);
    if (ec) fail("{}: cannot create the output folder ({})", options.out, ec.message());
    const std::filesystem::path out(options.out);
    write_file_atomic(out / "eval.json", eval::to_json(results).dump(2) + "\n");
    write_file_atomic(out / "eval.md", eval::markdown_report(results));
    fmt::print("wrote {} and {}\n", (out / "eval.json").string(), (out / "eval.md").string());
  }
}

const bool registered = register_command(
    "eval", "Metrics of prediction files (output rate, accuracy, F1, Jaccard, ATC levels, DDI rate) with CIs",
    [](CLI::App& app) {
      auto options = std::make_shared<EvalCliOptions>();
      app.add_option("--preds", options->preds, "predictions JSONL from predict/baseline (repeat for a comparison)")
          ->check(CLI::ExistingFile);
      app.add_option("--name", options->names, "row name of each --preds file, in order (default: its method)");
      app.add_option("--out", options->out, "write eval.json (overall and per sample) and eval.md here");
      app.add_option("--bootstrap", options->bootstrap, "bootstrap resamples for the 95% intervals (0 = none)")
          ->capture_default_str();
      app.add_option("--seed", options->seed, "bootstrap seed")->capture_default_str();
      app.add_option("--drug-maps", options->drug_maps, "drug-maps folder (default ../shared/data/drug-maps)");
      auto& sw = options->sweep;
      app.add_option("--sweep", options->sweep_run,
                     "evaluate every RUN/checkpoint-N (and the base): predict --data with each, table + SVG in RUN/sweep");
      app.add_option("--model", sw.model, "--sweep: the base model the run trained on");
      app.add_option("--data", sw.test, "--sweep: samples to predict (prep's test.jsonl)");
      app.add_option("--val", sw.validation, "--sweep: validation samples; adds each checkpoint's validation loss");
      app.add_flag("--constrained", sw.predict.constrained, "--sweep: constrained decoding");
      app.add_option("--drug-vocab", sw.drug_vocab, "--sweep, --constrained: names limited to prep's vocabulary");
      app.add_option("--batch", sw.predict.batch, "--sweep: sequences decoded together")->capture_default_str();
      app.add_option("--max-tokens", sw.predict.max_tokens, "--sweep: most generated tokens")->capture_default_str();
      app.add_option("--limit", sw.limit, "--sweep: first N samples of --data (0 = all)")->capture_default_str();
      app.add_option("--threads", options->threads, "--sweep: CPU threads (default: all cores)");
      app.callback([options] { run(*options); });
    });

}  // namespace
}  // namespace rxlm::cli
