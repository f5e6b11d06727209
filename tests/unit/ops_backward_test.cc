// RMSNorm, SwiGLU and RoPE backward against central finite differences of fp64 forwards on tiny,
// random (never zero) inputs; plus the f32 forwards checked against those fp64 forwards.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "rxlm/model/config.h"
#include "rxlm/ops/rmsnorm.h"
#include "rxlm/ops/rmsnorm_backward.h"
#include "rxlm/ops/rope.h"
#include "rxlm/ops/swiglu.h"
#include "rxlm/ops/swiglu_backward.h"

namespace rxlm {
namespace {

std::vector<float> random_vector(size_t n, uint32_t seed, float lo = -1.5f, float hi = 1.5f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// Gradient of L(x) = Σ d_y · f(x) by central differences in fp64, where f is an fp64 forward.
std::vector<double> numeric_gradient(const std::vector<float>& x, const std::vector<float>& d_y,
                                     const std::function<std::vector<double>(const std::vector<double>&)>& f) {
  std::vector<double> xd(x.begin(), x.end()), grad(x.size());
  const double h = 1e-6;
  for (size_t i = 0; i < x.size(); ++i) {
    const double keep = xd[i];
    xd[i] = keep + h;
    const std::vector<double> plus = f(xd);
    xd[i] = keep - h;
    const std::vector<double> minus = f(xd);
    xd[i] = keep;
    double s = 0;
    for (size_t j = 0; j < plus.size(); ++j) s += d_y[j] * (plus[j] - minus[j]);
    grad[i] = s / (2 * h);
  }
  return grad;
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << "at " << i;
}

std::vector<double> rmsnorm_f64(const std::vector<double>& x, const std::vector<float>& w, int64_t rows, int64_t dim,
                                double eps) {
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < dim; ++i) ss += x[r * dim + i] * x[r * dim + i];
    const double inv = 1 / std::sqrt(ss / dim + eps);
    for (int64_t i = 0; i < dim; ++i) y[r * dim + i] = w[i] * x[r * dim + i] * inv;
  }
  return y;
}

TEST(OpsBackward, RmsNormMatchesFiniteDifferences) {
  const int64_t rows = 3, dim = 7;  // odd sizes on purpose
  const double eps = 1e-5;
  const auto x = random_vector(rows * dim, 1), w = random_vector(dim, 2, 0.5f, 1.5f), d_y = random_vector(rows * dim, 3);
  std::vector<float> y(rows * dim), d_x(rows * dim, 123.f), d_w(dim, 0.25f);
  rmsnorm_forward(x.data(), w.data(), rows, dim, eps, y.data());
  expect_close(y, rmsnorm_f64({x.begin(), x.end()}, w, rows, dim, eps), 1e-6);
  rmsnorm_backward(x.data(), w.data(), d_y.data(), rows, dim, eps, d_x.data(), d_w.data());
  expect_close(d_x, numeric_gradient(x, d_y, [&](const std::vector<double>& xd) {
                 return rmsnorm_f64(xd, w, rows, dim, eps);
               }), 1e-5);
  // d_weight accumulates onto 0.25 (parameter rule): compare against finite differences in w.
  const auto d_w_numeric = numeric_gradient(w, d_y, [&](const std::vector<double>& wd) {
    std::vector<float> wf(wd.begin(), wd.end());
    std::vector<double> y1 = rmsnorm_f64({x.begin(), x.end()}, std::vector<float>(dim, 1.f), rows, dim, eps);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < dim; ++i) y1[r * dim + i] *= wd[i];
    return y1;
  });
  for (int64_t i = 0; i < dim; ++i) EXPECT_NEAR(d_w[i] - 0.25f, d_w_numeric[i], 1e-5 * (1 + std::abs(d_w_numeric[i])));
}

TEST(OpsBackward, SwiGluMatchesFiniteDifferencesInGateAndUp) {
  const int64_t n = 11;
  const auto gate = random_vector(n, 4, -4.f, 4.f), up = random_vector(n, 5), d_out = random_vector(n, 6);
  std::vector<float> out(n), d_gate(n), d_up(n);
  swiglu_forward(gate.data(), up.data(), n, out.data());
  swiglu_backward(gate.data(), up.data(), d_out.data(), n, d_gate.data(), d_up.data());
  auto f = [](double g, double u) { return g / (1 + std::exp(-g)) * u; };
  for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(out[i], f(gate[i], up[i]), 1e-6);
  expect_close(d_gate, numeric_gradient(gate, d_out, [&](const std::vector<double>& g) {
                 std::vector<double> y(n);
                 for (int64_t i = 0; i < n; ++i) y[i] = f(g[i], up[i]);
                 return y;
               }), 1e-5);
  expect_close(d_up, numeric_gradient(up, d_out, [&](const std::vector<double>& u) {
                 std::vector<double> y(n);
                 for (int64_t i = 0; i < n; ++i) y[i] = f(gate[i], u[i]);
                 return y;
               }), 1e-5);
}

// RoPE in fp64 from the same inverse frequencies, either pairing.
std::vector<double> rope_f64(const std::vector<double>& x, const LlamaConfig& c, int64_t tokens, int64_t heads,
                             const std::vector<int64_t>& pos) {
  const auto inv = rope_inverse_frequencies(c);
  const int64_t d = c.head_dim, half = d / 2;
  std::vector<double> y = x;
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < half; ++i) {
        const int64_t a = c.rope_adjacent_pairs ? 2 * i : i, b = c.rope_adjacent_pairs ? 2 * i + 1 : i + half;
        const double ang = pos[t] * inv[i], x0 = x[(t * heads + h) * d + a], x1 = x[(t * heads + h) * d + b];
        y[(t * heads + h) * d + a] = x0 * std::cos(ang) - x1 * std::sin(ang);
        y[(t * heads + h) * d + b] = x1 * std::cos(ang) + x0 * std::sin(ang);
      }
  return y;
}

TEST(OpsBackward, RopeBackwardMatchesFiniteDifferencesInBothPairings) {
  for (bool adjacent : {false, true}) {
    LlamaConfig c;
    c.head_dim = 6;
    c.rope_theta = 10000;
    c.rope_adjacent_pairs = adjacent;
    c.rope_scaling.type = "llama3";
    c.rope_scaling.factor = 8;
    c.rope_scaling.original_max_position_embeddings = 16;
    const int64_t tokens = 3, heads = 2;
    const std::vector<int64_t> pos = {0, 5, 17};  // packed sequences restart, so positions need not be 0..n-1
    const auto x = random_vector(tokens * heads * c.head_dim, 7), d_y = random_vector(x.size(), 8);
    Rope rope(c);
    std::vector<float> d_x = d_y;
    rope.apply_backward(d_x.data(), tokens, heads, pos.data());
    expect_close(d_x, numeric_gradient(x, d_y, [&](const std::vector<double>& xd) {
                   return rope_f64(xd, c, tokens, heads, pos);
                 }), 1e-5);
  }
}

}  // namespace
}  // namespace rxlm
