// Hugging Face checkpoint directories: config.json + one model.safetensors or an index with shards.
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "rxlm/core/error.h"
#include "rxlm/io/checkpoint_formats.h"
#include "rxlm/io/hf_config.h"
#include "rxlm/io/safetensors.h"

namespace rxlm {
namespace {

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

void add_tensors(Checkpoint& checkpoint, const SafetensorsFile& file) {
  for (const TensorView& t : file.tensors()) {
    auto [it, inserted] = checkpoint.tensors.emplace(t.name, t);
    if (!inserted)
      fail("{}: tensor '{}' is stored both here and in {}; remove the stale shard", file.path().string(), t.name,
           it->second.file);
  }
  checkpoint.files.push_back(file.file());
}

// weight_map: tensor name → shard file name; every shard is mapped once and must agree with the map.
void load_shards(Checkpoint& checkpoint, const std::filesystem::path& dir) {
  const std::filesystem::path index_path = dir / kIndexFile;
  std::ifstream in(index_path, std::ios::binary);
  if (!in) fail("cannot read {}", index_path.string());
  std::ostringstream text;
  text << in.rdbuf();
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON ({}); re-download the index", index_path.string(), e.what());
  }
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    fail("{}: no \"weight_map\" object; expected a Hugging Face safetensors index", index_path.string());
  std::map<std::string, std::string> weight_map;  // tensor → shard
  std::set<std::string> shards;
  for (const auto& [tensor, shard] : index["weight_map"].items()) {
    if (!shard.is_string())
      fail("{}: weight_map entry for '{}' is not a file name", index_path.string(), tensor);
    std::string name = shard.get<std::string>();
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
      fail("{}: weight_map puts '{}' in \"{}\", which is not a file name inside the model directory",
           index_path.string(), tensor, name);
    weight_map[tensor] = name;
    shards.insert(name);
  }
  for (const std::string& shard : shards) {
    const std::filesystem::path shard_path = dir / shard;
    if (!std::filesystem::exists(shard_path))
      fail("{}: the index points to shard {}, which does not exist; download the missing shard",
           index_path.string(), shard_path.string());
    auto file = SafetensorsFile::open(shard_path);
    for (const TensorView& t : file->tensors()) {
      auto it = weight_map.find(t.name);
      if (it == weight_map.end() || it->second != shard)
        fail("{}: shard {} holds tensor '{}' but the index {}; the index and the shards disagree",
             index_path.string(), shard, t.name,
             it == weight_map.end() ? std::string("does not list it") : "puts it in " + it->second);
    }
    add_tensors(checkpoint, *file);
  }
  for (const auto& [tensor, shard] : weight_map)
    if (!checkpoint.has(tensor))
      fail("{}: the index puts tensor '{}' in {}, but that shard does not contain it; the index and the shards "
           "disagree", index_path.string(), tensor, (dir / shard).string());
}

}  // namespace

bool hf_directory_has_weights(const std::filesystem::path& dir) {
  return std::filesystem::exists(dir / kSingleFile) || std::filesystem::exists(dir / kIndexFile);
}

Checkpoint load_hf_checkpoint(const std::filesystem::path& dir) {
  Checkpoint checkpoint;
  checkpoint.path = dir;
  checkpoint.format = "hf";
  checkpoint.config = load_hf_config(dir);
  if (std::filesystem::exists(dir / kSingleFile)) {
    add_tensors(checkpoint, *SafetensorsFile::open(dir / kSingleFile));
  } else if (std::filesystem::exists(dir / kIndexFile)) {
    load_shards(checkpoint, dir);
  } else if (std::filesystem::exists(dir / "pytorch_model.bin") ||
             std::filesystem::exists(dir / "pytorch_model.bin.index.json")) {
    fail("{}: weights are in PyTorch pickle format (pytorch_model.bin); rxlm reads safetensors only: load and "
         "save_pretrained(..., safe_serialization=True) with transformers", dir.string());
  } else {
    fail("{}: no {} or {} next to config.json (a config-only directory); `rxlm inspect` can still show its "
         "config and parameter count", dir.string(), kSingleFile, kIndexFile);
  }
  check_llama_tensors(checkpoint);
  return checkpoint;
}

}  // namespace rxlm
