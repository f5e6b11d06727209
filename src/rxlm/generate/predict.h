// Prediction over clinical samples (the library behind `rxlm predict`, the demo and checkpoint sweeps):
// each sample's prompt rendered exactly as training rendered it (system + user + generation prompt),
// prefilled alone, then decoded together with up to `batch` other sequences (one weight pass per step),
// free-running or constrained to the answer format; one eval::PredictionRecord per sample.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "rxlm/clinical/sample_file.h"
#include "rxlm/eval/prediction_record.h"
#include "rxlm/generate/drug_trie.h"
#include "rxlm/generate/sampler.h"
#include "rxlm/model/llama.h"
#include "rxlm/tokenizer/tokenizer.h"

namespace rxlm {

struct PredictOptions {
  int64_t max_tokens = 256;  // free-running: hard cap; constrained: the budget after which the answer closes
  int64_t batch = 1;         // sequences decoded together
  SamplerConfig sampler;     // greedy by default; a sample's seed is sampler.seed mixed with its sample_id
  bool constrained = false;
  const DrugTrie* vocabulary = nullptr;  // constrained names limited to these (null: any well-formed name)
  int64_t max_drugs = 0;                 // constrained: 0 = no limit
  std::string method = "model";          // the records' method: "model" or "model+adapter"
  bool progress = true;                  // ProgressBar on stderr
};

struct PredictSummary {
  int64_t predicted = 0;         // records written by this call
  int64_t skipped = 0;           // already in the output (resume)
  int64_t parsed = 0;            // of the predicted, accepted by the strict parser
  int64_t generated_tokens = 0;  // over the predicted
  double seconds = 0;            // wall time of this call
};

// The prompt tokens of a sample: render_chat(tokenizer, [system, user], add_generation_prompt=true),
// encoded with special tokens parsed and no extra BOS, as train/chat_samples.h renders the prompt part.
std::vector<int32_t> prompt_tokens(const Tokenizer& tokenizer, const clinical::ClinicalSample& sample);

// Predicts every sample whose id is not yet in `writer` (resume), appending a record per sample as it
// finishes (completion order, not file order). The model's adapter, if any, is used as set.
PredictSummary predict_samples(LlamaModel& model, const Tokenizer& tokenizer,
                               const std::vector<clinical::ClinicalSample>& samples, const PredictOptions& options,
                               eval::PredictionWriter& writer);

}  // namespace rxlm
