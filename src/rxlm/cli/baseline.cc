// `rxlm baseline`: non-LLM baselines (most-frequent, co-occurrence, kNN) writing prediction records in the
// same format as `rxlm predict`, on a train/test split or by cross-validation over prep's folds.
#include <fmt/format.h>

#include "rxlm/cli/command.h"
#include "rxlm/core/error.h"
#include "rxlm/eval/baselines.h"
#include "rxlm/io/jsonl.h"

namespace {

struct BaselineCliOptions {
  std::string method, train, test, validation, folds_dir, out;
  int k = 10, list_length = -1, max_list_length = 40;  // list_length -1: not given
};

const bool registered = rxlm::cli::register_command(
    "baseline", "Non-LLM baselines (most-frequent, cooccurrence, knn) → prediction records", [](CLI::App& app) {
      auto options = std::make_shared<BaselineCliOptions>();
      app.add_option("--method", options->method, "most-frequent, cooccurrence or knn")->required();
      auto* train = app.add_option("--train", options->train, "training samples (JSONL from rxlm prep)");
      auto* test = app.add_option("--test", options->test, "samples to predict");
      app.add_option("--validation", options->validation, "samples to tune the list length on");
      auto* folds = app.add_option(
          "--folds-dir", options->folds_dir,
          "cross-validation over fold_<i>.jsonl (rxlm prep --folds K) instead of --train/--test");
      folds->excludes(train)->excludes(test);
      app.add_option("--out", options->out, "prediction records (JSONL)")->required();
      app.add_option("--k", options->k, "knn: number of neighbours")->capture_default_str();
      app.add_option("--list-length", options->list_length,
                     "suggest this many drugs (default: tuned, see docs/baselines.md)");
      app.add_option("--max-list-length", options->max_list_length, "tuning grid: 1..this")->capture_default_str();
      app.callback([options] {
        using namespace rxlm::eval;
        BaselineOptions run_options;
        run_options.method = baseline_method_from_name(options->method);
        run_options.k = options->k;
        run_options.max_list_length = options->max_list_length;
        if (options->list_length != -1) run_options.list_length = options->list_length;
        BaselineRun run;
        if (!options->folds_dir.empty()) {
          if (!options->validation.empty())
            rxlm::fail("baseline: --validation does not apply to --folds-dir (the list length is tuned inside the "
                       "training folds)");
          run = run_baseline_cv(read_folds(options->folds_dir), run_options);
        } else {
          if (options->train.empty() || options->test.empty())
            rxlm::fail("baseline: give --train and --test, or --folds-dir");
          const SampleSplit train = read_split(options->train), test = read_split(options->test);
          if (options->validation.empty()) {
            run = run_baseline(train, test, run_options);
          } else {
            const SampleSplit validation = read_split(options->validation);
            run = run_baseline(train, test, run_options, &validation);
          }
        }
        for (const auto& choice : run.list_lengths) fmt::print("list length {}: {}\n", choice.n, choice.reason);
        rxlm::AtomicFile out(options->out);
        for (const auto& record : run.predictions) out.write_json_line(to_json(record));
        out.commit();
        fmt::print("baseline:{}: {} predictions written to {}\n", baseline_method_name(run_options.method),
                   run.predictions.size(), options->out);
      });
    });

}  // namespace
