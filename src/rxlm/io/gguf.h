// GGUF v3 reader: metadata key/values and tensor infos of a memory-mapped .gguf file.
// Spec: ggml docs/gguf.md. Shapes are stored innermost-first (ne[0] = row length); TensorView.shape
// here is PyTorch order (outermost first), i.e. the reverse.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "rxlm/core/mapped_file.h"
#include "rxlm/core/tensor.h"

namespace rxlm {

// One metadata value. Arrays of strings and of numbers are kept apart for convenience.
struct GgufValue {
  using Array = std::vector<GgufValue>;
  std::variant<uint64_t, int64_t, double, bool, std::string, std::shared_ptr<Array>> value;
  uint32_t type = 0;  // the GGUF type code as stored (GGUF_TYPE_UINT8 = 0 ... GGUF_TYPE_FLOAT64 = 12)
};

class GgufFile {
 public:
  // Parses header, metadata and tensor infos; checks every tensor lies inside the file and has a
  // supported type (F32, F16, BF16, Q8_0, Q4_0, Q4_1). Throws rxlm::Error naming the file and key/tensor.
  static std::shared_ptr<const GgufFile> open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return file_->path(); }
  uint32_t version() const { return version_; }
  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  bool has(const std::string& key) const { return metadata_.count(key) != 0; }

  // Typed accessors; throw naming the file and key when absent or of another type.
  std::string get_string(const std::string& key) const;
  int64_t get_int(const std::string& key) const;     // any integer type
  double get_float(const std::string& key) const;    // float32/float64 (or an integer)
  bool get_bool(const std::string& key) const;
  std::vector<std::string> get_string_array(const std::string& key) const;
  std::vector<int64_t> get_int_array(const std::string& key) const;
  std::vector<double> get_float_array(const std::string& key) const;
  std::optional<std::string> find_string(const std::string& key) const;
  std::optional<int64_t> find_int(const std::string& key) const;

  // Tensors by their GGUF names (blk.0.attn_q.weight, ...), in file order.
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // The tensor named `name` (GGUF name), or nullptr.
  const TensorView* find_tensor(const std::string& name) const {
    for (const auto& t : tensors_)
      if (t.name == name) return &t;
    return nullptr;
  }
  const std::shared_ptr<const MappedFile>& file() const { return file_; }

 private:
  std::shared_ptr<const MappedFile> file_;
  uint32_t version_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<TensorView> tensors_;
};

}  // namespace rxlm
