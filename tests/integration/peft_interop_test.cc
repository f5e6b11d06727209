// rxlm → PEFT interoperability without Python at test time (fixtures by
// tools/reference/make_peft_interop_fixture.py in tests/fixtures/lora/interop/):
//   (a) `rxlm train` re-run with the fixture's arguments writes the committed adapter: adapter_config.json
//       byte for byte, the safetensors header (names, dtypes, shapes, offsets) byte for byte, the frozen A
//       tensors byte for byte, and B — the trained values — within 1e-5 (see docs/training.md);
//   (b) rxlm's logits with the committed adapter equal the logits PEFT computed after loading that adapter
//       with PeftModel.from_pretrained (≤ 1e-4), and differ from the base's (the adapter matters);
// and the same run's by-products: a progress line per step on stderr, every log.jsonl line with its fields,
// and RUN/loss.svg well-formed with one polyline per series and one point per step / validation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include <fmt/format.h>

#include "../support/run_cli.h"
#include "../support/xml_reader.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/io/safetensors.h"
#include "rxlm/lora/peft_adapter.h"
#include "rxlm/train/llama_train.h"

namespace rxlm::test {
namespace {

namespace fs = std::filesystem;
const fs::path root = RXLM_SOURCE_DIR;
const fs::path fixture = root / "tests/fixtures/lora/interop";

nlohmann::json interop() { return nlohmann::json::parse(read_file(fixture / "interop.json")); }

// The bytes of the JSON header of a safetensors file (length prefix included).
std::string safetensors_header(const std::string& bytes) {
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  return bytes.substr(0, 8 + n);
}

struct TrainedRun {
  fs::path dir;
  CliResult result;
  TrainedRun() {
    dir = fs::temp_directory_path() / ("rxlm_peft_interop_" + std::to_string(getpid()));
    fs::remove_all(dir);
    std::string args;
    const nlohmann::json fixture_settings = interop();
    for (const auto& a : fixture_settings["rxlm_train_args"]) {
      const std::string word = a.get<std::string>();
      args += " " + (word == "RUN" ? (dir / "run").string() : word);
    }
    // From the repository root with one thread, as the fixture script ran it (relative paths end up in
    // adapter_config.json; one thread fixes the summation order).
    const fs::path cwd = fs::current_path();
    fs::current_path(root);
    setenv("OMP_NUM_THREADS", "1", 1);
    result = run_cli(args.substr(1));
    fs::current_path(cwd);
  }
  ~TrainedRun() { fs::remove_all(dir); }
};

TrainedRun& run() {
  static TrainedRun r;
  return r;
}

TEST(PeftInterop, RxlmStillWritesTheCommittedAdapter) {
  ASSERT_EQ(run().result.exit_code, 0) << run().result.out << run().result.err;
  const fs::path got = run().dir / "run" / "adapter", want = fixture / "adapter";
  EXPECT_EQ(read_file(got / "adapter_config.json"), read_file(want / "adapter_config.json"));
  const std::string got_bytes = read_file(got / "adapter_model.safetensors");
  const std::string want_bytes = read_file(want / "adapter_model.safetensors");
  ASSERT_EQ(safetensors_header(got_bytes), safetensors_header(want_bytes));
  ASSERT_EQ(got_bytes.size(), want_bytes.size());

  const auto got_file = SafetensorsFile::open(got / "adapter_model.safetensors");
  const auto want_file = SafetensorsFile::open(want / "adapter_model.safetensors");
  int a_tensors = 0, b_tensors = 0;
  double worst_b = 0, largest_b = 0;
  for (const TensorView& w : want_file->tensors()) {
    const std::string& name = w.name;
    const TensorView* g = got_file->find(name);
    ASSERT_NE(g, nullptr) << name;
    const float* wv = reinterpret_cast<const float*>(w.data);
    const float* gv = reinterpret_cast<const float*>(g->data);
    if (name.find("lora_A") != std::string::npos) {  // frozen: the seeded initialisation, exactly
      EXPECT_EQ(std::memcmp(g->data, w.data, w.nbytes), 0) << name;
      ++a_tensors;
    } else {
      for (int64_t i = 0; i < w.numel(); ++i) {
        worst_b = std::max(worst_b, std::abs(double(gv[i]) - wv[i]));
        largest_b = std::max(largest_b, std::abs(double(wv[i])));
      }
      ++b_tensors;
    }
  }
  EXPECT_EQ(a_tensors, 4);  // 2 layers × q, v
  EXPECT_EQ(b_tensors, 4);
  EXPECT_GT(largest_b, 1e-3) << "B must have moved away from PEFT's zero init for the fixture to mean much";
  // Rounding-order changes move B by ~1e-7..1e-6; a change in what training does (init, scale, loss, update)
  // moves it by far more than 1e-5.
  EXPECT_LE(worst_b, 1e-5 * std::max(1.0, largest_b)) << "trained B drifted from the committed fixture";
  std::printf("re-trained adapter: %s; max |ΔB| %.2e (largest |B| %.3f)\n",
              got_bytes == want_bytes ? "byte-identical to the fixture" : "header and A identical, B within rounding",
              worst_b, largest_b);
}

TEST(PeftInterop, RxlmLogitsWithTheAdapterEqualPeftsLogits) {
  const Checkpoint checkpoint = load_checkpoint(root / "tests/fixtures/tiny_llama/f32");
  const LoraWeights lora = load_peft_adapter(fixture / "adapter", checkpoint.config);
  EXPECT_EQ(lora.config.rank, 8);
  const std::vector<int32_t> ids = interop()["input_ids"].get<std::vector<int32_t>>();
  const std::vector<TrainSequence> batch = {{ids, std::vector<int32_t>(ids.size(), -100)}};
  LoraWeights copy = lora;
  LlamaLoraTrainer trainer(checkpoint, copy);
  const std::vector<float> logits = trainer.logits(batch);

  const auto ref = SafetensorsFile::open(fixture / "logits.safetensors");
  const TensorView* want = ref->find("logits");
  const TensorView* base = ref->find("base_logits");
  ASSERT_NE(want, nullptr);
  ASSERT_NE(base, nullptr);
  ASSERT_EQ(want->numel(), static_cast<int64_t>(logits.size()));
  const float* w = reinterpret_cast<const float*>(want->data);
  const float* b = reinterpret_cast<const float*>(base->data);
  double diff = 0, change = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    diff = std::max(diff, std::abs(double(logits[i]) - w[i]));
    change = std::max(change, std::abs(double(w[i]) - b[i]));
  }
  EXPECT_LE(diff, 1e-4);
  EXPECT_GT(change, 1e-2) << "the adapter must change PEFT's logits, or the comparison proves nothing";
  std::printf("rxlm-written adapter in PEFT: max |rxlm − PEFT logit| %.2e (the adapter moves logits by up to %.3f)\n",
              diff, change);
}

TEST(PeftInterop, TheRunLogsEveryStepAndDrawsItsLossCurve) {
  ASSERT_EQ(run().result.exit_code, 0) << run().result.err;
  const fs::path dir = run().dir / "run";
  // 8 samples, batch 2, 3 epochs = 12 steps; validation before training and after each epoch.
  int steps = 0, validations = 0;
  double last_val = 0;
  std::ifstream log(dir / "log.jsonl");
  for (std::string line; std::getline(log, line);) {
    const auto j = nlohmann::json::parse(line);
    ASSERT_TRUE(j.contains("step") && j.contains("epoch")) << line;
    if (j.contains("val_loss")) {
      EXPECT_TRUE(j["val_loss"].is_number()) << line;
      last_val = j["val_loss"].get<double>();
      ++validations;
      continue;
    }
    for (const char* key : {"loss", "lr", "tokens", "seconds", "tokens_per_s"})
      EXPECT_TRUE(j.contains(key) && j[key].is_number()) << key << " missing in " << line;
    EXPECT_EQ(j["step"], ++steps);
    EXPECT_GT(j["tokens_per_s"].get<double>(), 0);
    EXPECT_EQ(j["lr"].get<double>(), 1.0);  // from train.toml
  }
  EXPECT_EQ(steps, 12);
  EXPECT_EQ(validations, 4);

  // stderr is not a terminal here: one plain progress line per step, no redraws, and a last line with the
  // validation that followed the last step.
  const std::string& err = run().result.err;
  EXPECT_EQ(err.find('\r'), std::string::npos);
  std::vector<std::string> progress;
  std::istringstream err_lines(err);
  for (std::string line; std::getline(err_lines, line);)
    if (line.rfind("train ", 0) == 0) progress.push_back(line);
  ASSERT_EQ(progress.size(), 13u) << err;
  for (int i = 0; i < 12; ++i)
    EXPECT_THAT(progress[i], ::testing::StartsWith("train " + std::to_string(i + 1) + "/12 · epoch " +
                                                   std::to_string(i / 4) + " · loss "));
  EXPECT_THAT(progress[12], ::testing::StartsWith("train 12/12 · epoch 2 · loss "));
  EXPECT_THAT(progress[12], ::testing::HasSubstr(fmt::format(" · val {:.4f} · ", last_val)));
  EXPECT_THAT(progress[10], ::testing::HasSubstr(" tokens/s · ETA "));  // step 11 of 12; at the end: elapsed
  EXPECT_THAT(run().result.out, ::testing::HasSubstr("done: step 12/12 epoch 2"));

  const auto svg = XmlReader(read_file(dir / "loss.svg")).document();
  const auto polylines = all(*svg, "polyline");
  ASSERT_EQ(polylines.size(), 3u);  // train loss, smoothed, validation
  auto count = [](const Element* e) {
    std::istringstream in(e->attributes.at("points"));
    size_t n = 0;
    for (std::string pair; in >> pair;) ++n;
    return n;
  };
  EXPECT_EQ(count(polylines[0]), 12u);
  EXPECT_EQ(count(polylines[1]), 12u);
  EXPECT_EQ(count(polylines[2]), 4u);
  std::vector<std::string> texts;
  for (const Element* t : all(*svg, "text")) texts.push_back(t->text);
  for (const char* want : {"step", "cross-entropy loss (nats/token)", "train loss", "train loss (smoothed)",
                           "validation loss"})
    EXPECT_NE(std::find(texts.begin(), texts.end(), want), texts.end()) << want;
}

}  // namespace
}  // namespace rxlm::test
