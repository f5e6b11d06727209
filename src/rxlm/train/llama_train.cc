// Llama + LoRA training forward/backward (see llama_train.h). Frozen weights enter the backward only
// through activation gradients (dx = dy · W, OpenBLAS sgemm on f32 weights; other dtypes are converted
// per use); the only parameter gradients are LoRA's.
#include "rxlm/train/llama_train.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "rxlm/core/error.h"
#include "rxlm/model/attention_params.h"
#include "rxlm/ops/cross_entropy.h"
#include "rxlm/ops/flash_attention.h"
#include "rxlm/ops/matmul.h"
#include "rxlm/ops/rmsnorm.h"
#include "rxlm/ops/rmsnorm_backward.h"
#include "rxlm/ops/swiglu.h"
#include "rxlm/ops/swiglu_backward.h"

namespace rxlm {
namespace {

enum Module { kQ = 0, kK, kV, kO, kGate, kUp, kDown, kModules };

std::vector<float> to_f32(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  dequantize_row(t.dtype, t.data, out.data(), t.numel());
  return out;
}

// The weight as f32: the mapping itself for f32 checkpoints, else a converted copy in `scratch`.
const float* weight_f32(const TensorView& w, std::vector<float>& scratch) {
  if (w.dtype == DType::F32) return reinterpret_cast<const float*>(w.data);
  scratch = to_f32(w);
  return scratch.data();
}

struct Linear {
  const TensorView* weight;
  LoraAdapter* adapter;  // null when this module is not adapted
  float scale;
};

// y[n, out] = x W^T + s (x A^T) B^T; saves ax = x A^T [n, rank] for the backward.
void linear_forward(const Linear& lin, const float* x, int64_t n, float* y, std::vector<float>& ax) {
  matmul(x, n, *lin.weight, y);
  if (!lin.adapter) return;
  const LoraAdapter& a = *lin.adapter;
  const int64_t in = a.target.in_features, out = a.target.out_features;
  const int64_t r = static_cast<int64_t>(a.a.size()) / in;
  ax.resize(static_cast<size_t>(n * r));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, r, in, 1.f, x, in, a.a.data(), in, 0.f, ax.data(), r);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, r, lin.scale, ax.data(), r, a.b.data(), r, 1.f, y, out);
}

// Given dy [n, out]: grad_B += s dy^T ax; d_ax = s dy B; grad_A += d_ax^T x (when trained);
// dx [n, in] = dy W + d_ax A, written when beta = 0 or added when beta = 1 (the caller sums q/k/v or gate/up).
void linear_backward(const Linear& lin, const float* x, const std::vector<float>& ax, int64_t n, const float* dy,
                     float* dx, float beta, std::vector<float>& scratch) {
  const int64_t in = lin.weight->cols(), out = lin.weight->rows();
  const float* w = weight_f32(*lin.weight, scratch);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.f, dy, out, w, in, beta, dx, in);
  if (!lin.adapter) return;
  LoraAdapter& a = *lin.adapter;
  const int64_t r = static_cast<int64_t>(a.a.size()) / in;
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, r, n, lin.scale, dy, out, ax.data(), r, 1.f,
              a.grad_b.data(), r);
  std::vector<float> d_ax(static_cast<size_t>(n * r));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, r, out, lin.scale, dy, out, a.b.data(), r, 0.f,
              d_ax.data(), r);
  if (!a.grad_a.empty())
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, in, n, 1.f, d_ax.data(), r, x, in, 1.f, a.grad_a.data(),
                in);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, r, 1.f, d_ax.data(), r, a.a.data(), in, 1.f, dx, in);
}

// Causal attention over packed sequences, dense token-major q/k/v/o as the projections write them.
FlashAttentionParams attention_params(const LlamaConfig& c, const float* q, const float* k, const float* v, float* o,
                                      float* lse, const std::vector<int32_t>& cu_seqlens) {
  return llama_attention_params(c, q, k, v, o, lse, cu_seqlens.data(), cu_seqlens.data(),
                                static_cast<int>(cu_seqlens.size()) - 1);
}

