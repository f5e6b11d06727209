// llama2.c tokenizer files (tok*.bin): int32 max_token_length, then per token float32 score,
// int32 length and the piece bytes. Ids 0/1/2 are <unk>, BOS, EOS; <0xXX> pieces are raw bytes.
#include <cstring>

#include "rxlm/core/error.h"
#include "rxlm/core/mapped_file.h"
#include "rxlm/tokenizer/loaders.h"
#include "rxlm/tokenizer/sentencepiece.h"

namespace rxlm {
namespace {

// The vocabulary size is not in the file: it is what the bytes hold (512 for tok512.bin).
template <class T>
T read_le(const std::byte* data) {
  T value;
  std::memcpy(&value, data, sizeof(T));
  return value;
}

}  // namespace

std::unique_ptr<Tokenizer> load_llama2c_vocab(const std::filesystem::path& path) {
  auto file = MappedFile::open(path);
  const std::string name = path.string();
  if (file->size() < 4) fail("{}: too short for a llama2.c tokenizer ({} bytes; expected int32 max_token_length first)", name, file->size());
  const int32_t max_length = read_le<int32_t>(file->data());
  if (max_length <= 0 || max_length > 4096) fail("{}: max_token_length {} is implausible; not a llama2.c tokenizer file", name, max_length);

  SentencePieceVocab vocab;
  size_t offset = 4;
  while (offset < file->size()) {
    const size_t id = vocab.pieces.size();
    if (file->size() - offset < 8) fail("{}: truncated at token {} (offset {}): score and length need 8 bytes, {} left", name, id, offset, file->size() - offset);
    const float score = read_le<float>(file->data() + offset);
    const int32_t length = read_le<int32_t>(file->data() + offset + 4);
    offset += 8;
    if (length < 0 || length > max_length)
      fail("{}: token {} has length {} (max_token_length is {}); is this a llama2.c tokenizer (tok*.bin) and not a checkpoint?",
           name, id, length, max_length);
    if (file->size() - offset < static_cast<size_t>(length)) fail("{}: truncated inside token {} (offset {}): {} bytes announced, {} left", name, id, offset, length, file->size() - offset);
    vocab.pieces.emplace_back(reinterpret_cast<const char*>(file->data() + offset), length);
    vocab.scores.push_back(score);
    offset += length;
  }
  if (vocab.pieces.size() < 3 + 256) fail("{}: only {} tokens; a llama2.c vocabulary has <unk>, BOS, EOS and 256 byte pieces first", name, vocab.pieces.size());
  vocab.kinds.assign(vocab.pieces.size(), PieceKind::Normal);
  vocab.kinds[0] = PieceKind::Unknown;
  vocab.kinds[1] = PieceKind::Control;
  vocab.kinds[2] = PieceKind::Control;
  for (size_t i = 3; i < 3 + 256; ++i) vocab.kinds[i] = PieceKind::Byte;
  vocab.llama2c_grouping = true;
  vocab.spaces_as_u2581 = false;
  vocab.add_dummy_prefix = true;
  vocab.unk = 0;
  vocab.bos = 1;
  vocab.eos = 2;
  // run.c ends a sample when the model predicts BOS again: BOS delimits stories in the training data.
  vocab.extra_stops = {1};
  vocab.add_bos = true;
  return std::make_unique<SentencePieceTokenizer>(std::move(vocab), name);
}

}  // namespace rxlm
