// The training loop.
#include "rxlm/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <random>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "rxlm/core/error.h"
#include "rxlm/io/jsonl.h"
#include "rxlm/lora/peft_adapter.h"

namespace rxlm {

double evaluate_loss(LlamaLoraTrainer& trainer, const std::vector<TrainSequence>& data, int64_t batch_size) {
  double sum = 0;
  int64_t scored = 0;
  for (size_t start = 0; start < data.size(); start += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(data.size(), start + static_cast<size_t>(batch_size));
    int64_t n = 0;
    sum += trainer.loss_sum(std::span(data).subspan(start, end - start), &n);
    scored += n;
  }
  if (scored == 0) fail("validation data has no scored (assistant) tokens");
  return sum / static_cast<double>(scored);
}

namespace {

// What a checkpoint must agree on with the run resuming it: anything that changes the batches or the update.
nlohmann::json run_identity(const LoraWeights& lora, const TrainSettings& settings, size_t n_train) {
  return {{"seed", settings.seed},
          {"batch_size", settings.batch_size},
          {"gradient_accumulation_steps", settings.gradient_accumulation_steps},
          {"train_samples", n_train},
          {"optimizer", settings.optimizer},
          {"learning_rate", settings.learning_rate},
          {"schedule", settings.schedule},
          {"warmup_steps", settings.warmup_steps},
          {"max_grad_norm", settings.max_grad_norm},
          {"rank", lora.config.rank},
          {"lora_alpha", lora.config.alpha},
          {"freeze_a", lora.config.freeze_a},
          {"target_modules", lora.config.target_modules}};
}

// fsync one file or directory (a directory's fsync makes its entries — new names, renames — durable).
void fsync_path(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("{}: cannot open to sync ({})", path.string(), std::strerror(errno));
  const bool ok = ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) fail("{}: fsync failed ({}); is the disk full or failing?", path.string(), std::strerror(err));
}

// Every file and directory under `dir`, then `dir` itself (children before parents).
void fsync_tree(const std::filesystem::path& dir) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) fsync_path(entry.path());
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir))
    if (entry.is_directory()) fsync_path(entry.path());
  fsync_path(dir);
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open (is this an rxlm checkpoint-N directory?)", path.string());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TrainResult train_lora(const Checkpoint& checkpoint, LoraWeights& lora, const std::vector<TrainSequence>& train,
                       const std::vector<TrainSequence>& validation, const TrainSettings& settings,
                       const std::filesystem::path& run_dir, const std::function<void(const TrainStep&)>& on_step,
                       const std::function<void(int64_t step, double val_loss)>& on_validation) {
  if (train.empty()) fail("no training samples");
  if (settings.epochs < 1 || settings.batch_size < 1 || settings.gradient_accumulation_steps < 1)
    fail("epochs ({}), batch size ({}) and gradient accumulation steps ({}) must be at least 1", settings.epochs,
         settings.batch_size, settings.gradient_accumulation_steps);
  if (!(settings.learning_rate > 0)) fail("learning rate {} must be positive", settings.learning_rate);
  if (settings.optimizer != "sgd" && settings.optimizer != "adamw")
    fail("optimizer '{}': choose sgd or adamw", settings.optimizer);
  std::filesystem::create_directories(run_dir);
  LlamaLoraTrainer trainer(checkpoint, lora);
  trainer.set_activation_checkpointing(settings.checkpoint_activations);
  std::optional<AdamW> adamw;
  if (settings.optimizer == "adamw") adamw.emplace(lora, settings.adamw);
  const nlohmann::json identity = run_identity(lora, settings, train.size());

  TrainResult result;
  std::string log;
  int64_t step = 0;  // steps done
  if (!settings.resume_from.empty()) {
    const std::filesystem::path& from = settings.resume_from;
    const nlohmann::json state = nlohmann::json::parse(read_text(from / "trainer_state.json"));
    if (state.value("format", "") != "rxlm-trainer-state" || state.value("version", 0) != 1)
      fail("{}: not an rxlm trainer state (version 1)", (from / "trainer_state.json").string());
    if (state.at("run") != identity)
      fail("{}: the checkpoint was trained with {} but this run has {}; resume with the same data and settings",
           from.string(), state.at("run").dump(), identity.dump());
    step = state.at("step").get<int64_t>();
    const auto adapter = SafetensorsFile::open(from / "adapter" / "adapter_model.safetensors");
    read_lora_tensors(*adapter, lora);
    if (adamw) adamw->read_state(from / "optimizer.safetensors", lora);
    log = read_text(from / "log.jsonl");
  }
  auto save_checkpoint = [&] {
    const std::filesystem::path final_dir = run_dir / ("checkpoint-" + std::to_string(step));
    const std::filesystem::path tmp = final_dir.string() + ".tmp";
    std::filesystem::remove_all(tmp);
    save_peft_adapter(tmp / "adapter", lora, settings.base_model);
    if (adamw) adamw->write_state(tmp / "optimizer.safetensors", lora);
    write_file_atomic(tmp / "log.jsonl", log);
    const nlohmann::json state = {{"format", "rxlm-trainer-state"}, {"version", 1}, {"step", step}, {"run", identity}};
    write_file_atomic(tmp / "trainer_state.json", state.dump(2) + "\n");
    fsync_tree(tmp);  // contents durable before the name that says they are complete
    std::filesystem::remove_all(final_dir);
    std::filesystem::rename(tmp, final_dir);  // a directory rename is atomic: all of the checkpoint or none
    fsync_path(run_dir);                      // and the rename itself durable
    write_svg(run_dir / "loss.svg", loss_chart(log));
  };
  auto log_validation = [&](int64_t epoch) {
    if (validation.empty()) return;
    const double loss = evaluate_loss(trainer, validation, settings.batch_size);
    result.val_losses.push_back(loss);
    log += nlohmann::json{{"epoch", epoch}, {"step", step}, {"val_loss", loss}}.dump() + "\n";
    if (on_validation) on_validation(step, loss);
  };
  if (step == 0) log_validation(0);
  const int64_t group = settings.batch_size * settings.gradient_accumulation_steps;  // sequences per step
  const int64_t per_epoch = (static_cast<int64_t>(train.size()) + group - 1) / group;
  const int64_t all_steps = per_epoch * settings.epochs;
  const int64_t last_step = settings.max_steps > 0 ? std::min(settings.max_steps, all_steps) : all_steps;
  schedule_factor(settings.schedule, 0, settings.warmup_steps, all_steps);  // refuse an unknown name up front
  std::vector<size_t> order(train.size());
  std::vector<TrainSequence> batch;
  int64_t shuffled_epoch = -1;
  while (step < last_step) {
    const int64_t epoch = step / per_epoch, index = step % per_epoch;
    if (epoch != shuffled_epoch) {  // each epoch's order depends on seed and epoch only, so resume can redraw it
      std::iota(order.begin(), order.end(), size_t{0});
      std::mt19937_64 rng(settings.seed + static_cast<uint64_t>(epoch));
      std::shuffle(order.begin(), order.end(), rng);
      shuffled_epoch = epoch;
    }
    const auto began = std::chrono::steady_clock::now();
    batch.clear();
    const size_t start = static_cast<size_t>(index * group);
    for (size_t i = start; i < std::min(order.size(), start + static_cast<size_t>(group)); ++i)
      batch.push_back(train[order[i]]);
    // One optimiser step: micro-batches of batch_size, gradients summed, normalised by the scored tokens
    // of the whole group (the mean loss of one batch of batch_size × accumulation sequences).
    const int64_t scored = count_scored_tokens(batch);
    if (scored == 0) fail("training step {}: every label of its samples is masked (-100)", step + 1);
    lora.zero_grad();
    TrainStep done;
    double loss_sum = 0;
    for (size_t m = 0; m < batch.size(); m += static_cast<size_t>(settings.batch_size)) {
      const size_t count = std::min(batch.size() - m, static_cast<size_t>(settings.batch_size));
      loss_sum += trainer.forward_backward_sum(std::span(batch).subspan(m, count), 1.0 / static_cast<double>(scored));
    }
    done.loss = loss_sum / static_cast<double>(scored);
    if (settings.max_grad_norm > 0) done.grad_norm = clip_grad_norm(lora, settings.max_grad_norm);
    done.learning_rate =
        settings.learning_rate * schedule_factor(settings.schedule, step, settings.warmup_steps, all_steps);
    if (adamw)
      adamw->step(lora, done.learning_rate);
    else
      sgd_step(lora, done.learning_rate);
    done.step = ++step;
    done.epoch = epoch;
    for (const TrainSequence& seq : batch) done.tokens += static_cast<int64_t>(seq.tokens.size());
    done.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    result.steps.push_back(done);
    nlohmann::json line = {{"epoch", epoch},       {"step", done.step},       {"loss", done.loss},
                           {"lr", done.learning_rate}, {"tokens", done.tokens}, {"seconds", done.seconds},
                           {"tokens_per_s", done.seconds > 0 ? static_cast<double>(done.tokens) / done.seconds : 0.0}};
    if (settings.max_grad_norm > 0) line["grad_norm"] = done.grad_norm;
    log += line.dump() + "\n";
    if (on_step) on_step(done);
    // After each epoch, and at the end of a run that max_steps stops inside an epoch.
    if (index == per_epoch - 1 || step == last_step) log_validation(epoch + 1);
    if (step == last_step || (settings.save_steps > 0 && step % settings.save_steps == 0)) save_checkpoint();
  }
  save_peft_adapter(run_dir / "adapter", lora, settings.base_model);
  fsync_tree(run_dir / "adapter");
  write_file_atomic(run_dir / "log.jsonl", log);
  write_svg(run_dir / "loss.svg", loss_chart(log));
  fsync_path(run_dir);
  return result;
}

