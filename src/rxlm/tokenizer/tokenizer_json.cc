// Hugging Face tokenizer.json with a byte-level BPE model (the format Llama 3 and SmolLM2 checkpoints
// carry): model.vocab, model.merges ("a b" or ["a","b"]), added_tokens, pre_tokenizer built from
// Split/Digits/ByteLevel/Sequence, ByteLevel decoder; BOS from the post_processor or tokenizer_config.json.
#include <nlohmann/json.hpp>

#include <fstream>

#include "rxlm/core/error.h"
#include "rxlm/tokenizer/bpe_tokenizer.h"
#include "rxlm/tokenizer/byte_level.h"
#include "rxlm/tokenizer/chat_template.h"
#include "rxlm/tokenizer/loaders.h"

namespace rxlm {
namespace {

using nlohmann::json;

json read_json(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path.string());
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    fail("{}: not valid JSON: {}", path.string(), e.what());
  }
}

std::string type_of(const json& node) {
  return node.is_object() && node.contains("type") && node["type"].is_string() ? node["type"].get<std::string>() : "";
}

// A literal string as a PCRE2 pattern.
std::string quote_regex(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

void add_pre_tokenizer(const json& node, const std::string& where, PreTokenizer& out, const std::string& name) {
  if (node.is_null()) return;
  const std::string type = type_of(node);
  if (type == "Sequence") {
    if (!node.contains("pretokenizers") || !node["pretokenizers"].is_array()) fail("{}: {}.pretokenizers is missing", name, where);
    for (size_t i = 0; i < node["pretokenizers"].size(); ++i)
      add_pre_tokenizer(node["pretokenizers"][i], fmt::format("{}.pretokenizers[{}]", where, i), out, name);
  } else if (type == "Split") {
    const std::string behavior = node.value("behavior", "");
    if (behavior != "Isolated") fail("{}: {}.behavior \"{}\" is not supported (rxlm reads Isolated)", name, where, behavior);
    if (node.value("invert", false)) fail("{}: {}.invert true is not supported", name, where);
    const json& pattern = node.contains("pattern") ? node["pattern"] : json();
    if (pattern.contains("Regex") && pattern["Regex"].is_string()) {
      out.add(pattern["Regex"].get<std::string>());
    } else if (pattern.contains("String") && pattern["String"].is_string()) {
      out.add(quote_regex(pattern["String"].get<std::string>()));
    } else {
      fail("{}: {}.pattern needs a Regex or String", name, where);
    }
  } else if (type == "Digits") {
    out.add(node.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)");
  } else if (type == "ByteLevel") {
    if (node.value("add_prefix_space", false))
      fail("{}: {}.add_prefix_space true is not supported (Llama 3 and SmolLM2 use false)", name, where);
    if (node.value("use_regex", true)) out.add(kGpt2Pattern);
  } else {
    fail("{}: {} of type \"{}\" is not supported (rxlm reads Sequence, Split, Digits, ByteLevel)", name, where, type);
  }
}

// The token a TemplateProcessing post-processor puts before a single sequence, if any.
std::optional<std::string> leading_template_token(const json& node) {
  const std::string type = type_of(node);
  if (type == "Sequence" && node.contains("processors")) {
    for (const json& child : node["processors"])
      if (auto token = leading_template_token(child)) return token;
    return std::nullopt;
  }
  if (type != "TemplateProcessing" || !node.contains("single") || !node["single"].is_array() || node["single"].empty())
    return std::nullopt;
  const json& first = node["single"][0];
  if (first.contains("SpecialToken") && first["SpecialToken"].contains("id")) return first["SpecialToken"]["id"].get<std::string>();
  return std::nullopt;
}

// tokenizer_config.json spells special tokens as a string or as {"content": ...}.
std::optional<std::string> config_token(const json& config, const char* key) {
  if (!config.contains(key)) return std::nullopt;
  const json& value = config[key];
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string()) return value["content"].get<std::string>();
  return std::nullopt;
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer_json(const std::filesystem::path& path) {
  const std::string name = path.string();
  const json root = read_json(path);
  if (!root.is_object() || !root.contains("model") || !root["model"].is_object()) fail("{}: no \"model\" object; not a tokenizer.json", name);
  const json& model = root["model"];
  if (model.contains("type") && model["type"] != "BPE") fail("{}: model.type {} is not supported (rxlm reads byte-level BPE)", name, model["type"].dump());
  if (!model.contains("vocab") || !model["vocab"].is_object()) fail("{}: model.vocab is missing or not an object", name);
  if (!model.contains("merges") || !model["merges"].is_array()) fail("{}: model.merges is missing or not an array", name);
  if (model.value("byte_fallback", false)) fail("{}: model.byte_fallback true marks a SentencePiece-style BPE, which rxlm reads from GGUF instead", name);
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (model.contains(key) && model[key].is_string() && !model[key].get<std::string>().empty())
      fail("{}: model.{} is not supported in a byte-level BPE", name, key);
  if (root.contains("normalizer") && !root["normalizer"].is_null())
    fail("{}: normalizer of type \"{}\" is not supported (byte-level BPE vocabularies have none)", name, type_of(root["normalizer"]));
  if (root.contains("decoder") && !root["decoder"].is_null() && type_of(root["decoder"]) != "ByteLevel")
    fail("{}: decoder of type \"{}\" is not supported (expected ByteLevel)", name, type_of(root["decoder"]));

  // Ids: the vocabulary, then added tokens (inside or beyond it).
  std::vector<std::string> spelling;
  auto place = [&](int64_t id, const std::string& text, const std::string& where) {
    if (id < 0 || id > 10'000'000) fail("{}: {} has id {}", name, where, id);
    if (static_cast<size_t>(id) >= spelling.size()) spelling.resize(static_cast<size_t>(id) + 1);
    if (!spelling[id].empty() && spelling[id] != text) fail("{}: id {} is given to both \"{}\" and \"{}\" ({})", name, id, spelling[id], text, where);
    spelling[id] = text;
  };
  for (const auto& [text, id] : model["vocab"].items()) {
    if (!id.is_number_integer()) fail("{}: model.vocab[\"{}\"] is not an integer id", name, text);
    place(id.get<int64_t>(), text, fmt::format("model.vocab[\"{}\"]", text));
  }
  std::vector<SpecialToken> specials;
  std::vector<bool> added(spelling.size(), false);
  if (root.contains("added_tokens") && root["added_tokens"].is_array()) {
    for (size_t i = 0; i < root["added_tokens"].size(); ++i) {
      const json& token = root["added_tokens"][i];
      if (!token.contains("id") || !token["id"].is_number_integer() || !token.contains("content") || !token["content"].is_string())
        fail("{}: added_tokens[{}] needs an integer id and a string content", name, i);
      const int64_t id = token["id"].get<int64_t>();
      const std::string content = token["content"].get<std::string>();
      if (id >= 0 && static_cast<size_t>(id) < spelling.size() && !spelling[id].empty() && spelling[id] != content)
        fail("{}: added_tokens[{}] \"{}\" reuses id {} of \"{}\"", name, i, content, id, spelling[id]);
      place(id, content, fmt::format("added_tokens[{}]", i));
      if (added.size() < spelling.size()) added.resize(spelling.size(), false);
      added[id] = true;
      // Hugging Face splits non-special added tokens out of any text; special ones only when asked.
      specials.push_back({static_cast<int32_t>(id), content, !token.value("special", false), token.value("lstrip", false),
                          token.value("rstrip", false)});
    }
  }
  added.resize(spelling.size(), false);

  std::vector<std::string> bytes(spelling.size());
  std::vector<bool> mergeable(spelling.size(), false);
  std::unordered_map<std::string_view, int32_t> by_spelling;
  for (size_t id = 0; id < spelling.size(); ++id) {
    if (spelling[id].empty()) fail("{}: id {} is missing (ids must run 0..{} without gaps)", name, id, spelling.size() - 1);
    if (added[id]) continue;
    auto raw = byte_level_decode(spelling[id]);
    if (!raw) fail("{}: model.vocab[\"{}\"] is not byte-level text (id {})", name, spelling[id], id);
    bytes[id] = std::move(*raw);
    mergeable[id] = true;
    by_spelling.emplace(spelling[id], static_cast<int32_t>(id));
  }
  std::vector<std::pair<int32_t, int32_t>> merges;
  const json& merge_list = model["merges"];
  merges.reserve(merge_list.size());
  for (size_t i = 0; i < merge_list.size(); ++i) {
    const json& merge = merge_list[i];
    std::string left, right;
    if (merge.is_string()) {
      const std::string line = merge.get<std::string>();
      const size_t space = line.find(' ', 1);
      if (space == std::string::npos) fail("{}: model.merges[{}] \"{}\" is not \"left right\"", name, i, line);
      left = line.substr(0, space);
      right = line.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else {
      fail("{}: model.merges[{}] is neither \"left right\" nor [\"left\", \"right\"]", name, i);
    }
    auto l = by_spelling.find(left);
    auto r = by_spelling.find(right);
    if (l == by_spelling.end() || r == by_spelling.end()) fail("{}: model.merges[{}] names \"{}\" \"{}\", not both in model.vocab", name, i, left, right);
    merges.emplace_back(l->second, r->second);
  }

  BpeTokenizerParts parts{BpeModel::from_merges(std::move(bytes), std::move(mergeable), merges, name), {}, std::move(specials), {}, {}, {}, false, ChatFormat::None, {}};
  parts.model.set_ignore_merges(model.value("ignore_merges", false));
  add_pre_tokenizer(root.contains("pre_tokenizer") ? root["pre_tokenizer"] : json(), "pre_tokenizer", parts.pre_tokenizer, name);

  auto id_of = [&](const std::string& text) -> std::optional<int32_t> {
    for (size_t id = 0; id < spelling.size(); ++id)
      if (spelling[id] == text) return static_cast<int32_t>(id);
    return std::nullopt;
  };
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    const std::string unk = model["unk_token"].get<std::string>();
    parts.model.set_unknown(id_of(unk));
    if (!id_of(unk)) fail("{}: model.unk_token \"{}\" is neither in model.vocab nor in added_tokens", name, unk);
  }
  if (root.contains("post_processor"))
    if (auto bos = leading_template_token(root["post_processor"])) {
      parts.bos = id_of(*bos);
      parts.add_bos = parts.bos.has_value();
    }
  // tokenizer_config.json beside it names BOS/EOS and carries the chat template.
  const std::filesystem::path config_path = path.parent_path() / "tokenizer_config.json";
  if (std::filesystem::is_regular_file(config_path)) {
    const json config = read_json(config_path);
    if (auto bos = config_token(config, "bos_token")) parts.bos = id_of(*bos);
    if (auto eos = config_token(config, "eos_token")) parts.eos = id_of(*eos);
    if (config.contains("add_bos_token") && config["add_bos_token"].is_boolean()) parts.add_bos = config["add_bos_token"].get<bool>();
    if (config.contains("chat_template") && config["chat_template"].is_string()) parts.chat_template = config["chat_template"].get<std::string>();
  }
  for (const SpecialToken& special : parts.specials)
    if (is_end_of_turn_text(special.text)) {
      if (!parts.eos && (special.text == "<|end_of_text|>" || special.text == "<|endoftext|>" || special.text == "</s>")) parts.eos = special.id;
      parts.extra_stops.push_back(special.id);
    }
  auto tokenizer = std::make_unique<BpeTokenizer>(std::move(parts), name);
  tokenizer->set_chat_format(detect_chat_format(*tokenizer));
  return tokenizer;
}

}  // namespace rxlm
