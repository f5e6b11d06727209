#!/usr/bin/env python3
"""Writes tests/fixtures/lora/: transformers + PEFT reference training of LoRA on q_proj/v_proj (and all seven modules) of the tiny
f32 Llama fixture (tests/fixtures/tiny_llama/f32), for rxlm's training forward/backward to match.

Cases (one directory each):
  ffa_r16/       FFA-LoRA: r=16, lora_alpha=16, lora_A.requires_grad_(False), PEFT init (A kaiming, B=0)
  ffa_r32/       the same at r=32
  standard_r16/  standard LoRA (A and B trained), r=16, B set to small seeded random values so that A's
                 gradient is not zero (with PEFT's B=0 it would be)
  standard_all_r8/  standard LoRA on all seven linear layers of each block, r=8, B random as above
  ffa_r16_adamw/, standard_r16_adamw/  as ffa_r16 / standard_r16 but the trajectory uses torch.optim.AdamW
                 (betas 0.9/0.999, eps 1e-8, weight_decay 0.1)
  ffa_r16_cosine_clip/, standard_r16_linear_clip/  with transformers' cosine / linear schedule with warmup
                 (over the 10 steps) and torch.nn.utils.clip_grad_norm_ before each step
Each holds
  case.json               tokens and labels of the 2-sample batch (prompts masked with -100), r, alpha,
                          freeze_a, lr, initial loss and the 10-step SGD loss trajectory
  tensors.safetensors     initial lora_A/lora_B, their gradients at the initial point (F32, PEFT names)
  adapter/                (standard_r16 only) the initial adapter as PeftModel.save_pretrained writes it
  logits.safetensors      (standard_r16 only) PEFT's logits on the batch with that adapter, [2, max_len, vocab]

The batch is right-padded to the longer sample (attention_mask 0, labels -100), which leaves the real
tokens' logits equal to running each sample alone; rxlm packs the samples instead. transformers shifts
the labels inside the loss (logits[:, :-1] scored against labels[:, 1:]) and averages over unmasked tokens.

Usage: python3 tools/reference/make_lora_reference.py [--out tests/fixtures/lora]
"""
import argparse
import json
from pathlib import Path

import torch
import transformers
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import LlamaForCausalLM

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "tests/fixtures/tiny_llama/f32"
SEED = 20261204
STEPS = 10
# Samples: lengths differ so padding vs packing matters; the first tokens are the "prompt" (masked).
LENGTHS, PROMPT = (13, 9), (5, 4)
QV = ["q_proj", "v_proj"]
ALL_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
CASES = {
    "ffa_r16": dict(r=16, freeze_a=True, lr=2.0),
    "ffa_r32": dict(r=32, freeze_a=True, lr=2.0),
    "standard_r16": dict(r=16, freeze_a=False, lr=2.0, save_adapter=True),
    "standard_all_r8": dict(r=8, freeze_a=False, lr=1.0, targets=ALL_MODULES),
    "ffa_r16_adamw": dict(r=16, freeze_a=True, lr=0.01, optimizer="adamw"),
    "standard_r16_adamw": dict(r=16, freeze_a=False, lr=0.01, optimizer="adamw"),
    "ffa_r16_cosine_clip": dict(r=16, freeze_a=True, lr=4.0, schedule="cosine", warmup=3, clip=0.05),
    "standard_r16_linear_clip": dict(r=16, freeze_a=False, lr=0.02, optimizer="adamw", schedule="linear", warmup=2,
                                     clip=0.5),
}
ADAMW = dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)


