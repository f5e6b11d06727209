// GGUF v3 reader: parses header, metadata and tensor infos of a mapped file, trusting no count or offset.
#include "rxlm/io/gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include "rxlm/core/error.h"

namespace rxlm {
namespace {

enum GgufType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5, kFloat32 = 6,
  kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11, kFloat64 = 12,
};

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
constexpr int kMaxArrayDepth = 8;
constexpr uint32_t kMaxDims = 4;          // GGML_MAX_DIMS

const char* type_name(uint32_t type) {
  static const char* names[] = {"uint8", "int8",  "uint16", "int16",  "uint32", "int32", "float32",
                                "bool",  "string", "array", "uint64", "int64",  "float64"};
  return type <= kFloat64 ? names[type] : "unknown";
}

// Smallest number of bytes one value of `type` can occupy: bounds array counts before allocating.
uint64_t min_value_bytes(uint32_t type) {
  switch (type) {
    case kUint8: case kInt8: case kBool: return 1;
    case kUint16: case kInt16: return 2;
    case kUint32: case kInt32: case kFloat32: return 4;
    case kUint64: case kInt64: case kFloat64: case kString: return 8;
    case kArray: return 12;
    default: return 1;
  }
}

// ggml type ids we read, and names of the common ones we do not (for a helpful message).
std::optional<DType> ggml_dtype(uint32_t id) {
  switch (id) {
    case 0: return DType::F32;
    case 1: return DType::F16;
    case 2: return DType::Q4_0;
    case 3: return DType::Q4_1;
    case 8: return DType::Q8_0;
    case 30: return DType::BF16;
    default: return std::nullopt;
  }
}
std::string ggml_type_label(uint32_t id) {
  static const std::pair<uint32_t, const char*> known[] = {
      {6, "Q5_0"}, {7, "Q5_1"}, {9, "Q8_1"}, {10, "Q2_K"}, {11, "Q3_K"}, {12, "Q4_K"}, {13, "Q5_K"},
      {14, "Q6_K"}, {15, "Q8_K"}, {16, "IQ2_XXS"}, {17, "IQ2_XS"}, {18, "IQ3_XXS"}, {19, "IQ1_S"},
      {20, "IQ4_NL"}, {21, "IQ3_S"}, {22, "IQ2_S"}, {23, "IQ4_XS"}, {24, "I8"}, {25, "I16"},
      {26, "I32"}, {27, "I64"}, {28, "F64"}, {29, "IQ1_M"}, {34, "TQ1_0"}, {35, "TQ2_0"}};
  for (auto [k, name] : known)
    if (k == id) return fmt::format("{} ({})", id, name);
  return fmt::format("{} (unknown)", id);
}

// Sequential little-endian reader over the mapping; every read is bounds-checked and names `what`.
class Cursor {
 public:
  Cursor(const MappedFile& file) : file_(file) {}
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return file_.size() - pos_; }

  const std::byte* take(uint64_t n, const std::string& what) {
    auto span = file_.range(pos_, n, what);
    pos_ += n;
    return span.data();
  }
  template <class T>
  T read(const std::string& what) {
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));
    return v;
  }
  std::string read_string(const std::string& what) {
    uint64_t n = read<uint64_t>(what + " (string length)");
    if (n > remaining())
      fail("{}: {} claims a string of {} bytes but only {} bytes remain (corrupt or truncated file)",
           file_.path().string(), what, n, remaining());
    const std::byte* p = take(n, what);
    return std::string(reinterpret_cast<const char*>(p), n);
  }

 private:
  const MappedFile& file_;
  uint64_t pos_ = 0;
};

