// Vocabularies embedded in GGUF metadata: tokenizer.ggml.model "gpt2" (byte-level BPE with merges and
// a pre-tokenizer named by tokenizer.ggml.pre, as in Llama 3 and SmolLM2 files) and "llama"
// (SentencePiece pieces with scores, as in Llama 2 files). Mirrors llama.cpp's llama-vocab.cpp.
#include <algorithm>
#include <map>

#include "rxlm/core/error.h"
#include "rxlm/io/gguf.h"
#include "rxlm/tokenizer/bpe_tokenizer.h"
#include "rxlm/tokenizer/byte_level.h"
#include "rxlm/tokenizer/chat_template.h"
#include "rxlm/tokenizer/loaders.h"
#include "rxlm/tokenizer/sentencepiece.h"

namespace rxlm {
namespace {

// llama.cpp rewrites Llama 3's (?i:...) contractions as explicit classes; we follow the GGUF's reader.
constexpr std::string_view kLlama3CppPattern =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// GPT-2's pattern without the final \s+: what it would match stays an unmatched piece, which
// splits the same way.
constexpr std::string_view kGpt2CppPattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";

struct PreTokenizerSpec {
  std::vector<std::string_view> patterns;
  bool ignore_merges = false;
  bool add_bos = false;
};

// The regex lists llama.cpp (src/llama-vocab.cpp, llm_tokenizer_bpe) uses for each tokenizer.ggml.pre.
std::optional<PreTokenizerSpec> pre_tokenizer_for(const std::string& pre) {
  if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3" || pre == "dbrx" || pre == "smaug-bpe")
    return PreTokenizerSpec{{kLlama3CppPattern}, true, true};
  if (pre == "smollm" || pre == "starcoder" || pre == "refact" || pre == "command-r" || pre == "codeshell" ||
      pre == "exaone" || pre == "minerva")
    return PreTokenizerSpec{{R"(\p{N})", kGpt2CppPattern}, false, false};
  if (pre == "gpt-2" || pre == "mpt" || pre == "olmo" || pre == "jais" || pre == "trillion")
    return PreTokenizerSpec{{kGpt2CppPattern}, false, false};
  if (pre == "default")
    return PreTokenizerSpec{{R"([\p{P}\$\+<=>\^~\|]+)", kGpt2CppPattern, R"(\p{N}+)", "[0-9][0-9][0-9]"}, false, false};
  return std::nullopt;
}

std::vector<PieceKind> token_kinds(const GgufFile& gguf, size_t count) {
  const std::string name = gguf.path().string();
  if (!gguf.has("tokenizer.ggml.token_type")) return std::vector<PieceKind>(count, PieceKind::Normal);
  const std::vector<int64_t> types = gguf.get_int_array("tokenizer.ggml.token_type");
  if (types.size() != count) fail("{}: tokenizer.ggml.token_type has {} entries for {} tokens", name, types.size(), count);
  std::vector<PieceKind> kinds(count);
  for (size_t i = 0; i < count; ++i) {
    if (types[i] < 1 || types[i] > 6) fail("{}: tokenizer.ggml.token_type[{}] = {} (expected 1..6)", name, i, types[i]);
    kinds[i] = static_cast<PieceKind>(types[i]);
  }
  return kinds;
}

std::optional<int32_t> optional_id(const GgufFile& gguf, const std::string& key, size_t count) {
  auto value = gguf.find_int(key);
  if (!value) return std::nullopt;
  if (*value < 0 || static_cast<size_t>(*value) >= count) {
    if (*value == -1) return std::nullopt;  // some converters write -1 for "none"
    fail("{}: {} = {} is outside the vocabulary of {} tokens", gguf.path().string(), key, *value, count);
  }
  return static_cast<int32_t>(*value);
}

std::unique_ptr<Tokenizer> load_gguf_bpe(const GgufFile& gguf, std::vector<std::string> tokens) {
  const std::string name = gguf.path().string();
  const size_t count = tokens.size();
  const std::vector<PieceKind> kinds = token_kinds(gguf, count);
  const std::string pre = gguf.find_string("tokenizer.ggml.pre").value_or("default");
  const auto spec = pre_tokenizer_for(pre);
  if (!spec)
    fail("{}: tokenizer.ggml.pre \"{}\" is not supported (known: llama-bpe, smollm, gpt-2, default and their aliases)", name, pre);

  std::vector<std::string> bytes(count);
  std::vector<bool> mergeable(count, false);
  std::map<std::string_view, int32_t> by_spelling;  // byte-level spelling → id, for the merges
  std::vector<SpecialToken> specials;
  for (size_t i = 0; i < count; ++i) {
    if (kinds[i] == PieceKind::Normal) {
      auto raw = byte_level_decode(tokens[i]);
      if (!raw) fail("{}: tokenizer.ggml.tokens[{}] \"{}\" is not byte-level text", name, i, tokens[i]);
      bytes[i] = std::move(*raw);
      mergeable[i] = true;
      by_spelling.emplace(tokens[i], static_cast<int32_t>(i));
    } else {
      // Control and unknown tokens are text only when asked; user-defined ones always (llama.cpp).
      specials.push_back({static_cast<int32_t>(i), tokens[i], kinds[i] == PieceKind::UserDefined});
    }
  }
  const std::vector<std::string> merge_lines = gguf.get_string_array("tokenizer.ggml.merges");
  std::vector<std::pair<int32_t, int32_t>> merges;
  merges.reserve(merge_lines.size());
  for (size_t i = 0; i < merge_lines.size(); ++i) {
    const std::string& line = merge_lines[i];
    const size_t space = line.find(' ', 1);
    if (space == std::string::npos) fail("{}: tokenizer.ggml.merges[{}] \"{}\" is not \"left right\"", name, i, line);
    auto left = by_spelling.find(std::string_view(line).substr(0, space));
    auto right = by_spelling.find(std::string_view(line).substr(space + 1));
    if (left == by_spelling.end() || right == by_spelling.end())
      fail("{}: tokenizer.ggml.merges[{}] \"{}\" names a token that is not in tokenizer.ggml.tokens", name, i, line);
    merges.emplace_back(left->second, right->second);
  }

  BpeTokenizerParts parts{BpeModel::from_merges(std::move(bytes), std::move(mergeable), merges, name), {}, std::move(specials), {}, {}, {}, false, ChatFormat::None, {}};
  parts.model.set_ignore_merges(spec->ignore_merges);
  parts.model.set_unknown(optional_id(gguf, "tokenizer.ggml.unknown_token_id", count));
  for (std::string_view pattern : spec->patterns) parts.pre_tokenizer.add(pattern);
  parts.bos = optional_id(gguf, "tokenizer.ggml.bos_token_id", count);
  parts.eos = optional_id(gguf, "tokenizer.ggml.eos_token_id", count);
  for (const char* key : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"})
    if (auto id = optional_id(gguf, key, count)) parts.extra_stops.push_back(*id);
  for (size_t i = 0; i < count; ++i)
    if (kinds[i] == PieceKind::Control && is_end_of_turn_text(tokens[i])) parts.extra_stops.push_back(static_cast<int32_t>(i));
  parts.add_bos = gguf.has("tokenizer.ggml.add_bos_token") ? gguf.get_bool("tokenizer.ggml.add_bos_token") : spec->add_bos;
  parts.chat_template = gguf.find_string("tokenizer.chat_template").value_or("");
  auto tokenizer = std::make_unique<BpeTokenizer>(std::move(parts), name);
  tokenizer->set_chat_format(detect_chat_format(*tokenizer));
  return tokenizer;
}

std::unique_ptr<Tokenizer> load_gguf_spm(const GgufFile& gguf, std::vector<std::string> tokens) {
  const std::string name = gguf.path().string();
  const size_t count = tokens.size();
  SentencePieceVocab vocab;
  vocab.kinds = token_kinds(gguf, count);
  const std::vector<double> scores = gguf.has("tokenizer.ggml.scores") ? gguf.get_float_array("tokenizer.ggml.scores") : std::vector<double>(count, 0.0);
  if (scores.size() != count) fail("{}: tokenizer.ggml.scores has {} entries for {} tokens", name, scores.size(), count);
  vocab.scores.assign(scores.begin(), scores.end());
  vocab.pieces = std::move(tokens);
  vocab.spaces_as_u2581 = true;
  vocab.add_dummy_prefix = gguf.has("tokenizer.ggml.add_space_prefix") ? gguf.get_bool("tokenizer.ggml.add_space_prefix") : true;
  vocab.bos = gguf.has("tokenizer.ggml.bos_token_id") ? optional_id(gguf, "tokenizer.ggml.bos_token_id", count) : std::optional<int32_t>(1);
  vocab.eos = gguf.has("tokenizer.ggml.eos_token_id") ? optional_id(gguf, "tokenizer.ggml.eos_token_id", count) : std::optional<int32_t>(2);
  vocab.unk = gguf.has("tokenizer.ggml.unknown_token_id") ? optional_id(gguf, "tokenizer.ggml.unknown_token_id", count) : std::optional<int32_t>(0);
  for (const char* key : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"})
    if (auto id = optional_id(gguf, key, count)) vocab.extra_stops.push_back(*id);
  vocab.add_bos = gguf.has("tokenizer.ggml.add_bos_token") ? gguf.get_bool("tokenizer.ggml.add_bos_token") : true;
  vocab.chat_template = gguf.find_string("tokenizer.chat_template").value_or("");
  auto tokenizer = std::make_unique<SentencePieceTokenizer>(std::move(vocab), name);
  tokenizer->set_chat_format(detect_chat_format(*tokenizer));
  return tokenizer;
}

}  // namespace

std::unique_ptr<Tokenizer> load_gguf_vocab(const GgufFile& gguf) {
  const std::string name = gguf.path().string();
  if (!gguf.has("tokenizer.ggml.model")) fail("{}: no tokenizer.ggml.model: this GGUF carries no vocabulary; pass one with --tokenizer", name);
  const std::string model = gguf.get_string("tokenizer.ggml.model");
  std::vector<std::string> tokens = gguf.get_string_array("tokenizer.ggml.tokens");
  if (tokens.empty()) fail("{}: tokenizer.ggml.tokens is empty", name);
  if (model == "gpt2") return load_gguf_bpe(gguf, std::move(tokens));
  if (model == "llama") return load_gguf_spm(gguf, std::move(tokens));
  fail("{}: tokenizer.ggml.model \"{}\" is not supported (rxlm reads \"gpt2\" byte-level BPE and \"llama\" SentencePiece)", name, model);
}

}  // namespace rxlm
