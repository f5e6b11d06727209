// Inference speed of rxlm on one checkpoint: prefill of a P-token prompt and greedy decode of D tokens,
// repeated; prints one JSON object per repetition. bench/inference.py runs it alternately with llama.cpp.
//   bench_inference --model M.gguf --prompt-ids ids.txt --decode 128 --reps 5 --threads 2
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "rxlm/core/threads.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/model/llama.h"

int main(int argc, char** argv) {
  std::string model_path, ids_path;
  int64_t decode = 128, reps = 5;
  int threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--model") model_path = value;
    else if (key == "--prompt-ids") ids_path = value;
    else if (key == "--decode") decode = std::stoll(value);
    else if (key == "--reps") reps = std::stoll(value);
    else if (key == "--threads") threads = std::stoi(value);
    else { std::cerr << "unknown option " << key << "\n"; return 2; }
  }
  if (model_path.empty() || ids_path.empty()) {
    std::cerr << "usage: bench_inference --model PATH --prompt-ids FILE [--decode N] [--reps N] [--threads N]\n";
    return 2;
  }
  try {
    rxlm::set_num_threads(threads);
    std::vector<int32_t> prompt;
    std::ifstream in(ids_path);
    for (int32_t id; in >> id;) prompt.push_back(id);
    rxlm::Checkpoint checkpoint = rxlm::load_checkpoint(model_path);
    rxlm::LlamaModel model(checkpoint);
    using clock = std::chrono::steady_clock;
    for (int64_t rep = -1; rep < reps; ++rep) {  // rep -1 is the warm-up
      rxlm::KvCache cache = model.make_cache(static_cast<int64_t>(prompt.size()) + decode);
      auto t0 = clock::now();
      std::vector<float> logits = model.forward(prompt, cache);
      const double prefill = std::chrono::duration<double>(clock::now() - t0).count();
      t0 = clock::now();
      for (int64_t step = 0; step < decode; ++step) {
        const int32_t next[1] = {static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin())};
        logits = model.forward(next, cache);
      }
      const double decode_s = std::chrono::duration<double>(clock::now() - t0).count();
      if (rep >= 0)
        std::printf("{\"engine\":\"rxlm\",\"prefill_tokens\":%zu,\"prefill_s\":%.6f,\"decode_tokens\":%lld,\"decode_s\":%.6f}\n",
                    prompt.size(), prefill, static_cast<long long>(decode), decode_s);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
