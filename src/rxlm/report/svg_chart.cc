// SVG line charts: ticks, frame, and the document text.
#include "rxlm/report/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "rxlm/core/error.h"
#include "rxlm/io/jsonl.h"

namespace rxlm {
namespace {

constexpr const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"};

std::string escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

bool finite(const std::pair<double, double>& p) { return std::isfinite(p.first) && std::isfinite(p.second); }

// Tick label with as many decimals as the tick step needs (0.05 → 2), "-0" avoided.
std::string tick_label(double value, double step) {
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  if (decimals > 6) return fmt::format("{:g}", value);
  if (std::abs(value) < step * 1e-9) value = 0;
  return fmt::format("{:.{}f}", value, decimals);
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) fail("chart axis range [{}, {}] is not finite", lo, hi);
  if (lo > hi) std::swap(lo, hi);
  if (hi == lo) {
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / std::max(1, target - 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / magnitude;
  const double step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * magnitude;
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  std::vector<double> ticks;
  for (double k = first; k <= last + 0.5; k += 1) ticks.push_back(k * step);
  return ticks;
}

ChartFrame chart_frame(const LineChart& chart) {
  ChartFrame f;
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo, y_lo = x_lo, y_hi = -x_lo;
  for (const ChartSeries& s : chart.series)
    for (const auto& p : s.points)
      if (finite(p)) {
        x_lo = std::min(x_lo, p.first), x_hi = std::max(x_hi, p.first);
        y_lo = std::min(y_lo, p.second), y_hi = std::max(y_hi, p.second);
      }
  if (x_lo > x_hi) x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;  // no finite point at all: an empty frame
  f.x_ticks = nice_ticks(x_lo, x_hi);
  f.y_ticks = nice_ticks(y_lo, y_hi);
  f.x_min = f.x_ticks.front(), f.x_max = f.x_ticks.back();
  f.y_min = f.y_ticks.front(), f.y_max = f.y_ticks.back();
  f.left = kMarginLeft;
  f.right = chart.width - kMarginRight;
  f.top = kMarginTop;
  f.bottom = chart.height - kMarginBottom;
  if (!(f.right > f.left) || !(f.bottom > f.top))
    fail("chart {}×{} px is too small for its margins", chart.width, chart.height);
  return f;
}

std::string render_svg(const LineChart& chart) {
  const ChartFrame f = chart_frame(chart);
  std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n",
      chart.width, chart.height);
  svg += fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"white\"/>\n", chart.width, chart.height);
  svg += fmt::format("<text class=\"title\" x=\"{:.2f}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
                     chart.width / 2.0, escape(chart.title));
  // Grid lines and tick labels.
  const double x_step = f.x_ticks.size() > 1 ? f.x_ticks[1] - f.x_ticks[0] : 1;
  const double y_step = f.y_ticks.size() > 1 ? f.y_ticks[1] - f.y_ticks[0] : 1;
  svg += "<g class=\"grid\" stroke=\"#dddddd\" stroke-width=\"1\">\n";
  for (double t : f.x_ticks)
    svg += fmt::format("<line x1=\"{0:.2f}\" y1=\"{1:.2f}\" x2=\"{0:.2f}\" y2=\"{2:.2f}\"/>\n", f.px(t), f.top, f.bottom);
  for (double t : f.y_ticks)
    svg += fmt::format("<line x1=\"{1:.2f}\" y1=\"{0:.2f}\" x2=\"{2:.2f}\" y2=\"{0:.2f}\"/>\n", f.py(t), f.left, f.right);
  svg += "</g>\n<g class=\"ticks\" fill=\"#333333\">\n";
  for (double t : f.x_ticks)
    svg += fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\" text-anchor=\"middle\">{}</text>\n", f.px(t), f.bottom + 16,
                       tick_label(t, x_step));
  for (double t : f.y_ticks)
    svg += fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\" text-anchor=\"end\">{}</text>\n", f.left - 6, f.py(t) + 4,
                       tick_label(t, y_step));
  svg += "</g>\n";
  svg += fmt::format(
      "<rect class=\"axes\" x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" fill=\"none\" "
      "stroke=\"#333333\"/>\n",
      f.left, f.top, f.right - f.left, f.bottom - f.top);
  svg += fmt::format("<text class=\"x-label\" x=\"{:.2f}\" y=\"{:.2f}\" text-anchor=\"middle\">{}</text>\n",
                     (f.left + f.right) / 2, chart.height - 12.0, escape(chart.x_label));
  svg += fmt::format(
      "<text class=\"y-label\" x=\"16\" y=\"{0:.2f}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {0:.2f})\">{1}"
      "</text>\n",
      (f.top + f.bottom) / 2, escape(chart.y_label));
  // The series, then the legend on top of them.
  size_t palette = 0;
  std::vector<std::string> colors;
  for (const ChartSeries& s : chart.series) {
    const std::string color = s.color.empty() ? kPalette[palette++ % std::size(kPalette)] : s.color;
    colors.push_back(color);
    std::string points;
    for (const auto& p : s.points)
      if (finite(p)) points += fmt::format("{}{:.2f},{:.2f}", points.empty() ? "" : " ", f.px(p.first), f.py(p.second));
    svg += fmt::format(
        "<g class=\"series\"><title>{}</title>\n<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"{:g}\" "
        "stroke-opacity=\"{:g}\" stroke-linejoin=\"round\" points=\"{}\"/>\n",
        escape(s.name), escape(color), s.stroke_width, s.opacity, points);
    if (s.markers)
      for (const auto& p : s.points)
        if (finite(p))
          svg += fmt::format("<circle cx=\"{:.2f}\" cy=\"{:.2f}\" r=\"3\" fill=\"{}\"/>\n", f.px(p.first),
                             f.py(p.second), escape(color));
    svg += "</g>\n";
  }
  if (!chart.series.empty()) {
    const double x = f.right - 170, y = f.top + 8;
    svg += fmt::format(
        "<g class=\"legend\">\n<rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"162\" height=\"{:.2f}\" fill=\"white\" "
        "fill-opacity=\"0.85\" stroke=\"#cccccc\"/>\n",
        x, y, 18.0 * static_cast<double>(chart.series.size()) + 6);
    for (size_t i = 0; i < chart.series.size(); ++i) {
      const double row = y + 15 + 18.0 * static_cast<double>(i);
      svg += fmt::format(
          "<line x1=\"{:.2f}\" y1=\"{:.2f}\" x2=\"{:.2f}\" y2=\"{:.2f}\" stroke=\"{}\" stroke-width=\"{:g}\" "
          "stroke-opacity=\"{:g}\"/>\n<text x=\"{:.2f}\" y=\"{:.2f}\">{}</text>\n",
          x + 8, row - 4, x + 30, row - 4, escape(colors[i]), std::max(2.0, chart.series[i].stroke_width),
          chart.series[i].opacity, x + 36, row, escape(chart.series[i].name));
    }
    svg += "</g>\n";
  }
  svg += "</svg>\n";
  return svg;
}

void write_svg(const std::filesystem::path& path, const LineChart& chart) { write_file_atomic(path, render_svg(chart)); }

std::vector<double> smooth_ema(const std::vector<double>& values, double weight) {
  if (!(weight >= 0 && weight < 1)) fail("smoothing weight {} must be in [0, 1)", weight);
  std::vector<double> out;
  double last = 0, debias = 0;
  for (double v : values) {
    if (!std::isfinite(v)) {  // keep the average finite; the point itself stays non-finite (dropped when drawn)
      out.push_back(v);
      continue;
    }
    last = last * weight + (1 - weight) * v;
    debias = debias * weight + (1 - weight);
    out.push_back(last / debias);
  }
  return out;
}

}  // namespace rxlm
