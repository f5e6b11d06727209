#!/usr/bin/env python3
"""PyTorch anchor for bench_attention: scaled_dot_product_attention on the CPU (enable_gqa=True), driven by the
C++ program so both sides run alternately in the same run on the same input files.

  --serve      read commands on stdin, answer one line each:
                 load PATH N D H HK   -> loads q, k, v, d_o (and rxlm's o, dq, dk, dv) written by bench_attention,
                                         answers "ok <max rel err of rxlm vs torch for o dq dk dv>"
                 fwd | fwdbwd         -> runs once, answers the wall and process CPU seconds it took
  --memory PATH N D H HK   load, print the resident set before, run one forward+backward, print the peak
                           resident set (VmHWM) of this process.
Threads: torch.set_num_threads(--threads), same as the C++ side.
"""
import argparse
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def status_bytes(field):
    """VmRSS (resident now) or VmHWM (peak resident of this process) in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


class Case:
    def __init__(self, path, n, d, h, hk, with_rxlm_outputs=True):
        q_elems, k_elems = n * h * d, n * hk * d
        sizes = (q_elems, k_elems, k_elems, q_elems, q_elems, q_elems, k_elems, k_elems)
        heads = (h, hk, hk, h, h, h, hk, hk)

        # One part at a time, so loading never holds more than one extra copy (the memory mode measures the
        # process peak). rxlm's layout is token-major [N, H, D]; SDPA's preferred one is [B, H, N, D]:
        # converted (contiguous) outside the timed region.
        def part(i):
            offset = sum(sizes[:i]) * 4
            x = np.fromfile(path, dtype=np.float32, count=sizes[i], offset=offset)
            if x.size < sizes[i]:
                return None
            return torch.from_numpy(x.reshape(n, heads[i], d)).transpose(0, 1).unsqueeze(0).contiguous()

        self.q = part(0).requires_grad_(True)
        self.k = part(1).requires_grad_(True)
        self.v = part(2).requires_grad_(True)
        self.d_o = part(3)
        self.rxlm = [part(i) for i in range(4, 8)] if with_rxlm_outputs else None
        if self.rxlm is not None and any(x is None for x in self.rxlm):
            self.rxlm = None

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
            start, cpu_start = time.perf_counter(), time.process_time()
            case.forward() if cmd[0] == "fwd" else case.forward_backward()
            print(f"{time.perf_counter() - start:.6f} {time.process_time() - cpu_start:.6f}", flush=True)
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
        print(f"rss_before {status_bytes('VmRSS')}", flush=True)
        case.forward_backward()
        print(f"peak_rss {status_bytes('VmHWM')}", flush=True)


if __name__ == "__main__":
    main()