int attention_threads(const std::vector<int32_t>& cu_seqlens, const LlamaConfig& c) {
  int64_t work = 0;
  for (size_t i = 1; i < cu_seqlens.size(); ++i) {
    const int64_t len = cu_seqlens[i] - cu_seqlens[i - 1];
    work += len * len * c.num_attention_heads * c.head_dim;
  }
  return rxlm::attention_threads(work);
}

}  // namespace

// Activations the backward needs, per layer, for N packed tokens.
struct LlamaLoraTrainer::Saved {
  struct Layer {
    std::vector<float> x_in, xn1, q, k, v, o, lse, x_mid, xn2, gate, up, h;  // [N, ...]
    std::vector<float> ax[kModules];                                       // LoRA A x per adapted module
    // Activation checkpointing keeps only the block input; the backward recomputes the rest.
    int64_t floats() const {
      int64_t total = 0;
      for (auto* v : {&x_in, &xn1, &q, &k, &v, &o, &lse, &x_mid, &xn2, &gate, &up, &h}) total += std::ssize(*v);
      for (auto& m : ax) total += std::ssize(m);
      return total;
    }
    void release_all_but_input() {
      for (auto* v : {&xn1, &q, &k, &v, &o, &lse, &x_mid, &xn2, &gate, &up, &h}) std::vector<float>().swap(*v);
      for (auto& m : ax) std::vector<float>().swap(m);
    }
  };
  int64_t n = 0;
  std::vector<int32_t> targets;  // shifted labels, one per packed token
  std::vector<int64_t> positions;
  std::vector<int32_t> cu_seqlens;
  std::vector<Layer> layers;
  std::vector<float> x_final, xf;
  // The output head runs only on the rows whose next-token label is scored (all rows for logits()):
  // masked rows add nothing to the loss or its gradient, and prompts are most of a clinical sample.
  std::vector<int64_t> head_rows;     // packed-token index of each logits row
  std::vector<int32_t> head_targets;  // its target
  std::vector<float> logits;          // [head_rows.size(), vocab]
  std::vector<std::byte> workspace;

  // Floats held in saved activations right now (the logits included), for the memory accounting.
  int64_t floats() const {
    int64_t total = std::ssize(x_final) + std::ssize(xf) + std::ssize(logits);
    for (const Layer& l : layers) total += l.floats();
    return total;
  }
};

void LlamaLoraTrainer::cache_weights_f32(uint64_t limit_bytes) {
  std::vector<const TensorView**> uses;  // every pointer to a frozen matrix
  for (LlamaTrainLayer& layer : layers_)
    for (const TensorView*& w : layer.proj) uses.push_back(&w);
  uses.push_back(&embed_tokens_);
  uses.push_back(&lm_head_);
  std::vector<const TensorView*> distinct;
  uint64_t bytes = 0;
  for (const TensorView** use : uses)
    if ((*use)->dtype != DType::F32 && std::find(distinct.begin(), distinct.end(), *use) == distinct.end()) {
      distinct.push_back(*use);
      bytes += static_cast<uint64_t>((*use)->numel()) * sizeof(float);
    }
  if (distinct.empty() || bytes > limit_bytes) return;
  f32_weights_.reserve(distinct.size());
  f32_views_.reserve(distinct.size());  // views must not move: pointers into this vector are kept
  for (const TensorView* w : distinct) {
    f32_weights_.push_back(to_f32(*w));
    TensorView view = *w;
    view.dtype = DType::F32;
    view.data = reinterpret_cast<const std::byte*>(f32_weights_.back().data());
    view.nbytes = static_cast<uint64_t>(w->numel()) * sizeof(float);
    f32_views_.push_back(std::move(view));
  }
  for (const TensorView** use : uses) {
    const auto it = std::find(distinct.begin(), distinct.end(), *use);
    if (it != distinct.end()) *use = &f32_views_[static_cast<size_t>(it - distinct.begin())];
  }
}

