// Damaged GGUF files (patched copies of the tiny fixture, and small files built here byte by byte)
// give an rxlm::Error naming the file and the key or tensor — never a crash, hang or huge allocation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "io_test_files.h"
#include "rxlm/io/gguf.h"

namespace rxlm {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::error_of;

// Little-endian GGUF bytes, written the way the spec (ggml docs/gguf.md) lays them out.
class GgufBytes {
 public:
  GgufBytes& u32(uint32_t v) { return raw(&v, 4); }
  GgufBytes& u64(uint64_t v) { return raw(&v, 8); }
  GgufBytes& str(const std::string& s) {
    u64(s.size());
    bytes_ += s;
    return *this;
  }
  GgufBytes& raw(const void* p, size_t n) {
    bytes_.append(static_cast<const char*>(p), n);
    return *this;
  }
  GgufBytes& pad_to(size_t alignment) {
    bytes_.append((alignment - bytes_.size() % alignment) % alignment, '\0');
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

struct TensorSpec {
  std::string name;
  std::vector<uint64_t> ne;  // GGUF order, innermost first
  uint32_t type = 0;         // ggml type id
  uint64_t offset = 0;
};

// A GGUF file with one string key, one uint32 key and `tensors`, followed by `data_bytes` of data.
std::string build_gguf(const std::vector<TensorSpec>& tensors, uint64_t data_bytes, uint32_t version = 3) {
  GgufBytes b;
  b.raw("GGUF", 4).u32(version).u64(tensors.size()).u64(2);
  b.str("general.architecture").u32(8).str("llama");
  b.str("llama.block_count").u32(4).u32(1);
  for (const auto& t : tensors) {
    b.str(t.name).u32(static_cast<uint32_t>(t.ne.size()));
    for (uint64_t n : t.ne) b.u64(n);
    b.u32(t.type).u64(t.offset);
  }
  b.pad_to(32);
  std::string out = b.bytes();
  out.append(data_bytes, '\x01');
  return out;
}

class GgufCorrupt : public ::testing::Test {
 protected:
  std::string open_error(const std::string& bytes) {
    testing::write_bytes(path(), bytes);
    return error_of([&] { GgufFile::open(path()); });
  }
  std::filesystem::path path() const { return dir_ / "model.gguf"; }
  std::string fixture() const {
    return testing::read_bytes(testing::tiny_llama_dir() / "gguf" / "tiny-f32.gguf");
  }
  static std::string patch_u64(std::string bytes, size_t offset, uint64_t v) {
    std::memcpy(bytes.data() + offset, &v, 8);
    return bytes;
  }
  testing::ScratchDir dir_;
};

TEST_F(GgufCorrupt, BuiltFileIsValidWithEverySupportedType) {
  // The builder itself is right, and each ggml type id maps to its dtype and byte size (ggml: Q8_0 34,
  // Q4_0 18, Q4_1 20 bytes per 32 weights). Rows of 64, two rows each; offsets 32-aligned.
  std::vector<TensorSpec> specs = {{"f32", {64, 2}, 0, 0},     {"f16", {64, 2}, 1, 512},   {"bf16", {64, 2}, 30, 768},
                                   {"q8_0", {64, 2}, 8, 1024}, {"q4_0", {64, 2}, 2, 1184}, {"q4_1", {64, 2}, 3, 1280}};
  testing::write_bytes(path(), build_gguf(specs, 1280 + 80));
  auto gguf = GgufFile::open(path());
  ASSERT_EQ(gguf->tensors().size(), 6u);
  const std::pair<DType, uint64_t> expected[] = {{DType::F32, 512}, {DType::F16, 256}, {DType::BF16, 256},
                                                 {DType::Q8_0, 136}, {DType::Q4_0, 72}, {DType::Q4_1, 80}};
  for (size_t i = 0; i < 6; ++i) {
    const TensorView& t = gguf->tensors()[i];
    EXPECT_EQ(t.dtype, expected[i].first) << t.name;
    EXPECT_EQ(t.nbytes, expected[i].second) << t.name;
    EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 64})) << t.name;
    EXPECT_EQ(t.row(1) - t.data, static_cast<ptrdiff_t>(expected[i].second / 2)) << t.name;
  }
  EXPECT_EQ(gguf->get_int("llama.block_count"), 1);
}

