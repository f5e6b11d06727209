// FlashAttention-2 memory: the workspace the API asks for is O(N·d) per thread and in total (shown up to
// N = 8192, linear in N, far below one N×N matrix), and forward/backward allocate nothing themselves (global operator new is counted).
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

#include "rxlm/ops/flash_attention.h"
#include "flash_attention_test_support.h"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace rxlm {
namespace {

using testing_support::Problem;
using testing_support::Spec;

Spec bench_spec(int n) {  // the benchmark's shape: 32 query heads, 8 KV heads, d = 128, causal
  Spec spec;
  spec.n_heads = 32;
  spec.n_kv_heads = 8;
  spec.head_dim = 128;
  spec.causal = true;
  spec.seq_q = spec.seq_k = {n};
  return spec;
}

// Workspace bytes for `threads`; sizing needs only sizes and cu_seqlens, no tensors.
size_t total_bytes(const Spec& spec, bool backward, int threads) {
  std::vector<int32_t> cu{0, spec.seq_q[0]};
  FlashAttentionParams p;
  p.n_heads = spec.n_heads;
  p.n_kv_heads = spec.n_kv_heads;
  p.head_dim = spec.head_dim;
  p.cu_seqlens_q = p.cu_seqlens_k = cu.data();
  p.n_seqs = 1;
  FlashAttentionGradParams gp;
  gp.fwd = p;
  return backward ? flash_attention_backward_workspace_bytes(gp, threads)
                  : flash_attention_forward_workspace_bytes(p, threads);
}

// Per-thread bytes = bytes(2 threads) - bytes(1 thread).
size_t per_thread(const Spec& spec, bool backward) {
  return total_bytes(spec, backward, 2) - total_bytes(spec, backward, 1);
}

TEST(FlashAttentionMemory, WorkspaceIsLinearInSequenceLength) {
  const int d = 128, group = 4;
  size_t previous_bwd = 0, previous_total = 0;
  for (int n : {1024, 2048, 4096, 8192}) {
    const Spec spec = bench_spec(n);
    const size_t fwd = per_thread(spec, false), bwd = per_thread(spec, true);
    const size_t total = total_bytes(spec, true, 2);
    const double n_d_bytes = double(n) * d * sizeof(float), n_n_bytes = double(n) * n * sizeof(float);
    std::printf("[workspace] N=%5d d=128 32/8 heads: per thread forward %zu B, backward %zu B (%.2f x N*d*4B);"
                " backward total at 2 threads %zu B; one NxN f32 matrix %.0f B\n",
                n, fwd, bwd, bwd / n_d_bytes, total, n_n_bytes);
    // Backward per thread: block-sized tiles plus D and the logsumexp, one float each per (query, head of the
    // group); shared: K and V transposed once (2 · n_kv_heads · N · d floats). Nothing grows like N².
    EXPECT_LE(double(bwd), n_d_bytes);
    if (previous_bwd) {
      EXPECT_EQ(bwd - previous_bwd, size_t(2 * group) * (n / 2) * sizeof(float));
      EXPECT_LE(total, 2 * previous_total);  // doubling N at most doubles the whole workspace
    }
    previous_bwd = bwd;
    previous_total = total;
    if (n == 8192) EXPECT_LE(double(bwd), n_n_bytes / 100);
  }
  // Forward scratch per thread does not depend on N at all (the shared transposed K grows as N·d).
  EXPECT_EQ(per_thread(bench_spec(1024), false), per_thread(bench_spec(8192), false));
}

// Runs N = 8192 with exactly the workspace the API asked for and counts heap allocations during the calls;
// checks a few output rows against a direct f64 computation (the full reference would be O(N²) per head).
TEST(FlashAttentionMemory, RunsAtN8192WithoutAllocating) {
  Spec spec;
  spec.n_heads = 2;
  spec.n_kv_heads = 1;
  spec.head_dim = 64;
  spec.causal = true;
  spec.seq_q = spec.seq_k = {8192};
  Problem pb(spec, 42);
  FlashAttentionParams p = pb.params();
  FlashAttentionGradParams gp = pb.grad_params();
  const int n_threads = 2;
  std::vector<char> fwd_ws(flash_attention_forward_workspace_bytes(p, n_threads));
  std::vector<char> bwd_ws(flash_attention_backward_workspace_bytes(gp, n_threads));
  const long before = g_allocations.load();
  flash_attention_forward(p, fwd_ws.data(), fwd_ws.size(), n_threads);
  flash_attention_backward(gp, bwd_ws.data(), bwd_ws.size(), n_threads);
  const long during = g_allocations.load() - before;
  std::printf("[N=8192] workspace forward %zu B, backward %zu B; heap allocations during the calls: %ld\n",
              fwd_ws.size(), bwd_ws.size(), during);
  EXPECT_EQ(during, 0);

  for (int t : {0, 1, 4095, 8191})
    for (int h = 0; h < 2; ++h) {
      const float* q = pb.q.data() + t * pb.q_rs + h * pb.q_hs;
      std::vector<double> s(t + 1);
      double m = -INFINITY;
      for (int j = 0; j <= t; ++j) {
        double dot = 0;
        for (int c = 0; c < 64; ++c) dot += double(q[c]) * pb.k[j * pb.k_rs + c];
        s[j] = dot / 8.0;
        m = std::max(m, s[j]);
      }
      double sum = 0;
      for (double& x : s) sum += (x = std::exp(x - m));
      double num = 0, den = 0;
      for (int c = 0; c < 64; ++c) {
        double o = 0;
        for (int j = 0; j <= t; ++j) o += s[j] / sum * pb.v[j * pb.k_rs + c];
        num = std::max(num, std::abs(o - pb.o[t * pb.q_rs + h * pb.q_hs + c]));
        den = std::max(den, std::abs(o));
      }
      EXPECT_LE(num / den, 1e-5) << "row " << t << " head " << h;
      EXPECT_NEAR(pb.lse[t * 2 + h], m + std::log(sum), 1e-5 * std::abs(m + std::log(sum)) + 1e-6);
    }
  for (float g : pb.dk) ASSERT_TRUE(std::isfinite(g));
}

}  // namespace
}  // namespace rxlm