LlamaLoraTrainer::LlamaLoraTrainer(const Checkpoint& checkpoint, LoraWeights& lora, uint64_t f32_cache_bytes)
    : checkpoint_(checkpoint),
      lora_(lora),
      config_(checkpoint.config),
      rope_(checkpoint.config, checkpoint.has("rope_freqs.weight") ? to_f32(checkpoint.tensor("rope_freqs.weight"))
                                                                   : std::vector<float>{}) {
  embed_tokens_ = &checkpoint.tensor("model.embed_tokens.weight");
  lm_head_ = config_.tie_word_embeddings || !checkpoint.has("lm_head.weight") ? embed_tokens_
                                                                               : &checkpoint.tensor("lm_head.weight");
  final_norm_ = to_f32(checkpoint.tensor("model.norm.weight"));
  const auto& names = lora_module_names();
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LlamaTrainLayer layer;
    for (int m = 0; m < kModules; ++m)
      layer.proj[m] = &checkpoint.tensor(p + (m < kGate ? "self_attn." : "mlp.") + names[m] + ".weight");
    layer.input_norm = to_f32(checkpoint.tensor(p + "input_layernorm.weight"));
    layer.post_attention_norm = to_f32(checkpoint.tensor(p + "post_attention_layernorm.weight"));
    layers_.push_back(std::move(layer));
  }
  cache_weights_f32(f32_cache_bytes);
  for (const LoraAdapter& a : lora_.adapters) {
    const TensorView& w = checkpoint.tensor(a.target.weight_name);
    const int64_t r = lora_.config.rank;
    if (w.cols() != a.target.in_features || w.rows() != a.target.out_features ||
        static_cast<int64_t>(a.a.size()) != r * w.cols() || static_cast<int64_t>(a.b.size()) != w.rows() * r)
      fail("LoRA adapter for {}: A has {} values and B {}, but the weight is [{}, {}] and rank {} needs A [{}, {}] "
           "and B [{}, {}] (was the adapter made for another model?)",
           a.target.weight_name, a.a.size(), a.b.size(), w.rows(), w.cols(), r, r, w.cols(), w.rows(), r);
    if (a.grad_b.size() != a.b.size() || (!lora_.config.freeze_a && a.grad_a.size() != a.a.size()))
      fail("LoRA adapter for {}: gradient buffers are not sized like A and B", a.target.weight_name);
  }
}

