// Test helper: a few demo-format clinical samples (prep's JSONL lines, built with clinical::chat_sample as
// prep builds them), for tests that predict or train on clinical text without running prep.
#pragma once
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "rxlm/clinical/prompt.h"

namespace rxlm::test {

// Writes the first `count` (at most 4) samples to `path` with sample_ids s<first_id>, s<first_id + 1>, ...
inline std::filesystem::path write_demo_samples(const std::filesystem::path& path, int count = 4, int first_id = 0) {
  const std::vector<std::pair<clinical::AdmissionPrompt, std::vector<std::string>>> admissions = {
      {{{67, "female", 165.0, 72.6, 26.7, "urgent"},
        {{10, "I2510", "Atherosclerotic heart disease of native coronary artery without angina pectoris"},
         {10, "I10", "Essential (primary) hypertension"}}},
       {"aspirin", "atorvastatin", "metoprolol"}},
      {{{55, "male", std::nullopt, 90.0, std::nullopt, "emergency"},
        {{9, "486", "Pneumonia, organism unspecified"}, {9, "4280", "Congestive heart failure, unspecified"}}},
       {"ceftriaxone", "furosemide"}},
      {{{90, "female", 150.0, 50.0, 22.2, "elective"}, {{10, "E119", "Type 2 diabetes mellitus without complications"}}},
       {"insulin", "metformin"}},
      {{{34, "", std::nullopt, std::nullopt, std::nullopt, ""},
        {{10, "F1020", "Alcohol dependence, uncomplicated"}, {10, "K7030", "Alcoholic cirrhosis of liver without ascites"}}},
       {"lorazepam", "thiamine", "folic acid"}},
  };
  std::ofstream out(path);
  for (int i = 0; i < count && i < static_cast<int>(admissions.size()); ++i) {
    nlohmann::ordered_json meta;
    meta["sample_id"] = "s" + std::to_string(first_id + i);
    meta["split"] = "test";
    out << clinical::chat_sample(admissions[i].first, admissions[i].second, meta).dump() << "\n";
  }
  return path;
}

}  // namespace rxlm::test
