// keep_freed_memory(): big blocks come from the heap (no mmap of their own) and freeing them does not
// shrink the heap, so the next big table reuses pages that are already mapped.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "rxlm/core/batch_memory.h"

#if defined(__GLIBC__)
#include <malloc.h>

TEST(BatchMemory, BigBlocksComeFromTheHeapAndStayAfterFree) {
  constexpr std::size_t kBig = std::size_t{96} << 20;  // far above glibc's default mmap threshold
  rxlm::keep_freed_memory();
  const struct mallinfo2 before = mallinfo2();
  char* block = static_cast<char*>(std::malloc(kBig));
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, kBig);
  const struct mallinfo2 held = mallinfo2();
  EXPECT_EQ(held.hblks, before.hblks) << "the block was given its own mmap";
  EXPECT_GE(held.arena, before.arena + kBig) << "the heap did not grow to hold the block";
  std::free(block);
  const struct mallinfo2 freed = mallinfo2();
  EXPECT_EQ(freed.arena, held.arena) << "freeing the block gave the heap back to the kernel";
  EXPECT_GE(freed.fordblks, kBig) << "the freed block is not available for reuse";
  char* again = static_cast<char*>(std::malloc(kBig));
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(mallinfo2().arena, held.arena) << "a second block of the same size grew the heap again";
  std::free(again);
}
#else
TEST(BatchMemory, BigBlocksComeFromTheHeapAndStayAfterFree) { GTEST_SKIP() << "glibc only"; }
#endif
