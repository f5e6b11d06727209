// append_json_string writes exactly what nlohmann::json::dump() writes for the same string (the
// reference), for escapes at every position of a 32-byte block, UTF-8, and invalid UTF-8.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "rxlm/io/jsonl.h"

namespace {

std::string reference(const std::string& text) {
  return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string ours(const std::string& text) {
  std::string out = "prefix:";  // appends, keeping what was there
  rxlm::append_json_string(out, text);
  return out.substr(7);
}

}  // namespace

TEST(JsonString, SameAsNlohmannForEverySpecialAtEveryPosition) {
  const std::string specials = std::string("\"\\\b\f\n\r\t\x01\x1f", 9) + std::string(1, '\0');
  for (std::size_t length : {0, 1, 31, 32, 33, 64, 70}) {
    for (std::size_t at = 0; at < length; ++at) {
      for (char c : specials) {
        std::string text(length, 'a');
        text[at] = c;
        ASSERT_EQ(ours(text), reference(text)) << "length " << length << " at " << at << " byte " << int(c);
      }
    }
  }
}

TEST(JsonString, SameAsNlohmannForRandomAsciiAndUtf8) {
  std::mt19937 rng(7);
  const std::string utf8[] = {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x92\x8A"};  // é € 💊
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    const int parts = static_cast<int>(rng() % 80);
    for (int i = 0; i < parts; ++i) {
      unsigned pick = rng() % 100;
      if (pick < 3 && round % 2) text += utf8[rng() % 3];
      else if (pick < 10) text += static_cast<char>(rng() % 0x20);
      else if (pick < 14) text += (pick % 2) ? '"' : '\\';
      else text += static_cast<char>(0x20 + rng() % 0x5f);
    }
    ASSERT_EQ(ours(text), reference(text)) << "round " << round;
  }
}

TEST(JsonString, InvalidUtf8ThrowsLikeNlohmann) {
  const std::string text = std::string(40, 'a') + "\n\xC3(" + std::string(10, 'b');
  EXPECT_THROW(reference(text), nlohmann::json::exception);
  EXPECT_THROW(ours(text), nlohmann::json::exception);
}

// write_json_chars is append_json_string without the quotes, for text below 0x80, at every length
// around its 4/8/16/32-byte blocks; it refuses bytes >= 0x80 and stays within json_chars_room.
TEST(JsonString, RawWriterSameAsAppendForAscii) {
  auto raw = [](const std::string& text) {
    std::string room(rxlm::json_chars_room(text.size()) + 64, '\x7f');
    char* end = rxlm::write_json_chars(room.data() + 32, text);
    if (!end) return std::string("<refused>");
    for (std::size_t i = 0; i < 32; ++i) EXPECT_EQ(room[i], '\x7f') << "wrote before the start";
    const std::size_t limit = 32 + rxlm::json_chars_room(text.size());
    for (std::size_t i = limit; i < room.size(); ++i) EXPECT_EQ(room[i], '\x7f') << "wrote past the room";
    return "\"" + std::string(room.data() + 32, end) + "\"";
  };
  const std::string specials = std::string("\"\\\b\f\n\r\t\x01\x1f", 9) + std::string(1, '\0');
  for (std::size_t length = 0; length <= 70; ++length) {
    ASSERT_EQ(raw(std::string(length, 'a')), ours(std::string(length, 'a')));
    for (std::size_t at = 0; at < length; ++at)
      for (char c : specials) {
        std::string text(length, 'a');
        text[at] = c;
        ASSERT_EQ(raw(text), ours(text)) << "length " << length << " at " << at << " byte " << int(c);
      }
  }
  std::mt19937 rng(11);
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    const int length = static_cast<int>(rng() % 100);
    for (int i = 0; i < length; ++i)
      text += rng() % 8 == 0 ? static_cast<char>(rng() % 0x20) : static_cast<char>(0x20 + rng() % 0x60);
    ASSERT_EQ(raw(text), ours(text)) << text;
    if (!text.empty()) {
      text[rng() % text.size()] = static_cast<char>(0x80 + rng() % 0x80);
      EXPECT_EQ(raw(text), "<refused>") << text;
    }
  }
}

