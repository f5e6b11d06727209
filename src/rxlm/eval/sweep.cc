#include "rxlm/eval/sweep.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "rxlm/clinical/sample_file.h"
#include "rxlm/core/error.h"
#include "rxlm/eval/eval_report.h"
#include "rxlm/generate/drug_trie.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/io/jsonl.h"
#include "rxlm/lora/peft_adapter.h"
#include "rxlm/model/llama.h"
#include "rxlm/report/svg_chart.h"
#include "rxlm/tokenizer/tokenizer.h"
#include "rxlm/train/chat_samples.h"
#include "rxlm/train/llama_train.h"
#include "rxlm/train/trainer.h"

namespace rxlm::eval {
namespace {
namespace fs = std::filesystem;

struct Point {
  int64_t step = 0;
  fs::path adapter;  // empty: the base model
};

// checkpoint-N directories holding an adapter, by N.
std::vector<Point> find_checkpoints(const fs::path& run_dir) {
  if (!fs::is_directory(run_dir)) fail("{}: not a directory (expected a run folder from `rxlm train --out`)", run_dir.string());
  std::vector<Point> points;
  for (const auto& entry : fs::directory_iterator(run_dir)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.rfind("checkpoint-", 0) != 0) continue;
    const std::string digits = name.substr(11);
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) continue;  // e.g. checkpoint-7.tmp
    if (!fs::exists(entry.path() / "adapter" / "adapter_config.json")) continue;
    points.push_back({std::stoll(digits), entry.path() / "adapter"});
  }
  std::sort(points.begin(), points.end(), [](const Point& a, const Point& b) { return a.step < b.step; });
  if (points.empty())
    fail("{}: no checkpoint-N/adapter here; train with --save-steps N to keep checkpoints to sweep", run_dir.string());
  return points;
}

int64_t adapter_rank(const fs::path& adapter) {
  std::ifstream in(adapter / "adapter_config.json");
  try {
    return nlohmann::json::parse(in).at("r").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    fail("{}: no rank \"r\" ({})", (adapter / "adapter_config.json").string(), e.what());
  }
}

std::string format_metric(const OverallMetric& m) {
  if (!std::isfinite(m.value)) return "n/a";
  return m.share ? fmt::format("{:.1f}", 100 * m.value) : fmt::format("{:.2f}", m.value);
}

}  // namespace

