#include "rxlm/eval/judge_cache.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "rxlm/core/error.h"

namespace rxlm::eval {

namespace {

constexpr const char* kFormat = "rxlm-judge-cache";
constexpr int kVersion = 1;

}  // namespace

JudgeCache::JudgeCache(std::filesystem::path path) : path_(std::move(path)) {
  if (path_.empty()) return;
  std::string bytes;
  if (std::filesystem::exists(path_)) {
    std::ifstream in(path_, std::ios::binary);
    if (!in) fail("{}: cannot read the judge cache ({})", path_.string(), std::strerror(errno));
    std::stringstream buffer;
    buffer << in.rdbuf();
    bytes = buffer.str();
  }
  // Keep complete lines only: a run killed mid-write leaves a torn last line, which is cut below.
  const std::size_t complete = bytes.rfind('\n') == std::string::npos ? 0 : bytes.rfind('\n') + 1;
  std::size_t start = 0;
  for (int line = 1; start < complete; ++line) {
    const std::size_t end = bytes.find('\n', start);
    const std::string text = bytes.substr(start, end - start);
    start = end + 1;
    const std::string where = path_.string() + ":" + std::to_string(line);
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      fail("{}: not a JSON object; the judge cache is damaged (delete it to ask every question again)", where);
    if (line == 1) {
      if (j.value("format", "") != kFormat || j.value("version", 0) != kVersion)
        fail("{}: not an rxlm judge cache version {} (first line {}); pass another --cache file", where, kVersion,
             text.substr(0, 80));
      continue;
    }
    try {
      entries_[j.at("key").get<std::string>()] = {j.at("model").get<std::string>(), j.value("sample_id", ""),
                                                   j.at("reply").get<std::string>()};
    } catch (const nlohmann::json::exception& e) {
      fail("{}: {} (expected key, model, reply); the judge cache is damaged", where, e.what());
    }
  }
  if (path_.has_parent_path()) std::filesystem::create_directories(path_.parent_path());
  if (complete < bytes.size()) std::filesystem::resize_file(path_, complete);
  file_ = std::fopen(path_.string().c_str(), "ab");
  if (!file_) fail("{}: cannot open the judge cache for appending ({})", path_.string(), std::strerror(errno));
  if (complete == 0) {
    const std::string header = nlohmann::json{{"format", kFormat}, {"version", kVersion}}.dump() + "\n";
    if (std::fwrite(header.data(), 1, header.size(), file_) != header.size() || std::fflush(file_) != 0)
      fail("{}: cannot write the judge cache ({})", path_.string(), std::strerror(errno));
  }
}

JudgeCache::~JudgeCache() {
  if (file_) std::fclose(file_);
}

std::optional<CachedReply> JudgeCache::find(const std::string& key) const {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void JudgeCache::put(const std::string& key, const CachedReply& entry) {
  std::lock_guard lock(mutex_);
  entries_[key] = entry;
  if (!file_) return;
  nlohmann::ordered_json j;
  j["key"] = key;
  j["model"] = entry.model;
  j["sample_id"] = entry.sample_id;
  j["reply"] = entry.reply;
  const std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    fail("{}: cannot append to the judge cache ({})", path_.string(), std::strerror(errno));
}

std::size_t JudgeCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace rxlm::eval