GgufValue read_value(Cursor& in, const MappedFile& file, uint32_t type, const std::string& key, int depth) {
  GgufValue out;
  out.type = type;
  const std::string what = fmt::format("value of metadata key '{}'", key);
  switch (type) {
    case kUint8: out.value = uint64_t{in.read<uint8_t>(what)}; break;
    case kInt8: out.value = int64_t{in.read<int8_t>(what)}; break;
    case kUint16: out.value = uint64_t{in.read<uint16_t>(what)}; break;
    case kInt16: out.value = int64_t{in.read<int16_t>(what)}; break;
    case kUint32: out.value = uint64_t{in.read<uint32_t>(what)}; break;
    case kInt32: out.value = int64_t{in.read<int32_t>(what)}; break;
    case kUint64: out.value = in.read<uint64_t>(what); break;
    case kInt64: out.value = in.read<int64_t>(what); break;
    case kFloat32: out.value = double{in.read<float>(what)}; break;
    case kFloat64: out.value = in.read<double>(what); break;
    case kBool: {
      uint8_t b = in.read<uint8_t>(what);
      if (b > 1) fail("{}: metadata key '{}' is a bool stored as {} (must be 0 or 1); the file is corrupt",
                      file.path().string(), key, b);
      out.value = b == 1;
      break;
    }
    case kString: out.value = in.read_string(what); break;
    case kArray: {
      if (depth >= kMaxArrayDepth)
        fail("{}: metadata key '{}' nests arrays deeper than {} levels; the file is corrupt",
             file.path().string(), key, kMaxArrayDepth);
      uint32_t element_type = in.read<uint32_t>(what + " (array element type)");
      if (element_type > kFloat64)
        fail("{}: metadata key '{}' is an array of unknown type {}; the file is corrupt or newer than "
             "GGUF v3", file.path().string(), key, element_type);
      uint64_t count = in.read<uint64_t>(what + " (array length)");
      // A lying count must not allocate: each element needs at least min_value_bytes in the file.
      if (count > in.remaining() / min_value_bytes(element_type))
        fail("{}: metadata key '{}' claims an array of {} {} values but only {} bytes remain (corrupt or "
             "truncated file)", file.path().string(), key, count, type_name(element_type), in.remaining());
      auto array = std::make_shared<GgufValue::Array>();
      array->reserve(count);
      for (uint64_t i = 0; i < count; ++i) array->push_back(read_value(in, file, element_type, key, depth + 1));
      out.value = std::move(array);
      break;
    }
    default:
      fail("{}: metadata key '{}' has unknown value type {}; the file is corrupt or newer than GGUF v3",
           file.path().string(), key, type);
  }
  return out;
}

std::optional<int64_t> as_int(const GgufValue& v) {
  if (auto* u = std::get_if<uint64_t>(&v.value)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(*u);
  }
  if (auto* i = std::get_if<int64_t>(&v.value)) return *i;
  return std::nullopt;
}
std::optional<double> as_float(const GgufValue& v) {
  if (auto* d = std::get_if<double>(&v.value)) return *d;
  if (auto* u = std::get_if<uint64_t>(&v.value)) return static_cast<double>(*u);
  if (auto* i = std::get_if<int64_t>(&v.value)) return static_cast<double>(*i);
  return std::nullopt;
}

}  // namespace

