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

std::vector<std::string> split_names(int folds) {
  if (folds < 2) return {"train", "validation", "test"};
  std::vector<std::string> names;
  for (int i = 0; i < folds; ++i) names.push_back("fold_" + std::to_string(i));
  return names;
}

std::vector<std::uint32_t> split_by_position(std::size_t patients, double validation, double test) {
  const auto n = static_cast<double>(patients);
  const auto n_test = std::min(patients, static_cast<std::size_t>(std::llround(n * test)));
  const auto n_validation = std::min(patients - n_test, static_cast<std::size_t>(std::llround(n * validation)));
  std::vector<std::uint32_t> split(patients, 0);  // train
  std::fill(split.begin(), split.begin() + static_cast<std::ptrdiff_t>(n_test), 2u);
  std::fill(split.begin() + static_cast<std::ptrdiff_t>(n_test),
            split.begin() + static_cast<std::ptrdiff_t>(n_test + n_validation), 1u);
  return split;
}

std::vector<std::uint32_t> fold_by_position(std::size_t patients, int folds) {
  std::vector<std::uint32_t> fold(patients);
  for (std::size_t i = 0; i < patients; ++i) fold[i] = static_cast<std::uint32_t>(i % static_cast<std::size_t>(folds));
  return fold;
}

std::unordered_map<std::int64_t, std::string> split_patients(const std::vector<std::int64_t>& subject_ids,
                                                             std::uint64_t seed, double validation, double test) {
  const auto names = split_names(0);
  const auto order = shuffled_patients(subject_ids, seed);
  const auto split = split_by_position(order.size(), validation, test);
  std::unordered_map<std::int64_t, std::string> named;
  for (std::size_t i = 0; i < order.size(); ++i) named[order[i]] = names[split[i]];
  return named;
}

std::unordered_map<std::int64_t, std::string> fold_patients(const std::vector<std::int64_t>& subject_ids,
                                                            std::uint64_t seed, int folds) {
  const auto names = split_names(folds);
  const auto order = shuffled_patients(subject_ids, seed);
  const auto fold = fold_by_position(order.size(), folds);
  std::unordered_map<std::int64_t, std::string> named;
  for (std::size_t i = 0; i < order.size(); ++i) named[order[i]] = names[fold[i]];
  return named;
}

}  // namespace rxlm::clinical
