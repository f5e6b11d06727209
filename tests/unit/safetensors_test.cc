// safetensors reader on files written by the Hugging Face library, and our writer against its bytes.
#include "rxlm/io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

#include "io_test_files.h"

namespace rxlm {
namespace {

using testing::read_bytes;
using testing::tiny_llama_dir;

TEST(Safetensors, ReadsTheHuggingFaceWrittenTinyModel) {
  auto st = SafetensorsFile::open(tiny_llama_dir() / "f32" / "model.safetensors");
  EXPECT_EQ(st->tensors().size(), 21u);
  EXPECT_EQ(st->metadata().at("format"), "pt");
  const TensorView* q = st->find("model.layers.1.self_attn.q_proj.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->dtype, DType::F32);
  EXPECT_EQ(q->shape, (std::vector<int64_t>{64, 64}));
  EXPECT_EQ(q->nbytes, 64u * 64 * 4);
  const TensorView* k = st->find("model.layers.0.self_attn.k_proj.weight");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->shape, (std::vector<int64_t>{32, 64}));  // 2 kv heads x head_dim 16
  EXPECT_EQ(st->find("no.such.tensor"), nullptr);
  // Views point into the mapping: no copy of the weights is made.
  const std::byte* begin = st->file()->data();
  for (const auto& t : st->tensors()) {
    EXPECT_GE(t.data, begin);
    EXPECT_LE(t.data + t.nbytes, begin + st->file()->size());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 4, 0u) << t.name;
  }
}

TEST(Safetensors, Bf16FileHoldsTheF32WeightsRoundedToNearestEven) {
  auto f32 = SafetensorsFile::open(tiny_llama_dir() / "f32" / "model.safetensors");
  auto bf16 = SafetensorsFile::open(tiny_llama_dir() / "bf16" / "model.safetensors");
  ASSERT_EQ(f32->tensors().size(), bf16->tensors().size());
  for (const auto& t : f32->tensors()) {
    const TensorView* b = bf16->find(t.name);
    ASSERT_NE(b, nullptr) << t.name;
    ASSERT_EQ(b->dtype, DType::BF16);
    ASSERT_EQ(b->shape, t.shape);
    for (int64_t i = 0; i < t.numel(); ++i) {
      float x;
      uint16_t h;
      std::memcpy(&x, t.data + 4 * i, 4);
      std::memcpy(&h, b->data + 2 * i, 2);
      ASSERT_EQ(h, f32_to_bf16(x)) << t.name << " element " << i;
    }
  }
}

TEST(Safetensors, WriterReproducesTheReferenceLibraryBytes) {
  // Re-writing the tensors of a file made by the Hugging Face library gives the same bytes: same
  // header JSON, same order, same padding.
  const auto original = tiny_llama_dir() / "bf16" / "model.safetensors";
  auto st = SafetensorsFile::open(original);
  std::vector<SafetensorsEntry> entries;
  for (const auto& t : st->tensors()) entries.push_back({t.name, t.dtype, t.shape, {t.data, t.nbytes}});
  testing::ScratchDir dir;
  write_safetensors(dir / "copy.safetensors", entries, st->metadata());
  EXPECT_EQ(read_bytes(dir / "copy.safetensors"), read_bytes(original));
  EXPECT_FALSE(std::filesystem::exists(dir / "copy.safetensors.tmp"));
}

TEST(Safetensors, WriterRoundTripsMixedDtypesAligned) {
  std::vector<float> a = {1.5f, -2.25f, 3.0f};
  std::vector<uint16_t> b = {f32_to_bf16(0.5f)};  // 2 bytes: would misalign a later f32 without sorting
  std::vector<uint16_t> c = {f32_to_f16(-1.0f), f32_to_f16(2.0f)};
  std::vector<SafetensorsEntry> entries = {
      {"b.lora_B.weight", DType::BF16, {1, 1}, std::as_bytes(std::span(b))},
      {"a.lora_A.weight", DType::F32, {3}, std::as_bytes(std::span(a))},
      {"c.half", DType::F16, {2}, std::as_bytes(std::span(c))},
  };
  testing::ScratchDir dir;
  write_safetensors(dir / "adapter.safetensors", entries, {{"format", "pt"}});
  auto st = SafetensorsFile::open(dir / "adapter.safetensors");
  ASSERT_EQ(st->tensors().size(), 3u);
  EXPECT_EQ(st->tensors()[0].name, "a.lora_A.weight");  // largest elements first
  const TensorView* ta = st->find("a.lora_A.weight");
  ASSERT_NE(ta, nullptr);
  EXPECT_EQ(std::memcmp(ta->data, a.data(), 12), 0);
  const TensorView* tb = st->find("b.lora_B.weight");
  ASSERT_NE(tb, nullptr);
  EXPECT_EQ(tb->shape, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(bf16_to_f32(*reinterpret_cast<const uint16_t*>(tb->data)), 0.5f);
  const TensorView* tc = st->find("c.half");
  ASSERT_NE(tc, nullptr);
  EXPECT_EQ(f16_to_f32(reinterpret_cast<const uint16_t*>(tc->data)[1]), 2.0f);
}

TEST(Safetensors, WriterRejectsInconsistentInput) {
  std::vector<float> a = {1.f, 2.f};
  testing::ScratchDir dir;
  std::vector<SafetensorsEntry> wrong_size = {{"x", DType::F32, {3}, std::as_bytes(std::span(a))}};
  EXPECT_NE(testing::error_of([&] { write_safetensors(dir / "x.safetensors", wrong_size); }).find("'x'"),
            std::string::npos);
  std::vector<SafetensorsEntry> quantized = {{"q", DType::Q8_0, {2}, std::as_bytes(std::span(a))}};
  EXPECT_NE(testing::error_of([&] { write_safetensors(dir / "q.safetensors", quantized); }).find("Q8_0"),
            std::string::npos);
  std::vector<SafetensorsEntry> twice = {{"t", DType::F32, {2}, std::as_bytes(std::span(a))},
                                         {"t", DType::F32, {2}, std::as_bytes(std::span(a))}};
  EXPECT_NE(testing::error_of([&] { write_safetensors(dir / "t.safetensors", twice); }).find("twice"),
            std::string::npos);
}

}  // namespace
}  // namespace rxlm
