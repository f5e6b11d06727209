// Errors: library code throws rxlm::Error with context (file, field, what to do); only main() exits.
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace rxlm {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace rxlm
