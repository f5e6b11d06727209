// Pre-tokenizer regex splitting (PCRE2): gaps kept, Unicode White_Space for \s, invalid UTF-8 as gaps,
// regex sequences; and encode() from several threads at once.
#include <thread>

#include "rxlm/tokenizer/pre_tokenizer.h"
#include "rxlm/tokenizer/unicode_additions.h"
#include "rxlm/tokenizer/tokenizer.h"
#include "tokenizer_fixture.h"

namespace rxlm {
namespace {

using namespace rxlm::testing;
using Pieces = std::vector<std::string>;

Pieces split(const RegexSplitter& splitter, std::string_view text) {
  std::vector<std::string_view> views;
  splitter.split(text, views);
  return Pieces(views.begin(), views.end());
}

TEST(PreTokenizer, KeepsUnmatchedGaps) {
  RegexSplitter splitter("a+");
  EXPECT_EQ(split(splitter, "xaayaz"), (Pieces{"x", "aa", "y", "a", "z"}));
  EXPECT_EQ(split(splitter, ""), Pieces{});
}

TEST(PreTokenizer, Llama3Pieces) {
  RegexSplitter splitter(kLlama3Pattern);
  EXPECT_EQ(split(splitter, "I'M here  12345\r\n\n x"), (Pieces{"I", "'M", " here", " ", " ", "123", "45", "\r\n\n", " x"}));
  // U+180E is not White_Space (Unicode 6.3+, Rust regex, tiktoken): it joins the letters after it.
  EXPECT_EQ(split(splitter, "a\u180eb"), (Pieces{"a", "\u180eb"}));
  EXPECT_EQ(split(splitter, "a\u3000b"), (Pieces{"a", "\u3000b"}));  // ideographic space is not a letter either
  // U+1E05D (Unicode 15 Cyrillic Extended-D, Lm) is a letter to tiktoken though PCRE2 10.42 predates it.
  EXPECT_EQ(split(splitter, "\U0001E05D=m"), (Pieces{"\U0001E05D", "=m"}));
  EXPECT_EQ(split(splitter, "\U00011BF0\U00011BF1\U00011BF2\U00011BF3"), (Pieces{"\U00011BF0\U00011BF1\U00011BF2", "\U00011BF3"}));
  // Invalid bytes never match: they are gaps of their own, and matching resumes after them.
  EXPECT_EQ(split(splitter, "ab\xff" "cd \xe2\x82 e"), (Pieces{"ab", "\xff", "cd", " ", "\xe2\x82", " e"}));
}

TEST(PreTokenizer, WhitespaceRewrite) {
  const std::string w = R"(\t\n\x{0B}\f\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";
  const std::string l = R"(\p{L})" + std::string(kExtraLetters);
  const std::string rewritten = with_current_unicode(R"(\s+(?!\S)|[^\s\p{L}]|\\s|[\]\s]|\p{L}+)");
  // Outside a class \s becomes a class, inside it joins the class; an escaped backslash and \] stay.
  EXPECT_EQ(rewritten, "[" + w + "]+(?![^" + w + "])|[^" + w + l + R"(]|\\s|[\])" + w + "]|[" + l + "]+");
  EXPECT_NO_THROW(RegexSplitter{rewritten});
  EXPECT_THROW(RegexSplitter("(unclosed"), Error);
}

TEST(PreTokenizer, SequenceAppliesEachStepToEveryPiece) {
  PreTokenizer sequence;
  sequence.add(R"(\p{N})");
  sequence.add(kGpt2Pattern);
  const auto views = sequence.split("abc 123 it's");
  EXPECT_EQ(Pieces(views.begin(), views.end()), (Pieces{"abc", " ", "1", "2", "3", " it", "'s"}));
}

// encode() is const and keeps per-thread PCRE2 state: many threads give the single-thread ids.
TEST(PreTokenizer, EncodeFromManyThreads) {
  auto tokenizer = load_tokenizer(shared_dir() / "models" / "llama3-tokenizer" / "tokenizer.model");
  const auto cases = read_fixture("llama3_tiktoken.json")["cases"];
  std::vector<std::string> texts;
  for (const auto& c : cases) texts.push_back(from_hex(c["hex"]));
  std::vector<std::vector<int32_t>> expected;
  for (const auto& text : texts) expected.push_back(tokenizer->encode(text));
  std::vector<int> mismatches(8, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round)
        for (size_t i = 0; i < texts.size(); ++i)
          if (tokenizer->encode(texts[(i + t * 37) % texts.size()]) != expected[(i + t * 37) % texts.size()]) ++mismatches[t];
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(8, 0));
}

}  // namespace
}  // namespace rxlm