// One decoder block: x holds the block input (already saved in x_in) and receives its output; every
// activation the backward needs is saved in s.layers[l].
void LlamaLoraTrainer::layer_forward(int64_t l, Saved& s, std::vector<float>& x) {
  const int64_t n = s.n, hidden = config_.hidden_size, q_dim = config_.q_dim(), kv_dim = config_.kv_dim();
  const int64_t inter = config_.intermediate_size;
  const int heads = static_cast<int>(config_.num_attention_heads), kv_heads = static_cast<int>(config_.num_key_value_heads);
  const float scale = static_cast<float>(lora_.config.scale());
  const auto& names = lora_module_names();
  Saved::Layer& a = s.layers[l];
  std::vector<float> tmp(static_cast<size_t>(n * hidden));
  const LlamaTrainLayer& w = layers_[l];
  auto lin = [&](int m) { return Linear{w.proj[m], lora_.find(l, names[m]), scale}; };
  a.xn1.resize(static_cast<size_t>(n * hidden));
  rmsnorm_forward(x.data(), w.input_norm.data(), n, hidden, config_.rms_norm_eps, a.xn1.data());
  a.q.resize(static_cast<size_t>(n * q_dim));
  a.k.resize(static_cast<size_t>(n * kv_dim));
  a.v.resize(static_cast<size_t>(n * kv_dim));
  linear_forward(lin(kQ), a.xn1.data(), n, a.q.data(), a.ax[kQ]);
  linear_forward(lin(kK), a.xn1.data(), n, a.k.data(), a.ax[kK]);
  linear_forward(lin(kV), a.xn1.data(), n, a.v.data(), a.ax[kV]);
  rope_.apply(a.q.data(), n, heads, s.positions.data());
  rope_.apply(a.k.data(), n, kv_heads, s.positions.data());

  a.o.resize(static_cast<size_t>(n * q_dim));
  a.lse.resize(static_cast<size_t>(n * heads));
  const FlashAttentionParams p = attention_params(config_, a.q.data(), a.k.data(), a.v.data(), a.o.data(),
                                                  a.lse.data(), s.cu_seqlens);
  const int threads = attention_threads(s.cu_seqlens, config_);
  const size_t bytes = flash_attention_forward_workspace_bytes(p, threads);
  if (s.workspace.size() < bytes) s.workspace.resize(bytes);
  flash_attention_forward(p, s.workspace.data(), s.workspace.size(), threads);

  linear_forward(lin(kO), a.o.data(), n, tmp.data(), a.ax[kO]);
  for (int64_t i = 0; i < n * hidden; ++i) x[i] += tmp[i];
  a.x_mid = x;
  a.xn2.resize(static_cast<size_t>(n * hidden));
  rmsnorm_forward(x.data(), w.post_attention_norm.data(), n, hidden, config_.rms_norm_eps, a.xn2.data());
  a.gate.resize(static_cast<size_t>(n * inter));
  a.up.resize(static_cast<size_t>(n * inter));
  a.h.resize(static_cast<size_t>(n * inter));
  linear_forward(lin(kGate), a.xn2.data(), n, a.gate.data(), a.ax[kGate]);
  linear_forward(lin(kUp), a.xn2.data(), n, a.up.data(), a.ax[kUp]);
  swiglu_forward(a.gate.data(), a.up.data(), n * inter, a.h.data());
  linear_forward(lin(kDown), a.h.data(), n, tmp.data(), a.ax[kDown]);
  for (int64_t i = 0; i < n * hidden; ++i) x[i] += tmp[i];
}

void LlamaLoraTrainer::forward(std::span<const TrainSequence> batch, Saved& s, bool all_logits) {
  const int64_t hidden = config_.hidden_size;
  s.cu_seqlens = {0};
  s.targets.clear();
  s.positions.clear();
  std::vector<int32_t> tokens;
  for (const TrainSequence& seq : batch) {
    const int64_t len = static_cast<int64_t>(seq.tokens.size());
    if (len == 0) fail("training batch: an empty sequence");
    if (seq.labels.size() != seq.tokens.size())
      fail("training batch: {} labels for {} tokens (labels must have one entry per token, -100 when masked)",
           seq.labels.size(), seq.tokens.size());
    if (len > config_.max_position_embeddings)
      fail("training batch: a sequence of {} tokens exceeds max_position_embeddings {}", len,
           config_.max_position_embeddings);
    for (int64_t t = 0; t < len; ++t) {
      tokens.push_back(seq.tokens[t]);
      s.positions.push_back(t);
      s.targets.push_back(t + 1 < len ? seq.labels[t + 1] : kIgnoreTarget);  // transformers' shift
    }
    s.cu_seqlens.push_back(static_cast<int32_t>(tokens.size()));
  }
  const int64_t n = static_cast<int64_t>(tokens.size());
  s.n = n;
  std::vector<float> x(static_cast<size_t>(n * hidden));
  for (int64_t t = 0; t < n; ++t) {
    if (tokens[t] < 0 || tokens[t] >= embed_tokens_->rows())
      fail("training batch: token id {} is outside the vocabulary (0..{})", tokens[t], embed_tokens_->rows() - 1);
    dequantize_row(embed_tokens_->dtype, embed_tokens_->row(tokens[t]), x.data() + t * hidden, hidden);
  }
  s.layers.resize(static_cast<size_t>(config_.num_hidden_layers));
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    s.layers[l].x_in = x;
    layer_forward(l, s, x);
    if (checkpoint_activations_) s.layers[l].release_all_but_input();
  }
  s.x_final = std::move(x);
  s.xf.resize(static_cast<size_t>(n * hidden));
  rmsnorm_forward(s.x_final.data(), final_norm_.data(), n, hidden, config_.rms_norm_eps, s.xf.data());
  s.head_rows.clear();
  s.head_targets.clear();
  for (int64_t t = 0; t < n; ++t)
    if (all_logits || s.targets[t] != kIgnoreTarget) {
      s.head_rows.push_back(t);
      s.head_targets.push_back(s.targets[t]);
    }
  const int64_t m = std::ssize(s.head_rows);
  std::vector<float> rows(static_cast<size_t>(m * hidden));
  for (int64_t i = 0; i < m; ++i)
    std::copy_n(s.xf.data() + s.head_rows[i] * hidden, hidden, rows.data() + i * hidden);
  s.logits.resize(static_cast<size_t>(m * config_.vocab_size));
  if (m) matmul(rows.data(), m, *lm_head_, s.logits.data());
}