std::string run_sweep(const SweepOptions& o) {
  std::vector<Point> points = find_checkpoints(o.run_dir);
  if (o.include_base) points.insert(points.begin(), Point{0, {}});
  const fs::path out_dir = o.out_dir.empty() ? o.run_dir / "sweep" : o.out_dir;
  fs::create_directories(out_dir);

  const Checkpoint checkpoint = load_checkpoint(o.model);
  const std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(checkpoint);
  std::vector<clinical::ClinicalSample> samples = clinical::read_samples(o.test);
  if (o.limit > 0 && std::ssize(samples) > o.limit) samples.resize(static_cast<size_t>(o.limit));
  std::vector<TrainSequence> validation;
  if (!o.validation.empty()) validation = load_chat_jsonl(o.validation, *tokenizer, 1 << 20).sequences;
  std::optional<DrugTrie> vocabulary;
  PredictOptions predict = o.predict;
  if (!o.drug_vocab.empty()) {
    vocabulary.emplace(read_drug_vocabulary(o.drug_vocab), o.drug_vocab.string());
    predict.vocabulary = &*vocabulary;
  }
  EvalOptions eval_options;
  eval_options.drug_maps = o.drug_maps;
  eval_options.bootstrap.resamples = o.bootstrap;
  const EvalResources resources = EvalResources::load(o.drug_maps);

  struct Row {
    int64_t step, rank;
    double val_loss;
    NamedResult result;
  };
  std::vector<Row> rows;
  // One trainer serves every validation loss (building one converts the base weights to f32): each
  // point's adapter is copied into *val_weights; the base is the first checkpoint's adapter with B = 0.
  std::unique_ptr<LoraWeights> val_weights;
  std::unique_ptr<LlamaLoraTrainer> val_trainer;
  auto base_weights = [&] {
    for (const Point& p : points)
      if (!p.adapter.empty()) {
        LoraWeights w = load_peft_adapter(p.adapter, checkpoint.config);
        for (LoraAdapter& a : w.adapters) std::fill(a.b.begin(), a.b.end(), 0.f);
        return w;
      }
    return init_lora_weights(checkpoint.config, LoraConfig{}, 0);
  };
  auto same_shapes = [](const LoraWeights& x, const LoraWeights& y) {
    if (x.adapters.size() != y.adapters.size() || x.config.freeze_a != y.config.freeze_a) return false;
    for (size_t i = 0; i < x.adapters.size(); ++i)
      if (x.adapters[i].target.weight_name != y.adapters[i].target.weight_name ||
          x.adapters[i].a.size() != y.adapters[i].a.size() || x.adapters[i].b.size() != y.adapters[i].b.size())
        return false;
    return true;
  };
  for (const Point& p : points) {
    LlamaModel model(checkpoint);
    std::optional<LoraWeights> lora;
    if (!p.adapter.empty()) {
      lora = load_peft_adapter(p.adapter, checkpoint.config);
      model.set_adapter(&*lora);
    }
    double val_loss = std::nan("");
    if (!validation.empty()) {
      LoraWeights weights = lora ? *lora : base_weights();
      if (val_trainer && same_shapes(*val_weights, weights)) {
        *val_weights = std::move(weights);  // the trainer reads its LoRA tensors through this object
      } else {
        val_weights = std::make_unique<LoraWeights>(std::move(weights));
        val_trainer = std::make_unique<LlamaLoraTrainer>(checkpoint, *val_weights);
      }
      val_loss = evaluate_loss(*val_trainer, validation, 4);
    }
    const fs::path preds = out_dir / fmt::format("step-{}.jsonl", p.step);
    predict.method = lora ? "model+adapter" : "model";
    {
      PredictionWriter writer(preds, /*resume=*/true);
      predict_samples(model, *tokenizer, samples, predict, writer);
    }
    const std::string name = p.step == 0 ? "base (step 0)" : fmt::format("checkpoint-{}", p.step);
    rows.push_back({p.step, lora ? adapter_rank(p.adapter) : 0, val_loss,
                    NamedResult{name, preds.string(), evaluate(read_predictions(preds), resources, eval_options)}});
    fmt::print("{}: {}{}\n", name, preds.string(),
               std::isfinite(val_loss) ? fmt::format(", validation loss {:.4f}", val_loss) : "");
  }

  // The paper's table, then the measures it lacked.
  const std::vector<std::pair<std::string, std::string>> columns = {
      {"Output rate %", "output_rate"}, {"Accuracy % (parsed)", "accuracy_parsed"}, {"Accuracy % (all)", "accuracy_all"},
      {"F1 % (all)", "f1_all"},         {"Jaccard % (all)", "jaccard_all"},        {"ATC-3 Jaccard % (all)", "atc3_jaccard_all"},
      {"DDI rate %", "ddi_rate"}};
  std::string md = fmt::format("# Checkpoint sweep: {}\n\nTest samples: {} ({}), {} decoding.\n\n| Rank | Steps | Val loss |",
                               o.run_dir.string(), samples.size(), o.test.string(),
                               predict.constrained ? "constrained" : "free-running");
  for (const auto& c : columns) md += " " + c.first + " |";
  md += "\n|---:|---:|---:|";
  for (size_t i = 0; i < columns.size(); ++i) md += "---:|";
  md += "\n";
  nlohmann::ordered_json json = nlohmann::ordered_json::array();
  for (const Row& r : rows) {
    md += fmt::format("| {} | {} | {} |", r.rank ? std::to_string(r.rank) : "—", r.step,
                      std::isfinite(r.val_loss) ? fmt::format("{:.4f}", r.val_loss) : "—");
    nlohmann::ordered_json j{{"step", r.step}, {"rank", r.rank}, {"predictions", r.result.source}};
    j["validation_loss"] = std::isfinite(r.val_loss) ? nlohmann::ordered_json(r.val_loss) : nlohmann::ordered_json();
    for (const auto& c : columns) {
      const OverallMetric& m = r.result.result.metric(c.second);
      md += " " + format_metric(m) + " |";
      j[c.second] = std::isfinite(m.value) ? nlohmann::ordered_json(m.value) : nlohmann::ordered_json();
    }
    md += "\n";
    json.push_back(j);
  }
  md += "\nDefinitions: docs/evaluation.md; 95% intervals per checkpoint in sweep.json's eval section.\n";
  std::vector<NamedResult> named;
  for (const Row& r : rows) named.push_back(r.result);
  nlohmann::ordered_json doc{{"format", "rxlm-sweep/1"}, {"run", o.run_dir.string()}, {"rows", json}};
  doc["eval"] = to_json(named, /*per_sample=*/false);
  write_file_atomic(out_dir / "sweep.json", doc.dump(2) + "\n");
  write_file_atomic(out_dir / "sweep.md", md);

  LineChart chart;
  chart.title = "Test metrics by training step";
  chart.x_label = "step";
  chart.y_label = "%";
  for (const auto& c : columns) {
    if (c.second == "ddi_rate" || c.second == "accuracy_parsed") continue;
    ChartSeries series;
    series.name = c.first;
    series.markers = true;
    for (const Row& r : rows) {
      const double v = r.result.result.metric(c.second).value;
      if (std::isfinite(v)) series.points.emplace_back(static_cast<double>(r.step), 100 * v);
    }
    chart.series.push_back(std::move(series));
  }
  write_svg(out_dir / "sweep.svg", chart);
  return md;
}

}  // namespace rxlm::eval
