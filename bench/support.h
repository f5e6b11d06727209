// Helpers shared by the benchmark programs: clocks, /proc status fields, child processes, medians and the
// sgemm peak that GFLOP/s figures are compared against.
#pragma once
#include <cblas.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

inline double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// CPU seconds of the whole process (all threads): on a shared, oversubscribed machine the work done is far
// steadier than the wall time, so both are reported.
inline double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

// A /proc/self/status field in bytes: VmRSS (resident now) or VmHWM (peak resident of this program image).
inline long status_bytes(const char* field) {
  std::ifstream in("/proc/self/status");
  const std::string key = std::string(field) + ":";
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(key.size())) * 1024;
  return 0;
}

// Runs argv as a child and returns its stdout. (The child reports its own VmHWM: wait4's ru_maxrss would
// include the parent's pages the child held between fork and exec.)
inline std::string run_child(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  std::string text;
  char buf[4096];
  for (ssize_t got; (got = read(fds[0], buf, sizeof buf)) > 0;) text.append(buf, size_t(got));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return text;
}

inline long parse_after(const std::string& text, const std::string& key) {
  const size_t at = text.find(key);
  return at == std::string::npos ? -1 : std::stol(text.substr(at + key.size()));
}

struct Stats {
  double median, min, max;
};
inline Stats stats(std::vector<double> x) {
  std::sort(x.begin(), x.end());
  return {x[x.size() / 2], x.front(), x.back()};
}

// Best of `reps` 2048³ sgemm calls. Re-measure during a run and keep the maximum: on a shared machine any
// single measurement may land in a busy moment.
inline double sgemm_peak_gflops(int reps) {
  const int n = 2048;
  std::vector<float> a(size_t(n) * n, 0.5f), b(size_t(n) * n, 0.25f), c(size_t(n) * n);
  double best = 1e30;
  for (int rep = 0; rep < reps; ++rep) {
    const double start = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
    best = std::min(best, now() - start);
  }
  return 2.0 * n * n * n / best / 1e9;
}

}  // namespace bench
