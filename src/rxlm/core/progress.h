// Progress for long jobs (train, predict, judge): a one-line bar redrawn in place on a terminal
// ("label [#####-----] 12/100 · detail · ETA 3m05s"), plain lines when stderr is a file or pipe, so
// logs stay readable. ETA comes from the average time per unit so far.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace rxlm {

class ProgressBar {
 public:
  // `plain_every_seconds`: in plain mode, at most one line per this many seconds (0: every update);
  // the last update is always printed by finish().
  ProgressBar(std::string label, int64_t total, std::FILE* out = stderr, double plain_every_seconds = 0);
  ~ProgressBar();  // finishes the line if finish() was not called
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // `done` of `total` units finished; `detail` is shown after the count (e.g. "loss 1.234 · 95 tok/s").
  // `start_offset`: units already done before this process started (resumed runs), excluded from the ETA rate.
  void update(int64_t done, std::string_view detail = {});
  void set_start_offset(int64_t units) { offset_ = units; }
  void finish(std::string_view detail = {});

  bool interactive() const { return interactive_; }
  static std::string format_duration(double seconds);  // "45s", "3m05s", "2h04m"

 private:
  std::string line(int64_t done, std::string_view detail, bool with_bar = true) const;

  std::string label_;
  int64_t total_, offset_ = 0, last_done_ = 0;
  std::string last_detail_;
  std::FILE* out_;
  bool interactive_, finished_ = false;
  double plain_every_;
  std::chrono::steady_clock::time_point start_, last_print_;
  bool printed_once_ = false;
  bool last_update_printed_ = false;  // plain mode: finish() need not repeat the line just printed
};

}  // namespace rxlm
