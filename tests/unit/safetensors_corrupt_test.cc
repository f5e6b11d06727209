// Damaged safetensors files, each crafted from the valid tiny fixture, give an rxlm::Error naming the
// file and the tensor — never a crash, a huge allocation or garbage views.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "io_test_files.h"
#include "rxlm/io/safetensors.h"

namespace rxlm {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::error_of;

class SafetensorsCorrupt : public ::testing::Test {
 protected:
  void SetUp() override {
    original_ = testing::read_bytes(testing::tiny_llama_dir() / "f32" / "model.safetensors");
    std::memcpy(&header_len_, original_.data(), 8);
    header_ = nlohmann::ordered_json::parse(original_.substr(8, header_len_));
  }
  std::string data() const { return original_.substr(8 + header_len_); }
  // A file with `header` (re-padded to 8 bytes plus `extra_pad` spaces) in front of `data`.
  static std::string assemble(const nlohmann::ordered_json& header, const std::string& data, size_t extra_pad = 0) {
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8 + extra_pad, ' ');
    uint64_t n = text.size();
    std::string out(8, '\0');
    std::memcpy(out.data(), &n, 8);
    return out + text + data;
  }
  // Writes `bytes` and returns the error opening them gives.
  std::string open_error(const std::string& bytes) {
    testing::write_bytes(path(), bytes);
    return error_of([&] { SafetensorsFile::open(path()); });
  }
  std::filesystem::path path() const { return dir_ / "model.safetensors"; }

  testing::ScratchDir dir_;
  std::string original_;
  uint64_t header_len_ = 0;
  nlohmann::ordered_json header_;
};

TEST_F(SafetensorsCorrupt, UnmodifiedCopyLoads) {
  testing::write_bytes(path(), assemble(header_, data()));
  EXPECT_EQ(SafetensorsFile::open(path())->tensors().size(), 21u);
}

TEST_F(SafetensorsCorrupt, HeaderLengthLargerThanTheFile) {
  std::string bytes = original_;
  uint64_t lie = bytes.size();
  std::memcpy(bytes.data(), &lie, 8);
  EXPECT_THAT(open_error(bytes), AllOf(HasSubstr(path().string()), HasSubstr("header length")));
}

TEST_F(SafetensorsCorrupt, AbsurdHeaderLengthDoesNotAllocate) {
  std::string bytes = original_;
  uint64_t lie = ~uint64_t{0};
  std::memcpy(bytes.data(), &lie, 8);
  EXPECT_THAT(open_error(bytes), HasSubstr("header length"));
}

TEST_F(SafetensorsCorrupt, FileShorterThanTheLengthField) {
  EXPECT_THAT(open_error("abc"), AllOf(HasSubstr(path().string()), HasSubstr("truncated")));
}

TEST_F(SafetensorsCorrupt, MalformedJsonHeader) {
  std::string bytes = original_;
  bytes[8 + 20] = '\x01';
  EXPECT_THAT(open_error(bytes), AllOf(HasSubstr(path().string()), HasSubstr("not valid JSON")));
}

TEST_F(SafetensorsCorrupt, UnsupportedDtypeIsNamed) {
  header_["model.norm.weight"]["dtype"] = "I64";
  EXPECT_THAT(open_error(assemble(header_, data())),
              AllOf(HasSubstr(path().string()), HasSubstr("model.norm.weight"), HasSubstr("I64"),
                    HasSubstr("supported: F32, F16, BF16")));
}

TEST_F(SafetensorsCorrupt, OffsetsPastTheEndOfTheFile) {
  auto& entry = header_["model.norm.weight"];
  uint64_t begin = entry["data_offsets"][0];
  entry["data_offsets"] = {begin + (1u << 20), begin + (1u << 20) + 256};
  EXPECT_THAT(open_error(assemble(header_, data())),
              AllOf(HasSubstr(path().string()), HasSubstr("model.norm.weight"), HasSubstr("truncated")));
}

TEST_F(SafetensorsCorrupt, ByteSizeDisagreesWithShape) {
  header_["model.layers.0.self_attn.q_proj.weight"]["shape"] = {64, 63};
  EXPECT_THAT(open_error(assemble(header_, data())),
              AllOf(HasSubstr("model.layers.0.self_attn.q_proj.weight"), HasSubstr("[64,63]"),
                    HasSubstr("inconsistent")));
}

TEST_F(SafetensorsCorrupt, OverlappingTensors) {
  // Two [64] f32 norms: point the second at the first one's bytes.
  auto first = header_["model.layers.0.input_layernorm.weight"]["data_offsets"];
  header_["model.layers.0.post_attention_layernorm.weight"]["data_offsets"] = first;
  EXPECT_THAT(open_error(assemble(header_, data())), AllOf(HasSubstr(path().string()), HasSubstr("overlaps")));
}

TEST_F(SafetensorsCorrupt, HoleInTheData) {
  header_.erase("model.layers.0.input_layernorm.weight");
  EXPECT_THAT(open_error(assemble(header_, data())), AllOf(HasSubstr(path().string()), HasSubstr("unused bytes")));
}

TEST_F(SafetensorsCorrupt, MisalignedData) {
  // Two extra spaces after the JSON move every f32 tensor to an offset that is 2 mod 4.
  EXPECT_THAT(open_error(assemble(header_, data(), 2)), AllOf(HasSubstr("not aligned"), HasSubstr(".weight")));
}

TEST_F(SafetensorsCorrupt, TrailingBytesTheHeaderDoesNotDescribe) {
  header_.erase("model.norm.weight");  // the last tensor: its bytes remain after the described data
  EXPECT_THAT(open_error(assemble(header_, data())),
              AllOf(HasSubstr(path().string()), HasSubstr("describes 476160 data bytes but the file holds 476416")));
}

TEST_F(SafetensorsCorrupt, TruncatedFile) {
  EXPECT_THAT(open_error(original_.substr(0, original_.size() - 1000)),
              AllOf(HasSubstr(path().string()), HasSubstr("truncated")));
}

TEST_F(SafetensorsCorrupt, NegativeOrFractionalShape) {
  header_["model.norm.weight"]["shape"] = {-64};
  EXPECT_THAT(open_error(assemble(header_, data())), AllOf(HasSubstr("model.norm.weight"), HasSubstr("shape")));
  header_["model.norm.weight"]["shape"] = {64.5};
  EXPECT_THAT(open_error(assemble(header_, data())), AllOf(HasSubstr("model.norm.weight"), HasSubstr("shape")));
}

TEST_F(SafetensorsCorrupt, AbsurdShapeDoesNotOverflow) {
  header_["model.norm.weight"]["shape"] = {uint64_t{1} << 40, uint64_t{1} << 40};
  EXPECT_THAT(open_error(assemble(header_, data())), AllOf(HasSubstr("model.norm.weight"), HasSubstr("impossible")));
}

TEST_F(SafetensorsCorrupt, EndBeforeBegin) {
  header_["model.norm.weight"]["data_offsets"] = {300, 200};
  EXPECT_THAT(open_error(assemble(header_, data())), AllOf(HasSubstr("model.norm.weight"), HasSubstr("end before")));
}

}  // namespace
}  // namespace rxlm
