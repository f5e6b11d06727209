// Damaged tokenizer files, made at random (truncations and byte flips, fixed seed): loading either works
// or throws rxlm::Error — never another exception, a crash or a hang. Run under RXLM_SANITIZE too.
#include <random>

#include "rxlm/tokenizer/tokenizer.h"
#include "tokenizer_fixture.h"

namespace rxlm {
namespace {

using namespace rxlm::testing;

// Loads `variants` damaged copies of `good`; returns how many were rejected with rxlm::Error.
int load_damaged(const std::string& good, const std::string& file_name, int variants, uint32_t seed) {
  std::mt19937 rng(seed);
  int rejected = 0;
  for (int i = 0; i < variants; ++i) {
    std::string bytes = good;
    if (i % 2 == 0) {
      bytes.resize(std::uniform_int_distribution<size_t>(0, bytes.size() - 1)(rng));
    } else {
      for (int flips = 0; flips < 8; ++flips)
        bytes[std::uniform_int_distribution<size_t>(0, bytes.size() - 1)(rng)] = static_cast<char>(rng());
    }
    const auto path = write_temp("damaged/" + std::to_string(i) + "/" + file_name, bytes);
    try {
      auto tokenizer = load_tokenizer(path);
      // What loads must also encode and decode without failing in another way.
      const std::vector<int32_t> ids = tokenizer->encode("Metoprolol 25 mg PO BID 👩‍⚕️ \xFF");
      (void)tokenizer->decode(ids);
    } catch (const Error& e) {
      ++rejected;
      EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    }
  }
  return rejected;
}

TEST(DamagedTokenizerFiles, Llama2cVocabulary) {
  const std::string good = read_bytes(shared_dir() / "models" / "stories260K" / "tok512.bin");
  EXPECT_GT(load_damaged(good, "tok512.bin", 200, 1), 90);
}

TEST(DamagedTokenizerFiles, TokenizerJson) {
  const std::string good = read_bytes(fixture_dir() / "smollm_style.tokenizer.json");
  EXPECT_GT(load_damaged(good, "tokenizer.json", 100, 2), 50);
}

TEST(DamagedTokenizerFiles, GgufVocabulary) {
  const std::string good = read_bytes(fixture_dir() / "llama3_small.gguf");
  EXPECT_GT(load_damaged(good, "vocab.gguf", 100, 3), 50);
}

}  // namespace
}  // namespace rxlm
