// CsvReader: RFC 4180 quoting, CRLF, BOM, gzip, header lookup, and file:line errors or counted skips.
#include <gtest/gtest.h>

#include <unistd.h>
#include <zlib.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "rxlm/core/error.h"
#include "rxlm/io/csv.h"

namespace fs = std::filesystem;
using rxlm::CsvOptions;
using rxlm::CsvReader;

namespace {

// A reader over `text`, handed out `chunk` bytes at a time so that quotes, CRLF and fields straddle buffer refills.
CsvReader from_text(const std::string& text, CsvOptions options = {}, std::size_t chunk = 3) {
  auto pos = std::make_shared<std::size_t>(0);
  return CsvReader("test.csv",
                   [text, pos, chunk](char* buffer, std::size_t capacity) {
                     std::size_t n = std::min({capacity, chunk, text.size() - *pos});
                     std::copy_n(text.data() + *pos, n, buffer);
                     *pos += n;
                     return n;
                   },
                   options);
}

std::vector<std::vector<std::string>> all_rows(CsvReader& reader) {
  std::vector<std::vector<std::string>> rows;
  while (reader.next()) {
    rows.emplace_back();
    for (std::size_t i = 0; i < reader.size(); ++i) rows.back().emplace_back(reader.field(i));
  }
  return rows;
}

std::string error_of(const std::string& text) {
  try {
    CsvReader reader = from_text(text);
    while (reader.next()) {
    }
  } catch (const rxlm::Error& e) {
    return e.what();
  }
  return "";
}

fs::path temp_file(const std::string& name) {
  return fs::temp_directory_path() / ("rxlm_csv_test_" + std::to_string(::getpid()) + "_" + name);
}

void write_gzip(const fs::path& path, const std::string& text) {
  gzFile out = gzopen(path.c_str(), "wb");
  gzwrite(out, text.data(), static_cast<unsigned>(text.size()));
  gzclose(out);
}

}  // namespace

TEST(Csv, QuotedCommasDoubledQuotesAndEmbeddedNewlines) {
  CsvReader reader = from_text("a,b,c\n1,\"x, y\",\"say \"\"hi\"\"\"\n2,\"line1\nline2\",\n");
  EXPECT_EQ(reader.header(), (std::vector<std::string>{"a", "b", "c"}));
  auto rows = all_rows(reader);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"1", "x, y", "say \"hi\""}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"2", "line1\nline2", ""}));
}

TEST(Csv, LineNumbersCountEmbeddedNewlines) {
  CsvReader reader = from_text("a,b\n1,\"two\nlines\"\n2,x\n");
  ASSERT_TRUE(reader.next());
  EXPECT_EQ(reader.line(), 2u);
  ASSERT_TRUE(reader.next());
  EXPECT_EQ(reader.line(), 4u);
  EXPECT_FALSE(reader.next());
}

TEST(Csv, CrlfBomAndMissingFinalNewline) {
  CsvReader reader = from_text("\xEF\xBB\xBFid,name\r\n1,a\r\n2,\"b\r\nc\"\r\n3,d");
  EXPECT_EQ(reader.column("id"), 0u);  // the BOM is not part of the first column name
  auto rows = all_rows(reader);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"1", "a"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"2", "b\r\nc"}));
  EXPECT_EQ(rows[2], (std::vector<std::string>{"3", "d"}));
}

TEST(Csv, RecordsLongerThanTheReadBufferAndMixedQuoting) {
  // Plain records are split in place in a 1 MiB buffer; longer ones and quoted ones are copied.
  const std::string big(1536 * 1024, 'x');
  std::string text = "a,b\n1," + big + "\n\"2\",\"q,\"\"\"\n3," + big + "y\n";
  for (int i = 4; i < 40000; ++i) text += std::to_string(i) + (i % 7 ? ",plain\n" : ",\"quo\nted\"\n");
  CsvReader reader = from_text(text, {}, 700000);
  std::vector<std::vector<std::string>> rows;
  std::uint64_t last_line = 0;
  while (reader.next()) {
    rows.emplace_back();
    for (std::size_t i = 0; i < reader.size(); ++i) rows.back().emplace_back(reader.field(i));
    last_line = reader.line();
  }
  ASSERT_EQ(rows.size(), 39999u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"1", big}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"2", "q,\""}));
  EXPECT_EQ(rows[2], (std::vector<std::string>{"3", big + "y"}));
  EXPECT_EQ(rows[3], (std::vector<std::string>{"4", "plain"}));
  EXPECT_EQ(rows[6], (std::vector<std::string>{"7", "quo\nted"}));
  EXPECT_EQ(rows[7], (std::vector<std::string>{"8", "plain"}));
  EXPECT_EQ(rows[39998], (std::vector<std::string>{"39999", "plain"}));
  // The last record's line: 4 lines up to row 3, one per row 4..39999, and one more for each of the
  // 5714 quoted fields (i = 7, 14, ..., 39998) with a newline inside.
  EXPECT_EQ(last_line, 4u + 39996u + 5714u);
}

