// A small, dependency-free SVG line chart: several named series of (x, y) points on shared linear axes, with
// "nice" ticks (1, 2, 5 × 10^k), axis labels, a title and a legend. Used for the training loss curve
// (RUN/loss.svg) and for evaluation metrics against steps.
//
// Layout (pixels, origin top-left): the plot area spans x ∈ [kMarginLeft, width − kMarginRight] and
// y ∈ [kMarginTop, height − kMarginBottom]; the axis ranges are the data's range widened to whole tick steps,
// so a value v maps to   px = left + (v − x_min) / (x_max − x_min) · plot_width
//                        py = bottom − (v − y_min) / (y_max − y_min) · plot_height.
// Each series is one <polyline> with one "x,y" pair per finite point (non-finite points are dropped, e.g. a
// diverged loss), plus a <circle> per point when `markers` is set (so a one-point series is still visible).
#pragma once
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace rxlm {

struct ChartSeries {
  std::string name;                             // legend text
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in this order
  std::string color;                            // any SVG colour; empty: the next of a built-in palette
  double stroke_width = 1.5;
  double opacity = 1.0;
  bool markers = false;  // a small circle at each point
};

struct LineChart {
  std::string title, x_label, y_label;
  int width = 720, height = 420;
  std::vector<ChartSeries> series;
};

inline constexpr double kMarginLeft = 72, kMarginRight = 24, kMarginTop = 40, kMarginBottom = 56;

// Tick positions covering [lo, hi]: about `target` ticks at a step of 1, 2 or 5 × 10^k, the first at or below
// lo and the last at or above hi (so they also give the axis range). A zero-width range is widened first.
std::vector<double> nice_ticks(double lo, double hi, int target = 6);

// The axes' value ranges and the mapping from values to pixel coordinates.
struct ChartFrame {
  double x_min = 0, x_max = 1, y_min = 0, y_max = 1;
  std::vector<double> x_ticks, y_ticks;
  double left = 0, right = 0, top = 0, bottom = 0;  // plot area in pixels
  double px(double x) const { return left + (x - x_min) / (x_max - x_min) * (right - left); }
  double py(double y) const { return bottom - (y - y_min) / (y_max - y_min) * (bottom - top); }
};
ChartFrame chart_frame(const LineChart& chart);

// The whole SVG document (UTF-8, with an XML declaration); text is XML-escaped.
std::string render_svg(const LineChart& chart);

// render_svg written atomically to `path`.
void write_svg(const std::filesystem::path& path, const LineChart& chart);

// TensorBoard's smoothing: an exponential moving average with weight `weight` ∈ [0, 1) on the previous value,
// debiased for the start (so the first smoothed value equals the first value).
std::vector<double> smooth_ema(const std::vector<double>& values, double weight);

}  // namespace rxlm
