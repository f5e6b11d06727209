#!/usr/bin/env python3
"""PyTorch anchor for bench_attention: scaled_dot_product_attention on the CPU (enable_gqa=True), driven by the
C++ program so both sides run alternately in the same run on the same input files.

  --serve      read commands on stdin, answer one line each:
                 load PATH N D H HK   -> loads q, k, v, d_o (and rxlm's o, dq, dk, dv) written by bench_attention,
                                         answers "ok <max rel err of rxlm vs torch for o dq dk dv>"
                 fwd | fwdbwd         -> runs once, answers the seconds it took
  --memory PATH N D H HK   load, print the resident set before, run one forward+backward, exit (the parent
                           reads the peak resident set of this process from wait4).
Threads: torch.set_num_threads(--threads), same as the C++ side.
"""
import argparse
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Case:
    def __init__(self, path, n, d, h, hk, with_rxlm_outputs=True):
        raw = np.fromfile(path, dtype=np.float32)
        q_elems, k_elems = n * h * d, n * hk * d
        parts, at = [], 0
        for size in (q_elems, k_elems, k_elems, q_elems, q_elems, q_elems, k_elems, k_elems):
            parts.append(raw[at:at + size] if at + size <= raw.size else None)
            at += size

        # rxlm's layout is token-major [N, H, D]; SDPA's preferred one is [B, H, N, D]: converted (contiguous)
        # outside the timed region.
        def heads_first(x, heads):
            return torch.from_numpy(x.reshape(n, heads, d)).transpose(0, 1).unsqueeze(0).contiguous()

        self.q = heads_first(parts[0], h).requires_grad_(True)
        self.k = heads_first(parts[1], hk).requires_grad_(True)
        self.v = heads_first(parts[2], hk).requires_grad_(True)
        self.d_o = heads_first(parts[3], h)
        self.rxlm = None
        if with_rxlm_outputs and parts[4] is not None and parts[7] is not None:
            self.rxlm = [heads_first(parts[4], h), heads_first(parts[5], h), heads_first(parts[6], hk),
                         heads_first(parts[7], hk)]

    def forward(self):
        with torch.no_grad():
            return F.scaled_dot_product_attention(self.q, self.k, self.v, is_causal=True, enable_gqa=True)

    def forward_backward(self):
        self.q.grad = self.k.grad = self.v.grad = None
        o = F.scaled_dot_product_attention(self.q, self.k, self.v, is_causal=True, enable_gqa=True)
        o.backward(self.d_o)
        return o

    def compare(self):
        """max|rxlm - torch| / max|torch| for o, dq, dk, dv (the same measure as the C++ tests)."""
        if self.rxlm is None:
            return []
        o = self.forward_backward().detach()
        errs = []
        for mine, theirs in zip(self.rxlm, (o, self.q.grad, self.k.grad, self.v.grad)):
            errs.append(float((mine - theirs).abs().max() / theirs.abs().max()))
        return errs


def serve():
    case = None
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "load":
            case = None
            case = Case(cmd[1], *map(int, cmd[2:6]))
            errs = case.compare()
            print("ok " + " ".join(f"{e:.3e}" for e in errs), flush=True)
        elif cmd[0] in ("fwd", "fwdbwd"):
            start = time.perf_counter()
            case.forward() if cmd[0] == "fwd" else case.forward_backward()
            print(f"{time.perf_counter() - start:.6f}", flush=True)
        elif cmd[0] == "quit":
            return
        else:
            print(f"error unknown command {cmd[0]}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--serve", action="store_true")
    ap.add_argument("--memory", nargs=5, metavar=("PATH", "N", "D", "H", "HK"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.serve:
        print(f"ready torch {torch.__version__} {torch.backends.cpu.get_cpu_capability()}", flush=True)
        serve()
    elif args.memory:
        case = Case(args.memory[0], *map(int, args.memory[1:]), with_rxlm_outputs=False)
        print(f"rss_before {rss_bytes()}", flush=True)
        case.forward_backward()
        print("done", flush=True)


if __name__ == "__main__":
    main()
