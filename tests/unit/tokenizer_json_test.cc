// Hugging Face tokenizer.json (byte-level BPE): a Llama 3 tokenizer.json that transformers wrote from the
// first 2000 tiktoken ranks gives tiktoken's ids; both merge spellings load; BOS comes from a
// TemplateProcessing post-processor; malformed files name the file and field. The full Llama 3
// tokenizer.json (≈9 MB, not committed) is checked when RXLM_LLAMA3_TOKENIZER_JSON points to one.
#include <cstdlib>

#include "rxlm/tokenizer/tokenizer.h"
#include "tokenizer_fixture.h"

namespace rxlm {
namespace {

using namespace rxlm::testing;
using nlohmann::json;

std::filesystem::path small_json() { return fixture_dir() / "llama3_small.tokenizer.json"; }

TEST(TokenizerJson, SmallLlama3MatchesTiktoken) {
  auto tokenizer = load_tokenizer(small_json());
  EXPECT_EQ(tokenizer->vocab_size(), 2000 + 256);
  EXPECT_EQ(tokenizer->find_token("<|eot_id|>"), 2009);
  EXPECT_TRUE(tokenizer->is_stop(2009));
  EXPECT_TRUE(tokenizer->is_stop(2001));  // <|end_of_text|>
  EXPECT_EQ(tokenizer->chat_format(), ChatFormat::Llama3);
  EXPECT_GE(expect_cases(*tokenizer, read_fixture("llama3_small_cases.json")["cases"]), 150u);
  EXPECT_EQ(tokenizer->encode("x<|eot_id|>", true), (std::vector<int32_t>{87, 2009}));
}

// SmolLM2's pre-tokenizer (Digits individual + ByteLevel with GPT-2's regex) on a 600-token BPE that
// `tokenizers` trained; a non-special added token is split out of any text, special ones only when asked.
TEST(TokenizerJson, SmolLMStyleMatchesTokenizers) {
  auto tokenizer = load_tokenizer(fixture_dir() / "smollm_style.tokenizer.json");
  EXPECT_EQ(tokenizer->vocab_size(), 602);
  const auto fixture = read_fixture("smollm_style_cases.json");
  EXPECT_GE(expect_cases(*tokenizer, fixture["cases"]), 150u);
  for (const auto& c : fixture["special_cases"])
    EXPECT_EQ(tokenizer->encode(from_hex(c["hex"]), true), c["ids"].get<std::vector<int32_t>>());
  // <sep> has lstrip/rstrip: it takes the whitespace around it, so only the ids are compared.
  for (const auto& c : fixture["strip_cases"])
    EXPECT_EQ(tokenizer->encode(from_hex(c["hex"])), c["ids"].get<std::vector<int32_t>>()) << escaped(from_hex(c["hex"]));
  EXPECT_GE(fixture["strip_cases"].size(), 6u);
  EXPECT_EQ(tokenizer->encode("<note>"), (std::vector<int32_t>{600}));
  EXPECT_EQ(tokenizer->chat_format(), ChatFormat::ChatML);  // from its <|im_start|>/<|im_end|> tokens
  EXPECT_FALSE(tokenizer->add_bos());
  EXPECT_TRUE(tokenizer->is_stop(2));
}

// transformers writes merges as ["a", "b"]; older files (and many checkpoints) use "a b".
TEST(TokenizerJson, MergesAsStrings) {
  json root = json::parse(read_bytes(small_json()));
  ASSERT_TRUE(root["model"]["merges"][0].is_array());
  for (auto& merge : root["model"]["merges"]) merge = merge[0].get<std::string>() + " " + merge[1].get<std::string>();
  auto tokenizer = load_tokenizer(write_temp("string_merges/tokenizer.json", root.dump()));
  EXPECT_GE(expect_cases(*tokenizer, read_fixture("llama3_small_cases.json")["cases"]), 150u);
}

// Llama 3.1's tokenizer.json puts BOS in a TemplateProcessing post-processor.
TEST(TokenizerJson, BosFromPostProcessor) {
  json root = json::parse(read_bytes(small_json()));
  root["post_processor"] = json::parse(R"({"type":"Sequence","processors":[{"type":"ByteLevel"},{"type":"TemplateProcessing",
      "single":[{"SpecialToken":{"id":"<|begin_of_text|>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],"pair":[],"special_tokens":{}}]})");
  auto tokenizer = load_tokenizer(write_temp("bos/tokenizer.json", root.dump()));
  EXPECT_EQ(tokenizer->bos_id(), 2000);
  EXPECT_TRUE(tokenizer->add_bos());
  std::vector<int32_t> expected = {2000};
  for (int32_t id : tokenizer->encode("Hi there")) expected.push_back(id);
  EXPECT_EQ(tokenizer->encode_with_bos("Hi there"), expected);
}

// A directory with tokenizer.json and tokenizer_config.json: EOS and the chat template from the config.
TEST(TokenizerJson, DirectoryWithConfig) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / "hf_dir";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(small_json(), dir / "tokenizer.json", std::filesystem::copy_options::overwrite_existing);
  write_temp("hf_dir/tokenizer_config.json", R"({"bos_token":"<|begin_of_text|>","eos_token":"<|eot_id|>","add_bos_token":true,
      "chat_template":"{{ bos_token }}<|start_header_id|>..."})");
  auto tokenizer = load_tokenizer(dir);
  EXPECT_EQ(tokenizer->eos_id(), 2009);
  EXPECT_EQ(tokenizer->bos_id(), 2000);
  EXPECT_TRUE(tokenizer->add_bos());
  EXPECT_EQ(tokenizer->chat_template().substr(0, 15), "{{ bos_token }}");
}

TEST(TokenizerJson, MalformedFilesRejected) {
  const json good = json::parse(read_bytes(small_json()));
  auto variant = [&](const std::string& name, auto&& edit) {
    json root = good;
    edit(root);
    const auto path = write_temp("bad/" + name + "/tokenizer.json", root.dump());
    return std::make_pair(path, [path] { load_tokenizer(path); });
  };
  {
    auto [path, load] = variant("no_vocab", [](json& r) { r["model"].erase("vocab"); });
    expect_error(load, {path.string(), "model.vocab is missing"});
  }
  {
    auto [path, load] = variant("no_merges", [](json& r) { r["model"].erase("merges"); });
    expect_error(load, {path.string(), "model.merges is missing"});
  }
  {
    auto [path, load] = variant("bad_merge", [](json& r) { r["model"]["merges"][5] = json::array({"zz_not_a_token", "q"}); });
    expect_error(load, {path.string(), "model.merges[5]", "zz_not_a_token"});
  }
  {
    auto [path, load] = variant("merge_shape", [](json& r) { r["model"]["merges"][3] = 42; });
    expect_error(load, {path.string(), "model.merges[3]"});
  }
  {
    auto [path, load] = variant("dup_id", [](json& r) { r["model"]["vocab"]["zz_extra"] = 17; });
    expect_error(load, {path.string(), "id 17"});
  }
  {
    auto [path, load] = variant("gap", [](json& r) { r["model"]["vocab"].erase("!"); });
    expect_error(load, {path.string(), "id 0 is missing"});
  }
  {
    auto [path, load] = variant("normalizer", [](json& r) { r["normalizer"] = json{{"type", "NFC"}}; });
    expect_error(load, {path.string(), "normalizer of type \"NFC\""});
  }
  {
    auto [path, load] = variant("wordpiece", [](json& r) { r["model"]["type"] = "WordPiece"; });
    expect_error(load, {path.string(), "model.type \"WordPiece\""});
  }
  {
    auto [path, load] = variant("split", [](json& r) { r["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed"; });
    expect_error(load, {path.string(), "pre_tokenizer.pretokenizers[0].behavior \"Removed\""});
  }
  {
    auto [path, load] = variant("regex", [](json& r) { r["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed"; });
    expect_error(load, {"does not compile"});
  }
  {
    auto [path, load] = variant("added", [](json& r) { r["added_tokens"][0]["id"] = 5; });
    expect_error(load, {path.string(), "added_tokens[0]", "reuses id 5"});
  }
  const auto truncated = write_temp("bad/truncated/tokenizer.json", read_bytes(small_json()).substr(0, 5000));
  expect_error([&] { load_tokenizer(truncated); }, {truncated.string(), "not valid JSON"});
}

TEST(TokenizerJson, FullLlama3FromTransformers) {
  const char* path = std::getenv("RXLM_LLAMA3_TOKENIZER_JSON");
  if (!path || !*path)
    GTEST_SKIP() << "RXLM_LLAMA3_TOKENIZER_JSON is not set (write one with tools/reference/make_tokenizer_fixtures.py --full-json PATH)";
  auto tokenizer = load_tokenizer(path);
  EXPECT_EQ(tokenizer->vocab_size(), 128256);
  EXPECT_GE(expect_cases(*tokenizer, read_fixture("llama3_tiktoken.json")["cases"]), 300u);
}

}  // namespace
}  // namespace rxlm
