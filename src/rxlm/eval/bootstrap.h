// Percentile bootstrap confidence intervals over samples: resample the sample indices with
// replacement (seeded, platform-independent), recompute every statistic on each resample, and take
// the (1-level)/2 and (1+level)/2 quantiles (linear interpolation, numpy's default).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace rxlm::eval {

struct Interval {
  double low = 0, high = 0;
};

struct BootstrapOptions {
  int resamples = 1000;  // 0 = no intervals
  uint64_t seed = 0;
  double level = 0.95;
};

// Quantile q ∈ [0,1] of `values` (sorted in place), linear between order statistics.
double quantile(std::vector<double>& values, double q);

// `statistics(indices)` returns the same number of values for any multiset of sample indices; the
// result has one interval per value. A NaN value (a statistic undefined on that resample, e.g. an
// average over parsed samples when none was drawn) is left out of its quantiles. n == 0 or resamples == 0 gives an empty vector.
std::vector<Interval> bootstrap_intervals(std::size_t n, const BootstrapOptions& options,
                                          const std::function<std::vector<double>(const std::vector<std::size_t>&)>& statistics);

// The index draws themselves (exposed for tests): resample r of n indices from `seed`.
std::vector<std::size_t> bootstrap_indices(std::size_t n, uint64_t seed, int resample);

}  // namespace rxlm::eval
