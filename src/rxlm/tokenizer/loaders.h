// Internal: one loader per vocabulary format; load_tokenizer() in tokenizer.cc picks among them.
#pragma once
#include <filesystem>
#include <memory>

#include "rxlm/tokenizer/tokenizer.h"

namespace rxlm {

class GgufFile;

std::unique_ptr<Tokenizer> load_llama2c_vocab(const std::filesystem::path& path);
std::unique_ptr<Tokenizer> load_tiktoken_llama3(const std::filesystem::path& path);
std::unique_ptr<Tokenizer> load_tokenizer_json(const std::filesystem::path& path);
std::unique_ptr<Tokenizer> load_gguf_vocab(const GgufFile& gguf);

}  // namespace rxlm
