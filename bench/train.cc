// Training speed and memory: one FFA-LoRA step (LoRA r16 on q_proj/v_proj, A frozen, SGD) of rxlm vs PEFT on
// PyTorch (bench/train_peft.py), same GGUF model (both sides dequantise it to f32), same batch of real chat
// samples (token ids and labels written once by this program), same thread count. Each side runs in its own
// child process, rounds alternating; the first step of each round is warm-up. Prints a Markdown table:
// tokens/s (median, min–max over all timed steps), CPU seconds per step, MFU against the sgemm peak
// measured in the same run, peak RSS, and both sides' first-step loss (they must agree: same data).
//   bench_train --model SmolLM2.gguf --data train.jsonl [--batch 4] [--length 512] [--steps 6] [--rounds 2]
//               [--threads 2] [--peft bench/train_peft.py] [--python python3]
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support.h"
#include "rxlm/core/threads.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/lora/lora_weights.h"
#include "rxlm/tokenizer/tokenizer.h"
#include "rxlm/train/chat_samples.h"
#include "rxlm/train/llama_train.h"

namespace {
using namespace bench;

struct Options {
  std::string model, data, batch_file, child, peft = "bench/train_peft.py", python = "python3";
  int batch = 4, length = 512, steps = 6, rounds = 2, threads = 2;
};

// The first `batch` samples with at least `length` tokens whose first `length` tokens include at least
// length/8 answer tokens, cut to exactly `length` (the answer's tail is lost, never the prompt), so both
// sides train on batch × length tokens with the same labels.
nlohmann::json make_batch(const Options& o) {
  const rxlm::Checkpoint checkpoint = rxlm::load_checkpoint(o.model);
  const std::unique_ptr<rxlm::Tokenizer> tokenizer = rxlm::load_tokenizer(checkpoint);
  const rxlm::ChatDataset data = rxlm::load_chat_jsonl(o.data, *tokenizer, int64_t{1} << 30);
  nlohmann::json tokens = nlohmann::json::array(), labels = nlohmann::json::array();
  int64_t scored = 0;
  for (rxlm::TrainSequence s : data.sequences) {
    if (static_cast<int>(s.tokens.size()) < o.length) continue;
    s.tokens.resize(static_cast<size_t>(o.length));
    s.labels.resize(static_cast<size_t>(o.length));
    const int64_t n = rxlm::count_scored_tokens(std::span(&s, 1));
    if (n < o.length / 8) continue;  // keep samples whose answer starts early enough to be trained on
    tokens.push_back(s.tokens);
    labels.push_back(s.labels);
    scored += n;
    if (static_cast<int>(tokens.size()) == o.batch) break;
  }
  if (static_cast<int>(tokens.size()) < o.batch)
    throw std::runtime_error(o.data + ": fewer than --batch samples have --length tokens with an answer starting early enough; change --length");
  return {{"tokens", tokens}, {"labels", labels}, {"scored", scored}};
}

// Child mode: rxlm's step, printing the same lines as train_peft.py.
int rxlm_child(const Options& o) {
  rxlm::set_num_threads(o.threads);
  const nlohmann::json batch = nlohmann::json::parse(std::ifstream(o.batch_file));
  std::vector<rxlm::TrainSequence> sequences;
  for (size_t i = 0; i < batch["tokens"].size(); ++i)
    sequences.push_back({batch["tokens"][i].get<std::vector<int32_t>>(), batch["labels"][i].get<std::vector<int32_t>>()});
  const rxlm::Checkpoint checkpoint = rxlm::load_checkpoint(o.model);
  rxlm::LoraConfig config;  // defaults: FFA-LoRA, r16, alpha 16, q_proj + v_proj
  rxlm::LoraWeights lora = rxlm::init_lora_weights(checkpoint.config, config, 0);
  rxlm::LlamaLoraTrainer trainer(checkpoint, lora);
  std::printf("rss_before %ld\n", status_bytes("VmRSS"));
  for (int step = 0; step < o.steps; ++step) {
    const double wall = now(), cpu = cpu_now();
    lora.zero_grad();
    const double loss = trainer.forward_backward(sequences);
    for (rxlm::LoraAdapter& a : lora.adapters)  // plain SGD, lr 1e-3, as torch.optim.SGD
      for (size_t k = 0; k < a.b.size(); ++k) a.b[k] -= 1e-3f * a.grad_b[k];
    std::printf("step %.6f %.6f %.6f\n", now() - wall, cpu_now() - cpu, loss);
    std::fflush(stdout);
  }
  std::printf("peak_rss %ld\n", status_bytes("VmHWM"));
  return 0;
}

struct Side {
  std::vector<double> wall, cpu;
  double first_loss = 0;
  long peak_rss = 0, rss_before = 0;
};

void parse_child(const std::string& out, Side& side, const char* name) {
  std::istringstream in(out);
  int step = 0;
  for (std::string word; in >> word;) {
    if (word == "step") {
      double wall, cpu, loss;
      in >> wall >> cpu >> loss;
      if (step == 0 && side.first_loss == 0) side.first_loss = loss;
      if (step++ > 0) side.wall.push_back(wall), side.cpu.push_back(cpu);  // step 0 of a round: warm-up
    } else if (word == "peak_rss") {
      long v;
      in >> v;
      side.peak_rss = std::max(side.peak_rss, v);
    } else if (word == "rss_before") {
      long v;
      in >> v;
      side.rss_before = std::max(side.rss_before, v);
    }
  }
  if (side.wall.empty()) throw std::runtime_error(std::string(name) + " child printed no timed step:\n" + out);
}

// Model FLOPs of one step, the same count for both sides (MFU compares them on equal terms): frozen-base
// forward and activation backward = 2 × (2 · non-embedding matrix parameters · tokens + the output head on
// every token) + causal attention (4·d per query-key pair forward, 8·d backward without recomputation).
double step_flops(const rxlm::LlamaConfig& c, int batch, int length) {
  const double tokens = double(batch) * length;
  const double per_layer = double(c.hidden_size) * (c.q_dim() + 2 * c.kv_dim()) + double(c.q_dim()) * c.hidden_size +
                           3.0 * c.hidden_size * c.intermediate_size;
  const double matrices = per_layer * c.num_hidden_layers + double(c.hidden_size) * c.vocab_size;
  const double pairs = double(length) * (length + 1) / 2 * batch;
  const double attention = 12.0 * c.head_dim * c.num_attention_heads * pairs * c.num_hidden_layers;
  return 2 * (2 * matrices * tokens) + attention;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--model") o.model = value;
    else if (key == "--data") o.data = value;
    else if (key == "--batch") o.batch = std::stoi(value);
    else if (key == "--length") o.length = std::stoi(value);
    else if (key == "--steps") o.steps = std::stoi(value);
    else if (key == "--rounds") o.rounds = std::stoi(value);
    else if (key == "--threads") o.threads = std::stoi(value);
    else if (key == "--peft") o.peft = value;
    else if (key == "--python") o.python = value;
    else if (key == "--child") o.child = value;
    else if (key == "--batch-file") o.batch_file = value;
    else { std::cerr << "unknown option " << key << "\n"; return 2; }
  }
  if (o.model.empty() || (o.child.empty() && o.data.empty())) {
    std::cerr << "usage: bench_train --model SmolLM2.gguf --data train.jsonl [--batch 4] [--length 512] [--steps 6]"
                 " [--rounds 2] [--threads 2] [--peft bench/train_peft.py] [--python python3]\n";
    return 2;
  }
  try {
    if (o.child == "rxlm") return rxlm_child(o);
    rxlm::set_num_threads(o.threads);
    const nlohmann::json batch = make_batch(o);
    const std::string batch_file = "/tmp/bench_train_batch_" + std::to_string(getpid()) + ".json";
    std::ofstream(batch_file) << batch.dump();
    const rxlm::LlamaConfig config = rxlm::load_checkpoint(o.model).config;
    const double flops = step_flops(config, o.batch, o.length);
    double peak = sgemm_peak_gflops(3);
    Side rxlm_side, peft_side;
    const std::string self = "/proc/self/exe";
    char exe[4096] = {};
    if (readlink(self.c_str(), exe, sizeof exe - 1) < 0) throw std::runtime_error("readlink /proc/self/exe failed");
    for (int round = 0; round < o.rounds; ++round) {
      parse_child(run_child({exe, "--child", "rxlm", "--model", o.model, "--batch-file", batch_file, "--steps",
                             std::to_string(o.steps), "--threads", std::to_string(o.threads)}),
                  rxlm_side, "rxlm");
      parse_child(run_child({o.python, o.peft, "--model", o.model, "--batch-file", batch_file, "--steps",
                             std::to_string(o.steps), "--threads", std::to_string(o.threads)}),
                  peft_side, "PEFT");
      peak = std::max(peak, sgemm_peak_gflops(3));
    }
    std::remove(batch_file.c_str());
    const double tokens = double(o.batch) * o.length;
    std::printf("# bench_train: %d x %d tokens (%lld scored), %d threads, %d rounds x %d timed steps per side; "
                "sgemm peak %.1f GFLOP/s; model FLOPs per step %.1f GFLOP\n",
                o.batch, o.length, static_cast<long long>(batch["scored"].get<int64_t>()), o.threads, o.rounds,
                o.steps - 1, peak, flops / 1e9);
    std::printf("| side | tokens/s median (min–max) | CPU s/step | MFU | peak RSS MB | RSS after load MB | first-step loss |\n");
    std::printf("|---|---|---|---|---|---|---|\n");
    for (auto [name, side] : {std::pair{"rxlm", &rxlm_side}, std::pair{"PEFT (PyTorch)", &peft_side}}) {
      const Stats w = stats(side->wall), c = stats(side->cpu);
      std::printf("| %s | %.1f (%.1f–%.1f) | %.2f | %.1f%% | %.0f | %.0f | %.6f |\n", name, tokens / w.median,
                  tokens / w.max, tokens / w.min, c.median, 100.0 * flops / w.median / (peak * 1e9),
                  side->peak_rss / 1048576.0, side->rss_before / 1048576.0, side->first_loss);
    }
    const double speed = stats(peft_side.wall).median / stats(rxlm_side.wall).median;
    std::printf("rxlm / PEFT: %.2fx tokens/s (by CPU seconds %.2fx), %.2fx peak RSS\n", speed,
                stats(peft_side.cpu).median / stats(rxlm_side.cpu).median,
                double(rxlm_side.peak_rss) / double(peft_side.peak_rss));
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
