// Internal: the FlashAttention-2 backward pass, parallel over (KV head × sequence) so every output row has
// one owner (race-free without atomics or a reduction); compiled per ISA, see flash_attention_cpu.h.
#pragma once
#include "rxlm/ops/flash_attention_cpu.h"

namespace rxlm::RXLM_FA_NS {

// All gradients of one GQA group of one sequence. KV blocks outside (dK, dV accumulate in block-sized tiles
// and are written once), query blocks inside; P is recomputed from the saved logsumexp:
//   P = 2^(S - lse·log2e), dV += Pᵀ·dO, dP = dO·Vᵀ, dS = P∘(dP - D), dQ += scale·dS·K, dK += scale·dSᵀ·Q.
// The owner of (sequence, KV head) owns the dQ rows of every query head in the group, so dQ accumulates
// straight into the output rows. kt_all/vt_all: the call's transposed K and V. Q and dO blocks are packed per
// (KV block, query block): measured as fast as packing a whole group once (the GEMM tiles dominate), at
// O(block) instead of O(N·group·d) memory per thread.
inline void backward_group(const FlashAttentionGradParams& gp, const Geometry& g, int seq, int kvh,
                           int max_seqlen_q, const TransposedKeys& kt_all, const TransposedKeys& vt_all,
                           char* scratch) {
  const FlashAttentionParams& p = gp.fwd;
  const SeqRange sr = seq_range(p, seq);
  const int64_t group_rows = int64_t{max_seqlen_q} * g.group;
  Carve cv{scratch};
  float* qs = cv.take(int64_t{g.rows} * g.dp);
  float* dob = cv.take(int64_t{g.rows} * g.dp);
  float* dqb = cv.take(int64_t{g.rows} * g.dp);
  float* dsum = cv.take(group_rows);
  float* lse2 = cv.take(group_rows);
  float* pt = cv.take(int64_t{g.rows} * g.bc);
  float* ds = cv.take(int64_t{g.rows} * g.bc);
  float* dk = cv.take(int64_t{g.bc} * g.dp);
  float* dv = cv.take(int64_t{g.bc} * g.dp);
  float* kb = cv.take(int64_t{g.bc} * g.dp);
  const int head0 = kvh * g.group;

  // Once per group: D = rowsum(dO∘O) (equal to rowsum(P∘dP)), the logsumexp in log2 units, and the dQ rows
  // zeroed (the blocks below add into them).
  for (int t = 0; t < sr.nq; ++t)
    for (int h = 0; h < g.group; ++h) {
      const int64_t token = sr.q0 + t;
      const float* o = p.o + token * p.o_row_stride + (head0 + h) * p.o_head_stride;
      const float* d_o = gp.d_o + token * gp.d_o_row_stride + (head0 + h) * gp.d_o_head_stride;
      double dot = 0.0;
      for (int c = 0; c < g.d; ++c) dot += double(o[c]) * d_o[c];
      dsum[t * g.group + h] = static_cast<float>(dot);
      lse2[t * g.group + h] = p.lse[token * p.n_heads + head0 + h] * kLog2e;
      std::memset(gp.d_q + token * gp.d_q_row_stride + (head0 + h) * gp.d_q_head_stride, 0, sizeof(float) * g.d);
    }

  for (int kb0 = 0; kb0 < sr.nk; kb0 += g.bc) {
    const int bc = imin(g.bc, sr.nk - kb0);
    const int ncols = static_cast<int>(round_up(bc, VW));
    const int t_first = p.causal ? imax(0, kb0 - sr.offset) : 0;  // first query that sees key kb0
    std::memset(dk, 0, sizeof(float) * bc * g.dp);
    std::memset(dv, 0, sizeof(float) * bc * g.dp);
    const float* kt = kt_all.panel(kvh, seq, kb0, g.bc);
    const float* vt = vt_all.panel(kvh, seq, kb0, g.bc);
    // K rows in place when head_dim is whole vectors, else a padded copy.
    const float* k_rows = p.k + (sr.k0 + kb0) * p.k_row_stride + kvh * p.k_head_stride;
    int64_t ld_k = p.k_row_stride;
    if (g.d != g.dp && t_first < sr.nq) {
      pack_rows(p.k, p.k_row_stride, p.k_head_stride, sr.k0 + kb0, kvh, bc, g, kb);
      k_rows = kb;
      ld_k = g.dp;
    }
    for (int t0 = t_first; t0 < sr.nq; t0 += g.block_tokens) {
      const int bt = imin(g.block_tokens, sr.nq - t0);
      const int rows = bt * g.group;
      const int64_t row0 = int64_t{t0} * g.group;
      // Q pre-multiplied by scale·log2(e): scores in log2 units.
      pack_group_rows(p.q, p.q_row_stride, p.q_head_stride, sr.q0 + t0, head0, bt, g, p.scale * kLog2e, qs);
      pack_group_rows(gp.d_o, gp.d_o_row_stride, gp.d_o_head_stride, sr.q0 + t0, head0, bt, g, 1.f, dob);
      gemm(rows, ncols, g.d, qs, g.dp, 1, kt, g.bc, pt, g.bc, false);

      const bool diagonal = p.causal && sr.offset + t0 - kb0 + 1 < bc;
      for (int r = 0; r < rows; ++r) {
        float* row = pt + int64_t{r} * g.bc;
        const float l2 = lse2[row0 + r];
        int visible = diagonal ? visible_columns(true, sr, t0 + r / g.group, kb0, bc) : bc;
        if (l2 == kNegInf) visible = 0;  // a query that saw no key at all
        const vf lv = splat(l2 == kNegInf ? 0.f : l2);
        for (int c = 0; c < ncols; c += VW) store(row + c, exp2_nonpositive(load(row + c) - lv));
        for (int c = visible; c < ncols; ++c) row[c] = 0.f;
      }
      gemm(bc, g.dp, rows, pt, 1, g.bc, dob, g.dp, dv, g.dp, true);    // dV += Pᵀ·dO
      gemm(rows, ncols, g.d, dob, g.dp, 1, vt, g.bc, ds, g.bc, false);   // dP = dO·Vᵀ
      for (int r = 0; r < rows; ++r) {
        float* dsr = ds + int64_t{r} * g.bc;
        const float* pr = pt + int64_t{r} * g.bc;
        const vf d_row = splat(dsum[row0 + r]);
        for (int c = 0; c < ncols; c += VW) store(dsr + c, load(pr + c) * (load(dsr + c) - d_row));
      }
      // Q was packed pre-multiplied by scale·log2(e); dK wants scale·dSᵀ·Q, fixed by ln 2 when written.
      gemm(bc, g.dp, rows, ds, 1, g.bc, qs, g.dp, dk, g.dp, true);                    // dK += dSᵀ·Q
      gemm(rows, g.dp, bc, ds, g.bc, 1, k_rows, ld_k, dqb, g.dp, false);  // dQ block = dS·K
      for (int r = 0; r < rows; ++r) {
        float* dq = gp.d_q + (sr.q0 + t0 + r / g.group) * gp.d_q_row_stride + (head0 + r % g.group) * gp.d_q_head_stride;
        const float* src = dqb + int64_t{r} * g.dp;
        for (int c = 0; c < g.d; ++c) dq[c] += p.scale * src[c];
      }
    }
    for (int j = 0; j < bc; ++j) {
      const int64_t key = sr.k0 + kb0 + j;
      float* dko = gp.d_k + key * gp.d_k_row_stride + kvh * gp.d_k_head_stride;
      float* dvo = gp.d_v + key * gp.d_v_row_stride + kvh * gp.d_v_head_stride;
      for (int c = 0; c < g.d; ++c) {
        dko[c] = dk[int64_t{j} * g.dp + c] * kLn2;
        dvo[c] = dv[int64_t{j} * g.dp + c];
      }
    }
  }
}

inline size_t backward_workspace_bytes(const FlashAttentionGradParams& gp, int n_threads, int max_seqlen_q) {
  const Geometry g = make_geometry(gp.fwd);
  return 64 + 2 * transposed_bytes(gp.fwd, g) + size_t(n_threads) * backward_thread_bytes(g, max_seqlen_q);
}

inline void backward(const FlashAttentionGradParams& gp, void* workspace, int n_threads, int max_seqlen_q) {
  const FlashAttentionParams& p = gp.fwd;
  const Geometry g = make_geometry(p);
  char* base = align64(workspace);
  const TransposedKeys kt_all = transpose_keys(p.k, p.k_row_stride, p.k_head_stride, p, g, base, n_threads);
  const TransposedKeys vt_all =
      transpose_keys(p.v, p.v_row_stride, p.v_head_stride, p, g, base + transposed_bytes(p, g), n_threads);
  char* thread_base = base + 2 * transposed_bytes(p, g);
  const size_t thread_bytes = backward_thread_bytes(g, max_seqlen_q);
  const int64_t items = int64_t{p.n_seqs} * p.n_kv_heads;
  // Longest sequences first would balance better for very uneven packs; KV head outermost shares K/V in cache.
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
  for (int64_t i = 0; i < items; ++i) {
    const int kvh = static_cast<int>(i / p.n_seqs);
    const int s = static_cast<int>(i % p.n_seqs);
    backward_group(gp, g, s, kvh, max_seqlen_q, kt_all, vt_all,
                   thread_base + size_t(omp_get_thread_num()) * thread_bytes);
  }
}

}  // namespace rxlm::RXLM_FA_NS