LineChart loss_chart(std::string_view log_jsonl, const std::string& title) {
  std::vector<double> steps, losses;
  ChartSeries val{"validation loss", {}, "#d62728", 2, 1, true};
  size_t start = 0;
  while (start < log_jsonl.size()) {
    const size_t end = std::min(log_jsonl.find('\n', start), log_jsonl.size());
    const std::string_view text = log_jsonl.substr(start, end - start);
    start = end + 1;
    if (text.empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(text);
    if (j.contains("loss")) {
      steps.push_back(j.at("step").get<double>());
      losses.push_back(j.at("loss").get<double>());
    } else if (j.contains("val_loss")) {
      val.points.emplace_back(j.at("step").get<double>(), j.at("val_loss").get<double>());
    }
  }
  ChartSeries raw{"train loss", {}, "#1f77b4", 1, 0.35, false};
  ChartSeries smooth{"train loss (smoothed)", {}, "#1f77b4", 2, 1, false};
  const std::vector<double> smoothed = smooth_ema(losses, kLossSmoothing);
  for (size_t i = 0; i < steps.size(); ++i) {
    raw.points.emplace_back(steps[i], losses[i]);
    smooth.points.emplace_back(steps[i], smoothed[i]);
  }
  LineChart chart;
  chart.title = title;
  chart.x_label = "step";
  chart.y_label = "cross-entropy loss (nats/token)";
  chart.series = {std::move(raw), std::move(smooth)};
  if (!val.points.empty()) chart.series.push_back(std::move(val));
  return chart;
}

std::map<int64_t, double> read_step_losses(const std::filesystem::path& log_path) {
  const std::string text = read_text(log_path);
  std::map<int64_t, double> out;
  size_t start = 0, number = 1;
  while (start < text.size()) {
    const size_t end = std::min(text.find('\n', start), text.size());
    try {
      const nlohmann::json j = nlohmann::json::parse(text.substr(start, end - start));
      if (j.contains("loss")) out[j.at("step").get<int64_t>()] = j.at("loss").get<double>();
    } catch (const nlohmann::json::exception& e) {
      fail("{}:{}: not a log line: {}", log_path.string(), number, e.what());
    }
    start = end + 1;
    ++number;
  }
  return out;
}

}  // namespace rxlm
