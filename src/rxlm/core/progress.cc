#include "rxlm/core/progress.h"

#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

namespace rxlm {

ProgressBar::ProgressBar(std::string label, int64_t total, std::FILE* out, double plain_every_seconds)
    : label_(std::move(label)),
      total_(std::max<int64_t>(total, 0)),
      out_(out),
      interactive_(::isatty(::fileno(out)) != 0),
      plain_every_(plain_every_seconds),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

ProgressBar::~ProgressBar() {
  if (!finished_ && printed_once_) finish(last_detail_);
}

std::string ProgressBar::format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e8) return "?";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

std::string ProgressBar::line(int64_t done, std::string_view detail) const {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string text = label_;
  if (interactive_ && total_ > 0) {
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(kWidth * std::clamp<double>(static_cast<double>(done) / total_, 0, 1));
    text += fmt::format(" [{}{}]", std::string(filled, '#'), std::string(kWidth - filled, '-'));
  }
  text += total_ > 0 ? fmt::format(" {}/{}", done, total_) : fmt::format(" {}", done);
  if (!detail.empty()) text += fmt::format(" · {}", detail);
  const int64_t fresh = done - offset_;
  if (total_ > 0 && done < total_ && fresh > 0)
    text += " · ETA " + format_duration(elapsed / fresh * (total_ - done));
  else
    text += " · " + format_duration(elapsed);
  return text;
}

void ProgressBar::update(int64_t done, std::string_view detail) {
  last_done_ = done;
  last_detail_.assign(detail);
  const auto now = std::chrono::steady_clock::now();
  if (interactive_) {
    std::fprintf(out_, "\r\033[2K%s", line(done, detail).c_str());
  } else {
    last_update_printed_ = false;
    if (printed_once_ && std::chrono::duration<double>(now - last_print_).count() < plain_every_) return;
    last_update_printed_ = true;
    std::fprintf(out_, "%s\n", line(done, detail).c_str());
  }
  std::fflush(out_);
  printed_once_ = true;
  last_print_ = now;
}

void ProgressBar::finish(std::string_view detail) {
  if (finished_) return;
  finished_ = true;
  if (!interactive_ && last_update_printed_ && (detail.empty() || detail == last_detail_)) return;
  const std::string text = line(last_done_, detail.empty() ? std::string_view(last_detail_) : detail);
  if (interactive_)
    std::fprintf(out_, "\r\033[2K%s\n", text.c_str());
  else
    std::fprintf(out_, "%s\n", text.c_str());
  std::fflush(out_);
}

}  // namespace rxlm
