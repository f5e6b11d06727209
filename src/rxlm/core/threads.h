// One knob for the number of CPU threads used by OpenMP kernels and OpenBLAS.
#pragma once

namespace rxlm {

// n ≤ 0 keeps the default (OMP_NUM_THREADS, else all cores).
void set_num_threads(int n);
int num_threads();

}  // namespace rxlm
