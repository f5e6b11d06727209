// llama2.c vocabulary (stories260K tok512.bin): encode as run.c does, stream-decode the reference
// greedy ids to the reference text, round-trip bytes, and reject damaged files.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "rxlm/core/error.h"
#include "rxlm/core/paths.h"
#include "rxlm/tokenizer/tokenizer.h"
#include "tokenizer_fixture.h"

namespace rxlm {
namespace {

std::filesystem::path stories_dir() { return shared_dir() / "models" / "stories260K"; }

class Llama2cVocab : public ::testing::Test {
 protected:
  void SetUp() override { tokenizer = load_tokenizer(stories_dir() / "tok512.bin"); }
  std::unique_ptr<Tokenizer> tokenizer;
};

TEST_F(Llama2cVocab, HeaderFacts) {
  EXPECT_EQ(tokenizer->vocab_size(), 512);
  EXPECT_EQ(tokenizer->bos_id(), 1);
  EXPECT_EQ(tokenizer->eos_id(), 2);
  EXPECT_TRUE(tokenizer->add_bos());
  EXPECT_TRUE(tokenizer->is_stop(1));  // run.c stops when BOS comes again
  EXPECT_EQ(tokenizer->token_bytes(3 + 0x41), "A");  // <0x41> is the raw byte
  EXPECT_EQ(tokenizer->find_token(" t"), 259);
}

// PROVENANCE.md: "Once upon a time" with BOS → [1, 403, 407, 261, 378] (dummy prefix, greedy merges).
TEST_F(Llama2cVocab, EncodesLikeRunC) {
  EXPECT_EQ(tokenizer->encode_with_bos("Once upon a time"), (std::vector<int32_t>{1, 403, 407, 261, 378}));
  EXPECT_EQ(tokenizer->encode("Once upon a time, there was a little girl named Lily."),
            (std::vector<int32_t>{403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426}));
  EXPECT_TRUE(tokenizer->encode("").empty());
}

// A line-by-line Python port of run.c's O(n²) encode() (tools/reference) gives the same ids.
TEST_F(Llama2cVocab, MatchesRunCPort) {
  const auto fixture = rxlm::testing::read_fixture("llama2c_runc.json");
  ASSERT_GE(fixture["cases"].size(), 60u);
  for (const auto& c : fixture["cases"]) {
    const std::string text = rxlm::testing::from_hex(c["hex"]);
    EXPECT_EQ(tokenizer->encode(text), c["ids"].get<std::vector<int32_t>>()) << rxlm::testing::escaped(text);
  }
}

// The reference greedy ids stream-decode (run.c's rule: drop the space after BOS) to the reference text.
TEST_F(Llama2cVocab, StreamingDecodeGivesReferenceText) {
  std::istringstream ids(rxlm::testing::read_bytes(stories_dir() / "expected_greedy_ids_t0_n256.txt"));
  std::string text;
  int32_t previous = 1;
  for (int32_t id; ids >> id; previous = id) text += tokenizer->decode_next(previous, id);
  EXPECT_EQ(text, rxlm::testing::read_bytes(stories_dir() / "expected_text_t0_n256.txt"));
}

TEST_F(Llama2cVocab, RoundTripsBytes) {
  const std::vector<std::string> samples = {
      "Lily's mom said, \"Let's go!\"", "  two leading spaces", "tabs\tand\nnewlines\r\n",
      "한국어 텍스트", "emoji 👩‍⚕️ ok", "digits 1234567890", std::string("bad \xFF\xC3 utf8 \x80"), "x"};
  for (const std::string& text : samples) {
    const std::vector<int32_t> ids = tokenizer->encode(text);
    EXPECT_EQ(tokenizer->decode(ids), text) << text;
    std::vector<int32_t> with_bos = tokenizer->encode_with_bos(text);
    std::string streamed;
    for (size_t i = 1; i < with_bos.size(); ++i) streamed += tokenizer->decode_next(with_bos[i - 1], with_bos[i]);
    EXPECT_EQ(streamed, text) << text;
  }
  // Characters absent from the 512 pieces fall back to their bytes: 한 = ED 95 9C → ids 3+byte.
  const std::vector<int32_t> ids = tokenizer->encode("한");
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(std::vector<int32_t>(ids.end() - 3, ids.end()), (std::vector<int32_t>{3 + 0xED, 3 + 0x95, 3 + 0x9C}));
}

TEST_F(Llama2cVocab, SpecialTextOnlyWhenAsked) {
  EXPECT_EQ(tokenizer->encode("\n<s>\n", true), (std::vector<int32_t>{1}));
  const std::vector<int32_t> plain = tokenizer->encode("\n<s>\n", false);
  EXPECT_NE(plain, (std::vector<int32_t>{1}));
  EXPECT_EQ(tokenizer->decode(plain), "\n<s>\n");
}

class DamagedLlama2cVocab : public ::testing::Test {
 protected:
  std::filesystem::path write(const std::string& name, const std::string& bytes) {
    auto path = std::filesystem::path(::testing::TempDir()) / name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  void expect_error(const std::filesystem::path& path, const std::string& fragment) {
    try {
      load_tokenizer(path);
      FAIL() << "no error for " << path;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  }
};

TEST_F(DamagedLlama2cVocab, Rejected) {
  const std::string good = rxlm::testing::read_bytes(stories_dir() / "tok512.bin");
  expect_error(write("tok_cut.bin", good.substr(0, good.size() - 3)), "truncated inside token 511");
  expect_error(write("tok_cut8.bin", good.substr(0, 4 + 5)), "truncated at token 0");
  std::string bad_length = good;
  const int32_t huge = 1000;
  std::memcpy(bad_length.data() + 4 + 4, &huge, 4);  // token 0's length
  expect_error(write("tok_len.bin", bad_length), "token 0 has length 1000");
  expect_error(write("tok_short.bin", good.substr(0, 4 + 8 + 5)), "only 1 tokens");
  expect_error(write("tok_empty.bin", ""), "too short");
  // The SentencePiece protobuf it was exported from is named as unsupported, with what to use instead.
  expect_error(stories_dir() / "tok512.model", "SentencePiece protobuf");
}

}  // namespace
}  // namespace rxlm