TEST_F(GgufCorrupt, BadMagic) {
  std::string bytes = fixture();
  bytes[0] = 'X';
  EXPECT_THAT(open_error(bytes), AllOf(HasSubstr(path().string()), HasSubstr("not a GGUF file")));
}

TEST_F(GgufCorrupt, UnsupportedVersion) {
  std::string bytes = fixture();
  uint32_t v = 1;
  std::memcpy(bytes.data() + 4, &v, 4);
  EXPECT_THAT(open_error(bytes), AllOf(HasSubstr(path().string()), HasSubstr("version 1")));
  v = 3u << 24;  // what a big-endian v3 file looks like
  std::memcpy(bytes.data() + 4, &v, 4);
  EXPECT_THAT(open_error(bytes), HasSubstr("not supported"));
}

TEST_F(GgufCorrupt, LyingTensorCountFailsFast) {
  EXPECT_THAT(open_error(patch_u64(fixture(), 8, uint64_t{1} << 60)),
              AllOf(HasSubstr(path().string()), HasSubstr("tensors"), HasSubstr("cannot fit")));
}

TEST_F(GgufCorrupt, LyingMetadataCountFailsFast) {
  EXPECT_THAT(open_error(patch_u64(fixture(), 16, ~uint64_t{0})),
              AllOf(HasSubstr(path().string()), HasSubstr("metadata entries"), HasSubstr("cannot fit")));
}

TEST_F(GgufCorrupt, MetadataCountOneTooManyRunsOffTheEnd) {
  // One more key than exists: the parser reads tensor infos as a key and must stop at a sane error.
  std::string bytes = fixture();
  uint64_t kv;
  std::memcpy(&kv, bytes.data() + 16, 8);
  std::string error = open_error(patch_u64(bytes, 16, kv + 1));
  EXPECT_THAT(error, HasSubstr(path().string()));
}

TEST_F(GgufCorrupt, HugeArrayLengthDoesNotAllocate) {
  GgufBytes b;
  b.raw("GGUF", 4).u32(3).u64(0).u64(1).str("tokenizer.ggml.tokens").u32(9).u32(8).u64(uint64_t{1} << 40);
  EXPECT_THAT(open_error(b.bytes()),
              AllOf(HasSubstr("tokenizer.ggml.tokens"), HasSubstr("1099511627776"), HasSubstr("remain")));
}

TEST_F(GgufCorrupt, StringLengthPastTheEnd) {
  GgufBytes b;
  b.raw("GGUF", 4).u32(3).u64(0).u64(1).str("general.name").u32(8).u64(5000).raw("abc", 3);
  EXPECT_THAT(open_error(b.bytes()), AllOf(HasSubstr("general.name"), HasSubstr("5000")));
}

TEST_F(GgufCorrupt, UnknownMetadataValueType) {
  GgufBytes b;
  b.raw("GGUF", 4).u32(3).u64(0).u64(1).str("general.name").u32(77).u64(0);
  EXPECT_THAT(open_error(b.bytes()), AllOf(HasSubstr("general.name"), HasSubstr("unknown value type 77")));
}

TEST_F(GgufCorrupt, TensorOffsetPastTheEnd) {
  EXPECT_THAT(open_error(build_gguf({{"a.weight", {16}, 0, 0}, {"b.weight", {8}, 0, 1u << 20}}, 96)),
              AllOf(HasSubstr(path().string()), HasSubstr("b.weight"), HasSubstr("past the end")));
}

