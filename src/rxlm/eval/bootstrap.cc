// Bootstrap draws: std::mt19937_64 seeded through splitmix64 (the engine is specified bit-for-bit by the
// standard; distributions are not, so the index draw is our own unbiased rejection).
#include "rxlm/eval/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "rxlm/core/error.h"

namespace rxlm::eval {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Uniform in [0, n) without modulo bias.
uint64_t draw_below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = rng();
  while (x >= limit);
  return x % n;
}

}  // namespace

double quantile(std::vector<double>& values, double q) {
  if (values.empty()) fail("quantile of no values");
  std::sort(values.begin(), values.end());
  const double position = q * static_cast<double>(values.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, values.size() - 1);
  return values[below] + (position - static_cast<double>(below)) * (values[above] - values[below]);
}

std::vector<std::size_t> bootstrap_indices(std::size_t n, uint64_t seed, int resample) {
  // Each resample has its own stream, so resample r is the same whatever the total count.
  std::mt19937_64 rng(splitmix64(seed ^ splitmix64(static_cast<uint64_t>(resample))));
  std::vector<std::size_t> indices(n);
  for (auto& i : indices) i = static_cast<std::size_t>(draw_below(rng, n));
  return indices;
}

std::vector<Interval> bootstrap_intervals(
    std::size_t n, const BootstrapOptions& options,
    const std::function<std::vector<double>(const std::vector<std::size_t>&)>& statistics) {
  if (options.resamples < 0) fail("--bootstrap must be 0 (no intervals) or a positive number of resamples");
  if (!(options.level > 0 && options.level < 1)) fail("bootstrap confidence level must be in (0, 1)");
  if (n == 0 || options.resamples == 0) return {};
  std::vector<std::vector<double>> draws;  // draws[statistic][resample]
  for (int r = 0; r < options.resamples; ++r) {
    std::vector<double> values = statistics(bootstrap_indices(n, options.seed, r));
    if (draws.empty()) draws.resize(values.size());
    if (values.size() != draws.size()) fail("bootstrap: the statistics changed their count between resamples");
    for (std::size_t s = 0; s < values.size(); ++s)
      if (std::isfinite(values[s])) draws[s].push_back(values[s]);  // undefined on this resample (NaN): skipped
  }
  std::vector<Interval> intervals;
  for (auto& values : draws) {
    if (values.empty()) {
      intervals.push_back({std::nan(""), std::nan("")});
      continue;
    }
    intervals.push_back({quantile(values, (1 - options.level) / 2), quantile(values, (1 + options.level) / 2)});
  }
  return intervals;
}

}  // namespace rxlm::eval