std::vector<float> LlamaLoraTrainer::logits(std::span<const TrainSequence> batch) {
  Saved s;
  forward(batch, s, /*all_logits=*/true);
  return std::move(s.logits);
}

double LlamaLoraTrainer::loss_sum(std::span<const TrainSequence> batch, int64_t* n_scored) {
  Saved s;
  forward(batch, s);
  return cross_entropy_forward(s.logits.data(), s.head_targets.data(), std::ssize(s.head_rows), config_.vocab_size,
                               n_scored);
}

int64_t count_scored_tokens(std::span<const TrainSequence> batch) {
  int64_t n = 0;
  for (const TrainSequence& seq : batch)
    for (size_t t = 1; t < seq.labels.size(); ++t) n += seq.labels[t] != kIgnoreTarget;
  return n;
}

double LlamaLoraTrainer::forward_backward(std::span<const TrainSequence> batch) {
  const int64_t scored = count_scored_tokens(batch);
  if (scored == 0) fail("training batch: every label is masked (-100), so there is no loss to train on");
  return forward_backward_sum(batch, 1.0 / static_cast<double>(scored)) / static_cast<double>(scored);
}

double LlamaLoraTrainer::forward_backward_sum(std::span<const TrainSequence> batch, double gradient_scale) {
  Saved s;
  forward(batch, s);
  peak_saved_floats_ = s.floats();
  const int64_t n = s.n, hidden = config_.hidden_size, vocab = config_.vocab_size;
  const int64_t q_dim = config_.q_dim(), kv_dim = config_.kv_dim(), inter = config_.intermediate_size;
  const int64_t m = std::ssize(s.head_rows);
  const double loss_sum = cross_entropy_forward(s.logits.data(), s.head_targets.data(), m, vocab, nullptr);
  cross_entropy_backward(s.logits.data(), s.head_targets.data(), m, vocab, gradient_scale, s.logits.data());
  std::vector<float> scratch, d_rows(static_cast<size_t>(m * hidden));
  std::vector<float> d_xf(static_cast<size_t>(n * hidden)), d_x(static_cast<size_t>(n * hidden));
  const float* head = weight_f32(*lm_head_, scratch);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, hidden, vocab, 1.f, s.logits.data(), vocab, head, hidden,
              0.f, d_rows.data(), hidden);
  for (int64_t i = 0; i < m; ++i)  // unscored rows keep a zero gradient
    std::copy_n(d_rows.data() + i * hidden, hidden, d_xf.data() + s.head_rows[i] * hidden);
  rmsnorm_backward(s.x_final.data(), final_norm_.data(), d_xf.data(), n, hidden, config_.rms_norm_eps, d_x.data());

  const int heads = static_cast<int>(config_.num_attention_heads), kv_heads = static_cast<int>(config_.num_key_value_heads);
  const int d = static_cast<int>(config_.head_dim);
  const float scale = static_cast<float>(lora_.config.scale());
  const auto& names = lora_module_names();
  std::vector<float> d_h(static_cast<size_t>(n * inter)), d_gate(d_h.size()), d_up(d_h.size());
  std::vector<float> d_norm_in(static_cast<size_t>(n * hidden)), d_tmp(d_norm_in.size());
  std::vector<float> d_o(static_cast<size_t>(n * q_dim)), d_q(d_o.size());
  std::vector<float> d_k(static_cast<size_t>(n * kv_dim)), d_v(d_k.size());
  for (int64_t l = config_.num_hidden_layers - 1; l >= 0; --l) {
    if (checkpoint_activations_) {
      std::vector<float> x = s.layers[l].x_in;
      layer_forward(l, s, x);
      peak_saved_floats_ = std::max(peak_saved_floats_, s.floats());
    }
    const Saved::Layer& a = s.layers[l];
    const LlamaTrainLayer& w = layers_[l];
    auto lin = [&](int m) { return Linear{w.proj[m], lora_.find(l, names[m]), scale}; };
    // MLP: d_x is the gradient of the block output, which also flows straight through the residual.
    linear_backward(lin(kDown), a.h.data(), a.ax[kDown], n, d_x.data(), d_h.data(), 0.f, scratch);
    swiglu_backward(a.gate.data(), a.up.data(), d_h.data(), n * inter, d_gate.data(), d_up.data());
    linear_backward(lin(kGate), a.xn2.data(), a.ax[kGate], n, d_gate.data(), d_norm_in.data(), 0.f, scratch);
    linear_backward(lin(kUp), a.xn2.data(), a.ax[kUp], n, d_up.data(), d_norm_in.data(), 1.f, scratch);
    rmsnorm_backward(a.x_mid.data(), w.post_attention_norm.data(), d_norm_in.data(), n, hidden, config_.rms_norm_eps,
                     d_tmp.data());
    for (int64_t i = 0; i < n * hidden; ++i) d_x[i] += d_tmp[i];
    // Attention.
    linear_backward(lin(kO), a.o.data(), a.ax[kO], n, d_x.data(), d_o.data(), 0.f, scratch);
    FlashAttentionGradParams g;
    // The backward reads o and lse; the forward params type is shared, hence the casts.
    g.fwd = attention_params(config_, a.q.data(), a.k.data(), a.v.data(), const_cast<float*>(a.o.data()),
                             const_cast<float*>(a.lse.data()), s.cu_seqlens);
    g.d_o = d_o.data(), g.d_q = d_q.data(), g.d_k = d_k.data(), g.d_v = d_v.data();
    dense_strides(heads, d, &g.d_o_row_stride, &g.d_o_head_stride);
    dense_strides(heads, d, &g.d_q_row_stride, &g.d_q_head_stride);
    dense_strides(kv_heads, d, &g.d_k_row_stride, &g.d_k_head_stride);
    dense_strides(kv_heads, d, &g.d_v_row_stride, &g.d_v_head_stride);
    const int threads = attention_threads(s.cu_seqlens, config_);
    const size_t bytes = flash_attention_backward_workspace_bytes(g, threads);
    if (s.workspace.size() < bytes) s.workspace.resize(bytes);
    flash_attention_backward(g, s.workspace.data(), s.workspace.size(), threads);
    rope_.apply_backward(d_q.data(), n, heads, s.positions.data());
    rope_.apply_backward(d_k.data(), n, kv_heads, s.positions.data());
    linear_backward(lin(kQ), a.xn1.data(), a.ax[kQ], n, d_q.data(), d_norm_in.data(), 0.f, scratch);
    linear_backward(lin(kK), a.xn1.data(), a.ax[kK], n, d_k.data(), d_norm_in.data(), 1.f, scratch);
    linear_backward(lin(kV), a.xn1.data(), a.ax[kV], n, d_v.data(), d_norm_in.data(), 1.f, scratch);
    rmsnorm_backward(a.x_in.data(), w.input_norm.data(), d_norm_in.data(), n, hidden, config_.rms_norm_eps,
                     d_tmp.data());
    for (int64_t i = 0; i < n * hidden; ++i) d_x[i] += d_tmp[i];
    if (checkpoint_activations_) s.layers[l].release_all_but_input();
  }
  return loss_sum;
}

}  // namespace rxlm