TEST(Csv, ColumnsByNameWithAHelpfulError) {
  CsvReader reader = from_text("subject_id,hadm_id\n1,2\n");
  EXPECT_EQ(reader.column("hadm_id"), 1u);
  EXPECT_FALSE(reader.find_column("seq_num"));
  try {
    reader.column("seq_num");
    FAIL() << "no error";
  } catch (const rxlm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("test.csv: missing column 'seq_num' (the header has: subject_id,hadm_id)"),
              std::string::npos)
        << e.what();
  }
}

TEST(Csv, MalformedRowsNameFileAndLine) {
  EXPECT_NE(error_of("a,b\n1,2\n3\n").find("test.csv:3: 1 fields where the header has 2"), std::string::npos);
  EXPECT_NE(error_of("a,b\n1,x\"y\n").find("test.csv:2: a quote inside an unquoted field"), std::string::npos);
  EXPECT_NE(error_of("a,b\n1,\"x\"y\n").find("test.csv:2: text after a closing quote"), std::string::npos);
  EXPECT_NE(error_of("a,b\n1,2\n3,\"open\n").find("test.csv:3: quoted field opened on line 3 never closes"),
            std::string::npos);
  EXPECT_NE(error_of("").find("test.csv: empty file"), std::string::npos);
}

TEST(Csv, MalformedRowsSkippedAndCountedWhenAsked) {
  CsvReader reader = from_text("a,b\n1,2\n3\n4,x\"y\n5,6\n7,\"z\"w\n8,9\n", CsvOptions{.skip_malformed = true});
  auto rows = all_rows(reader);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0][0], "1");
  EXPECT_EQ(rows[1][0], "5");
  EXPECT_EQ(rows[2][0], "8");
  EXPECT_EQ(reader.skipped(), 3u);
  ASSERT_EQ(reader.skip_examples().size(), 3u);
  EXPECT_NE(reader.skip_examples()[0].find("test.csv:3:"), std::string::npos);
}

TEST(Csv, TypedFieldsComplainWithContext) {
  CsvReader reader = from_text("seq_num,value\n12,\n x,1.5\n");
  ASSERT_TRUE(reader.next());
  EXPECT_EQ(reader.integer(0), 12);
  EXPECT_FALSE(reader.number(1));
  ASSERT_TRUE(reader.next());
  EXPECT_EQ(reader.number(1), 1.5);
  try {
    reader.integer(0);
    FAIL() << "no error";
  } catch (const rxlm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("test.csv:3: column 'seq_num' (' x'): not a whole number"), std::string::npos)
        << e.what();
  }
}

TEST(Csv, GzipAndPlainFilesReadTheSame) {
  const std::string text = "drug,gsn\n\"Aspirin, EC\",004380\nHeparin,006549\n";
  fs::path plain = temp_file("plain.csv"), gz = temp_file("t.csv.gz");
  std::ofstream(plain, std::ios::binary) << text;
  write_gzip(gz, text);
  CsvReader a = CsvReader::open(plain), b = CsvReader::open(gz);
  EXPECT_EQ(all_rows(a), all_rows(b));
  fs::remove(plain);
  fs::remove(gz);
}

TEST(Csv, TruncatedGzipIsAnErrorNotAShortTable) {
  std::string text = "a,b\n";
  for (int i = 0; i < 20000; ++i) text += std::to_string(i) + "," + std::to_string(i * 7919 % 10007) + "\n";
  fs::path gz = temp_file("cut.csv.gz");
  write_gzip(gz, text);
  fs::resize_file(gz, fs::file_size(gz) / 2);
  try {
    CsvReader reader = CsvReader::open(gz);
    while (reader.next()) {
    }
    FAIL() << "a truncated gzip file was read without error";
  } catch (const rxlm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("corrupt or truncated gzip"), std::string::npos) << e.what();
  }
  fs::remove(gz);
}

