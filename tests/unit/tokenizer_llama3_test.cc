// Llama 3 tiktoken tokenizer (Meta's tokenizer.model): ids equal the tiktoken package's on the fixture
// strings, Meta's own test expectations hold, bytes round-trip, specials only when asked, bad files fail.
#include <memory>

#include "rxlm/tokenizer/tokenizer.h"
#include "tokenizer_fixture.h"

namespace rxlm {
namespace {

using namespace rxlm::testing;

std::filesystem::path model_path() { return shared_dir() / "models" / "llama3-tokenizer" / "tokenizer.model"; }

class Llama3Tokenizer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { tokenizer_ = load_tokenizer(model_path()).release(); }
  static void TearDownTestSuite() { delete tokenizer_; }
  static const Tokenizer* tokenizer_;
};
const Tokenizer* Llama3Tokenizer::tokenizer_ = nullptr;

TEST_F(Llama3Tokenizer, MatchesTiktokenOnFixtureStrings) {
  const auto cases = read_fixture("llama3_tiktoken.json")["cases"];
  EXPECT_GE(expect_cases(*tokenizer_, cases), 300u);
  // The fixture must keep its invalid UTF-8 cases (see tools/reference/make_tokenizer_fixtures.py).
  size_t invalid_utf8 = 0;
  for (const auto& c : cases) {
    try {
      (void)nlohmann::json(from_hex(c["hex"])).dump();
    } catch (const nlohmann::json::type_error&) {
      ++invalid_utf8;
    }
  }
  EXPECT_GE(invalid_utf8, 20u);
}

// meta-llama/llama-models models/llama3/tests/api/test_tokenizer.py, recorded in PROVENANCE.md.
TEST_F(Llama3Tokenizer, MetaExpectations) {
  const Tokenizer& t = *tokenizer_;
  EXPECT_EQ(t.vocab_size(), 128256);
  std::vector<int32_t> ids = t.encode_with_bos("This is a test sentence.");
  ids.push_back(*t.eos_id());
  EXPECT_EQ(ids, (std::vector<int32_t>{128000, 2028, 374, 264, 1296, 11914, 13, 128001}));
  EXPECT_EQ(t.decode(ids), "<|begin_of_text|>This is a test sentence.<|end_of_text|>");
  EXPECT_EQ(t.encode("<|start_header_id|>user<|end_header_id|>\n\nThis is a test sentence.<|eot_id|>", true),
            (std::vector<int32_t>{128006, 882, 128007, 271, 2028, 374, 264, 1296, 11914, 13, 128009}));
  const std::string dialog =
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nThis is a test sentence.<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\nThis is a response.<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\n";
  EXPECT_EQ(t.encode(dialog, true),
            (std::vector<int32_t>{128000, 128006, 9125, 128007, 271, 2028, 374, 264, 1296, 11914, 13, 128009, 128006, 882,
                                  128007, 271, 2028, 374, 264, 2077, 13, 128009, 128006, 78191, 128007, 271}));
  // PROVENANCE.md's single-token checks.
  EXPECT_EQ(t.encode("Hello world"), (std::vector<int32_t>{9906, 1917}));
  EXPECT_EQ(t.encode(" Hello World"), (std::vector<int32_t>{22691, 4435}));
}

TEST_F(Llama3Tokenizer, SpecialTokens) {
  const Tokenizer& t = *tokenizer_;
  EXPECT_EQ(t.bos_id(), 128000);
  EXPECT_TRUE(t.add_bos());
  EXPECT_TRUE(t.is_stop(128001));  // <|end_of_text|>
  EXPECT_TRUE(t.is_stop(128008));  // <|eom_id|>
  EXPECT_TRUE(t.is_stop(128009));  // <|eot_id|>
  EXPECT_FALSE(t.is_stop(13));
  EXPECT_EQ(t.find_token("<|eot_id|>"), 128009);
  EXPECT_EQ(t.find_token("<|python_tag|>"), 128010);
  // 12 named tokens, then <|reserved_special_token_2|> … _245|> (llama-models tokenizer.py).
  EXPECT_EQ(t.find_token("<|reserved_special_token_245|>"), 128255);
  EXPECT_EQ(t.token_bytes(128255), "<|reserved_special_token_245|>");
  EXPECT_EQ(t.find_token("<|reserved_special_token_2|>"), 128012);
  EXPECT_TRUE(t.is_control(128009));
  EXPECT_FALSE(t.is_control(9906));
  EXPECT_EQ(t.chat_format(), ChatFormat::Llama3);
  // Without parse_special the text of a special token is ordinary text.
  const std::vector<int32_t> plain = t.encode("<|eot_id|>");
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 128009), 0);
  EXPECT_GT(plain.size(), 1u);
  EXPECT_EQ(t.decode(plain), "<|eot_id|>");
  EXPECT_EQ(t.encode("a<|eot_id|>b", true), (std::vector<int32_t>{64, 128009, 65}));
  EXPECT_THROW(t.token_bytes(128256), Error);
  EXPECT_THROW(t.token_bytes(-1), Error);
}

// A long run of one character and a long digit run must stay fast and exact (no quadratic rescans).
TEST_F(Llama3Tokenizer, LongPiecesRoundTrip) {
  std::string text(200000, ' ');
  text += std::string(100000, '7') + std::string(50000, 'x') + "\n";
  EXPECT_EQ(tokenizer_->decode(tokenizer_->encode(text)), text);
  // Digits go in threes: 100000 digits → 33334 tokens.
  const auto digits = tokenizer_->encode(std::string(100000, '7'));
  EXPECT_EQ(digits.size(), 33334u);
}

class DamagedTiktoken : public ::testing::Test {};

TEST_F(DamagedTiktoken, Rejected) {
  const std::string good = read_bytes(model_path());
  // Only the first lines matter for most errors; cut the file to keep the test quick.
  const std::string head = good.substr(0, good.find('\n', 2000) + 1);
  auto try_load = [](const std::string& name, const std::string& bytes) {
    const auto path = write_temp(name, bytes);
    return [path] { load_tokenizer(path); };
  };
  expect_error(try_load("bad_base64/tokenizer.model", "IQ== 0\nI$== 1\n"), {"tokenizer.model:2", "bad base64"});
  expect_error(try_load("dup_rank/tokenizer.model", "IQ== 0\nIg== 0\n"), {"tokenizer.model:2", "duplicate rank 0"});
  expect_error(try_load("gap/tokenizer.model", "IQ== 0\nIg== 2\n"), {"rank 1 is missing"});
  expect_error(try_load("no_space/tokenizer.model", "IQ==0\n"), {"tokenizer.model:1", "no space"});
  expect_error(try_load("bad_rank/tokenizer.model", "IQ== zero\n"), {"tokenizer.model:1", "bad rank"});
  expect_error(try_load("same_bytes/tokenizer.model", "IQ== 0\nIQ== 1\n"), {"rank 1 repeats the bytes of rank 0"});
  // The first 2000 bytes of ranks lack most single bytes: a byte-level vocabulary needs all 256.
  expect_error(try_load("partial/tokenizer.model", head), {"has no rank", "all 256 single bytes"});
}

}  // namespace
}  // namespace rxlm
