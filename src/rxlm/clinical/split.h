// Seeded split of patients (never admissions) into train/validation/test, or into k folds.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace rxlm::clinical {

// The patient order after a seeded Fisher–Yates shuffle of the sorted ids (splitmix64, so the result is
// the same on every platform and standard library).
std::vector<std::int64_t> shuffled_patients(std::vector<std::int64_t> subject_ids, std::uint64_t seed);

// subject_id → "train" | "validation" | "test": the first round(N·test) shuffled patients go to test, the
// next round(N·validation) to validation, the rest to train.
std::unordered_map<std::int64_t, std::string> split_patients(const std::vector<std::int64_t>& subject_ids,
                                                             std::uint64_t seed, double validation, double test);

// subject_id → "fold_<i>", i = position in the shuffled order mod k (fold sizes differ by at most one).
std::unordered_map<std::int64_t, std::string> fold_patients(const std::vector<std::int64_t>& subject_ids,
                                                            std::uint64_t seed, int folds);

}  // namespace rxlm::clinical