def make_batch(vocab: int):
    g = torch.Generator().manual_seed(SEED)
    samples = []
    for length, prompt in zip(LENGTHS, PROMPT):
        tokens = torch.randint(4, vocab, (length,), generator=g).tolist()
        labels = [-100] * prompt + tokens[prompt:]
        samples.append((tokens, labels))
    width = max(LENGTHS)
    ids = torch.zeros(len(samples), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for i, (t, l) in enumerate(samples):
        ids[i, : len(t)] = torch.tensor(t)
        mask[i, : len(t)] = 1
        labels[i, : len(l)] = torch.tensor(l)
    return samples, ids, mask, labels


def lora_params(model):
    """name → parameter of every lora_A/lora_B, names as PEFT saves them (no adapter name)."""
    out = {}
    for name, p in model.named_parameters():
        if "lora_" in name:
            out[name.replace(".default", "")] = p
    return out


def save_adapter_and_logits(model, case_dir: Path, ids, mask):
    """The adapter as PEFT saves it, and PEFT's logits with it, for rxlm's PEFT reader."""
    model.save_pretrained(case_dir / "adapter")
    (case_dir / "adapter" / "README.md").unlink(missing_ok=True)  # PEFT's model-card template
    # The absolute path of this checkout would leak into the fixture; name the base relative to the repo.
    adapter_config = case_dir / "adapter" / "adapter_config.json"
    settings = json.loads(adapter_config.read_text())
    settings["base_model_name_or_path"] = "tests/fixtures/tiny_llama/f32"
    settings["target_modules"] = sorted(settings["target_modules"])  # PEFT saves a set: order varies per run
    adapter_config.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits
    save_file({"logits": logits.contiguous()}, case_dir / "logits.safetensors")


def run_case(out: Path, name: str, r: int, freeze_a: bool, lr: float, targets=QV, save_adapter=False,
             optimizer="sgd", schedule=None, warmup=0, clip=None):
    torch.manual_seed(SEED)
    base = LlamaForCausalLM.from_pretrained(BASE, torch_dtype=torch.float32, attn_implementation="eager")
    config = LoraConfig(r=r, lora_alpha=16, target_modules=targets, lora_dropout=0.0, bias="none",
                        task_type="CAUSAL_LM")
    model = get_peft_model(base, config)
    params = lora_params(model)
    g = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for pname, p in params.items():
            if not freeze_a and "lora_B" in pname:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    if freeze_a:
        for pname, p in params.items():
            if "lora_A" in pname:
                p.requires_grad_(False)
    samples, ids, mask, labels = make_batch(base.config.vocab_size)
    case_dir = out / name
    case_dir.mkdir(parents=True, exist_ok=True)
    if save_adapter:
        save_adapter_and_logits(model, case_dir, ids, mask)

    model.train()
    out_tensors = {k: p.detach().clone() for k, p in params.items()}
    result = model(input_ids=ids, attention_mask=mask, labels=labels)
    result.loss.backward()
    for k, p in params.items():
        if p.grad is not None:
            out_tensors[k.replace(".weight", ".grad")] = p.grad.detach().clone()
    save_file({k: v.contiguous() for k, v in out_tensors.items()}, case_dir / "tensors.safetensors")

    trainable = [p for p in params.values() if p.requires_grad]
    opt = torch.optim.SGD(trainable, lr=lr) if optimizer == "sgd" else torch.optim.AdamW(trainable, lr=lr, **ADAMW)
    opt.zero_grad()
    scheduler = None
    if schedule == "cosine":
        scheduler = transformers.get_cosine_schedule_with_warmup(opt, warmup, STEPS)
    elif schedule == "linear":
        scheduler = transformers.get_linear_schedule_with_warmup(opt, warmup, STEPS)
    trajectory, grad_norms = [], []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        trajectory.append(loss.item())
        loss.backward()
        if clip is not None:
            grad_norms.append(torch.nn.utils.clip_grad_norm_(trainable, clip).item())
        opt.step()
        if scheduler is not None:
            scheduler.step()
    print(f"{name}: loss {trajectory[0]:.6f} → {trajectory[-1]:.6f}")
    case = {
        "base": "tests/fixtures/tiny_llama/f32",
        "r": r, "lora_alpha": 16, "freeze_a": freeze_a, "lr": lr, "target_modules": targets,
        "optimizer": optimizer, "schedule": schedule or "constant", "warmup_steps": warmup, "total_steps": STEPS,
        "max_grad_norm": clip, "grad_norms": grad_norms, **({"adamw": {**ADAMW, "betas": list(ADAMW["betas"])}} if optimizer == "adamw" else {}),
        "sequences": [{"tokens": t, "labels": l} for t, l in samples],
        "loss": trajectory[0],
        "trajectory": trajectory,
        "versions": {"torch": torch.__version__, "peft": __import__("peft").__version__,
                     "transformers": __import__("transformers").__version__},
    }
    (case_dir / "case.json").write_text(json.dumps(case, indent=1) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "tests/fixtures/lora")
    args = ap.parse_args()
    torch.set_num_threads(1)
    for name, kw in CASES.items():
        run_case(args.out, name, **kw)


if __name__ == "__main__":
    main()
