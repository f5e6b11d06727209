// GPT-2's byte↔character table: byte-level BPE vocabularies (tokenizer.json, GGUF "gpt2") spell each
// byte as one printable character (space → "Ġ", newline → "Ċ"); rxlm keeps raw bytes internally.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace rxlm {

// The raw bytes a byte-level token string stands for; nullopt if it holds a character outside the table.
std::optional<std::string> byte_level_decode(std::string_view mapped);
// The byte-level spelling of raw bytes (used to write and check vocabularies).
std::string byte_level_encode(std::string_view bytes);

}  // namespace rxlm
