// `rxlm inspect` run as a program: the Llama 3.1 8B config-only count, the tiny fixtures, errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <string>

namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

struct CommandResult {
  int status;
  std::string output;  // stdout and stderr
};

CommandResult run_inspect(const std::string& model) {
  std::string command = std::string(RXLM_BIN) + " inspect --model '" + model + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return {-1, ""};
  std::string out;
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string fixture(const std::string& rel) { return std::string(RXLM_SOURCE_DIR) + "/tests/fixtures/" + rel; }

TEST(Inspect, Llama31_8BConfigOnlyReportsThePublishedParameterCount) {
  CommandResult r = run_inspect(fixture("configs/llama-3.1-8b"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, AllOf(HasSubstr("config only"), HasSubstr("parameters (config): 8,030,261,248"),
                              HasSubstr("bytes at bf16 (from config): 16,060,522,496"),
                              HasSubstr("num_key_value_heads       8"), HasSubstr("rope_theta                500000"),
                              HasSubstr("llama3 (factor 8, low_freq_factor 1, high_freq_factor 4, "
                                        "original_max_position_embeddings 8192)"),
                              HasSubstr("eos_token_ids             [128001, 128008, 128009]")));
}

TEST(Inspect, TinyHfCheckpointCountsTensorsParametersAndBytes) {
  CommandResult r = run_inspect(fixture("tiny_llama/bf16"));
  ASSERT_EQ(r.status, 0) << r.output;
  // 2·256·64 + 2·(64·64 + 2·32·64 + 64·64 + 3·64·160 + 2·64) + 64 = 119,104 parameters in 21 tensors.
  EXPECT_THAT(r.output, AllOf(HasSubstr("format: hf\n"), HasSubstr("tensors: 21\n"),
                              HasSubstr("parameters (tensors): 119,104\n"), HasSubstr("parameters (config): 119,104\n"),
                              HasSubstr("BF16  238,208 bytes in 21 tensors")));
}

TEST(Inspect, TinyGgufShowsQuantizedBytesAndMetadata) {
  CommandResult r = run_inspect(fixture("tiny_llama/gguf/tiny-q8_0.gguf"));
  ASSERT_EQ(r.status, 0) << r.output;
  // 118,784 matrix weights in 16 tensors at 34 bytes per 32; 5 norms + rope_freqs stay F32.
  EXPECT_THAT(r.output, AllOf(HasSubstr("format: gguf\n"), HasSubstr("gguf: version 3"), HasSubstr("tensors: 22\n"),
                              HasSubstr("Q8_0  126,208 bytes in 16 tensors"), HasSubstr("F32   1,312 bytes in 6 tensors"),
                              HasSubstr("rope_adjacent_pairs       true"), HasSubstr("rope_freqs.weight: present")));
}

TEST(Inspect, DamagedModelIsAnErrorWithExitCode1) {
  CommandResult r = run_inspect(fixture("tiny_llama/f32/logits.f32"));
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, AllOf(HasSubstr("error: "), HasSubstr("logits.f32")));
  CommandResult missing = run_inspect("/nonexistent/model");
  EXPECT_EQ(missing.status, 1);
  EXPECT_THAT(missing.output, HasSubstr("no such file or directory"));
}

}  // namespace