TEST(Csv, ConcatenatedGzipMembersAreReadWhole) {
  // `cat a.gz b.gz` (and bgzip, pigz --independent) give several gzip members in one file.
  std::string first = "a,b\n", second;
  for (int i = 0; i < 5000; ++i) first += std::to_string(i) + ",x\n";
  for (int i = 5000; i < 9000; ++i) second += std::to_string(i) + ",y\n";
  fs::path one = temp_file("m1.gz"), two = temp_file("m2.gz"), both = temp_file("m12.csv.gz");
  write_gzip(one, first);
  write_gzip(two, second);
  {
    std::ofstream out(both, std::ios::binary);
    out << std::ifstream(one, std::ios::binary).rdbuf() << std::ifstream(two, std::ios::binary).rdbuf();
  }
  CsvReader reader = CsvReader::open(both);
  auto rows = all_rows(reader);
  ASSERT_EQ(rows.size(), 9000u);
  EXPECT_EQ(rows[4999], (std::vector<std::string>{"4999", "x"}));
  EXPECT_EQ(rows[5000], (std::vector<std::string>{"5000", "y"}));
  EXPECT_EQ(rows[8999], (std::vector<std::string>{"8999", "y"}));
  for (const auto& path : {one, two, both}) fs::remove(path);
}

TEST(Csv, CorruptGzipIsAnError) {
  std::string text = "a,b\n";
  for (int i = 0; i < 20000; ++i) text += std::to_string(i) + "," + std::to_string(i * 7919 % 10007) + "\n";
  fs::path gz = temp_file("bad.csv.gz");
  write_gzip(gz, text);
  std::string bytes;
  {
    std::ifstream in(gz, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() - 6] ^= 0x55;  // inside the trailer: the CRC-32 no longer matches
  std::ofstream(gz, std::ios::binary | std::ios::trunc) << bytes;
  try {
    CsvReader reader = CsvReader::open(gz);
    while (reader.next()) {
    }
    FAIL() << "a gzip file with a wrong checksum was read without error";
  } catch (const rxlm::Error& e) {
    EXPECT_NE(std::string(e.what()).find(gz.string() + ": corrupt or truncated gzip"), std::string::npos) << e.what();
  }
  fs::remove(gz);
}

TEST(Csv, FilesParseLikeAStreamAcrossChunkBoundaries) {
  // Files are parsed where the inflater put them (4 MiB chunks). Across the boundaries at 4, 8 and
  // 12 MiB lie a short record, one longer than the 64 KiB carry-over room, and a quoted one with a
  // newline inside: all must come out as from a stream.
  std::string text = "id,text,n\n";
  int id = 0;
  auto row = [&](const std::string& field) { text += std::to_string(id++) + "," + field + ",7\n"; };
  const std::string cut[] = {"short", std::string(100000, 'L'), "\"quoted, \"\"across\"\"\nlines\""};
  for (int b = 1; b <= 3; ++b) {
    const std::size_t boundary = std::size_t(b) << 22;
    while (text.size() < boundary - 100) row("row" + std::to_string(id));
    row(std::string(boundary - 5 - text.size() - (std::to_string(id).size() + 4), 'p'));  // ends 5 bytes short
    ASSERT_EQ(text.size(), boundary - 5);
    row(cut[b - 1]);
  }
  row("last");
  fs::path plain = temp_file("chunks.csv"), gz = temp_file("chunks.csv.gz");
  std::ofstream(plain, std::ios::binary) << text;
  write_gzip(gz, text);
  CsvReader stream = from_text(text, {}, 1 << 20);
  const auto expected = all_rows(stream);
  ASSERT_EQ(expected.size(), static_cast<std::size_t>(id));
  CsvReader from_plain = CsvReader::open(plain), from_gz = CsvReader::open(gz);
  EXPECT_EQ(all_rows(from_plain), expected);
  EXPECT_EQ(all_rows(from_gz), expected);
  fs::remove(plain);
  fs::remove(gz);
}

TEST(Csv, MissingFileIsAClearError) {
  try {
    CsvReader::open("/nonexistent/patients.csv.gz");
    FAIL() << "no error";
  } catch (const rxlm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/patients.csv.gz: no such file"), std::string::npos);
  }
}

TEST(Csv, IntegersAgreeWithFromChars) {
  // Plain digit runs take a shortcut (eight at once for MIMIC's ids); every other spelling must be
  // judged exactly as std::from_chars judges it.
  const std::vector<std::string> texts = {
      "0",        "7",         "42",         "30000001", "99999999", "00000000", "12345678", "1234567",
      "123456789", "-5",       "-12345678",  "+1",       "1a345678", "1234567a", "12345 78", "/2345678",
      ":2345678", "123456789012345678", "9223372036854775807", "9223372036854775808", "1e5", " 1"};
  std::string text = "v\n";
  for (const auto& t : texts) text += t + "\n";
  CsvReader reader = from_text(text, {}, 5);
  for (const auto& t : texts) {
    ASSERT_TRUE(reader.next());
    std::int64_t expected = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), expected);
    const bool valid = ec == std::errc() && end == t.data() + t.size();
    if (valid) {
      EXPECT_EQ(reader.integer(0), expected) << t;
    } else {
      EXPECT_THROW(reader.integer(0), rxlm::Error) << t;
    }
  }
}

