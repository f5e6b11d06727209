// safetensors reader and writer.
#include "rxlm/io/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "rxlm/core/error.h"

namespace rxlm {
namespace {

// The reference implementation refuses headers over 100 MB; so do we, before parsing anything.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

std::optional<DType> parse_dtype(const std::string& name) {
  if (name == "F32") return DType::F32;
  if (name == "F16") return DType::F16;
  if (name == "BF16") return DType::BF16;
  return std::nullopt;
}

const char* dtype_label(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    default: return nullptr;
  }
}

struct Entry {
  TensorView view;
  uint64_t begin = 0, end = 0;
};

Entry parse_entry(const std::string& file, const std::string& name, const nlohmann::json& info, uint64_t data_size) {
  Entry e;
  e.view.name = name;
  e.view.file = file;
  if (!info.is_object()) fail("{}: header entry for tensor '{}' is not a JSON object; the file is corrupt", file, name);
  auto dtype_it = info.find("dtype");
  if (dtype_it == info.end() || !dtype_it->is_string())
    fail("{}: tensor '{}' has no \"dtype\" string in the header; the file is corrupt", file, name);
  auto dtype = parse_dtype(dtype_it->get<std::string>());
  if (!dtype)
    fail("{}: tensor '{}' has dtype {}, which rxlm does not load (supported: F32, F16, BF16); convert the "
         "checkpoint, e.g. model.to(torch.bfloat16).save_pretrained(...)", file, name, dtype_it->get<std::string>());
  e.view.dtype = *dtype;

  auto shape_it = info.find("shape");
  if (shape_it == info.end() || !shape_it->is_array() || shape_it->size() > 8)
    fail("{}: tensor '{}' has no valid \"shape\" array (at most 8 dimensions) in the header; the file is corrupt",
         file, name);
  uint64_t numel = 1;
  for (const auto& d : *shape_it) {
    if (!d.is_number_unsigned())
      fail("{}: tensor '{}' has shape {} with a dimension that is not a non-negative integer; the file is corrupt",
           file, name, shape_it->dump());
    uint64_t n = d.get<uint64_t>();
    // A dimension larger than the data section cannot be real (this also keeps the product from overflowing).
    if (n > data_size + 1 || (n != 0 && numel > (data_size + 1) / n))
      fail("{}: tensor '{}' has shape {}, impossible for {} bytes of data (corrupt header)", file, name,
           shape_it->dump(), data_size);
    numel *= n;
    e.view.shape.push_back(static_cast<int64_t>(n));
  }
  e.view.nbytes = dtype_bytes(e.view.dtype, static_cast<int64_t>(numel));

  auto off_it = info.find("data_offsets");
  if (off_it == info.end() || !off_it->is_array() || off_it->size() != 2 || !(*off_it)[0].is_number_unsigned() ||
      !(*off_it)[1].is_number_unsigned())
    fail("{}: tensor '{}' has no valid \"data_offsets\" [begin, end] in the header; the file is corrupt", file, name);
  e.begin = (*off_it)[0].get<uint64_t>();
  e.end = (*off_it)[1].get<uint64_t>();
  if (e.end < e.begin)
    fail("{}: tensor '{}' has data_offsets [{}, {}] with end before begin; the file is corrupt", file, name,
         e.begin, e.end);
  if (e.end > data_size)
    fail("{}: tensor '{}' needs data bytes [{}, {}) but the file holds only {} data bytes (truncated file or "
         "lying header); download it again", file, name, e.begin, e.end, data_size);
  if (e.end - e.begin != e.view.nbytes)
    fail("{}: tensor '{}' is {} with shape {} = {} bytes, but its data_offsets [{}, {}) span {} bytes; the header "
         "is inconsistent", file, name, dtype_label(e.view.dtype), shape_it->dump(), e.view.nbytes, e.begin, e.end,
         e.end - e.begin);
  return e;
}

}  // namespace

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  auto st = std::make_shared<SafetensorsFile>();
  st->file_ = MappedFile::open(path);
  const MappedFile& file = *st->file_;
  const std::string name = path.string();
  if (file.size() < 8)
    fail("{}: only {} bytes, too short for a safetensors file (8-byte header length); the file is truncated", name,
         file.size());
  uint64_t header_len;
  std::memcpy(&header_len, file.data(), 8);
  if (header_len > kMaxHeaderBytes || header_len > file.size() - 8)
    fail("{}: header length field says {} bytes, but the file has {} bytes (limit 100 MB); not a safetensors file, "
         "or truncated", name, header_len, file.size());
  const char* header_text = reinterpret_cast<const char*>(file.data() + 8);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_text, header_text + header_len);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: header is not valid JSON ({}); the file is corrupt or not safetensors", name, e.what());
  }
  if (!header.is_object()) fail("{}: header is JSON but not an object; the file is corrupt", name);

  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = file.size() - data_start;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) fail("{}: \"__metadata__\" must be an object of strings", name);
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) fail("{}: \"__metadata__\" value for '{}' is not a string", name, mk);
        st->metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(name, key, value, data_size));
  }

  // Like the reference implementation: tensors tile the data section exactly, without gaps or overlaps.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (e.begin < expected)
      fail("{}: tensor '{}' (data bytes [{}, {})) overlaps tensor '{}' which ends at {}; the file is corrupt", name,
           e.view.name, e.begin, e.end, entries[i - 1].view.name, expected);
    if (e.begin > expected)
      fail("{}: {} unused bytes before tensor '{}' (data bytes [{}, {})); the header does not describe the data, "
           "the file is corrupt", name, e.begin - expected, e.view.name, e.begin, e.end);
    expected = e.end;
  }
  if (expected != data_size)
    fail("{}: the header describes {} data bytes but the file holds {}; the file is {} (download it again)", name,
         expected, data_size, expected < data_size ? "padded or corrupt" : "truncated");

  for (Entry& e : entries) {
    uint64_t offset = data_start + e.begin;
    // mmap is page-aligned, so file offsets decide the alignment of the pointers the kernels read.
    if (offset % static_cast<uint64_t>(dtype_block_bytes(e.view.dtype)) != 0)
      fail("{}: tensor '{}' starts at file offset {}, not aligned to its {}-byte elements; re-save the file with a "
           "current safetensors (which pads the header to 8 bytes)", name, e.view.name, offset,
           dtype_block_bytes(e.view.dtype));
    e.view.data = file.range(offset, e.view.nbytes, fmt::format("tensor '{}'", e.view.name)).data();
    st->tensors_.push_back(std::move(e.view));
  }
  return st;
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

