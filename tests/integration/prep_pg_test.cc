// `rxlm prep --pg` against the demo loaded into PostgreSQL by scripts/test.d/postgres.sh writes the
// same bytes as `rxlm prep --mimic` on the CSV files.
// Where the URI comes from: $RXLM_PG_URI, else <build>/test-postgres/uri written by the hook. If the hook
// ran (it leaves <build>/test-postgres/required) but no URI is there, the test FAILS: under
// scripts/test.sh (CI) an unavailable server must not pass. Without the hook (a plain ctest run) it skips
// and says how to set PostgreSQL up.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "rxlm/core/paths.h"

namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

int run(const std::string& command, const fs::path& log) {
  return std::system((command + " > " + log.string() + " 2>&1").c_str());
}

}  // namespace

TEST(PrepPostgres, SameJsonlAsCsv) {
  const fs::path state = fs::path(RXLM_BIN).parent_path() / "test-postgres";
  std::string uri;
  if (const char* env = std::getenv("RXLM_PG_URI"); env && *env) {
    uri = env;
  } else if (fs::exists(state / "uri")) {
    uri = read_text(state / "uri");
    while (!uri.empty() && (uri.back() == '\n' || uri.back() == ' ')) uri.pop_back();
  } else if (fs::exists(state / "required")) {
    FAIL() << "scripts/test.d/postgres.sh ran but PostgreSQL is not available:\n" << read_text(state / "setup.log");
  } else {
    GTEST_SKIP() << "PostgreSQL not set up: run `RXLM_BUILD_DIR=" << fs::path(RXLM_BIN).parent_path().string()
                 << " bash scripts/test.d/postgres.sh` (scripts/test.sh does) or set RXLM_PG_URI";
  }

  const fs::path dir = fs::temp_directory_path() / ("rxlm_prep_pg_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string bin = RXLM_BIN;
  const fs::path demo = rxlm::shared_dir() / "data" / "mimic-iv-demo";
  ASSERT_EQ(run(bin + " prep --pg '" + uri + "' --out " + (dir / "pg").string(), dir / "pg.log"), 0)
      << read_text(dir / "pg.log");
  ASSERT_EQ(run(bin + " prep --mimic " + demo.string() + " --out " + (dir / "csv").string(), dir / "csv.log"), 0)
      << read_text(dir / "csv.log");

  for (const char* file : {"train.jsonl", "validation.jsonl", "test.jsonl", "drug_vocabulary.tsv"}) {
    std::string from_pg = read_text(dir / "pg" / file), from_csv = read_text(dir / "csv" / file);
    EXPECT_FALSE(from_csv.empty()) << file;
    EXPECT_TRUE(from_pg == from_csv) << file << " differs between --pg and --mimic";
  }
  auto report = nlohmann::json::parse(read_text(dir / "pg" / "prep_report.json"));
  EXPECT_EQ(report["admissions_in"], 275);
  EXPECT_EQ(report["source"], "postgres schema mimiciv_hosp");
  fs::remove_all(dir);
}
