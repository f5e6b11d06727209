// Attention speed and memory: rxlm FlashAttention-2 vs rxlm naive (materialised N×N, sgemm) vs PyTorch SDPA
// (bench/attention_torch.py as a co-process fed the same input files), forward and forward+backward,
// reps alternating between the three; GFLOP/s against the sgemm peak measured in the same run; peak RSS
// (VmHWM) of one forward+backward per implementation in a fresh child process.
//   bench_attention [--n 512,1024,2048,4096] [--d 64,128] [--reps 5] [--threads 2]
//                   [--torch bench/attention_torch.py] [--python python3] [--json attention.json]
//   bench_attention --limits 1 --threads 1 --n 2048 --d 128   (per-core FLOPs per CPU-second: what limits it)
//   bench_attention --decode 1 --n 1024,4096,16384 --d 128 --reps 20   (one token against a KV cache)
#include <cblas.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "support.h"
#include "rxlm/core/threads.h"
#include "rxlm/ops/attention_reference.h"
#include "rxlm/ops/flash_attention.h"

namespace {
using namespace bench;

constexpr int kHeads = 32, kKvHeads = 8;


struct Sample {
  double wall, cpu;
};

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoi(item));
  return out;
}


// Causal, one sequence, dense token-major tensors with the benchmark's 32/8 heads.
rxlm::FlashAttentionParams dense_params(int d, const float* q, const float* k, const float* v, float* o, float* lse,
                                       const int32_t* cu_q, const int32_t* cu_k) {
  rxlm::FlashAttentionParams p;
  p.q = q;
  p.k = k;
  p.v = v;
  p.o = o;
  p.lse = lse;
  rxlm::dense_strides(kHeads, d, &p.q_row_stride, &p.q_head_stride);
  rxlm::dense_strides(kHeads, d, &p.o_row_stride, &p.o_head_stride);
  rxlm::dense_strides(kKvHeads, d, &p.k_row_stride, &p.k_head_stride);
  rxlm::dense_strides(kKvHeads, d, &p.v_row_stride, &p.v_head_stride);
  p.cu_seqlens_q = cu_q;
  p.cu_seqlens_k = cu_k;
  p.n_seqs = 1;
  p.n_heads = kHeads;
  p.n_kv_heads = kKvHeads;
  p.head_dim = d;
  p.scale = 1.f / std::sqrt(float(d));
  p.causal = true;
  return p;
}

// One causal batch-1 problem in rxlm's token-major layout, and every output of a forward+backward.
struct Problem {
  int n, d;
  std::vector<float> q, k, v, d_o, o, lse, dq, dk, dv;
  std::vector<int32_t> cu;
  Problem(int n_, int d_, bool allocate_outputs) : n(n_), d(d_), cu{0, n_} {
    std::mt19937 rng(1234 + n + d);
    std::normal_distribution<float> normal(0.f, 1.f);
    auto fill = [&](std::vector<float>& x, size_t count) {
      x.resize(count);
      for (float& e : x) e = normal(rng);
    };
    fill(q, size_t(n) * kHeads * d);
    fill(k, size_t(n) * kKvHeads * d);
    fill(v, size_t(n) * kKvHeads * d);
    fill(d_o, size_t(n) * kHeads * d);
    if (allocate_outputs) allocate();
  }
  void allocate() {
    o.assign(q.size(), 0.f);
    dq.assign(q.size(), 0.f);
    lse.assign(size_t(n) * kHeads, 0.f);
    dk.assign(k.size(), 0.f);
    dv.assign(v.size(), 0.f);
  }
  rxlm::FlashAttentionGradParams params() {
    rxlm::FlashAttentionGradParams g;
    g.fwd = dense_params(d, q.data(), k.data(), v.data(), o.data(), lse.data(), cu.data(), cu.data());
    g.d_o = d_o.data();
    g.d_q = dq.data();
    g.d_k = dk.data();
    g.d_v = dv.data();
    rxlm::dense_strides(kHeads, d, &g.d_o_row_stride, &g.d_o_head_stride);
    rxlm::dense_strides(kHeads, d, &g.d_q_row_stride, &g.d_q_head_stride);
    rxlm::dense_strides(kKvHeads, d, &g.d_k_row_stride, &g.d_k_head_stride);
    rxlm::dense_strides(kKvHeads, d, &g.d_v_row_stride, &g.d_v_head_stride);
    return g;
  }
  // Inputs then rxlm's outputs, raw f32, for the torch side (same inputs; cross-check of the outputs).
  void write(const std::string& path) const {
    std::ofstream out(path, std::ios::binary);
    for (const auto* x : {&q, &k, &v, &d_o, &o, &dq, &dk, &dv})
      out.write(reinterpret_cast<const char*>(x->data()), std::streamsize(x->size() * sizeof(float)));
  }
  void read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    for (auto* x : {&q, &k, &v, &d_o}) in.read(reinterpret_cast<char*>(x->data()), std::streamsize(x->size() * 4));
  }
};

