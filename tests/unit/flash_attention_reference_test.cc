// The slow attentions the fast one is judged by: the f64 scalar reference against central finite
// differences and hand-known values, and the naive materialised (sgemm) baseline against the reference.
#include "rxlm/ops/attention_reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "flash_attention_test_support.h"

namespace rxlm {
namespace {

using testing_support::Problem;
using testing_support::relative_error;
using testing_support::Spec;
using testing_support::to_double;

std::vector<double> random_vector(size_t n, std::mt19937& rng) {
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> x(n);
  for (double& e : x) e = normal(rng);
  return x;
}

// loss = Σ o ∘ w, so dL/do = w and the analytic gradients are attention_reference_backward(d_o = w).
double loss(const AttentionShape& sh, const std::vector<double>& q, const std::vector<double>& k,
            const std::vector<double>& v, const std::vector<double>& w) {
  std::vector<double> o(q.size()), lse(size_t(sh.cu_seqlens_q.back()) * sh.n_heads);
  attention_reference_forward(sh, q.data(), k.data(), v.data(), o.data(), lse.data());
  double s = 0.0;
  for (size_t i = 0; i < o.size(); ++i) s += o[i] * w[i];
  return s;
}

// Central differences: O(eps²) truncation, O(1e-16/eps) rounding; eps = 1e-5 puts both near 1e-10.
std::vector<double> numeric_gradient(std::vector<double>& x, const std::function<double()>& f) {
  const double eps = 1e-5;
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double keep = x[i];
    x[i] = keep + eps;
    const double up = f();
    x[i] = keep - eps;
    const double down = f();
    x[i] = keep;
    g[i] = (up - down) / (2 * eps);
  }
  return g;
}

void check_gradients(const AttentionShape& sh, uint32_t seed) {
  std::mt19937 rng(seed);
  const size_t nq = size_t(sh.cu_seqlens_q.back()) * sh.n_heads * sh.head_dim;
  const size_t nk = size_t(sh.cu_seqlens_k.back()) * sh.n_kv_heads * sh.head_dim;
  std::vector<double> q = random_vector(nq, rng), k = random_vector(nk, rng), v = random_vector(nk, rng);
  const std::vector<double> w = random_vector(nq, rng);
  std::vector<double> dq(nq), dk(nk), dv(nk);
  attention_reference_backward(sh, q.data(), k.data(), v.data(), w.data(), dq.data(), dk.data(), dv.data());
  auto f = [&] { return loss(sh, q, k, v, w); };
  const double eq = relative_error(numeric_gradient(q, f), dq);
  const double ek = relative_error(numeric_gradient(k, f), dk);
  const double ev = relative_error(numeric_gradient(v, f), dv);
  std::printf("[finite differences, f64] relative error dq %.2e dk %.2e dv %.2e\n", eq, ek, ev);
  EXPECT_LE(eq, 1e-8);
  EXPECT_LE(ek, 1e-8);
  EXPECT_LE(ev, 1e-8);
}

AttentionShape tiny_shape(int n_heads, int n_kv_heads, int head_dim, bool causal, std::vector<int32_t> cu_q,
                          std::vector<int32_t> cu_k) {
  AttentionShape sh;
  sh.n_heads = n_heads;
  sh.n_kv_heads = n_kv_heads;
  sh.head_dim = head_dim;
  sh.scale = 1.0 / std::sqrt(double(head_dim));
  sh.causal = causal;
  sh.cu_seqlens_q = std::move(cu_q);
  sh.cu_seqlens_k = std::move(cu_k);
  return sh;
}

TEST(AttentionReference, FiniteDifferencesFull) { check_gradients(tiny_shape(2, 2, 3, false, {0, 4}, {0, 4}), 1); }
TEST(AttentionReference, FiniteDifferencesCausalGqa) { check_gradients(tiny_shape(4, 1, 5, true, {0, 6}, {0, 6}), 2); }
// Packed: two sequences, the second a decode-like chunk of 2 queries against 5 keys, and a sequence with
// more queries than keys (its first queries see nothing).
TEST(AttentionReference, FiniteDifferencesPackedAndChunked) {
  check_gradients(tiny_shape(4, 2, 3, true, {0, 3, 5, 9}, {0, 3, 8, 10}), 3);
}

TEST(AttentionReference, KnownValues) {
  // One key: every query returns that key's value exactly, lse = scale·q·k.
  const AttentionShape one = tiny_shape(1, 1, 2, false, {0, 2}, {0, 1});
  const std::vector<double> q{1, 2, -1, 0.5}, k{3, -1}, v{0.25, -4};
  std::vector<double> o(4), lse(2);
  attention_reference_forward(one, q.data(), k.data(), v.data(), o.data(), lse.data());
  EXPECT_DOUBLE_EQ(o[0], 0.25);
  EXPECT_DOUBLE_EQ(o[3], -4.0);
  EXPECT_DOUBLE_EQ(lse[0], (3.0 - 2.0) / std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(lse[1], (-3.0 - 0.5) / std::sqrt(2.0));
  // Two equal keys: the softmax is uniform, the output the mean of the values; causal row 0 sees only key 0.
  AttentionShape two = tiny_shape(1, 1, 1, false, {0, 2}, {0, 2});
  const std::vector<double> q2{0.7, -0.3}, k2{1.0, 1.0}, v2{2.0, 6.0};
  attention_reference_forward(two, q2.data(), k2.data(), v2.data(), o.data(), lse.data());
  EXPECT_DOUBLE_EQ(o[0], 4.0);
  EXPECT_NEAR(lse[1], -0.3 + std::log(2.0), 1e-15);
  two.causal = true;
  attention_reference_forward(two, q2.data(), k2.data(), v2.data(), o.data(), lse.data());
  EXPECT_DOUBLE_EQ(o[0], 2.0);
  EXPECT_DOUBLE_EQ(o[1], 4.0);
}

// The bench baseline must compute the same thing.
TEST(AttentionNaive, MatchesReference) {
  for (bool causal : {false, true}) {
    Spec spec;
    spec.n_heads = 8;
    spec.n_kv_heads = 2;
    spec.head_dim = 64;
    spec.causal = causal;
    spec.seq_q = {1, 130, 33};
    spec.seq_k = {50, 130, 40};
    spec.cache_slack = 7;
    spec.row_pad = 3;
    Problem pb(spec, 9 + causal);
    FlashAttentionGradParams gp = pb.grad_params();
    attention_naive_forward(gp.fwd);
    attention_naive_backward(gp);
    const AttentionShape sh = pb.reference_shape();
    const auto q = pb.dense_q_side(pb.q), k = pb.dense_k_side(pb.k), v = pb.dense_k_side(pb.v);
    const auto d_o = pb.dense_q_side(pb.d_o);
    std::vector<double> o(q.size()), lse(pb.lse.size()), dq(q.size()), dk(k.size()), dv(v.size());
    attention_reference_forward(sh, q.data(), k.data(), v.data(), o.data(), lse.data());
    attention_reference_backward(sh, q.data(), k.data(), v.data(), d_o.data(), dq.data(), dk.data(), dv.data());
    EXPECT_LE(relative_error(pb.dense_q_side(pb.o), o), 1e-5);
    EXPECT_LE(relative_error(to_double(pb.lse), lse), 1e-5);
    EXPECT_LE(relative_error(pb.dense_q_side(pb.dq), dq), 1e-4);
    EXPECT_LE(relative_error(pb.dense_k_side(pb.dk), dk), 1e-4);
    EXPECT_LE(relative_error(pb.dense_k_side(pb.dv), dv), 1e-4);
  }
}

}  // namespace
}  // namespace rxlm
