#include "rxlm/core/batch_memory.h"

#include <climits>
#include <cstdlib>  // defines __GLIBC__ where the C library is glibc
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace rxlm {

void keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_MAX, 0);                 // big blocks from the heap, reusable once freed
  mallopt(M_TRIM_THRESHOLD, INT_MAX);     // freed memory at the heap's top stays (below 2 GiB)
  mallopt(M_TOP_PAD, 64 << 20);           // grow the heap 64 MiB at a time, not per block
#endif
}

void return_freed_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace rxlm
