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
  // encode() with BOS in front when this tokenizer adds one (add_bos() and bos_id()): the ids a model
  // is fed for a plain prompt.
  std::vector<int32_t> encode_with_bos(std::string_view text, bool parse_special = false) const;
  // The exact bytes of one token (special tokens give their text form). Throws on an id out of range.
  virtual std::string token_bytes(int32_t id) const = 0;
  // Bytes to print when `id` follows `previous` while streaming (llama2.c drops the space after BOS).
  // `previous` is -1 for the first token of a stream.
  virtual std::string decode_next(int32_t previous, int32_t id) const { return token_bytes(id); }
  // Concatenated bytes of all ids: encode→decode returns the input bytes exactly. SentencePiece-style
  // vocabularies drop the dummy-prefix space that encode() put in front.
  virtual std::string decode(std::span<const int32_t> ids) const;

  int32_t vocab_size() const { return vocab_size_; }
  std::optional<int32_t> bos_id() const { return bos_id_; }
  std::optional<int32_t> eos_id() const { return eos_id_; }
  // Tokens that end generation: EOS and end-of-turn tokens (e.g. <|eot_id|>, <|im_end|>).
  const std::vector<int32_t>& stop_ids() const { return stop_ids_; }
  bool is_stop(int32_t id) const;
  bool add_bos() const { return add_bos_; }
  // Control tokens (BOS, <|eot_id|>, <|im_start|>, ...): a chat front end may hide them.
  virtual bool is_control(int32_t id) const { return false; }
  ChatFormat chat_format() const { return chat_format_; }
  // Loaders set what the metadata says (detect_chat_format); a --chat-format override may replace it.
  void set_chat_format(ChatFormat format) { chat_format_ = format; }
  // The chat template text the vocabulary carries (GGUF tokenizer.chat_template,
  // tokenizer_config.json chat_template), empty when none.
  const std::string& chat_template() const { return chat_template_; }
  // Id of a token spelled exactly `piece` (special or not), if any.
  virtual std::optional<int32_t> find_token(std::string_view piece) const = 0;

 protected:
  void check_id(int32_t id) const;

  int32_t vocab_size_ = 0;
  std::optional<int32_t> bos_id_;
  std::optional<int32_t> eos_id_;
  std::vector<int32_t> stop_ids_;
  bool add_bos_ = true;
  ChatFormat chat_format_ = ChatFormat::None;
  std::string chat_template_;
};

// `path` is a tokenizer.model (tiktoken ranks), tokenizer.json, a llama2.c tok*.bin, a .gguf, or a
// model directory holding one of those. Throws rxlm::Error naming the file on anything malformed.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path);
// The tokenizer a checkpoint carries (GGUF metadata, or the files of a Hugging Face directory).
std::unique_ptr<Tokenizer> load_tokenizer(const Checkpoint& checkpoint);

}  // namespace rxlm
