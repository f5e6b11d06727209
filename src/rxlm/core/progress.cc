#include "rxlm/core/progress.h"

#include <sys/ioctl.h>
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

std::string ProgressBar::line(int64_t done, std::string_view detail, bool with_bar) const {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string text = label_;
  if (interactive_ && total_ > 0 && with_bar) {
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

namespace {

// Columns of the terminal `out` is, 0 when unknown.
size_t terminal_columns(std::FILE* out) {
  winsize ws{};
  return ::ioctl(::fileno(out), TIOCGWINSZ, &ws) == 0 ? ws.ws_col : 0;
}

// Display width of the text this bar prints (ASCII and "·"): UTF-8 code points.
size_t columns_of(const std::string& text) {
  size_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// A line redrawn with "\r" must fit the terminal: a wrapped line cannot be erased by "\033[2K", so every redraw
// would leave a copy behind. Cuts `text` to max_columns code points.
std::string cut_to(std::string text, size_t max_columns) {
  size_t columns = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;  // continuation byte
    if (++columns > max_columns) {
      text.resize(i);
      break;
    }
  }
  return text;
}

}  // namespace

void ProgressBar::update(int64_t done, std::string_view detail) {
  last_done_ = done;
  last_detail_.assign(detail);
  const auto now = std::chrono::steady_clock::now();
  if (interactive_) {
    // Too wide for the terminal: drop the bar (the count and ETA say the same), then cut the end.
    std::string text = line(done, detail);
    if (const size_t columns = terminal_columns(out_); columns >= 2 && columns_of(text) > columns - 1) {
      text = line(done, detail, /*with_bar=*/false);
      if (columns_of(text) > columns - 1) text = cut_to(std::move(text), columns - 1);
    }
    std::fprintf(out_, "\r\033[2K%s", text.c_str());
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