// FlashAttention-2 with the caller-owned workspace the API sizes.
struct Flash {
  std::vector<char> fwd_ws, bwd_ws;
  int threads;
  Sample run(Problem& pb, bool backward) {
    rxlm::FlashAttentionGradParams g = pb.params();
    fwd_ws.resize(rxlm::flash_attention_forward_workspace_bytes(g.fwd, threads));
    bwd_ws.resize(rxlm::flash_attention_backward_workspace_bytes(g, threads));
    const double start = now(), cpu_start = cpu_now();
    rxlm::flash_attention_forward(g.fwd, fwd_ws.data(), fwd_ws.size(), threads);
    if (backward) rxlm::flash_attention_backward(g, bwd_ws.data(), bwd_ws.size(), threads);
    return {now() - start, cpu_now() - cpu_start};
  }
};

Sample run_naive(Problem& pb, bool backward) {
  rxlm::FlashAttentionGradParams g = pb.params();
  const double start = now(), cpu_start = cpu_now();
  rxlm::attention_naive_forward(g.fwd);
  if (backward) rxlm::attention_naive_backward(g);
  return {now() - start, cpu_now() - cpu_start};
}

// The Python side: a child process with a pipe each way, one command line in, one answer line out.
class TorchProcess {
 public:
  TorchProcess(const std::string& python, const std::string& script, int threads) {
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) throw std::runtime_error("pipe failed");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(to_child[0], 0);
      dup2(from_child[1], 1);
      close(to_child[1]);
      close(from_child[0]);
      const std::string t = std::to_string(threads);
      execlp(python.c_str(), python.c_str(), script.c_str(), "--serve", "--threads", t.c_str(), nullptr);
      _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    in_ = fdopen(to_child[1], "w");
    out_ = fdopen(from_child[0], "r");
    banner_ = line();
  }
  ~TorchProcess() {
    std::fputs("quit\n", in_);
    std::fclose(in_);
    std::fclose(out_);
    waitpid(pid_, nullptr, 0);
  }
  std::string ask(const std::string& command) {
    std::fputs((command + "\n").c_str(), in_);
    std::fflush(in_);
    return line();
  }
  const std::string& banner() const { return banner_; }

 private:
  std::string line() {
    char buf[4096];
    if (!std::fgets(buf, sizeof buf, out_)) throw std::runtime_error("torch side ended (is torch installed?)");
    std::string s(buf);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
  }
  pid_t pid_ = -1;
  FILE* in_ = nullptr;
  FILE* out_ = nullptr;
  std::string banner_;
};




// Useful FLOPs of causal attention: N(N+1)/2 query-key pairs per head; forward = 2 products of 2·d each,
// backward = 5 (S recomputed, dV, dP, dQ, dK), the usual FlashAttention accounting.
double pairs(int n) { return double(n) * (n + 1) / 2.0; }
double forward_flops(int n, int d) { return 4.0 * d * kHeads * pairs(n); }
double backward_flops(int n, int d) { return 10.0 * d * kHeads * pairs(n); }


