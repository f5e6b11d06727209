// `rxlm tokenize`: prints the token ids of a text, space-separated on one line (BOS first unless --no-bos).
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "rxlm/cli/command.h"
#include "rxlm/core/error.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/tokenizer/tokenizer.h"

namespace rxlm::cli {
namespace {

struct TokenizeOptions {
  std::string tokenizer;
  std::string model;
  std::string text;
  std::string file;
  bool no_bos = false;
  bool special = false;
};

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open the text file", path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void run_tokenize(const TokenizeOptions& options) {
  // A checkpoint's vocabulary: a GGUF carries it, a Hugging Face directory holds tokenizer files, a
  // llama2.c .bin has none (load_tokenizer says so). Checkpoints are memory-mapped, so this is cheap.
  std::unique_ptr<Tokenizer> tokenizer;
  if (!options.tokenizer.empty()) {
    tokenizer = load_tokenizer(options.tokenizer);
  } else if (!options.model.empty()) {
    tokenizer = load_tokenizer(load_checkpoint(options.model));
  } else {
    fail("give --tokenizer PATH or --model PATH");
  }
  const std::string text = options.file.empty() ? options.text : read_whole_file(options.file);
  std::vector<int32_t> ids = options.no_bos ? tokenizer->encode(text, options.special) : tokenizer->encode_with_bos(text, options.special);
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ' ';
    line += std::to_string(ids[i]);
  }
  std::cout << line << "\n";
}

const bool registered = register_command("tokenize", "Print the token ids of a text", [](CLI::App& app) {
  auto options = std::make_shared<TokenizeOptions>();
  auto* tokenizer = app.add_option("--tokenizer", options->tokenizer, "tokenizer.model, tokenizer.json, tok*.bin, .gguf or a model directory");
  auto* model = app.add_option("--model", options->model, "checkpoint whose vocabulary to use (.gguf or Hugging Face directory)");
  tokenizer->excludes(model);
  auto* text = app.add_option("--text", options->text, "text to tokenize");
  auto* file = app.add_option("--file", options->file, "file whose bytes to tokenize");
  text->excludes(file);
  app.add_flag("--no-bos", options->no_bos, "do not put BOS first");
  app.add_flag("--special", options->special, "recognise special tokens written in the text (e.g. <|eot_id|>)");
  app.callback([options, text, file] {
    if (text->count() == 0 && file->count() == 0) fail("give --text TEXT or --file F");
    run_tokenize(*options);
  });
});

}  // namespace
}  // namespace rxlm::cli