namespace {

// Random CSV: plain and quoted fields (doubled quotes, embedded commas and newlines), LF and CRLF line
// ends, records spanning several 64-byte blocks, and malformed ones (a field too many or too few, a
// stray quote) that are skipped and counted.
std::string random_csv(unsigned seed, int records) {
  std::uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&](std::uint64_t below) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return state % below;
  };
  std::string text = "a,b,c,d,e,f\n";
  for (int r = 0; r < records; ++r) {
    const std::uint64_t kind = next(40);
    const int fields = kind == 0 ? 5 : kind == 1 ? 7 : 6;
    for (int f = 0; f < fields; ++f) {
      if (f > 0) text += ',';
      const std::uint64_t shape = next(12);
      const std::size_t length = shape == 0 ? 70 + next(200) : next(12);
      std::string field;
      for (std::size_t i = 0; i < length; ++i) field += static_cast<char>('a' + next(26));
      if (shape == 1) {
        text += "\"" + field.substr(0, length / 2) + ",\"\"x\"\"\n" + field.substr(length / 2) + "\"";
      } else if (shape == 2 && next(8) == 0) {
        text += field + "\"oops";  // a quote inside an unquoted field
      } else {
        text += field;
      }
    }
    text += next(10) == 0 ? "\r\n" : "\n";
  }
  return text;
}

struct Seen {
  std::vector<std::vector<std::string>> fields;  // the first `keep` of each record
  std::vector<std::uint64_t> lines, sizes;
  std::uint64_t skipped = 0;
  std::vector<std::string> examples;
  bool operator==(const Seen&) const = default;
};

Seen read_kept(CsvReader reader, std::size_t keep) {
  Seen seen;
  reader.keep_fields(keep);
  while (reader.next()) {
    seen.fields.emplace_back();
    for (std::size_t i = 0; i < keep; ++i) seen.fields.back().emplace_back(reader.field(i));
    seen.lines.push_back(reader.line());
    seen.sizes.push_back(reader.size());
  }
  seen.skipped = reader.skipped();
  seen.examples = reader.skip_examples();
  return seen;
}

}  // namespace

TEST(Csv, KeptFieldsReadAsTheFullRecordAndCountsStayChecked) {
  // A reader that keeps only the first k fields sees them (and line numbers, field counts, skips)
  // exactly as a reader of whole records, whatever the chunking of the source.
  const CsvOptions skip{.skip_malformed = true};
  for (unsigned seed = 1; seed <= 4; ++seed) {
    const std::string text = random_csv(seed, 3000);
    const Seen whole = read_kept(from_text(text, skip, 1 << 20), 6);
    ASSERT_GT(whole.skipped, 0u);
    ASSERT_GT(whole.fields.size(), 2000u);
    fs::path gz = temp_file("kept.csv.gz");
    write_gzip(gz, text);
    for (std::size_t keep : {1, 2, 4, 6}) {
      Seen expected = whole;
      for (auto& fields : expected.fields) fields.resize(keep);
      for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{100}, std::size_t{1} << 20})
        EXPECT_EQ(read_kept(from_text(text, skip, chunk), keep), expected) << "seed " << seed << " keep " << keep;
      Seen from_file = read_kept(CsvReader::open(gz, skip), keep);
      for (auto& example : from_file.examples) example.replace(0, gz.string().size(), "test.csv");
      EXPECT_EQ(from_file, expected) << "seed " << seed << " keep " << keep;
    }
    fs::remove(gz);
  }
}

TEST(Csv, FractionReadGrowsToAboutOne) {
  std::string text = "a,b\n";
  for (int i = 0; i < 200000; ++i) text += std::to_string(i) + ",x\n";
  fs::path gz = temp_file("fraction.csv.gz");
  write_gzip(gz, text);
  CsvReader reader = CsvReader::open(gz);
  double last = 0;
  while (reader.next()) {
    EXPECT_GE(reader.fraction_read(), last);
    last = reader.fraction_read();
  }
  EXPECT_NEAR(last, 1.0, 0.01);
  EXPECT_EQ(from_text(text).fraction_read(), 0.0);  // a stream of unknown length
  fs::remove(gz);
}
