// Shared parts of the Tokenizer interface and the loader that recognises each vocabulary format.
#include "rxlm/tokenizer/tokenizer.h"

#include <algorithm>
#include <fstream>

#include "rxlm/core/error.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/io/gguf.h"
#include "rxlm/tokenizer/loaders.h"

namespace rxlm {

std::vector<int32_t> Tokenizer::encode_with_bos(std::string_view text, bool parse_special) const {
  std::vector<int32_t> ids;
  if (add_bos_ && bos_id_) ids.push_back(*bos_id_);
  std::vector<int32_t> rest = encode(text, parse_special);
  ids.insert(ids.end(), rest.begin(), rest.end());
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  for (int32_t id : ids) out += token_bytes(id);
  return out;
}

bool Tokenizer::is_stop(int32_t id) const {
  return std::find(stop_ids_.begin(), stop_ids_.end(), id) != stop_ids_.end();
}

void Tokenizer::check_id(int32_t id) const {
  if (id < 0 || id >= vocab_size_) fail("token id {} is outside the vocabulary (size {})", id, vocab_size_);
}

namespace {

std::string first_bytes(const std::filesystem::path& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes(n, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(n));
  bytes.resize(static_cast<size_t>(in.gcount()));
  return bytes;
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  if (fs::is_directory(path)) {
    // Hugging Face layout: tokenizer.json at the top, Meta's tokenizer.model under original/.
    for (const char* candidate : {"tokenizer.json", "tokenizer.model", "original/tokenizer.model"})
      if (fs::is_regular_file(path / candidate)) return load_tokenizer(path / candidate);
    for (const auto& entry : fs::directory_iterator(path))
      if (entry.path().extension() == ".gguf") return load_tokenizer(entry.path());
    fail("{}: no tokenizer.json, tokenizer.model, original/tokenizer.model or .gguf in this directory", path.string());
  }
  if (!fs::is_regular_file(path)) fail("{}: no such tokenizer file", path.string());
  const std::string head = first_bytes(path, 64);
  if (head.rfind("GGUF", 0) == 0) return load_gguf_vocab(*GgufFile::open(path));
  if (path.extension() == ".json" || (!head.empty() && head.find_first_not_of(" \t\r\n") != std::string::npos &&
                                      head[head.find_first_not_of(" \t\r\n")] == '{'))
    return load_tokenizer_json(path);
  if (path.extension() == ".bin") return load_llama2c_vocab(path);
  if (path.extension() == ".model") {
    // Meta's tiktoken file is text ("base64 rank" lines); a SentencePiece .model is a protobuf.
    const bool text = std::all_of(head.begin(), head.end(), [](char c) { return c == '\n' || c == ' ' || (c > 32 && c < 127); });
    if (text) return load_tiktoken_llama3(path);
    fail("{}: a SentencePiece protobuf model, which rxlm does not read; use the GGUF or llama2.c export of this vocabulary", path.string());
  }
  fail("{}: unknown tokenizer format (expected tokenizer.model, tokenizer.json, tok*.bin or .gguf)", path.string());
}

std::unique_ptr<Tokenizer> load_tokenizer(const Checkpoint& checkpoint) {
  if (checkpoint.gguf) return load_gguf_vocab(*checkpoint.gguf);
  if (checkpoint.format == "llama2c")
    fail("{}: a llama2.c checkpoint carries no vocabulary; pass the tokenizer file (e.g. tok512.bin) with --tokenizer", checkpoint.path.string());
  return load_tokenizer(checkpoint.path);
}

}  // namespace rxlm
