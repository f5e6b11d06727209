// prep.toml: overrides land in PrepConfig; typos, wrong types and impossible ratios are errors.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "rxlm/clinical/prep_config.h"
#include "rxlm/core/error.h"

namespace fs = std::filesystem;
using rxlm::clinical::load_prep_config;

namespace {

fs::path write_config(const std::string& text) {
  fs::path path = fs::temp_directory_path() / ("rxlm_prep_config_" + std::to_string(::getpid()) + ".toml");
  std::ofstream(path) << text;
  return path;
}

std::string error_of(const std::string& text) {
  fs::path path = write_config(text);
  std::string error;
  try {
    load_prep_config(path);
  } catch (const rxlm::Error& e) {
    error = e.what();
  }
  fs::remove(path);
  return error;
}

}  // namespace

TEST(PrepConfig, OverridesAndDefaults) {
  fs::path path = write_config(R"(
[split]
seed = 7
train = 0.7
validation = 0.15
test = 0.15
[cohort]
drug_count_percentile = 100.0
[drugs]
excluded_drug_types = ["BASE", "ADDITIVE"]
non_therapeutic = [ { category = "flush", phrase = "flush" }, { category = "supply", phrase = "soln", whole_name = true } ]
)");
  auto config = load_prep_config(path);
  fs::remove(path);
  EXPECT_EQ(config.seed, 7u);
  EXPECT_DOUBLE_EQ(config.validation, 0.15);
  EXPECT_DOUBLE_EQ(config.drug_count_percentile, 100.0);
  EXPECT_EQ(config.min_age, 18);  // untouched default
  EXPECT_EQ(config.drug_rules.excluded_drug_types, (std::vector<std::string>{"BASE", "ADDITIVE"}));
  ASSERT_EQ(config.drug_rules.non_therapeutic.size(), 2u);
  EXPECT_TRUE(config.drug_rules.non_therapeutic[1].whole_name);
}

TEST(PrepConfig, MistakesAreErrors) {
  EXPECT_NE(error_of("[split]\nsed = 3\n").find("unknown key 'sed'"), std::string::npos);
  EXPECT_NE(error_of("[cohort]\nmin_age = \"eighteen\"\n").find("key 'min_age' has the wrong type"), std::string::npos);
  EXPECT_NE(error_of("[split]\ntrain = 0.9\n").find("split ratios must be"), std::string::npos);
  EXPECT_NE(error_of("[split]\nfolds = 1\n").find("folds must be 0"), std::string::npos);
  EXPECT_NE(error_of("[split\n").find(".toml:"), std::string::npos);
}
