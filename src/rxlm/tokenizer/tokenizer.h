// The tokenizer interface every vocabulary format implements (tiktoken ranks, tokenizer.json,
// GGUF-embedded vocabularies, llama2.c vocab), and the loader that picks the right one.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rxlm {

struct Checkpoint;

enum class ChatFormat { None, Llama3, ChatML };

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Token ids for `text`, without BOS. Special tokens written in the text (e.g. "<|eot_id|>") are
  // recognised only when parse_special is true; otherwise they are ordinary text.
  virtual std::vector<int32_t> encode(std::string_view text, bool parse_special = false) const = 0;
  // The exact bytes of one token (special tokens give their text form).
  virtual std::string token_bytes(int32_t id) const = 0;
  // Bytes to print when `id` follows `previous` while streaming (llama2.c drops the space after BOS).
  virtual std::string decode_next(int32_t previous, int32_t id) const { return token_bytes(id); }
  // Concatenated bytes of all ids: encode→decode returns the input bytes exactly.
  std::string decode(std::span<const int32_t> ids) const;

  int32_t vocab_size() const { return vocab_size_; }
  std::optional<int32_t> bos_id() const { return bos_id_; }
  // Tokens that end generation: EOS and end-of-turn tokens (e.g. <|eot_id|>, <|im_end|>).
  const std::vector<int32_t>& stop_ids() const { return stop_ids_; }
  bool add_bos() const { return add_bos_; }
  ChatFormat chat_format() const { return chat_format_; }
  // Id of a token spelled exactly `piece` (special or not), if any.
  virtual std::optional<int32_t> find_token(std::string_view piece) const = 0;

 protected:
  int32_t vocab_size_ = 0;
  std::optional<int32_t> bos_id_;
  std::vector<int32_t> stop_ids_;
  bool add_bos_ = true;
  ChatFormat chat_format_ = ChatFormat::None;
};

// `path` is a tokenizer.model (tiktoken ranks), tokenizer.json, a llama2.c tok*.bin, a .gguf, or a
// model directory holding one of those. Throws rxlm::Error naming the file on anything malformed.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path);
// The tokenizer a checkpoint carries (GGUF metadata, or the files of a Hugging Face directory).
std::unique_ptr<Tokenizer> load_tokenizer(const Checkpoint& checkpoint);

}  // namespace rxlm
