// Meta's Llama 3 tokenizer.model: lines "base64(token bytes) rank", ranks 0..N-1; the 256 special
// tokens <|begin_of_text|> … follow at N..N+255 (llama-models tokenizer.py).
#include <fmt/format.h>

#include <fstream>

#include "rxlm/core/error.h"
#include "rxlm/tokenizer/bpe_tokenizer.h"
#include "rxlm/tokenizer/loaders.h"

namespace rxlm {
namespace {

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Standard base64 with '=' padding; nullopt on any other character or a bad length.
std::optional<std::string> decode_base64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  size_t padding = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '=') {
      if (i + 2 < text.size()) return std::nullopt;  // '=' only in the last two places
      ++padding;
      continue;
    }
    if (padding) return std::nullopt;
    const int value = base64_value(text[i]);
    if (value < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  if (out.empty()) return std::nullopt;
  return out;
}

// The names llama-models gives ids N..N+255 (Llama 3.1+; 3.0 called 4, 8, 10 reserved tokens).
std::vector<std::string> llama3_special_names() {
  std::vector<std::string> names = {"<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                                    "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|step_id|>",
                                    "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>",
                                    "<|python_tag|>", "<|image|>"};
  for (int i = 2; names.size() < 256; ++i) names.push_back(fmt::format("<|reserved_special_token_{}|>", i));
  return names;
}

}  // namespace

std::unique_ptr<Tokenizer> load_tiktoken_llama3(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open the tiktoken file", name);
  std::vector<std::string> tokens;
  std::string line;
  for (size_t line_number = 1; std::getline(in, line); ++line_number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const size_t space = line.find(' ');
    if (space == std::string::npos) fail("{}:{}: expected \"base64 rank\", got no space", name, line_number);
    auto bytes = decode_base64(std::string_view(line).substr(0, space));
    if (!bytes) fail("{}:{}: bad base64 token \"{}\"", name, line_number, line.substr(0, space));
    long long rank = -1;
    try {
      size_t used = 0;
      rank = std::stoll(line.substr(space + 1), &used);
      if (used != line.size() - space - 1) rank = -1;
    } catch (const std::exception&) {
      rank = -1;
    }
    if (rank < 0 || rank > 10'000'000) fail("{}:{}: bad rank \"{}\"", name, line_number, line.substr(space + 1));
    if (static_cast<size_t>(rank) >= tokens.size()) tokens.resize(static_cast<size_t>(rank) + 1);
    if (!tokens[rank].empty()) fail("{}:{}: duplicate rank {}", name, line_number, rank);
    tokens[rank] = std::move(*bytes);
  }
  if (tokens.empty()) fail("{}: no tokens (expected lines \"base64 rank\")", name);
  for (size_t rank = 0; rank < tokens.size(); ++rank)
    if (tokens[rank].empty()) fail("{}: rank {} is missing (ranks must run 0..{} without gaps)", name, rank, tokens.size() - 1);

  const int32_t base = static_cast<int32_t>(tokens.size());
  BpeTokenizerParts parts{BpeModel::from_ranks(std::move(tokens), name), {}, {}, {}, {}, {}, true, ChatFormat::Llama3, {}};
  parts.model.set_ignore_merges(true);
  // tiktoken has no unknown token: every byte must be a rank of its own.
  if (auto byte = parts.model.missing_byte()) fail("{}: byte 0x{:02X} has no rank; the ranks must include all 256 single bytes", name, *byte);
  parts.pre_tokenizer.add(kLlama3Pattern);
  const std::vector<std::string> names = llama3_special_names();
  for (size_t i = 0; i < names.size(); ++i) parts.specials.push_back({base + static_cast<int32_t>(i), names[i], false});
  parts.bos = base + 0;   // <|begin_of_text|>
  parts.eos = base + 1;   // <|end_of_text|>
  parts.extra_stops = {base + 8, base + 9};  // <|eom_id|>, <|eot_id|>
  parts.add_bos = true;
  return std::make_unique<BpeTokenizer>(std::move(parts), name);
}

}  // namespace rxlm
