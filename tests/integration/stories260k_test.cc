// stories260K (llama2.c) end to end through the CLI: byte-exact against llama2.c's published outputs.
#include <gtest/gtest.h>

#include "../support/run_cli.h"

namespace rxlm::test {
namespace {

std::string stories_args() {
  return "generate --model " + shared_path("models/stories260K/stories260K.bin") + " --tokenizer " +
         shared_path("models/stories260K/tok512.bin");
}

TEST(Stories260K, GreedyFor256TokensMatchesRunC) {
  CliResult r = run_cli(stories_args() + " --temperature 0 --max-tokens 256");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, read_file(shared_path("models/stories260K/expected_text_t0_n256.txt")) + "\n");
}

TEST(Stories260K, GreedyFor200TokensMatchesRunC) {
  CliResult r = run_cli(stories_args() + " --temperature 0 --max-tokens 200");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, read_file(shared_path("models/stories260K/expected_text_t0_n200.txt")) + "\n");
}

// run.c's xorshift RNG, temperature softmax and nucleus sampler, reproduced step for step.
TEST(Stories260K, SeededTopPSamplingMatchesRunC) {
  CliResult r = run_cli(stories_args() + " --temperature 1.0 --top-p 0.9 --seed 133742 --max-tokens 256");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, read_file(shared_path("models/stories260K/expected_text_t1.0_p0.9_s133742.txt")) + "\n");
}

TEST(Stories260K, MissingModelFileIsAClearError) {
  CliResult r = run_cli("generate --model /nonexistent/stories.bin --max-tokens 4");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("/nonexistent/stories.bin"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace rxlm::test
