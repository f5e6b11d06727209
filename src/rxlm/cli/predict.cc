// `rxlm predict`: one prediction record per test sample (eval/prediction_record.h), batched, resumable,
// free-running or constrained to the answer format.
#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "rxlm/cli/command.h"
#include "rxlm/clinical/sample_file.h"
#include "rxlm/core/error.h"
#include "rxlm/core/threads.h"
#include "rxlm/generate/predict.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/lora/peft_adapter.h"
#include "rxlm/model/llama.h"
#include "rxlm/tokenizer/chat_template.h"
#include "rxlm/tokenizer/tokenizer.h"

namespace rxlm::cli {
namespace {

struct PredictArgs {
  std::string model, tokenizer, adapter, data, out, drug_vocab, chat_format;
  PredictOptions options;
  int64_t limit = 0;
  int threads = 0;
  bool fresh = false, quiet = false;
};

void run_predict(PredictArgs& args) {
  namespace fs = std::filesystem;
  set_num_threads(args.threads);
  if (!args.drug_vocab.empty() && !args.options.constrained) fail("--drug-vocab needs --constrained");
  if (args.options.max_drugs > 0 && !args.options.constrained) fail("--max-drugs needs --constrained");
  if (!args.adapter.empty() && !fs::is_directory(args.adapter))
    fail("--adapter {}: not a directory (expected a PEFT adapter directory with adapter_config.json and "
         "adapter_model.safetensors, e.g. RUN/adapter from rxlm train)", args.adapter);
  std::vector<clinical::ClinicalSample> samples = clinical::read_samples(args.data);
  if (args.limit > 0 && static_cast<int64_t>(samples.size()) > args.limit) samples.resize(static_cast<size_t>(args.limit));

  const Checkpoint checkpoint = load_checkpoint(args.model);
  std::unique_ptr<Tokenizer> tokenizer =
      args.tokenizer.empty() ? load_tokenizer(checkpoint) : load_tokenizer(args.tokenizer);
  if (!args.chat_format.empty()) tokenizer->set_chat_format(parse_chat_format(args.chat_format));
  if (tokenizer->vocab_size() > checkpoint.config.vocab_size)
    fail("tokenizer {} has {} tokens but the model {} has only {} embeddings: wrong tokenizer for this model?",
         args.tokenizer.empty() ? args.model : args.tokenizer, tokenizer->vocab_size(), args.model,
         checkpoint.config.vocab_size);
  LlamaModel model(checkpoint);
  std::optional<LoraWeights> adapter;
  if (!args.adapter.empty()) {
    try {
      adapter = load_peft_adapter(args.adapter, checkpoint.config);
      model.set_adapter(&*adapter);
    } catch (const Error& e) {
      fail("--adapter {} does not fit the model {}: {}", args.adapter, args.model, e.what());
    }
  }
  std::optional<DrugTrie> vocabulary;
  if (!args.drug_vocab.empty()) {
    vocabulary.emplace(read_drug_vocabulary(args.drug_vocab), args.drug_vocab);
    args.options.vocabulary = &*vocabulary;
  }
  args.options.method = adapter ? "model+adapter" : "model";
  args.options.progress = !args.quiet;

  eval::PredictionWriter writer(args.out, /*resume=*/!args.fresh);
  const PredictSummary s = predict_samples(model, *tokenizer, samples, args.options, writer);
  fmt::print("{}: {} predicted ({} already there), {} parsed ({:.1f}%), {} tokens in {:.1f} s ({:.2f} s/sample)\n",
             args.out, s.predicted, s.skipped, s.parsed, s.predicted ? 100.0 * s.parsed / s.predicted : 0.0,
             s.generated_tokens, s.seconds, s.predicted ? s.seconds / s.predicted : 0.0);
}

const bool registered = register_command(
    "predict", "Predict the drug list of every test sample (records for rxlm eval)", [](CLI::App& app) {
      auto args = std::make_shared<PredictArgs>();
      app.add_option("--model", args->model, "Checkpoint: Hugging Face directory, .gguf or llama2.c .bin")->required();
      app.add_option("--tokenizer", args->tokenizer, "Tokenizer file (default: the one the checkpoint carries)");
      app.add_option("--chat-format", args->chat_format, "Override the chat format (as given to rxlm train): llama3 | chatml");
      app.add_option("--adapter", args->adapter, "PEFT LoRA adapter directory (e.g. RUN/adapter), applied unmerged");
      app.add_option("--data", args->data, "Samples: rxlm prep's JSONL (e.g. test.jsonl)")->required();
      app.add_option("--out", args->out, "Predictions JSONL; samples already in it are skipped (resume)")->required();
      app.add_flag("--fresh", args->fresh, "Overwrite --out instead of resuming");
      app.add_flag("--constrained", args->options.constrained,
                   "Only tokens that keep the answer well-formed (\"Drugs:\\n- name\\n...\"); the answer always parses");
      app.add_option("--drug-vocab", args->drug_vocab,
                     "With --constrained: every name must be an entry of this drug_vocabulary.tsv (rxlm prep)");
      app.add_option("--max-drugs", args->options.max_drugs, "With --constrained: most drugs per answer (0 = no limit)")
          ->capture_default_str();
      app.add_option("--max-tokens", args->options.max_tokens,
                     "Most generated tokens (constrained: the answer is closed cleanly after this many)")
          ->capture_default_str();
      app.add_option("--batch", args->options.batch, "Sequences decoded together (one weight pass per step)")
          ->capture_default_str();
      app.add_option("--temperature", args->options.sampler.temperature, "0 = greedy")->capture_default_str();
      app.add_option("--top-p", args->options.sampler.top_p, "Nucleus sampling mass (1 = off)")->capture_default_str();
      app.add_option("--top-k", args->options.sampler.top_k, "Keep the k most likely tokens (0 = off)")->capture_default_str();
      app.add_option("--seed", args->options.sampler.seed, "RNG seed (mixed with each sample_id)")->capture_default_str();
      app.add_option("--threads", args->threads, "CPU threads (default: all cores)");
      app.add_option("--limit", args->limit, "Only the first N samples of --data (0 = all)")->capture_default_str();
      app.add_flag("--quiet", args->quiet, "No progress bar");
      app.callback([args] { run_predict(*args); });
    });

}  // namespace
}  // namespace rxlm::cli
