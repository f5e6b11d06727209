// The scalar reference attention (any floating type) and the naive materialised one (sgemm per head).
#include "rxlm/ops/attention_reference.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "rxlm/core/error.h"

namespace rxlm {
namespace {

// Keys visible to query t of a sequence with nq queries and nk keys (bottom-right aligned causal mask).
int visible_keys(bool causal, int nq, int nk, int t) {
  if (!causal) return nk;
  return std::clamp(nk - nq + t + 1, 0, nk);
}

template <class T>
T dot(const T* a, const T* b, int n) {
  T s = 0;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Softmax of one query row over its visible keys, from the definition. Returns false if it sees none.
template <class T>
bool softmax_row(const AttentionShape& sh, const T* qi, const T* k, int64_t k0, int kvh, int visible, std::vector<T>& p,
                 T* lse) {
  const int d = sh.head_dim;
  p.assign(visible, T(0));
  if (visible == 0) {
    if (lse) *lse = -std::numeric_limits<T>::infinity();
    return false;
  }
  T m = -std::numeric_limits<T>::infinity();
  for (int j = 0; j < visible; ++j) {
    p[j] = static_cast<T>(sh.scale) * dot(qi, k + ((k0 + j) * sh.n_kv_heads + kvh) * d, d);
    m = std::max(m, p[j]);
  }
  T sum = 0;
  for (int j = 0; j < visible; ++j) sum += std::exp(p[j] - m);
  for (int j = 0; j < visible; ++j) p[j] = std::exp(p[j] - m) / sum;
  if (lse) *lse = m + std::log(sum);
  return true;
}

// Calls fn(row, k0, kvh, visible) for every (query token, head) row of every sequence: row indexes
// [tokens, n_heads], k0 is the sequence's first key, kvh the head's KV head, visible its key count.
template <class Fn>
void for_each_query_row(const AttentionShape& sh, Fn fn) {
  const int group = sh.n_heads / sh.n_kv_heads;
  for (size_t s = 0; s + 1 < sh.cu_seqlens_q.size(); ++s) {
    const int64_t q0 = sh.cu_seqlens_q[s], k0 = sh.cu_seqlens_k[s];
    const int nq = sh.cu_seqlens_q[s + 1] - sh.cu_seqlens_q[s], nk = sh.cu_seqlens_k[s + 1] - sh.cu_seqlens_k[s];
    for (int t = 0; t < nq; ++t)
      for (int h = 0; h < sh.n_heads; ++h)
        fn((q0 + t) * sh.n_heads + h, k0, h / group, visible_keys(sh.causal, nq, nk, t));
  }
}

}  // namespace

template <class T>
void attention_reference_forward(const AttentionShape& sh, const T* q, const T* k, const T* v, T* o, T* lse) {
  const int d = sh.head_dim;
  std::vector<T> p;
  for_each_query_row(sh, [&](int64_t row, int64_t k0, int kvh, int visible) {
    softmax_row(sh, q + row * d, k, k0, kvh, visible, p, lse + row);
    T* oi = o + row * d;
    std::fill(oi, oi + d, T(0));
    for (int j = 0; j < visible; ++j) {
      const T* vj = v + ((k0 + j) * sh.n_kv_heads + kvh) * d;
      for (int c = 0; c < d; ++c) oi[c] += p[j] * vj[c];
    }
  });
}

template <class T>
void attention_reference_backward(const AttentionShape& sh, const T* q, const T* k, const T* v, const T* d_o, T* dq,
                                  T* dk, T* dv) {
  const int d = sh.head_dim;
  const T scale = static_cast<T>(sh.scale);
  std::fill(dq, dq + int64_t{sh.cu_seqlens_q.back()} * sh.n_heads * d, T(0));
  std::fill(dk, dk + int64_t{sh.cu_seqlens_k.back()} * sh.n_kv_heads * d, T(0));
  std::fill(dv, dv + int64_t{sh.cu_seqlens_k.back()} * sh.n_kv_heads * d, T(0));
  std::vector<T> p, dp;
  for_each_query_row(sh, [&](int64_t row, int64_t k0, int kvh, int visible) {
    if (!softmax_row(sh, q + row * d, k, k0, kvh, visible, p, static_cast<T*>(nullptr))) return;
    const T* doi = d_o + row * d;
    dp.assign(visible, T(0));
    T dsum = 0;
    for (int j = 0; j < visible; ++j) {
      dp[j] = dot(doi, v + ((k0 + j) * sh.n_kv_heads + kvh) * d, d);
      dsum += p[j] * dp[j];
    }
    for (int j = 0; j < visible; ++j) {
      const int64_t krow = ((k0 + j) * sh.n_kv_heads + kvh) * d;
      const T ds = p[j] * (dp[j] - dsum);
      for (int c = 0; c < d; ++c) {
        dq[row * d + c] += scale * ds * k[krow + c];
        dk[krow + c] += scale * ds * q[row * d + c];
        dv[krow + c] += p[j] * doi[c];
      }
    }
  });
}

template void attention_reference_forward<float>(const AttentionShape&, const float*, const float*, const float*,
                                                 float*, float*);
template void attention_reference_forward<double>(const AttentionShape&, const double*, const double*, const double*,
                                                  double*, double*);
template void attention_reference_backward<float>(const AttentionShape&, const float*, const float*, const float*,
                                                  const float*, float*, float*, float*);
template void attention_reference_backward<double>(const AttentionShape&, const double*, const double*, const double*,
                                                   const double*, double*, double*, double*);

namespace {

struct NaiveSeq {
  int64_t q0, k0;
  int nq, nk;
};
NaiveSeq naive_seq(const FlashAttentionParams& p, int s) {
  NaiveSeq r{p.cu_seqlens_q[s], p.cu_seqlens_k[s], p.cu_seqlens_q[s + 1] - p.cu_seqlens_q[s],
             p.seqused_k ? p.seqused_k[s] : p.cu_seqlens_k[s + 1] - p.cu_seqlens_k[s]};
  return r;
}

// S = scale·Q_h·K_hᵀ, masked, turned into P in place; lse from the row (forward) or given (backward).
void naive_probabilities(const FlashAttentionParams& p, const NaiveSeq& sq, int h, float* s, bool from_lse) {
  const int kvh = h / (p.n_heads / p.n_kv_heads);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, sq.nq, sq.nk, p.head_dim, p.scale,
              p.q + sq.q0 * p.q_row_stride + h * p.q_head_stride, static_cast<int>(p.q_row_stride),
              p.k + sq.k0 * p.k_row_stride + kvh * p.k_head_stride, static_cast<int>(p.k_row_stride), 0.f, s, sq.nk);
  for (int t = 0; t < sq.nq; ++t) {
    float* row = s + int64_t{t} * sq.nk;
    const int visible = visible_keys(p.causal, sq.nq, sq.nk, t);
    float* lse = p.lse + (sq.q0 + t) * p.n_heads + h;
    if (visible == 0) {
      std::fill(row, row + sq.nk, 0.f);
      if (!from_lse) *lse = -std::numeric_limits<float>::infinity();
      continue;
    }
    if (!from_lse) {
      const float m = *std::max_element(row, row + visible);
      float sum = 0.f;
      for (int j = 0; j < visible; ++j) sum += std::exp(row[j] - m);
      *lse = m + std::log(sum);
    }
    for (int j = 0; j < visible; ++j) row[j] = std::exp(row[j] - *lse);
    std::fill(row + visible, row + sq.nk, 0.f);
  }
}

}  // namespace

void attention_naive_forward(const FlashAttentionParams& p) {
  std::vector<float> s;
  for (int sidx = 0; sidx < p.n_seqs; ++sidx) {
    const NaiveSeq sq = naive_seq(p, sidx);
    if (sq.nq == 0) continue;
    if (sq.nk == 0) fail("attention_naive_forward: sequence {} has no keys", sidx);
    s.resize(size_t(sq.nq) * sq.nk);
    for (int h = 0; h < p.n_heads; ++h) {
      const int kvh = h / (p.n_heads / p.n_kv_heads);
      naive_probabilities(p, sq, h, s.data(), false);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, sq.nq, p.head_dim, sq.nk, 1.f, s.data(), sq.nk,
                  p.v + sq.k0 * p.v_row_stride + kvh * p.v_head_stride, static_cast<int>(p.v_row_stride), 0.f,
                  p.o + sq.q0 * p.o_row_stride + h * p.o_head_stride, static_cast<int>(p.o_row_stride));
    }
  }
}

