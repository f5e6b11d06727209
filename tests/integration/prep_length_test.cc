// The optional length filter: with the Llama 3 tokenizer, samples over --max-tokens are dropped and
// counted, and every kept sample fits (token count = contents + 5 per message + BOS, docs/prep.md).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "rxlm/core/paths.h"
#include "rxlm/tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json prep(const fs::path& out, const std::string& extra) {
  const fs::path demo = rxlm::shared_dir() / "data" / "mimic-iv-demo";
  std::string command = std::string(RXLM_BIN) + " prep --mimic " + demo.string() + " --out " + out.string() + " " +
                        extra + " > /dev/null 2>&1";
  if (std::system(command.c_str()) != 0) return nullptr;
  std::ifstream in(out / "prep_report.json");
  return json::parse(in);
}

}  // namespace

TEST(PrepLength, OverLongSamplesAreDroppedAndCounted) {
  const fs::path tokenizer_path = rxlm::shared_dir() / "models" / "llama3-tokenizer" / "tokenizer.model";
  if (!fs::exists(tokenizer_path)) GTEST_SKIP() << tokenizer_path << " not present";
  const fs::path dir = fs::temp_directory_path() / ("rxlm_prep_length_" + std::to_string(::getpid()));
  const int limit = 1024;
  json all = prep(dir / "all", "");
  json filtered = prep(dir / "filtered", "--tokenizer " + tokenizer_path.string() + " --max-tokens " + std::to_string(limit));
  ASSERT_FALSE(all.is_null());
  ASSERT_FALSE(filtered.is_null());
  const int dropped = filtered["admissions_dropped"]["longer than 1024 tokens"];
  EXPECT_GT(dropped, 0);
  EXPECT_EQ(filtered["admissions_out"].get<int>() + dropped, all["admissions_out"].get<int>());

  auto tokenizer = rxlm::load_tokenizer(tokenizer_path);
  int over_limit = 0;
  std::size_t max_seen = 0;
  for (const char* split : {"train", "validation", "test"}) {
    std::ifstream in(dir / "all" / (std::string(split) + ".jsonl"));
    for (std::string line; std::getline(in, line);) {
      std::size_t tokens = 1;
      const json sample = json::parse(line);
      for (const auto& message : sample["messages"])
        tokens += tokenizer->encode(message["content"].get<std::string>()).size() + 5;
      over_limit += tokens > static_cast<std::size_t>(limit);
      max_seen = std::max(max_seen, tokens);
    }
  }
  EXPECT_EQ(over_limit, dropped) << "largest sample " << max_seen << " tokens";
  EXPECT_EQ(max_seen, filtered["max_tokens_seen"].get<std::size_t>());
  fs::remove_all(dir);
}
