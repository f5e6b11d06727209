// GzipParts: the parts, read by two consumer threads and concatenated, are the file's bytes exactly; a
// corrupt or cut file fails (rxlm::Error or GzipSplitFailed), never hands out wrong data silently.
// Also the two claims the split rests on: the marker decoder's output (markers resolved) is deflate's,
// and GzipSegment stops exactly at a block boundary, and only there.
#include "rxlm/io/gzip_parts.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "io_test_files.h"
#include "rxlm/core/error.h"
#include "rxlm/io/csv_parts.h"
#include "rxlm/io/deflate_markers.h"
#include "rxlm/io/gzip_segment.h"

namespace rxlm {
namespace {

using testing::ScratchDir;

#ifdef RXLM_HAVE_ISAL
#define SKIP_WITHOUT_ISAL() (void)0
#else  // GzipParts splits only with ISA-L; without it every file is one part
#define SKIP_WITHOUT_ISAL() GTEST_SKIP() << "needs ISA-L"
#endif

// Rows shaped like prescriptions.csv: growing ids, timestamps, drug names, doses. A split needs the
// window of the speculative decoder to become free of markers; MIMIC's ordered rows let that happen
// after some MiB, but in small synthetic rows common substrings are copied from copy to copy for ever
// (as in shuffled rows). So every MiB a row carries a long random note (48 KiB of base64), which no
// back-reference can reach past: markers die out there.
std::string synthetic_csv(std::size_t bytes, std::uint32_t seed) {
  static const char* drugs[] = {"Acetaminophen", "Heparin", "Insulin", "Sodium Chloride 0.9%", "Furosemide",
                                "Metoprolol Tartrate", "Docusate Sodium", "Senna", "Pantoprazole", "Vancomycin",
                                "Potassium Chloride", "Magnesium Sulfate", "Ondansetron", "Lorazepam", "Aspirin"};
  static const char base64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::mt19937 rng(seed);
  std::string csv = "subject_id,hadm_id,pharmacy_id,order_provider_id,starttime,drug,dose_val_rx,dose_unit_rx,route,note\n";
  std::size_t next_note = 1 << 20;
  for (std::uint64_t n = 0; csv.size() < bytes; ++n) {
    std::string provider = "P";
    for (int i = 0; i < 5; ++i) provider += "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[rng() % 36];
    csv += std::to_string(10000000 + n / 7) + ',' + std::to_string(20000000 + n / 3) + ',' +
           std::to_string(30000000 + n * 3 + rng() % 3) + ',' + provider + ",21" + std::to_string(10 + n / 50000 % 90) +
           '-' + std::to_string(10 + n / 4000 % 3) + '-' + std::to_string(10 + n / 200 % 19) + ' ' +
           std::to_string(10 + rng() % 14) + ':' + std::to_string(10 + rng() % 50) + ":00," + drugs[rng() % 15] + ',' +
           std::to_string(rng() % 1000) + (rng() % 2 ? ",mg," : ",mL,") + (rng() % 3 ? "PO," : "IV,");
    if (csv.size() >= next_note) {
      for (int i = 0; i < (48 << 10); ++i) csv += base64[rng() % 64];
      next_note += 1 << 20;
    }
    csv += '\n';
  }
  return csv;
}

std::string random_bytes(std::size_t bytes, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(bytes, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

std::string gzip(const std::string& data, int level) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(::deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  ::deflateEnd(&z);
  return out;
}

// Every part read on its own thread, concatenated; then finish().
std::string read_parts(GzipParts& parts) {
  std::vector<std::string> pieces(static_cast<std::size_t>(parts.parts()));
  std::vector<std::exception_ptr> errors(pieces.size());
  std::vector<std::thread> consumers;
  for (int k = 0; k < parts.parts(); ++k) {
    consumers.emplace_back([&, k] {
      try {
        for (;;) {
          auto view = parts.next_chunk(k);
          if (view.size == 0) break;
          view.data[-1] = 'x';  // headroom is writable
          pieces[static_cast<std::size_t>(k)].append(view.data, view.size);
        }
      } catch (...) {
        errors[static_cast<std::size_t>(k)] = std::current_exception();
      }
    });
  }
  for (auto& t : consumers) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  parts.finish();
  std::string all;
  for (auto& piece : pieces) all += piece;
  return all;
}

struct Compressed {
  std::string plain, gz;
};

const Compressed& csv_at_level(int level) {
  static std::map<int, Compressed> cache;
  auto& entry = cache[level];
  if (entry.gz.empty()) {
    entry.plain = synthetic_csv(12 << 20, 7);
    entry.gz = gzip(entry.plain, level);
  }
  return entry;
}

TEST(GzipParts, TwoPartsEqualTheDataAtLevels1And6And9) {
  SKIP_WITHOUT_ISAL();
  ScratchDir dir;
  for (int level : {1, 6, 9}) {
    const auto& c = csv_at_level(level);
    auto path = dir / ("rows" + std::to_string(level) + ".csv.gz");
    testing::write_bytes(path, c.gz);
    GzipParts parts(path, 2, 0);
    EXPECT_EQ(parts.parts(), 2) << "level " << level;
    const std::string got = read_parts(parts);
    ASSERT_EQ(got.size(), c.plain.size()) << "level " << level;
    EXPECT_TRUE(got == c.plain) << "level " << level;
  }
}

TEST(GzipParts, ThreePartsEqualTheData) {
  SKIP_WITHOUT_ISAL();
  ScratchDir dir;
  const auto& c = csv_at_level(6);
  auto path = dir / "rows.csv.gz";
  testing::write_bytes(path, c.gz);
  GzipParts parts(path, 3, 0);
  EXPECT_EQ(parts.parts(), 3);
  EXPECT_TRUE(read_parts(parts) == c.plain);
}

TEST(GzipParts, IncompressibleAndMixedDataEqualTheData) {
  ScratchDir dir;
  const std::string noise = random_bytes(4 << 20, 3);
  const std::string mixed = synthetic_csv(3 << 20, 1) + random_bytes(1 << 20, 2) + synthetic_csv(3 << 20, 5);
  for (const std::string* data : {&noise, &mixed}) {
    auto path = dir / "data.gz";
    testing::write_bytes(path, gzip(*data, 6));
    GzipParts parts(path, 2, 0);
    EXPECT_TRUE(read_parts(parts) == *data);
  }
}

TEST(GzipParts, SmallPlainAndMultiMemberFilesAreOnePart) {
  ScratchDir dir;
  const std::string data = synthetic_csv(1 << 20, 9);
  auto small = dir / "small.csv.gz";
  testing::write_bytes(small, gzip(data, 6));
  GzipParts a(small, 2);  // far below 64 MiB
  EXPECT_EQ(a.parts(), 1);
  EXPECT_TRUE(read_parts(a) == data);

  auto plain = dir / "plain.csv";
  testing::write_bytes(plain, data);
  GzipParts b(plain, 2, 0);
  EXPECT_EQ(b.parts(), 1);
  EXPECT_TRUE(read_parts(b) == data);
}

TEST(GzipParts, SeveralMembersNeverGiveWrongData) {
  ScratchDir dir;
  const std::string first = synthetic_csv(4 << 20, 11), second = synthetic_csv(4 << 20, 12);
  auto path = dir / "members.csv.gz";
  testing::write_bytes(path, gzip(first, 6) + gzip(second, 6));
  GzipParts parts(path, 2, 0);
  try {
    EXPECT_TRUE(read_parts(parts) == first + second);
  } catch (const GzipSplitFailed&) {
    GzipFile serial(path);  // what a caller does then
    std::string all;
    for (auto v = serial.next_chunk(); v.size; v = serial.next_chunk()) all.append(v.data, v.size);
    EXPECT_TRUE(all == first + second);
  }
}

TEST(GzipParts, CorruptSecondHalfFailsNeverWrongData) {
  ScratchDir dir;
  const auto& c = csv_at_level(6);
  std::mt19937 rng(42);
  int failures = 0;
  for (int trial = 0; trial < 12; ++trial) {
    std::string bad = c.gz;
    const std::size_t at = bad.size() / 2 + rng() % (bad.size() / 2 - 8);
    bad[at] = static_cast<char>(bad[at] ^ (1 + rng() % 255));
    auto path = dir / "bad.csv.gz";
    testing::write_bytes(path, bad);
    try {
      GzipParts parts(path, 2, 0);
      const std::string got = read_parts(parts);
      ADD_FAILURE() << "no error for a corrupt byte at " << at << (got == c.plain ? " (same data)" : " (WRONG data)");
    } catch (const GzipSplitFailed&) {
      ++failures;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos);
      ++failures;
    }
  }
  EXPECT_EQ(failures, 12);
}

TEST(GzipParts, TruncatedFileIsAnError) {
  ScratchDir dir;
  const auto& c = csv_at_level(6);
  for (double keep : {0.8, 0.55}) {
    auto path = dir / "cut.csv.gz";
    testing::write_bytes(path, c.gz.substr(0, static_cast<std::size_t>(static_cast<double>(c.gz.size()) * keep)));
    std::string message = testing::error_of([&] {
      GzipParts parts(path, 2, 0);
      read_parts(parts);
    });
    EXPECT_NE(message.find("cut.csv.gz"), std::string::npos) << message;
  }
}

TEST(GzipParts, ConsumersMayStopEarly) {
  SKIP_WITHOUT_ISAL();
  ScratchDir dir;
  const auto& c = csv_at_level(1);
  auto path = dir / "rows.csv.gz";
  testing::write_bytes(path, c.gz);
  GzipParts parts(path, 2, 0);
  EXPECT_GT(parts.next_chunk(0).size, 0u);
  EXPECT_GT(parts.next_chunk(1).size, 0u);
}  // the destructor stops both producers

// The claims the split rests on, checked on a mapped stream: the marker decoder started at a block
// boundary gives deflate's bytes once markers are resolved, and GzipSegment reports an exact stop at
// every block boundary and at no neighbouring bit, whether the file is mapped or read.
TEST(GzipParts, MarkerRunsAndExactStopsAtBlockBoundaries) {
  SKIP_WITHOUT_ISAL();
  ScratchDir dir;
  for (auto access : {PositionedFile::Access::Map, PositionedFile::Access::Read}) {
    for (int level : {1, 6, 9}) {
      const auto& c = csv_at_level(level);
      auto path = dir / "rows.csv.gz";
      testing::write_bytes(path, c.gz);
      const deflate::Bits bits{reinterpret_cast<const std::uint8_t*>(c.gz.data()), c.gz.size()};
      auto map = deflate::map_blocks(bits, 80, c.plain.size() + 1024);  // 10-byte header, no optional fields
      ASSERT_TRUE(map.has_value());
      ASSERT_TRUE(std::string(map->output.begin(), map->output.end()) == c.plain);
      ASSERT_GT(map->block_starts.size(), 20u) << "level " << level;
      // Offsets of the output at each block start, from a second pass that records them.
      PositionedFile file(path.string(), access);
      ASSERT_EQ(file.bytes() != nullptr, access == PositionedFile::Access::Map);
      const std::size_t n = map->block_starts.size();
      int runs = 0;
      for (std::size_t i = 1; i < n; i += n / 12) {
        const std::uint64_t boundary = map->block_starts[i];
        for (std::int64_t delta : {0, -1, 1, 8}) {
          GzipSegment segment(file);
          segment.stop_at(boundary + static_cast<std::uint64_t>(delta));
          std::string out(16 << 20, '\0');
          std::size_t total = 0, got = 0;
          while ((got = segment.fill(out.data() + total, out.size() - total)) > 0) total += got;
          EXPECT_EQ(segment.stopped_at_boundary(), delta == 0) << "level " << level << " block " << i << " delta " << delta
              << (access == PositionedFile::Access::Map ? " mapped" : " read");
          if (delta == 0) {
            ASSERT_TRUE(out.compare(0, total, c.plain, 0, total) == 0);
            EXPECT_EQ(segment.crc32(), crc32(0, reinterpret_cast<const Bytef*>(c.plain.data()), static_cast<uInt>(total)));
            // A marker run from this boundary resolves to the same bytes.
            if (deflate::plausible_dynamic_block(bits, boundary)) {
              auto outcome = deflate::decode_with_markers(bits, boundary, {});
              ASSERT_NE(outcome.status, deflate::MarkerOutcome::kNotABlock);
              if (outcome.status != deflate::MarkerOutcome::kFound) continue;  // the final block came first
              ++runs;
              const deflate::MarkerRun* run = &outcome.run;
              for (std::size_t s = 0; s < run->size; ++s) {
                const std::uint16_t symbol = run->output()[s];
                const char byte = symbol < 256 ? static_cast<char>(symbol)
                                               : c.plain[total - deflate::kWindow + (symbol - deflate::kMarker)];
                ASSERT_EQ(byte, c.plain[total + s]) << "symbol " << s;
              }
            }
          }
        }
      }
      EXPECT_GE(runs, 8) << "level " << level;
    }
  }
}

}  // namespace
}  // namespace rxlm

namespace rxlm {
namespace {

using testing::ScratchDir;

// read_csv_in_parts (csv_parts.h): the records of all parts, in order, are the serial reader's records,
// or the split is refused (GzipSplitFailed) — never other records.
using Records = std::vector<std::string>;

std::string joined(const CsvReader& reader) {
  std::string record;
  for (std::size_t i = 0; i < reader.size(); ++i) record.append(reader.field(i)).push_back('\x1f');
  return record;
}

Records serial_records(const std::filesystem::path& path) {
  Records records;
  CsvReader reader = CsvReader::open(path);
  while (reader.next()) records.push_back(joined(reader));
  return records;
}

// Reads `path` in parts; returns the number of parts, the records concatenated in part order in `out`.
int records_in_parts(const std::filesystem::path& path, Records& out) {
  std::vector<Records> parts(2);
  const int count = read_csv_in_parts(
      path, CsvOptions{},
      [&](CsvReader& reader, int part) {
        while (reader.next()) parts[part].push_back(joined(reader));
      },
      0);
  for (auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return count;
}

TEST(CsvParts, RecordsOfBothPartsAreTheSerialRecords) {
  SKIP_WITHOUT_ISAL();
  ScratchDir dir;
  auto path = dir / "rows.csv.gz";
  testing::write_bytes(path, csv_at_level(6).gz);
  Records got;
  EXPECT_EQ(records_in_parts(path, got), 2);
  EXPECT_EQ(got, serial_records(path));
}

TEST(CsvParts, ANewlineInsideQuotesAtTheSplitIsRefusedNotMisread) {
  SKIP_WITHOUT_ISAL();
  // Every record ends with a quoted field holding four line ends: the first line end after a split
  // point is then most likely inside quotes, where part 1's reader must not start. (Splits happen right
  // after a long note, which ends a record: the quoted field follows it.) At three compression levels
  // (three split points) each read must give the serial records or refuse the split, and at least one must
  // refuse (this data and these levels do).
  const std::string& plain = csv_at_level(6).plain;
  std::string quoted = plain.substr(0, plain.find('\n')) + ",memo\n";
  for (std::size_t at = plain.find('\n') + 1; at < plain.size();) {
    const std::size_t end = plain.find('\n', at);
    quoted += plain.substr(at, end - at) + ",\"a\nb,\nc\"\"\nd\n\"\n";
    at = end + 1;
  }
  ScratchDir dir;
  int refused = 0;
  for (int level : {1, 6, 9}) {
    auto path = dir / ("quoted" + std::to_string(level) + ".csv.gz");
    testing::write_bytes(path, gzip(quoted, level));
    Records got;
    try {
      const int parts = records_in_parts(path, got);
      EXPECT_EQ(got, serial_records(path)) << "level " << level << ", " << parts << " part(s)";
    } catch (const GzipSplitFailed&) {
      ++refused;
    }
  }
  EXPECT_GE(refused, 1);
}

TEST(CsvParts, AMalformedRecordInPartOneFailsTheSplitAndTheSerialReadNamesItsLine) {
  SKIP_WITHOUT_ISAL();
  std::string plain = csv_at_level(6).plain;
  const std::size_t bad = plain.find('\n', plain.size() * 9 / 10) + 1;  // a record near the end: part 1
  plain.insert(bad, "1,2,3\n");
  const auto line = std::count(plain.begin(), plain.begin() + bad, '\n') + 1;
  ScratchDir dir;
  auto path = dir / "bad.csv.gz";
  testing::write_bytes(path, gzip(plain, 6));
  Records got;
  EXPECT_THROW(records_in_parts(path, got), GzipSplitFailed);
  try {
    serial_records(path);
    FAIL() << "the serial read accepted a record with 3 fields";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(":" + std::to_string(line) + ":"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace rxlm
