// safetensors read (memory-mapped, every header field checked) and write (PEFT adapters, test files).
// Format: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}},
// then the data; offsets are relative to the end of the header.
#pragma once
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "rxlm/core/mapped_file.h"
#include "rxlm/core/tensor.h"

namespace rxlm {

class SafetensorsFile {
 public:
  // Maps the file and checks the header: dtype F32/F16/BF16, byte sizes equal to the shapes, offsets
  // inside the file, contiguous and non-overlapping, data aligned to its element size. Throws
  // rxlm::Error naming the file and the tensor.
  static std::shared_ptr<const SafetensorsFile> open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return file_->path(); }
  // Tensors in data order; views point into the mapping (no copies).
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* find(const std::string& name) const;
  // The optional "__metadata__" string map (e.g. {"format": "pt"}).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::shared_ptr<const MappedFile>& file() const { return file_; }

 private:
  std::shared_ptr<const MappedFile> file_;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// One tensor to write: bytes in `dtype` (F32, F16 or BF16), shape in PyTorch order.
struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::span<const std::byte> data;
};

// Writes a file that the Hugging Face safetensors library reads unchanged: header padded with spaces
// to 8 bytes, tensors sorted by name, each aligned. Writes `path`.tmp and renames it into place, so a
// crash never leaves a half-written file under the final name. Throws naming the path on I/O errors.
void write_safetensors(const std::filesystem::path& path, std::span<const SafetensorsEntry> entries,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace rxlm
