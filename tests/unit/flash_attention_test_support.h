// Test support for the attention tests: random problems in the strided, packed, KV-cache layouts the fast
// kernels take, their dense f64 copies for the scalar reference, and the error measure the tests use.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "rxlm/ops/attention_reference.h"
#include "rxlm/ops/flash_attention.h"

namespace rxlm::testing_support {

struct Spec {
  int n_heads = 4, n_kv_heads = 2, head_dim = 16;
  bool causal = false;
  std::vector<int> seq_q{17};  // queries per sequence
  std::vector<int> seq_k{17};  // keys used per sequence
  int cache_slack = 0;         // extra key rows per sequence (a KV cache with capacity > length: seqused_k)
  int head_pad = 0;            // head stride = head_dim + head_pad
  int row_pad = 0;             // row stride = heads * head stride + row_pad
};

// Sentinel in every element the kernels must not write (stride padding, unused cache rows).
inline constexpr float kUntouched = 12345.f;

struct Problem {
  Spec spec;
  std::vector<int32_t> cu_q, cu_k, used_k;
  int64_t q_rs = 0, q_hs = 0, k_rs = 0, k_hs = 0;
  std::vector<float> q, k, v, o, lse, d_o, dq, dk, dv;

  Problem(const Spec& s, uint32_t seed) : spec(s) {
    const int n = static_cast<int>(s.seq_q.size());
    cu_q.assign(1, 0);
    cu_k.assign(1, 0);
    for (int i = 0; i < n; ++i) {
      cu_q.push_back(cu_q.back() + s.seq_q[i]);
      cu_k.push_back(cu_k.back() + s.seq_k[i] + s.cache_slack);
      used_k.push_back(s.seq_k[i]);
    }
    q_hs = k_hs = s.head_dim + s.head_pad;
    q_rs = s.n_heads * q_hs + s.row_pad;
    k_rs = s.n_kv_heads * k_hs + s.row_pad;
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.f, 1.f);
    auto fill = [&](std::vector<float>& x, int64_t n_elems) {
      x.resize(n_elems);
      for (float& e : x) e = normal(rng);
    };
    fill(q, cu_q.back() * q_rs);
    fill(k, cu_k.back() * k_rs);
    fill(v, cu_k.back() * k_rs);
    fill(d_o, cu_q.back() * q_rs);
    o.assign(cu_q.back() * q_rs, kUntouched);
    dq.assign(cu_q.back() * q_rs, kUntouched);
    dk.assign(cu_k.back() * k_rs, kUntouched);
    dv.assign(cu_k.back() * k_rs, kUntouched);
    lse.assign(int64_t{cu_q.back()} * s.n_heads, kUntouched);
  }

  FlashAttentionParams params() {
    FlashAttentionParams p;
    p.q = q.data();
    p.k = k.data();
    p.v = v.data();
    p.o = o.data();
    p.lse = lse.data();
    p.q_row_stride = p.o_row_stride = q_rs;
    p.q_head_stride = p.o_head_stride = q_hs;
    p.k_row_stride = p.v_row_stride = k_rs;
    p.k_head_stride = p.v_head_stride = k_hs;
    p.cu_seqlens_q = cu_q.data();
    p.cu_seqlens_k = cu_k.data();
    p.seqused_k = spec.cache_slack > 0 ? used_k.data() : nullptr;
    p.n_seqs = static_cast<int>(spec.seq_q.size());
    p.n_heads = spec.n_heads;
    p.n_kv_heads = spec.n_kv_heads;
    p.head_dim = spec.head_dim;
    p.scale = 1.f / std::sqrt(static_cast<float>(spec.head_dim));
    p.causal = spec.causal;
    return p;
  }

  FlashAttentionGradParams grad_params() {
    FlashAttentionGradParams g;
    g.fwd = params();
    g.d_o = d_o.data();
    g.d_q = dq.data();
    g.d_k = dk.data();
    g.d_v = dv.data();
    g.d_o_row_stride = g.d_q_row_stride = q_rs;
    g.d_o_head_stride = g.d_q_head_stride = q_hs;
    g.d_k_row_stride = g.d_v_row_stride = k_rs;
    g.d_k_head_stride = g.d_v_head_stride = k_hs;
    return g;
  }

  // The reference sees only the used keys, densely packed.
  AttentionShape reference_shape() const {
    AttentionShape sh;
    sh.n_heads = spec.n_heads;
    sh.n_kv_heads = spec.n_kv_heads;
    sh.head_dim = spec.head_dim;
    sh.scale = 1.0 / std::sqrt(static_cast<double>(spec.head_dim));
    sh.causal = spec.causal;
    sh.cu_seqlens_q = cu_q;
    sh.cu_seqlens_k.assign(1, 0);
    for (int u : used_k) sh.cu_seqlens_k.push_back(sh.cu_seqlens_k.back() + u);
    return sh;
  }

  std::vector<double> dense_q_side(const std::vector<float>& x) const {
    std::vector<double> out;
    for (int64_t t = 0; t < cu_q.back(); ++t)
      for (int h = 0; h < spec.n_heads; ++h)
        for (int c = 0; c < spec.head_dim; ++c) out.push_back(x[t * q_rs + h * q_hs + c]);
    return out;
  }
  std::vector<double> dense_k_side(const std::vector<float>& x) const {
    std::vector<double> out;
    for (size_t s = 0; s < used_k.size(); ++s)
      for (int64_t t = cu_k[s]; t < cu_k[s] + used_k[s]; ++t)
        for (int h = 0; h < spec.n_kv_heads; ++h)
          for (int c = 0; c < spec.head_dim; ++c) out.push_back(x[t * k_rs + h * k_hs + c]);
    return out;
  }

  // Counts elements outside the used region that no longer hold the sentinel (must stay 0).
  int64_t clobbered_q_side(const std::vector<float>& x) const {
    int64_t bad = 0;
    for (int64_t i = 0; i < static_cast<int64_t>(x.size()); ++i) {
      const int64_t in_row = i % q_rs;
      const bool used = in_row < spec.n_heads * q_hs && in_row % q_hs < spec.head_dim;
      if (!used && x[i] != kUntouched) ++bad;
    }
    return bad;
  }
  int64_t clobbered_k_side(const std::vector<float>& x) const {
    int64_t bad = 0;
    for (size_t s = 0; s < used_k.size(); ++s)
      for (int64_t t = cu_k[s]; t < cu_k[s + 1]; ++t)
        for (int64_t j = 0; j < k_rs; ++j) {
          const bool used = t < cu_k[s] + used_k[s] && j < spec.n_kv_heads * k_hs && j % k_hs < spec.head_dim;
          if (!used && x[t * k_rs + j] != kUntouched) ++bad;
        }
    return bad;
  }
};

// Relative error of a tensor: max_i |got_i - want_i| / max_i |want_i|. Normalising by the largest reference
// entry (not per element) keeps entries near zero, where per-element ratios explode, meaningful; -inf entries
// (queries that see no key) must match exactly and are left out of the maximum.
inline double relative_error(const std::vector<double>& got, const std::vector<double>& want) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isinf(want[i])) {
      if (got[i] != want[i]) return INFINITY;
      continue;
    }
    if (!std::isfinite(got[i])) return INFINITY;
    num = std::max(num, std::abs(got[i] - want[i]));
    den = std::max(den, std::abs(want[i]));
  }
  return den > 0.0 ? num / den : num;
}

inline std::vector<double> to_double(const std::vector<float>& x) { return std::vector<double>(x.begin(), x.end()); }

}  // namespace rxlm::testing_support
