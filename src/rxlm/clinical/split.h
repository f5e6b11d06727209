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

// The names of the splits: "train", "validation", "test", or with folds >= 2 "fold_0" ... "fold_<k-1>".
std::vector<std::string> split_names(int folds);

// The split of the patient at each position of the shuffled order, as an index into split_names(0): the first round(N·test) positions are test, the next
// round(N·validation) validation, the rest train. The rule split_patients applies.
std::vector<std::uint32_t> split_by_position(std::size_t patients, double validation, double test);
// The fold of each position of the shuffled order (an index into split_names(folds)): position mod k.
// The rule fold_patients applies.
std::vector<std::uint32_t> fold_by_position(std::size_t patients, int folds);

// subject_id → "train" | "validation" | "test" by split_by_position over shuffled_patients.
std::unordered_map<std::int64_t, std::string> split_patients(const std::vector<std::int64_t>& subject_ids,
                                                             std::uint64_t seed, double validation, double test);

// subject_id → "fold_<i>" by fold_by_position over shuffled_patients (fold sizes differ by at most one).
std::unordered_map<std::int64_t, std::string> fold_patients(const std::vector<std::int64_t>& subject_ids,
                                                            std::uint64_t seed, int folds);

}  // namespace rxlm::clinical
