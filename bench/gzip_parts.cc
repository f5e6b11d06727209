// Inflating one .gz file: the serial GzipFile (one read-ahead thread) against GzipParts(2) (two
// producers, speculative split), each part summed by its own consumer thread. Prints wall and CPU
// seconds (whole process) per round, and how the split went.
//   bench_gzip_parts [rounds] FILE.gz...   (default: the prescriptions files of /tmp/prep/scale{,-shuf})
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "rxlm/io/gzip.h"
#include "rxlm/io/gzip_parts.h"
#include "support.h"

namespace {

// Touches every byte, as a parser would read them.
std::uint64_t sum_bytes(const char* data, std::size_t size) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < size; ++i) sum += static_cast<unsigned char>(data[i]);
  return sum;
}

struct Result {
  double wall = 0, cpu = 0;
  std::uint64_t bytes = 0, sum = 0;
  int parts = 1;
  std::string note;
};

Result serial(const std::string& path) {
  Result r;
  const double wall = bench::now(), cpu = bench::cpu_now();
  rxlm::GzipFile file(path);
  for (auto view = file.next_chunk(); view.size; view = file.next_chunk()) {
    r.bytes += view.size;
    r.sum += sum_bytes(view.data, view.size);
  }
  r.wall = bench::now() - wall;
  r.cpu = bench::cpu_now() - cpu;
  return r;
}

Result split(const std::string& path, int wanted) {
  Result r;
  const double wall = bench::now(), cpu = bench::cpu_now();
  try {
    rxlm::GzipParts parts(path, wanted);
    r.parts = parts.parts();
    char plan[64];
    std::snprintf(plan, sizeof plan, "(planned in %.3f s) ", bench::now() - wall);
    const std::string planned = plan;
    std::vector<std::uint64_t> bytes(static_cast<std::size_t>(r.parts)), sums(bytes.size());
    std::vector<std::string> errors(bytes.size());
    std::vector<std::thread> consumers;
    for (int k = 0; k < r.parts; ++k) {
      consumers.emplace_back([&, k] {
        try {
          for (auto view = parts.next_chunk(k); view.size; view = parts.next_chunk(k)) {
            bytes[static_cast<std::size_t>(k)] += view.size;
            sums[static_cast<std::size_t>(k)] += sum_bytes(view.data, view.size);
          }
        } catch (const std::exception& e) {
          errors[static_cast<std::size_t>(k)] = e.what();
        }
      });
    }
    for (auto& t : consumers) t.join();
    for (auto& e : errors)
      if (!e.empty()) throw std::runtime_error(e);
    parts.finish();
    for (std::size_t k = 0; k < bytes.size(); ++k) {
      r.bytes += bytes[k];
      r.sum += sums[k];
      r.note += (k ? "+" : "") + std::to_string(bytes[k] >> 20) + "MiB";
    }
    r.note = planned + r.note;
  } catch (const std::exception& e) {
    r.note = std::string("FAILED: ") + e.what();
  }
  r.wall = bench::now() - wall;
  r.cpu = bench::cpu_now() - cpu;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 3;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (!arg.empty() && arg.find_first_not_of("0123456789") == std::string::npos) {
      rounds = std::atoi(arg.c_str());
    } else {
      files.push_back(arg);
    }
  }
  if (files.empty())
    files = {"/tmp/prep/scale/hosp/prescriptions.csv.gz", "/tmp/prep/scale-shuf/hosp/prescriptions.csv.gz"};
  for (const auto& path : files) {
    std::printf("%s\n", path.c_str());
    for (int round = 0; round < rounds; ++round) {
      const Result a = serial(path);
      const Result b = split(path, 2);
      std::printf("  serial GzipFile : %6.3f s wall %6.3f s cpu  %llu bytes\n", a.wall, a.cpu,
                  static_cast<unsigned long long>(a.bytes));
      std::printf("  GzipParts(2)    : %6.3f s wall %6.3f s cpu  %d part(s) %s%s\n", b.wall, b.cpu, b.parts,
                  b.note.c_str(), b.bytes == a.bytes && b.sum == a.sum ? "" : "  BYTES DIFFER");
    }
  }
  return 0;
}
