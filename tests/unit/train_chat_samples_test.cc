// Chat samples → training sequences on a ChatML tokenizer fixture: labels cover exactly the answer and
// its end-of-turn (checked by decoding them back to text), truncation, bad samples with file:line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "rxlm/core/error.h"
#include "rxlm/ops/cross_entropy.h"
#include "rxlm/tokenizer/tokenizer.h"
#include "rxlm/train/chat_samples.h"

namespace rxlm {
namespace {

std::unique_ptr<Tokenizer> chatml_tokenizer() {
  auto t = load_tokenizer(std::filesystem::path(RXLM_SOURCE_DIR) / "tests/fixtures/tokenizer/smollm_style.tokenizer.json");
  t->set_chat_format(ChatFormat::ChatML);
  return t;
}

const std::vector<ChatMessage> sample = {{"system", "You are a clinical pharmacist."},
                                         {"user", "Patient: age 67. Diagnoses: I2510."},
                                         {"assistant", "Drugs:\n- aspirin\n- atorvastatin"}};

TEST(ChatSamples, LabelsAreTheAnswerAndItsEndOfTurnOnly) {
  const auto tokenizer = chatml_tokenizer();
  const TrainSequence seq = tokenize_chat_sample(*tokenizer, sample, 4096);
  ASSERT_EQ(seq.labels.size(), seq.tokens.size());
  const auto first = std::find_if(seq.labels.begin(), seq.labels.end(), [](int32_t l) { return l != kIgnoreTarget; });
  ASSERT_NE(first, seq.labels.end());
  const size_t start = static_cast<size_t>(first - seq.labels.begin());
  for (size_t i = start; i < seq.labels.size(); ++i) EXPECT_EQ(seq.labels[i], seq.tokens[i]);  // no holes
  const std::vector<int32_t> prompt(seq.tokens.begin(), seq.tokens.begin() + static_cast<std::ptrdiff_t>(start));
  const std::vector<int32_t> answer(seq.tokens.begin() + static_cast<std::ptrdiff_t>(start), seq.tokens.end());
  EXPECT_EQ(tokenizer->decode(answer), "Drugs:\n- aspirin\n- atorvastatin<|im_end|>\n");
  EXPECT_THAT(tokenizer->decode(prompt), ::testing::EndsWith("<|im_start|>assistant\n"));
  EXPECT_THAT(tokenizer->decode(prompt), ::testing::HasSubstr("Patient: age 67."));
}

TEST(ChatSamples, TruncationCutsTheAnswerTail) {
  const auto tokenizer = chatml_tokenizer();
  const TrainSequence full = tokenize_chat_sample(*tokenizer, sample, 4096);
  const TrainSequence cut = tokenize_chat_sample(*tokenizer, sample, static_cast<int64_t>(full.tokens.size()) - 3);
  EXPECT_EQ(cut.tokens.size(), full.tokens.size() - 3);
  EXPECT_TRUE(std::equal(cut.labels.begin(), cut.labels.end(), full.labels.begin()));
}

TEST(ChatSamples, JsonlSkipsSamplesWithNoAnswerLeftAndNamesBadLines) {
  const auto tokenizer = chatml_tokenizer();
  const auto path = std::filesystem::temp_directory_path() / ("rxlm_chat_samples_" + std::to_string(getpid()) + ".jsonl");
  const std::string good = R"({"messages":[{"role":"system","content":"S"},{"role":"user","content":"U"},)"
                           R"({"role":"assistant","content":"Drugs:\n- heparin"}]})";
  const std::string long_prompt = R"({"messages":[{"role":"user","content":")" + std::string(400, 'x') +
                                  R"("},{"role":"assistant","content":"Drugs:\n- heparin"}]})";
  std::ofstream(path) << good << "\n" << long_prompt << "\n";
  const ChatDataset data = load_chat_jsonl(path, *tokenizer, 64);
  EXPECT_EQ(data.sequences.size(), 1u);
  EXPECT_EQ(data.skipped_no_answer_left, 1);

  std::ofstream(path) << good << "\n" << R"({"messages":[{"role":"user","content":"no answer"}]})" << "\n";
  EXPECT_THAT([&] { load_chat_jsonl(path, *tokenizer, 64); },
              ::testing::ThrowsMessage<Error>(::testing::AllOf(::testing::HasSubstr(".jsonl:2:"),
                                                               ::testing::HasSubstr("assistant"))));
  std::ofstream(path) << "{not json\n";
  EXPECT_THAT([&] { load_chat_jsonl(path, *tokenizer, 64); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr(".jsonl:1: not a chat sample")));
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace rxlm