// Per-core ceilings in FLOPs per CPU-second (steady even when other tenants load the machine): OpenBLAS
// sgemm 2048³ vs rxlm and torch forward / forward+backward, all single-threaded (run with --threads 1).
int limits(int n, int d, int reps, TorchProcess& torch) {
  const int m = 2048;
  std::vector<float> a(size_t(m) * m, 0.5f), b(size_t(m) * m, 0.25f), c(size_t(m) * m);
  std::vector<double> sgemm;
  for (int rep = 0; rep < reps; ++rep) {
    const double start = cpu_now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, m, m, 1.f, a.data(), m, b.data(), m, 0.f, c.data(), m);
    sgemm.push_back(cpu_now() - start);
  }
  Problem pb(n, d, true);
  Flash flash{{}, {}, 1};
  flash.run(pb, true);
  const std::string file = "/tmp/rxlm_bench_attention_" + std::to_string(getpid()) + ".bin";
  pb.write(file);
  torch.ask("load " + file + " " + std::to_string(n) + " " + std::to_string(d) + " " + std::to_string(kHeads) + " " +
            std::to_string(kKvHeads));
  std::remove(file.c_str());
  torch.ask("fwdbwd");
  std::vector<double> t[2][2];  // [rxlm, torch][fwd, fwdbwd] CPU seconds
  for (int rep = 0; rep < reps; ++rep)
    for (int pass = 0; pass < 2; ++pass) {
      t[0][pass].push_back(flash.run(pb, pass == 1).cpu);
      std::istringstream answer(torch.ask(pass == 1 ? "fwdbwd" : "fwd"));
      double wall = 0, cpu = 0;
      answer >> wall >> cpu;
      t[1][pass].push_back(cpu);
    }
  const double f = forward_flops(n, d), fb = f + backward_flops(n, d);
  std::printf("# single thread, N=%d d=%d, medians of %d, GFLOP per CPU-second\n", n, d, reps);
  std::printf("sgemm 2048^3 (OpenBLAS): %.1f (best %.1f)\n", 2.0 * m * m * m / stats(sgemm).median / 1e9,
              2.0 * m * m * m / stats(sgemm).min / 1e9);
  const char* names[2] = {"rxlm FA-2", "torch SDPA"};
  for (int impl = 0; impl < 2; ++impl) {
    const double fwd = stats(t[impl][0]).median, both = stats(t[impl][1]).median;
    std::printf("%-10s forward %.1f, backward %.1f, forward+backward %.1f\n", names[impl], f / fwd / 1e9,
                (fb - f) / (both - fwd) / 1e9, fb / both / 1e9);
  }
  return 0;
}

// Decode: one query token per step against a KV cache of n_k keys (all visible), 32/8 heads; the step must
// stream K and V once, so its figure of merit is K+V bytes per second against a read bandwidth measured here.
int decode(const std::vector<int>& cache_lengths, int d, int reps, int threads) {
  std::vector<float> big(size_t(64) << 20, 1.f);  // 256 MB, far past the caches
  double best_bw = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const double start = now();
    float total = 0.f;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
      float lanes[16] = {};  // independent lanes: vectorises without reassociating one sum
#pragma omp for
      for (size_t i = 0; i < big.size(); i += 16)
        for (int j = 0; j < 16; ++j) lanes[j] += big[i + j];
      for (float x : lanes) total += x;
    }
    best_bw = std::max(best_bw, big.size() * 4.0 / (now() - start) / 1e9);
    if (total < 0) std::printf("?");
  }
  std::printf("# decode: 1 query token, 32/8 heads, d=%d, %d threads; read bandwidth (2 threads, 256 MB sum) %.1f GB/s\n",
              d, threads, best_bw);
  std::printf("%8s %22s %22s %10s %8s\n", "n_k", "FA-2 ms median [min-max]", "naive ms median [min-max]",
              "FA-2 GB/s", "% bw");
  for (int nk : cache_lengths) {
    std::mt19937 rng(nk);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> q(size_t(kHeads) * d), k(size_t(nk) * kKvHeads * d), v(k.size()), o(q.size()), lse(kHeads);
    for (auto* x : {&q, &k, &v})
      for (float& e : *x) e = normal(rng);
    std::vector<int32_t> cu_q{0, 1}, cu_k{0, nk};
    const rxlm::FlashAttentionParams p =
        dense_params(d, q.data(), k.data(), v.data(), o.data(), lse.data(), cu_q.data(), cu_k.data());
    std::vector<char> ws(rxlm::flash_attention_forward_workspace_bytes(p, threads));
    std::vector<double> fa, naive;
    for (int rep = 0; rep <= reps; ++rep) {  // rep 0 is the warm-up
      double start = now();
      rxlm::flash_attention_forward(p, ws.data(), ws.size(), threads);
      const double t_fa = now() - start;
      start = now();
      rxlm::attention_naive_forward(p);
      const double t_naive = now() - start;
      if (rep > 0) {
        fa.push_back(t_fa);
        naive.push_back(t_naive);
      }
    }
    const Stats a = stats(fa), b = stats(naive);
    const double gbs = 2.0 * k.size() * 4 / a.median / 1e9;
    std::printf("%8d %8.3f [%.3f-%.3f] %8.3f [%.3f-%.3f] %10.1f %7.0f%%\n", nk, a.median * 1e3, a.min * 1e3,
                a.max * 1e3, b.median * 1e3, b.min * 1e3, b.max * 1e3, gbs, 100.0 * gbs / best_bw);
  }
  return 0;
}

