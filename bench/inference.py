#!/usr/bin/env python3
"""Prefill and decode speed, rxlm vs llama.cpp (llama-cpp-python), same GGUF, same token ids, same
thread count; the two engines alternate, one repetition at a time. Prints a Markdown table of medians
(min–max) and the rxlm / llama.cpp ratios, and writes JSON beside it.

    python3 bench/inference.py [--model PATH] [--prompt 512] [--decode 128] [--reps 5] [--threads 2]
Needs build/bench_inference (scripts/build.sh) and llama-cpp-python. llama.cpp runs with its defaults
(f16 KV cache, its own flash-attention choice), as a user would run it.
"""
import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
TEXT = ("Patient: 71-year-old woman, weight 64 kg, height 158 cm. Admission: emergency. Diagnoses: "
        "I50.9 heart failure, unspecified; N17.9 acute kidney failure; E11.9 type 2 diabetes mellitus "
        "without complications; I48.91 atrial fibrillation. Current medications include furosemide 40 mg "
        "IV BID, metoprolol tartrate 25 mg PO BID, insulin glargine 10 units SC qHS, apixaban 2.5 mg PO BID. ")


def last_logits(llm):
    """Logits of the last evaluated token, read from llama.cpp's context (Llama.scores stays empty
    unless logits_all, which would also make llama.cpp compute every prompt position's logits)."""
    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)


def lscpu_model():
    try:
        out = subprocess.check_output(["lscpu"], text=True)
        return next(l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name"))
    except Exception:
        return platform.processor()


def run_rxlm(binary, model, ids_file, decode, threads):
    out = subprocess.check_output([str(binary), "--model", model, "--prompt-ids", ids_file, "--decode", str(decode),
                                   "--reps", "1", "--threads", str(threads)], text=True)
    r = json.loads(out.strip().splitlines()[-1])
    return r["prefill_tokens"] / r["prefill_s"], r["decode_tokens"] / r["decode_s"]


def run_llamacpp(llm, ids, decode):
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(ids)
    prefill = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(decode):
        token = int(np.argmax(last_logits(llm)))
        llm.eval([token])
    return len(ids) / prefill, decode / (time.perf_counter() - t0)


def summary(values):
    return statistics.median(values), min(values), max(values)


def main():
    from llama_cpp import Llama
    import llama_cpp
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=os.environ.get("RXLM_SMOLLM2_GGUF") or subprocess.check_output(
        ["bash", str(ROOT / "scripts/find-smollm2.sh")], text=True).strip())
    parser.add_argument("--prompt", type=int, default=512)
    parser.add_argument("--decode", type=int, default=128)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--binary", default=str(ROOT / "build/bench_inference"))
    args = parser.parse_args()

    llm = Llama(model_path=args.model, n_ctx=args.prompt + args.decode + 16, n_batch=args.prompt,
                n_ubatch=args.prompt, n_threads=args.threads, n_threads_batch=args.threads, verbose=False)
    ids = []
    while len(ids) < args.prompt:
        ids += llm.tokenize(TEXT.encode(), add_bos=False, special=False)
    ids = ids[:args.prompt]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(" ".join(map(str, ids)))
        ids_file = f.name

    run_llamacpp(llm, ids, 8)  # warm-up (rxlm warms up inside its own run)
    rx_p, rx_d, lc_p, lc_d = [], [], [], []
    for rep in range(args.reps):
        p, d = run_rxlm(args.binary, args.model, ids_file, args.decode, args.threads)
        rx_p.append(p), rx_d.append(d)
        p, d = run_llamacpp(llm, ids, args.decode)
        lc_p.append(p), lc_d.append(d)
        print(f"rep {rep}: rxlm prefill {rx_p[-1]:.1f} decode {rx_d[-1]:.1f} | llama.cpp prefill {lc_p[-1]:.1f} "
              f"decode {lc_d[-1]:.1f} tok/s", flush=True)
    os.unlink(ids_file)

    rows = []
    for name, rx, lc in (("prefill", rx_p, lc_p), ("decode", rx_d, lc_d)):
        ratios = [a / b for a, b in zip(rx, lc)]
        rows.append((name, summary(rx), summary(lc), summary(ratios)))
    print()
    print(f"Model {pathlib.Path(args.model).name}; prompt {args.prompt} tokens, decode {args.decode} tokens, "
          f"{args.threads} threads, {args.reps} alternating repetitions; llama-cpp-python {llama_cpp.__version__}; "
          f"CPU: {lscpu_model()}, {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    print()
    print("| phase | rxlm tok/s, median (min–max) | llama.cpp tok/s, median (min–max) | rxlm / llama.cpp, median (min–max) |")
    print("|---|---|---|---|")
    for name, rx, lc, ratio in rows:
        print(f"| {name} | {rx[0]:.1f} ({rx[1]:.1f}–{rx[2]:.1f}) | {lc[0]:.1f} ({lc[1]:.1f}–{lc[2]:.1f}) | "
              f"{ratio[0]:.2f} ({ratio[1]:.2f}–{ratio[2]:.2f}) |")
    out = ROOT / "build/bench_inference.json"
    out.write_text(json.dumps({"rxlm_prefill": rx_p, "rxlm_decode": rx_d, "llamacpp_prefill": lc_p,
                               "llamacpp_decode": lc_d, "args": vars(args)}, indent=1))


if __name__ == "__main__":
    main()