std::shared_ptr<const GgufFile> GgufFile::open(const std::filesystem::path& path) {
  auto gguf = std::make_shared<GgufFile>();
  gguf->file_ = MappedFile::open(path);
  const MappedFile& file = *gguf->file_;
  const std::string name = path.string();
  Cursor in(file);

  if (file.size() < 24)
    fail("{}: only {} bytes, too short for a GGUF header (24 bytes); the file is truncated or not GGUF", name,
         file.size());
  uint32_t magic = in.read<uint32_t>("magic");
  if (magic != kMagic)
    fail("{}: not a GGUF file (magic bytes {:02x} {:02x} {:02x} {:02x}, expected 'GGUF')", name,
         static_cast<unsigned>(file.data()[0]), static_cast<unsigned>(file.data()[1]),
         static_cast<unsigned>(file.data()[2]), static_cast<unsigned>(file.data()[3]));
  gguf->version_ = in.read<uint32_t>("version");
  // v2 and v3 share the little-endian layout (v3 only added big-endian files, which read as a huge version).
  if (gguf->version_ != 3 && gguf->version_ != 2)
    fail("{}: GGUF version {} is not supported (rxlm reads little-endian v2/v3; re-convert the model with a "
         "current llama.cpp convert_hf_to_gguf.py)", name, gguf->version_);
  uint64_t tensor_count = in.read<uint64_t>("tensor count");
  uint64_t kv_count = in.read<uint64_t>("metadata count");
  // Each key/value needs >= 13 bytes (key length, key, type, value); each tensor info >= 24.
  if (kv_count > in.remaining() / 13)
    fail("{}: header claims {} metadata entries, which cannot fit in the file's {} bytes (corrupt header)", name,
         kv_count, file.size());
  if (tensor_count > in.remaining() / 24)
    fail("{}: header claims {} tensors, which cannot fit in the file's {} bytes (corrupt header)", name,
         tensor_count, file.size());

  for (uint64_t i = 0; i < kv_count; ++i) {
    std::string key = in.read_string(fmt::format("metadata key #{}", i));
    uint32_t type = in.read<uint32_t>(fmt::format("type of metadata key '{}'", key));
    GgufValue value = read_value(in, file, type, key, 0);
    if (!gguf->metadata_.emplace(key, std::move(value)).second)
      fail("{}: metadata key '{}' appears twice; the file is corrupt", name, key);
  }

  uint64_t alignment = 32;
  if (gguf->has("general.alignment")) {
    auto a = as_int(gguf->metadata_.at("general.alignment"));
    if (!a || *a <= 0 || (*a & (*a - 1)) != 0 || *a > (1 << 20))
      fail("{}: general.alignment must be a power of two, got {}", name,
           a ? std::to_string(*a) : std::string("a non-integer"));
    alignment = static_cast<uint64_t>(*a);
  }

  struct Info {
    TensorView view;
    uint64_t offset;
  };
  std::vector<Info> infos;
  infos.reserve(tensor_count);
  std::set<std::string> names;
  for (uint64_t i = 0; i < tensor_count; ++i) {
    Info info;
    TensorView& t = info.view;
    t.name = in.read_string(fmt::format("name of tensor #{}", i));
    t.file = name;
    if (!names.insert(t.name).second) fail("{}: tensor '{}' appears twice; the file is corrupt", name, t.name);
    uint32_t n_dims = in.read<uint32_t>(fmt::format("dimension count of tensor '{}'", t.name));
    if (n_dims == 0 || n_dims > kMaxDims)
      fail("{}: tensor '{}' has {} dimensions (GGUF allows 1..{}); the file is corrupt", name, t.name, n_dims,
           kMaxDims);
    std::vector<uint64_t> ne(n_dims);
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      ne[d] = in.read<uint64_t>(fmt::format("dimension {} of tensor '{}'", d, t.name));
      // Every element takes >= 1/2 byte; anything larger than the file is a lie (and guards overflow).
      if (ne[d] == 0 || ne[d] > 2 * file.size() || numel > 2 * file.size() / ne[d])
        fail("{}: tensor '{}' has dimension {} = {}, impossible for a file of {} bytes (corrupt header)", name,
             t.name, d, ne[d], file.size());
      numel *= ne[d];
    }
    uint32_t type_id = in.read<uint32_t>(fmt::format("type of tensor '{}'", t.name));
    auto dtype = ggml_dtype(type_id);
    if (!dtype)
      fail("{}: tensor '{}' has ggml type {}, which rxlm does not read (supported: F32, F16, BF16, Q8_0, Q4_0, "
           "Q4_1); re-quantize the model with llama-quantize to one of those", name, t.name,
           ggml_type_label(type_id));
    t.dtype = *dtype;
    if (static_cast<int64_t>(ne[0]) % dtype_block_elements(t.dtype) != 0)
      fail("{}: tensor '{}' is {} but its row length {} is not a multiple of the block size {}; the file is "
           "corrupt", name, t.name, dtype_name(t.dtype), ne[0], dtype_block_elements(t.dtype));
    for (uint32_t d = n_dims; d-- > 0;) t.shape.push_back(static_cast<int64_t>(ne[d]));
    t.nbytes = dtype_bytes(t.dtype, static_cast<int64_t>(numel));
    info.offset = in.read<uint64_t>(fmt::format("data offset of tensor '{}'", t.name));
    if (info.offset % alignment != 0)
      fail("{}: tensor '{}' starts at data offset {}, which is not a multiple of the alignment {}; the file is "
           "corrupt", name, t.name, info.offset, alignment);
    infos.push_back(std::move(info));
  }

  uint64_t data_start = (in.pos() + alignment - 1) / alignment * alignment;
  for (auto& info : infos) {
    if (info.offset > file.size())
      fail("{}: tensor '{}' has data offset {} past the end of the file ({} bytes); the file is truncated or "
           "corrupt", name, info.view.name, info.offset, file.size());
    auto span = file.range(data_start + info.offset, info.view.nbytes, fmt::format("tensor '{}'", info.view.name));
    info.view.data = span.data();
  }
  // Tensors may come in any order in the header, but their bytes must not overlap.
  std::vector<const Info*> by_offset;
  for (auto& info : infos) by_offset.push_back(&info);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const Info* prev = by_offset[i - 1];
    if (by_offset[i]->offset < prev->offset + prev->view.nbytes)
      fail("{}: tensors '{}' (data offset {}, {} bytes) and '{}' (data offset {}) overlap; the file is corrupt",
           name, prev->view.name, prev->offset, prev->view.nbytes, by_offset[i]->view.name, by_offset[i]->offset);
  }
  for (auto& info : infos) gguf->tensors_.push_back(std::move(info.view));
  return gguf;
}

