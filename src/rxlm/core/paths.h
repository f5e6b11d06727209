// Where the read-only shared material (../shared: models, MIMIC demo, drug maps) lives.
#pragma once
#include <cstdlib>
#include <filesystem>

namespace rxlm {

// $RXLM_SHARED if set, else ../shared beside the source tree (the layout of every checkout and CI).
inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("RXLM_SHARED"); env && *env) return env;
#ifdef RXLM_SOURCE_DIR
  return std::filesystem::path(RXLM_SOURCE_DIR) / ".." / "shared";
#else
  return "../shared";
#endif
}

}  // namespace rxlm
