// The two-core work split that prep's stages use: one piece here, one on a second thread.
#pragma once
#include <exception>
#include <thread>

namespace rxlm {

// Runs work(0) on this thread and work(1) on a second one; once both have ended, rethrows the first
// failure (this thread's first).
template <class Work>
void on_two_threads(Work&& work) {
  std::exception_ptr helper_error;
  std::thread helper([&] {
    try {
      work(1);
    } catch (...) {
      helper_error = std::current_exception();
    }
  });
  try {
    work(0);
  } catch (...) {
    helper.join();
    throw;
  }
  helper.join();
  if (helper_error) std::rethrow_exception(helper_error);
}

// `low` here and `high` on a second thread when `parallel` (worth a thread), else one after the other.
template <class Low, class High>
void maybe_in_parallel(bool parallel, Low&& low, High&& high) {
  if (!parallel) {
    low();
    high();
    return;
  }
  on_two_threads([&](int part) { part == 0 ? low() : high(); });
}

}  // namespace rxlm