namespace {
[[noreturn]] void wrong_type(const GgufFile& f, const std::string& key, const GgufValue& v, const char* wanted) {
  fail("{}: metadata key '{}' is {} but {} was expected", f.path().string(), key, type_name(v.type), wanted);
}
}  // namespace

#define RXLM_GGUF_LOOKUP(key)                                                                          \
  auto it = metadata_.find(key);                                                                       \
  if (it == metadata_.end())                                                                           \
    fail("{}: metadata key '{}' is missing; the file was not written for this use (check the converter)", \
         path().string(), key);                                                                        \
  const GgufValue& v = it->second

std::string GgufFile::get_string(const std::string& key) const {
  RXLM_GGUF_LOOKUP(key);
  if (auto* s = std::get_if<std::string>(&v.value)) return *s;
  wrong_type(*this, key, v, "a string");
}

int64_t GgufFile::get_int(const std::string& key) const {
  RXLM_GGUF_LOOKUP(key);
  if (auto i = as_int(v)) return *i;
  wrong_type(*this, key, v, "an integer");
}

double GgufFile::get_float(const std::string& key) const {
  RXLM_GGUF_LOOKUP(key);
  if (auto d = as_float(v)) return *d;
  wrong_type(*this, key, v, "a number");
}

bool GgufFile::get_bool(const std::string& key) const {
  RXLM_GGUF_LOOKUP(key);
  if (auto* b = std::get_if<bool>(&v.value)) return *b;
  wrong_type(*this, key, v, "a bool");
}

namespace {
// Elements of an array-valued key converted by `convert` (nullopt = wrong element type).
template <class T, class Convert>
std::vector<T> array_values(const GgufFile& f, const std::string& key, const char* wanted, Convert convert) {
  auto it = f.metadata().find(key);
  if (it == f.metadata().end())
    fail("{}: metadata key '{}' is missing; the file was not written for this use (check the converter)",
         f.path().string(), key);
  auto* array = std::get_if<std::shared_ptr<GgufValue::Array>>(&it->second.value);
  if (!array) wrong_type(f, key, it->second, wanted);
  std::vector<T> out;
  out.reserve((*array)->size());
  for (const auto& element : **array) {
    std::optional<T> value = convert(element);
    if (!value) fail("{}: metadata key '{}' holds {} elements but {} was expected", f.path().string(), key,
                     type_name(element.type), wanted);
    out.push_back(std::move(*value));
  }
  return out;
}
}  // namespace

std::vector<std::string> GgufFile::get_string_array(const std::string& key) const {
  return array_values<std::string>(*this, key, "an array of strings", [](const GgufValue& v) {
    auto* s = std::get_if<std::string>(&v.value);
    return s ? std::optional<std::string>(*s) : std::nullopt;
  });
}

std::vector<int64_t> GgufFile::get_int_array(const std::string& key) const {
  return array_values<int64_t>(*this, key, "an array of integers", as_int);
}

std::vector<double> GgufFile::get_float_array(const std::string& key) const {
  return array_values<double>(*this, key, "an array of numbers", as_float);
}

#undef RXLM_GGUF_LOOKUP

std::optional<std::string> GgufFile::find_string(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_string(key);
}

std::optional<int64_t> GgufFile::find_int(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_int(key);
}

}  // namespace rxlm
