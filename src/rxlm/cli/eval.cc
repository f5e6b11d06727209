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
#include "rxlm/eval/eval_report.h"
#include "rxlm/io/jsonl.h"

namespace rxlm::cli {
namespace {

struct EvalCliOptions {
  std::vector<std::string> preds, names;
  std::string out, drug_maps;
  int bootstrap = 1000;
  uint64_t seed = 0;
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

void run(const EvalCliOptions& options) {
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
          ->required()
          ->check(CLI::ExistingFile);
      app.add_option("--name", options->names, "row name of each --preds file, in order (default: its method)");
      app.add_option("--out", options->out, "write eval.json (overall and per sample) and eval.md here");
      app.add_option("--bootstrap", options->bootstrap, "bootstrap resamples for the 95% intervals (0 = none)")
          ->capture_default_str();
      app.add_option("--seed", options->seed, "bootstrap seed")->capture_default_str();
      app.add_option("--drug-maps", options->drug_maps, "drug-maps folder (default ../shared/data/drug-maps)");
      app.callback([options] { run(*options); });
    });

}  // namespace
}  // namespace rxlm::cli
