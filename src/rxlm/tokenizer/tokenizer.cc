// Shared parts of the Tokenizer interface.
#include "rxlm/tokenizer/tokenizer.h"

namespace rxlm {

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  for (int32_t id : ids) out += token_bytes(id);
  return out;
}

}  // namespace rxlm
