// Memory policy for batch commands that build large tables, use them once and exit (`rxlm prep`).
#pragma once

namespace rxlm {

// From the call on, memory the process frees stays with it for its next allocations instead of going
// back to the kernel: large blocks come from the heap rather than one mmap each, and the heap is not
// trimmed. Handing a block back (munmap) costs a TLB flush on every core the process runs on, and
// each page of a fresh block a fault on first touch; a pipeline that frees one big table and builds
// the next paid both for every block. Peak memory stays about the same (the freed blocks are reused);
// what changes is that it is returned at exit rather than along the way. Process-wide (glibc mallopt);
// a no-op elsewhere. Measured in docs/BENCHMARKS.md ("Preprocessing").
void keep_freed_memory();

// Hands the memory the process has freed back to the kernel now (glibc malloc_trim): for a thread that
// has just freed the big tables while another waits on the disk, so that less is left for the exit.
void return_freed_memory();

}  // namespace rxlm