TEST(AtomicFile, LargeFilesHoldExactlyWhatWasWritten) {
  // Large files go past the page cache in 8 MiB aligned blocks (O_DIRECT where the file system allows
  // it); sizes around the block and alignment boundaries, and an empty file, must come out exact.
  const auto dir = std::filesystem::temp_directory_path() / ("rxlm_atomic_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::mt19937 rng(3);
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{4096}, std::size_t{8} << 20,
                           (std::size_t{8} << 20) + 1, (std::size_t{17} << 20) + 12345}) {
    std::string bytes(size, '\0');
    for (auto& b : bytes) b = static_cast<char>(rng());
    const auto path = dir / ("f" + std::to_string(size));
    {
      rxlm::AtomicFile file(path, /*large=*/true);
      for (std::size_t at = 0; at < size;) {  // uneven pieces, like JSONL lines
        const std::size_t piece = std::min<std::size_t>(size - at, 1 + rng() % 300000);
        file.write(std::string_view(bytes).substr(at, piece));
        at += piece;
      }
      file.commit();
    }
    EXPECT_EQ(read_all(path), bytes) << "size " << size;
  }
  {
    rxlm::AtomicFile file(dir / "never", /*large=*/true);
    file.write(std::string(9 << 20, 'x'));
  }  // not committed: nothing appears, no temporary file is left
  std::size_t left = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++left;
  EXPECT_EQ(left, 6u);
  EXPECT_FALSE(std::filesystem::exists(dir / "never"));
  std::filesystem::remove_all(dir);
}

TEST(AtomicFile, FinishedButNotCommittedReplacesNothing) {
  // finish_writing() puts the new bytes on disk under a temporary name; only commit() replaces the old
  // file. prep flushes its sample files together and commits none when any flush fails.
  const auto dir = std::filesystem::temp_directory_path() / ("rxlm_finish_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (bool large : {false, true}) {
    const auto path = dir / (large ? "large.jsonl" : "small.jsonl");
    {
      rxlm::AtomicFile old(path, large);
      old.write("old\n");
      old.commit();
    }
    {
      rxlm::AtomicFile file(path, large);
      file.write(std::string(3 << 20, 'n'));
      file.finish_writing();
      EXPECT_EQ(read_all(path), "old\n") << "large " << large << ": replaced before commit";
    }  // abandoned after finish_writing: the temporary goes, the old file stays
    EXPECT_EQ(read_all(path), "old\n") << "large " << large;
    {
      rxlm::AtomicFile file(path, large);
      file.write("new\n");
      file.finish_writing();
      file.commit();
      file.commit();  // a second commit does nothing
    }
    EXPECT_EQ(read_all(path), "new\n") << "large " << large;
  }
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++entries;
  EXPECT_EQ(entries, 2u) << "a temporary or old file was left behind";
  std::filesystem::remove_all(dir);
}

TEST(AtomicFile, LargeFileReplacesTheOldOneAndLeavesNothingElse) {
  // More 8 MiB blocks than a file keeps in flight (so written blocks are filled again), written over
  // an existing file whose blocks are freed in the background.
  const auto dir = std::filesystem::temp_directory_path() / ("rxlm_replace_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "train.jsonl";
  std::mt19937 rng(5);
  for (std::size_t size : {std::size_t{3} << 20, (std::size_t{45} << 20) + 777, std::size_t{100}}) {
    std::string bytes(size, '\0');
    for (auto& b : bytes) b = static_cast<char>('a' + rng() % 26);
    {
      rxlm::AtomicFile file(path, /*large=*/true);
      for (std::size_t at = 0; at < size;) {
        const std::size_t piece = std::min<std::size_t>(size - at, 1 + rng() % 100000);
        file.write(std::string_view(bytes).substr(at, piece));
        at += piece;
      }
      file.commit();
      EXPECT_EQ(read_all(path), bytes) << "size " << size << ", right after commit";
    }
    EXPECT_EQ(read_all(path), bytes) << "size " << size;
    std::size_t entries = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++entries;
    EXPECT_EQ(entries, 1u) << "size " << size;
  }
  std::filesystem::remove_all(dir);
}
