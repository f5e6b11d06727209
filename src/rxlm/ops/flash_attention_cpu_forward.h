// Internal: the FlashAttention-2 forward pass (online softmax over KV blocks), parallel over
// (KV head × sequence × query block); compiled per ISA, see flash_attention_cpu.h.
#pragma once
#include "rxlm/ops/flash_attention_cpu.h"

namespace rxlm::RXLM_FA_NS {

// Decode streams each K/V row once and every row of one KV head sits a whole cache row (all heads) away from
// the next, one page apart for 8 heads × 128: hardware prefetchers stop at page boundaries, so the next
// block's rows are requested ahead by hand.
inline void prefetch_block(const FlashAttentionParams& p, const Geometry& g, const SeqRange& sr, int kvh, int kb0,
                           int n_visible) {
  const int end = imin(kb0 + g.bc, n_visible);
  for (int j = kb0; j < end; ++j) {
    const float* k = p.k + (sr.k0 + j) * p.k_row_stride + kvh * p.k_head_stride;
    const float* v = p.v + (sr.k0 + j) * p.v_row_stride + kvh * p.v_head_stride;
    for (int c = 0; c < g.d; c += 16) {
      __builtin_prefetch(k + c);
      __builtin_prefetch(v + c);
    }
  }
}

// One query block of one GQA group, tokens t0 .. t0+bt of sequence `sr`: running max m, running sum l and
// the unnormalised accumulator are rescaled per KV block; o = acc / l once at the end; lse saved.
// kt_all: the call's pre-transposed keys (transpose_keys) or null to transpose each block here (decode, where
// a K block is used by one query block only).
inline void forward_block(const FlashAttentionParams& p, const Geometry& g, int seq, int kvh, int t0,
                          const TransposedKeys* kt_all, char* scratch) {
  const SeqRange sr = seq_range(p, seq);
  const int bt = imin(g.block_tokens, sr.nq - t0);
  const int rows = bt * g.group;
  Carve cv{scratch};
  float* qs = cv.take(int64_t{g.rows} * g.dp);
  float* kt = cv.take(int64_t{g.d} * g.bc);
  float* vb = cv.take(int64_t{g.bc} * g.dp);
  float* s = cv.take(int64_t{g.rows} * g.bc);
  float* acc = cv.take(int64_t{g.rows} * g.dp);
  float* m = cv.take(g.rows);
  float* l = cv.take(g.rows);
  const int head0 = kvh * g.group;

  // Scores in log2 units: scale·log2(e) folded into Q once, so the exponentials are plain 2^x.
  pack_group_rows(p.q, p.q_row_stride, p.q_head_stride, sr.q0 + t0, head0, bt, g, p.scale * kLog2e, qs);
  for (int r = 0; r < rows; ++r) {
    m[r] = kNegInf;
    l[r] = 0.f;
  }
  std::memset(acc, 0, sizeof(float) * rows * g.dp);

  // Whole-block causal skipping: keys past what the block's last token may see are never touched.
  int n_visible = sr.nk;
  if (p.causal) n_visible = imax(0, imin(sr.nk, sr.offset + t0 + bt));
  for (int kb0 = 0; kb0 < n_visible; kb0 += g.bc) {
    const int bc = imin(g.bc, n_visible - kb0);
    const int ncols = static_cast<int>(round_up(bc, VW));
    const float* kt_block = kt;
    if (kt_all == nullptr) prefetch_block(p, g, sr, kvh, kb0 + g.bc, n_visible);  // one block ahead
    if (kt_all != nullptr) {
      kt_block = kt_all->panel(kvh, seq, kb0, g.bc);
    } else {
      pack_transposed(p.k, p.k_row_stride, p.k_head_stride, sr.k0 + kb0, kvh, bc, g, kt);
    }
    // V rows are read in place when head_dim is whole vectors; only a ragged head_dim needs a padded copy.
    const float* v_block = p.v + (sr.k0 + kb0) * p.v_row_stride + kvh * p.v_head_stride;
    int64_t ld_v = p.v_row_stride;
    if (g.d != g.dp) {
      pack_rows(p.v, p.v_row_stride, p.v_head_stride, sr.k0 + kb0, kvh, bc, g, vb);
      v_block = vb;
      ld_v = g.dp;
    }
    gemm(rows, ncols, g.d, qs, g.dp, 1, kt_block, g.bc, s, g.bc, false);

    // Only blocks crossing the diagonal need the per-element mask.
    const bool diagonal = p.causal && sr.offset + t0 - kb0 + 1 < bc;
    for (int r = 0; r < rows; ++r) {
      float* row = s + int64_t{r} * g.bc;
      const int visible = diagonal ? visible_columns(true, sr, t0 + r / g.group, kb0, bc) : bc;
      for (int c = visible; c < ncols; ++c) row[c] = kNegInf;
      vf mv = splat(kNegInf);
      for (int c = 0; c < ncols; c += VW) {
        vf x = load(row + c);
        mv = x > mv ? x : mv;
      }
      const float m_block = hmax(mv);
      const float m_new = m_block > m[r] ? m_block : m[r];
      if (m_new == kNegInf) {  // nothing visible yet in this row: contributes nothing
        std::memset(row, 0, sizeof(float) * ncols);
        continue;
      }
      const float alpha = exp2f(m[r] - m_new);  // 0 when m[r] is still -inf
      const vf mn = splat(m_new);
      vf sum = vf{};
      for (int c = 0; c < ncols; c += VW) {
        vf pv = exp2_nonpositive(load(row + c) - mn);
        store(row + c, pv);
        sum += pv;
      }
      l[r] = l[r] * alpha + hsum(sum);
      m[r] = m_new;
      if (alpha != 1.f) {
        float* a = acc + int64_t{r} * g.dp;
        const vf av = splat(alpha);
        for (int c = 0; c < g.dp; c += VW) store(a + c, load(a + c) * av);
      }
    }
    gemm(rows, g.dp, bc, s, g.bc, 1, v_block, ld_v, acc, g.dp, true);
  }

  for (int r = 0; r < rows; ++r) {
    const int t = r / g.group, h = head0 + r % g.group;
    const int64_t token = sr.q0 + t0 + t;
    float* o = p.o + token * p.o_row_stride + h * p.o_head_stride;
    const float* a = acc + int64_t{r} * g.dp;
    const float inv = l[r] > 0.f ? 1.f / l[r] : 0.f;
    for (int c = 0; c < g.d; ++c) o[c] = a[c] * inv;
    p.lse[token * p.n_heads + h] = l[r] > 0.f ? (m[r] + log2f(l[r])) * kLn2 : kNegInf;
  }
}

// Query blocks per sequence, as a prefix sum, so a flat item index maps back to (sequence, block).
inline int64_t count_query_blocks(const FlashAttentionParams& p, const Geometry& g, int64_t* prefix) {
  int64_t total = 0;
  for (int s = 0; s < p.n_seqs; ++s) {
    if (prefix) prefix[s] = total;
    const int nq = p.cu_seqlens_q[s + 1] - p.cu_seqlens_q[s];
    total += (nq + g.block_tokens - 1) / g.block_tokens;
  }
  if (prefix) prefix[p.n_seqs] = total;
  return total;
}

// Transposing all keys once pays when K blocks are shared by several query blocks (prefill, training); a
// decode step (one query block per sequence) transposes each block as it streams past instead.
inline bool transpose_all_keys(const FlashAttentionParams& p, const Geometry& g) {
  return count_query_blocks(p, g, nullptr) >= 2 * int64_t{p.n_seqs};
}

inline size_t forward_shared_bytes(const FlashAttentionParams& p, const Geometry& g) {
  return floats_bytes(2 * (int64_t{p.n_seqs} + 1)) + (transpose_all_keys(p, g) ? transposed_bytes(p, g) : 0);
}

inline size_t forward_workspace_bytes(const FlashAttentionParams& p, int n_threads) {
  const Geometry g = make_geometry(p);
  return 64 + forward_shared_bytes(p, g) + size_t(n_threads) * forward_thread_bytes(g);
}

inline void forward(const FlashAttentionParams& p, void* workspace, int n_threads) {
  const Geometry g = make_geometry(p);
  char* base = align64(workspace);
  int64_t* prefix = reinterpret_cast<int64_t*>(base);
  const int64_t total_blocks = count_query_blocks(p, g, prefix);
  TransposedKeys kt;
  const TransposedKeys* kt_all = nullptr;
  if (transpose_all_keys(p, g)) {
    kt = transpose_keys(p.k, p.k_row_stride, p.k_head_stride, p, g,
                        base + floats_bytes(2 * (int64_t{p.n_seqs} + 1)), n_threads);
    kt_all = &kt;
  }
  char* thread_base = base + forward_shared_bytes(p, g);
  const size_t thread_bytes = forward_thread_bytes(g);
  const int64_t items = total_blocks * p.n_kv_heads;

  // KV head outermost so concurrent threads share the same K/V in cache; within a sequence the causal
  // (heaviest) last blocks go first so dynamic scheduling ends balanced.
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
  for (int64_t i = 0; i < items; ++i) {
    const int kvh = static_cast<int>(i / total_blocks);
    const int64_t b = i % total_blocks;
    int lo = 0, hi = p.n_seqs;
    while (hi - lo > 1) {
      const int mid = (lo + hi) / 2;
      if (prefix[mid] <= b) lo = mid; else hi = mid;
    }
    const int64_t n_blocks = prefix[lo + 1] - prefix[lo];
    int64_t qb = b - prefix[lo];
    if (p.causal) qb = n_blocks - 1 - qb;
    forward_block(p, g, lo, kvh, static_cast<int>(qb) * g.block_tokens, kt_all,
                  thread_base + size_t(omp_get_thread_num()) * thread_bytes);
  }
}

}  // namespace rxlm::RXLM_FA_NS
