#!/usr/bin/env python3
"""PEFT anchor for bench_train: the same FFA-LoRA training step as rxlm (LoRA r16 on q_proj/v_proj, lora_A frozen,
torch.optim.SGD), on SmolLM2 loaded by transformers from the same GGUF file (dequantised to f32), on the batch that
bench_train wrote (token ids and labels, -100 = masked).

Prints, one per line: "step <wall seconds> <process cpu seconds> <loss>" for every step (the first is warm-up),
then "peak_rss <bytes>" (VmHWM of this process: the whole run, loading included) and
"rss_before <bytes>" (resident set after loading, before the first step).
"""
import argparse
import json
import os
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM


def status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="GGUF file")
    ap.add_argument("--batch-file", required=True)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(args.model), gguf_file=os.path.basename(args.model),
                                                 torch_dtype=torch.float32)
    config = LoraConfig(r=16, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"], bias="none")
    model = get_peft_model(model, config)
    for name, p in model.named_parameters():
        if "lora_A" in name:
            p.requires_grad_(False)  # FFA-LoRA
    model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    with open(args.batch_file) as f:
        batch = json.load(f)
    input_ids = torch.tensor(batch["tokens"], dtype=torch.long)
    labels = torch.tensor(batch["labels"], dtype=torch.long)
    print(f"rss_before {status_bytes('VmRSS')}", flush=True)
    for _ in range(args.steps):
        wall, cpu = time.perf_counter(), time.process_time()
        out = model(input_ids=input_ids, labels=labels)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        print(f"step {time.perf_counter() - wall:.6f} {time.process_time() - cpu:.6f} {out.loss.item():.6f}", flush=True)
    print(f"peak_rss {status_bytes('VmHWM')}", flush=True)


if __name__ == "__main__":
    main()
