// Patient-level split: deterministic shuffle, then contiguous blocks (or round-robin folds).
#include "rxlm/clinical/split.h"

#include <algorithm>
#include <cmath>

namespace rxlm::clinical {
namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

std::vector<std::int64_t> shuffled_patients(std::vector<std::int64_t> ids, std::uint64_t seed) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::uint64_t state = seed;
  for (std::size_t i = ids.size(); i > 1; --i) {
    std::size_t j = static_cast<std::size_t>(splitmix64(state) % i);  // bias ≤ i/2^64: negligible
    std::swap(ids[i - 1], ids[j]);
  }
  return ids;
}

std::unordered_map<std::int64_t, std::string> split_patients(const std::vector<std::int64_t>& subject_ids,
                                                             std::uint64_t seed, double validation, double test) {
  auto order = shuffled_patients(subject_ids, seed);
  const auto n = static_cast<double>(order.size());
  const auto n_test = static_cast<std::size_t>(std::llround(n * test));
  const auto n_validation = std::min(order.size() - std::min(order.size(), n_test),
                                     static_cast<std::size_t>(std::llround(n * validation)));
  std::unordered_map<std::int64_t, std::string> split;
  for (std::size_t i = 0; i < order.size(); ++i)
    split[order[i]] = i < n_test ? "test" : i < n_test + n_validation ? "validation" : "train";
  return split;
}

std::unordered_map<std::int64_t, std::string> fold_patients(const std::vector<std::int64_t>& subject_ids,
                                                            std::uint64_t seed, int folds) {
  auto order = shuffled_patients(subject_ids, seed);
  std::unordered_map<std::int64_t, std::string> split;
  for (std::size_t i = 0; i < order.size(); ++i) split[order[i]] = "fold_" + std::to_string(i % folds);
  return split;
}

}  // namespace rxlm::clinical