int memory_child(const std::string& impl, int n, int d, const std::string& file, int threads) {
  Problem pb(n, d, false);
  pb.read(file);
  std::printf("rss_before %ld\n", status_bytes("VmRSS"));
  std::fflush(stdout);
  pb.allocate();
  if (impl == "flash") {
    Flash f{{}, {}, threads};
    f.run(pb, true);
  } else {
    run_naive(pb, true);
  }
  std::printf("peak_rss %ld\n", status_bytes("VmHWM"));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> ns{512, 1024, 2048, 4096}, ds{64, 128};
  int reps = 5, threads = 2;
  std::string torch_script = "bench/attention_torch.py", python = "python3", json_path = "attention.json";
  std::string child_impl, child_file;
  int child_n = 0, child_d = 0;
  bool limits_mode = false, decode_mode = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--n") ns = parse_list(value);
    else if (key == "--d") ds = parse_list(value);
    else if (key == "--reps") reps = std::stoi(value);
    else if (key == "--threads") threads = std::stoi(value);
    else if (key == "--torch") torch_script = value;
    else if (key == "--python") python = value;
    else if (key == "--json") json_path = value;
    else if (key == "--memory-child") child_impl = value;
    else if (key == "--child-n") child_n = std::stoi(value);
    else if (key == "--child-d") child_d = std::stoi(value);
    else if (key == "--child-file") child_file = value;
    else if (key == "--limits") limits_mode = value == "1";
    else if (key == "--decode") decode_mode = value == "1";
    else {
      std::cerr << "unknown option " << key << "\n";
      return 2;
    }
  }
  rxlm::set_num_threads(threads);  // OpenMP and OpenBLAS (the naive baseline and the sgemm peak)
  if (!child_impl.empty()) return memory_child(child_impl, child_n, child_d, child_file, threads);
  if (decode_mode) return decode(ns, ds[0], reps, threads);

  try {
    TorchProcess torch(python, torch_script, threads);
    if (limits_mode) return limits(ns[0], ds[0], reps, torch);
    double peak = sgemm_peak_gflops(4);
    std::printf("# threads %d, rxlm kernels %s, %s, OpenBLAS sgemm 2048^3 at start %.1f GFLOP/s\n", threads,
                rxlm::flash_attention_isa(), torch.banner().c_str(), peak);
    std::ofstream json(json_path);
    json << "{\"threads\":" << threads << ",\"isa\":\"" << rxlm::flash_attention_isa() << "\",\"torch\":\""
         << torch.banner() << "\",\"rows\":[";
    bool first_row = true;
    std::printf("%5s %4s %-7s %-6s %22s %8s %6s %10s %8s %9s %12s\n", "N", "d", "pass", "impl", "wall s median [min-max]",
                "GFLOP/s", "%peak", "x torch", "cpu s", "x torch", "peak RSS MB (+during call)");
    for (int d : ds)
      for (int n : ns) {
        peak = std::max(peak, sgemm_peak_gflops(3));
        std::printf("# sgemm peak so far %.1f GFLOP/s (%%peak below uses it)\n", peak);
        Problem pb(n, d, true);
        Flash flash{{}, {}, threads};
        flash.run(pb, true);  // outputs for the cross-check below; also the warm-up
        const std::string file = "/tmp/rxlm_bench_attention_" + std::to_string(getpid()) + ".bin";
        pb.write(file);
        const std::string check = torch.ask("load " + file + " " + std::to_string(n) + " " + std::to_string(d) + " " +
                                            std::to_string(kHeads) + " " + std::to_string(kKvHeads));
        std::printf("# N=%d d=%d rxlm vs torch max rel err (o dq dk dv): %s\n", n, d, check.substr(3).c_str());
        torch.ask("fwdbwd");  // warm-up
        run_naive(pb, true);
        std::vector<double> t[3][2], c[3][2];  // wall and CPU seconds, [flash, naive, torch][fwd, fwdbwd]
        for (int rep = 0; rep < reps; ++rep)
          for (int pass = 0; pass < 2; ++pass) {
            const bool bwd = pass == 1;
            Sample x[3] = {flash.run(pb, bwd), run_naive(pb, bwd), {}};
            std::istringstream answer(torch.ask(bwd ? "fwdbwd" : "fwd"));
            answer >> x[2].wall >> x[2].cpu;
            for (int impl = 0; impl < 3; ++impl) {
              t[impl][pass].push_back(x[impl].wall);
              c[impl][pass].push_back(x[impl].cpu);
            }
          }
        // Peak memory of one forward+backward, each in a fresh process.
        const std::string nn = std::to_string(n), dd = std::to_string(d), th = std::to_string(threads);
        long rss[3], before[3];
        for (int impl = 0; impl < 2; ++impl) {
          const std::string out = run_child({"/proc/self/exe", "--memory-child", impl == 0 ? "flash" : "naive",
                                             "--child-n", nn, "--child-d", dd, "--child-file", file, "--threads", th});
          rss[impl] = parse_after(out, "peak_rss ");
          before[impl] = parse_after(out, "rss_before ");
        }
        {
          const std::string out = run_child({python, torch_script, "--threads", th, "--memory", file, nn, dd,
                                             std::to_string(kHeads), std::to_string(kKvHeads)});
          rss[2] = parse_after(out, "peak_rss ");
          before[2] = parse_after(out, "rss_before ");
        }
        std::remove(file.c_str());
        const char* names[3] = {"flash", "naive", "torch"};
        for (int pass = 0; pass < 2; ++pass) {
          const double flops = pass == 0 ? forward_flops(n, d) : forward_flops(n, d) + backward_flops(n, d);
          const Stats torch_stats = stats(t[2][pass]), torch_cpu = stats(c[2][pass]);
          for (int impl = 0; impl < 3; ++impl) {
            const Stats s = stats(t[impl][pass]), cs = stats(c[impl][pass]);
            const double gflops = flops / s.median / 1e9;
            // Memory is measured for forward+backward; shown on that row.
            const double peak_mb = pass == 1 ? rss[impl] / 1048576.0 : 0.0;
            const double extra_mb = pass == 1 ? (rss[impl] - before[impl]) / 1048576.0 : 0.0;
            std::printf("%5d %4d %-7s %-6s %8.4f [%.4f-%.4f] %8.1f %5.1f%% %9.2fx %8.4f %8.2fx %7.0f (+%.0f)\n", n,
                        d, pass == 0 ? "fwd" : "fwd+bwd", names[impl], s.median, s.min, s.max, gflops,
                        100.0 * gflops / peak, torch_stats.median / s.median, cs.median, torch_cpu.median / cs.median,
                        peak_mb, extra_mb);
            json << (first_row ? "" : ",") << "{\"n\":" << n << ",\"d\":" << d << ",\"pass\":\""
                 << (pass == 0 ? "fwd" : "fwdbwd") << "\",\"impl\":\"" << names[impl] << "\",\"median_s\":" << s.median
                 << ",\"min_s\":" << s.min << ",\"max_s\":" << s.max << ",\"gflops\":" << gflops
                 << ",\"speedup_vs_torch\":" << torch_stats.median / s.median << ",\"median_cpu_s\":" << cs.median
                 << ",\"speedup_vs_torch_cpu\":" << torch_cpu.median / cs.median;
            if (pass == 1) json << ",\"peak_rss_bytes\":" << rss[impl] << ",\"rss_before_bytes\":" << before[impl];
            json << "}";
            first_row = false;
          }
        }
        std::fflush(stdout);
      }
    json << "],\"sgemm_peak_gflops\":" << peak << "}\n";
    std::printf("# sgemm 2048^3 peak over the run: %.1f GFLOP/s\n", peak);
  } catch (const std::exception& e) {
    std::cerr << "bench_attention: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
