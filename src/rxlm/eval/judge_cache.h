// The judge's reply cache: a JSONL file, one line per answered question, keyed by judge_cache_key
// (prompt version + judge model + prompt text; never the endpoint or the API key). Loaded whole at
// start; each new reply is appended and flushed at once, so a killed run keeps what it paid for.
// First line: {"format":"rxlm-judge-cache","version":1}. A torn last line (a kill mid-write) is cut.
#pragma once
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace rxlm::eval {

struct CachedReply {
  std::string model, sample_id, reply;
};

class JudgeCache {
 public:
  // An empty path gives a cache that remembers nothing (every question is sent).
  explicit JudgeCache(std::filesystem::path path);
  ~JudgeCache();
  JudgeCache(const JudgeCache&) = delete;
  JudgeCache& operator=(const JudgeCache&) = delete;

  std::optional<CachedReply> find(const std::string& key) const;
  // Thread-safe; writes one line and flushes it.
  void put(const std::string& key, const CachedReply& entry);
  std::size_t size() const;

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, CachedReply> entries_;
};

}  // namespace rxlm::eval