void attention_naive_backward(const FlashAttentionGradParams& gp) {
  const FlashAttentionParams& p = gp.fwd;
  const int d = p.head_dim, group = p.n_heads / p.n_kv_heads;
  std::vector<float> s, dp;
  for (int sidx = 0; sidx < p.n_seqs; ++sidx) {
    const NaiveSeq sq = naive_seq(p, sidx);
    if (sq.nq == 0) continue;
    if (sq.nk == 0) fail("attention_naive_backward: sequence {} has no keys", sidx);
    for (int j = 0; j < sq.nk; ++j)
      for (int kvh = 0; kvh < p.n_kv_heads; ++kvh) {
        std::fill_n(gp.d_k + (sq.k0 + j) * gp.d_k_row_stride + kvh * gp.d_k_head_stride, d, 0.f);
        std::fill_n(gp.d_v + (sq.k0 + j) * gp.d_v_row_stride + kvh * gp.d_v_head_stride, d, 0.f);
      }
    s.resize(size_t(sq.nq) * sq.nk);
    dp.resize(size_t(sq.nq) * sq.nk);
    for (int h = 0; h < p.n_heads; ++h) {
      const int kvh = h / group;
      const float* qh = p.q + sq.q0 * p.q_row_stride + h * p.q_head_stride;
      const float* kh = p.k + sq.k0 * p.k_row_stride + kvh * p.k_head_stride;
      const float* vh = p.v + sq.k0 * p.v_row_stride + kvh * p.v_head_stride;
      const float* doh = gp.d_o + sq.q0 * gp.d_o_row_stride + h * gp.d_o_head_stride;
      naive_probabilities(p, sq, h, s.data(), true);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, sq.nk, d, sq.nq, 1.f, s.data(), sq.nk, doh,
                  static_cast<int>(gp.d_o_row_stride), 1.f,
                  gp.d_v + sq.k0 * gp.d_v_row_stride + kvh * gp.d_v_head_stride, static_cast<int>(gp.d_v_row_stride));
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, sq.nq, sq.nk, d, 1.f, doh,
                  static_cast<int>(gp.d_o_row_stride), vh, static_cast<int>(p.v_row_stride), 0.f, dp.data(), sq.nk);
      for (int t = 0; t < sq.nq; ++t) {
        const float* o = p.o + (sq.q0 + t) * p.o_row_stride + h * p.o_head_stride;
        const float* d_o = doh + int64_t{t} * gp.d_o_row_stride;
        float dsum = 0.f;
        for (int c = 0; c < d; ++c) dsum += o[c] * d_o[c];
        float* dpr = dp.data() + int64_t{t} * sq.nk;
        const float* pr = s.data() + int64_t{t} * sq.nk;
        for (int j = 0; j < sq.nk; ++j) dpr[j] = pr[j] * (dpr[j] - dsum) * p.scale;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, sq.nq, d, sq.nk, 1.f, dp.data(), sq.nk, kh,
                  static_cast<int>(p.k_row_stride), 0.f, gp.d_q + sq.q0 * gp.d_q_row_stride + h * gp.d_q_head_stride,
                  static_cast<int>(gp.d_q_row_stride));
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, sq.nk, d, sq.nq, 1.f, dp.data(), sq.nk, qh,
                  static_cast<int>(p.q_row_stride), 1.f, gp.d_k + sq.k0 * gp.d_k_row_stride + kvh * gp.d_k_head_stride,
                  static_cast<int>(gp.d_k_row_stride));
    }
  }
}

}  // namespace rxlm
