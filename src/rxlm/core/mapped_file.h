// Read-only memory-mapped files: checkpoints are mapped once and never copied whole into RAM.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

namespace rxlm {

class MappedFile {
 public:
  // Throws rxlm::Error naming the path when the file cannot be opened or mapped.
  static std::shared_ptr<const MappedFile> open(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

  // Bytes [offset, offset+length); throws naming the file and `what` if that runs past the end.
  std::span<const std::byte> range(uint64_t offset, uint64_t length, const std::string& what) const;

 private:
  MappedFile() = default;
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace rxlm
