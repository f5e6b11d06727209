// Evaluating every checkpoint of a training run (`rxlm eval --sweep RUN/`): for the base model (step 0) and
// each RUN/checkpoint-N/adapter, the validation loss (when validation samples are given), predictions on the
// test samples (resumable, kept in RUN/sweep/step-N.jsonl) and their metrics; the paper-style table (rank,
// steps, output rate, accuracy) plus F1, Jaccard, ATC-3 Jaccard and DDI rate, as Markdown, JSON and an SVG
// of metrics against steps.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "rxlm/generate/predict.h"

namespace rxlm::eval {

struct SweepOptions {
  std::filesystem::path run_dir;     // holds checkpoint-N/ (rxlm train --out)
  std::filesystem::path model;       // the base model the run trained on
  std::filesystem::path test;        // samples to predict (prep's test.jsonl)
  std::filesystem::path validation;  // optional: validation loss per checkpoint
  std::filesystem::path drug_maps;   // "" = <shared>/data/drug-maps
  std::filesystem::path drug_vocab;  // optional, with constrained: names limited to prep's vocabulary
  std::filesystem::path out_dir;     // default RUN/sweep
  PredictOptions predict;            // constrained, batch, max_tokens, sampler
  int64_t limit = 0;                 // first N test samples (0 = all)
  int bootstrap = 1000;
  bool include_base = true;          // a step-0 row: the base model without adapter
};

// Writes out_dir/step-N.jsonl (predictions), sweep.json, sweep.md and sweep.svg; returns the Markdown table.
std::string run_sweep(const SweepOptions& options);

}  // namespace rxlm::eval