TEST_F(GgufCorrupt, TensorDataRunsPastTheEnd) {
  EXPECT_THAT(open_error(build_gguf({{"a.weight", {16}, 0, 0}, {"b.weight", {8}, 0, 64}}, 80)),
              AllOf(HasSubstr(path().string()), HasSubstr("b.weight"), HasSubstr("truncated")));
}

TEST_F(GgufCorrupt, MisalignedTensorOffset) {
  EXPECT_THAT(open_error(build_gguf({{"a.weight", {16}, 0, 0}, {"b.weight", {8}, 0, 68}}, 128)),
              AllOf(HasSubstr("b.weight"), HasSubstr("alignment 32")));
}

TEST_F(GgufCorrupt, OverlappingTensors) {
  EXPECT_THAT(open_error(build_gguf({{"a.weight", {16}, 0, 0}, {"b.weight", {8}, 0, 32}}, 96)),
              AllOf(HasSubstr("a.weight"), HasSubstr("b.weight"), HasSubstr("overlap")));
}

TEST_F(GgufCorrupt, UnsupportedTensorTypeIsNamed) {
  EXPECT_THAT(open_error(build_gguf({{"blk.0.attn_q.weight", {256}, 12, 0}}, 256)),
              AllOf(HasSubstr("blk.0.attn_q.weight"), HasSubstr("Q4_K"), HasSubstr("llama-quantize")));
  EXPECT_THAT(open_error(build_gguf({{"x.weight", {32}, 999, 0}}, 128)),
              AllOf(HasSubstr("x.weight"), HasSubstr("999 (unknown)")));
}

TEST_F(GgufCorrupt, TooManyDimensions) {
  EXPECT_THAT(open_error(build_gguf({{"x.weight", {1, 1, 1, 1, 1}, 0, 0}}, 32)),
              AllOf(HasSubstr("x.weight"), HasSubstr("5 dimensions")));
}

TEST_F(GgufCorrupt, AbsurdDimensionDoesNotOverflow) {
  EXPECT_THAT(open_error(build_gguf({{"x.weight", {uint64_t{1} << 33, uint64_t{1} << 33}, 0, 0}}, 32)),
              AllOf(HasSubstr("x.weight"), HasSubstr("impossible")));
}

TEST_F(GgufCorrupt, QuantizedRowNotAWholeBlock) {
  EXPECT_THAT(open_error(build_gguf({{"x.weight", {48}, 8, 0}}, 128)),
              AllOf(HasSubstr("x.weight"), HasSubstr("Q8_0"), HasSubstr("block size 32")));
}

TEST_F(GgufCorrupt, DuplicateTensorName) {
  EXPECT_THAT(open_error(build_gguf({{"a.weight", {8}, 0, 0}, {"a.weight", {8}, 0, 32}}, 64)),
              AllOf(HasSubstr("a.weight"), HasSubstr("twice")));
}

TEST_F(GgufCorrupt, TruncatedFixture) {
  std::string bytes = fixture();
  EXPECT_THAT(open_error(bytes.substr(0, bytes.size() - 4096)),
              AllOf(HasSubstr(path().string()), HasSubstr("output.weight")));
  EXPECT_THAT(open_error(bytes.substr(0, 1000)), HasSubstr(path().string()));
  EXPECT_THAT(open_error(bytes.substr(0, 10)), HasSubstr("too short"));
}

TEST_F(GgufCorrupt, EveryTruncationOfTheHeaderIsAnErrorNotACrash) {
  std::string bytes = fixture();
  // Cut the file at every byte of the metadata and tensor-info region (about 7.9 KB).
  for (size_t n = 0; n < 8000; n += 7) {
    testing::write_bytes(path(), bytes.substr(0, n));
    EXPECT_THROW(GgufFile::open(path()), Error) << "cut at " << n;
  }
}

}  // namespace
}  // namespace rxlm