void write_safetensors(const std::filesystem::path& path, std::span<const SafetensorsEntry> entries,
                       const std::map<std::string, std::string>& metadata) {
  // Largest elements first keeps every tensor aligned (the reference writer's order), then by name.
  std::vector<const SafetensorsEntry*> order;
  for (const auto& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) {
    int64_t sa = dtype_block_bytes(a->dtype), sb = dtype_block_bytes(b->dtype);
    return sa != sb ? sa > sb : a->name < b->name;
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const SafetensorsEntry& e = *order[i];
    if (i > 0 && e.name == order[i - 1]->name)
      fail("{}: cannot write tensor '{}' twice", path.string(), e.name);
    if (e.name == "__metadata__") fail("{}: '__metadata__' is reserved, not a tensor name", path.string());
    const char* label = dtype_label(e.dtype);
    if (!label)
      fail("{}: cannot write tensor '{}' as {} (safetensors holds F32, F16, BF16 here)", path.string(), e.name,
           dtype_name(e.dtype));
    int64_t numel = 1;
    for (int64_t d : e.shape) {
      if (d < 0) fail("{}: tensor '{}' has a negative dimension", path.string(), e.name);
      numel *= d;
    }
    uint64_t nbytes = dtype_bytes(e.dtype, numel);
    if (nbytes != e.data.size())
      fail("{}: tensor '{}' has {} bytes of data but {} with its shape needs {}", path.string(), e.name,
           e.data.size(), label, nbytes);
    header[e.name] = {{"dtype", label}, {"shape", e.shape}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("cannot write {}: check that the directory exists and is writable", tmp.string());
    uint64_t header_len = text.size();
    out.write(reinterpret_cast<const char*>(&header_len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto* e : order)
      out.write(reinterpret_cast<const char*>(e->data.data()), static_cast<std::streamsize>(e->data.size()));
    out.flush();
    if (!out) fail("error writing {} (disk full?)", tmp.string());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) fail("cannot rename {} to {}: {}", tmp.string(), path.string(), ec.message());
}

}  // namespace rxlm
