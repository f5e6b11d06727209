// `rxlm tokenize` end to end through the built binary: output format, --no-bos, --file, --model, errors.
#include <array>
#include <cstdio>

#include <sys/wait.h>

#include "tokenizer_fixture.h"

namespace rxlm {
namespace {

using namespace rxlm::testing;

struct Result {
  int status;
  std::string output;
};

Result run(const std::string& arguments) {
  const std::string command = std::string(RXLM_BIN) + " " + arguments + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  std::array<char, 4096> buffer;
  while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) output.append(buffer.data(), n);
  const int status = pclose(pipe);
  return {WEXITSTATUS(status), output};
}

std::string llama3() { return (shared_dir() / "models" / "llama3-tokenizer" / "tokenizer.model").string(); }

TEST(TokenizeCommand, PrintsIdsOnOneLine) {
  EXPECT_EQ(run("tokenize --tokenizer " + llama3() + " --text 'This is a test sentence.'").output,
            "128000 2028 374 264 1296 11914 13\n");
  EXPECT_EQ(run("tokenize --tokenizer " + llama3() + " --text 'This is a test sentence.' --no-bos").output, "2028 374 264 1296 11914 13\n");
  const auto tok512 = (shared_dir() / "models" / "stories260K" / "tok512.bin").string();
  EXPECT_EQ(run("tokenize --tokenizer " + tok512 + " --text 'Once upon a time'").output, "1 403 407 261 378\n");
}

TEST(TokenizeCommand, FileAndSpecials) {
  const auto path = write_temp("cli/input.txt", "a<|eot_id|>b\r\n");
  EXPECT_EQ(run("tokenize --tokenizer " + llama3() + " --file " + path.string() + " --no-bos --special").output, "64 128009 65 319\n");
  // A checkpoint's own vocabulary: the ollama tiny Llama 2 GGUF carries the Llama 2 SentencePiece vocab.
  EXPECT_EQ(run("tokenize --model " + (shared_dir() / "models" / "tiny-gguf" / "llama-2-tiny-random.gguf").string() + " --text 'Hello world'").output,
            "1 15043 3186\n");
  EXPECT_EQ(run("tokenize --tokenizer " + (shared_dir() / "models" / "tiny-gguf" / "ggml-vocab-llama-spm.gguf").string() + " --text 'Hello world'").output,
            "1 15043 3186\n");
}

TEST(TokenizeCommand, Errors) {
  Result missing = run("tokenize --tokenizer /nonexistent/tokenizer.model --text x");
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.output.find("/nonexistent/tokenizer.model"), std::string::npos) << missing.output;
  EXPECT_NE(run("tokenize --tokenizer " + llama3()).status, 0);  // neither --text nor --file
  // A llama2.c checkpoint has no vocabulary of its own.
  Result no_vocab = run("tokenize --model " + (shared_dir() / "models" / "stories260K" / "stories260K.bin").string() + " --text x");
  EXPECT_EQ(no_vocab.status, 1);
  EXPECT_NE(no_vocab.output.find("--tokenizer"), std::string::npos) << no_vocab.output;
}

}  // namespace
}  // namespace rxlm
