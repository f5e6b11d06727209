#!/usr/bin/env python3
"""Writes tests/fixtures/lora/interop/: an adapter WRITTEN BY RXLM, loaded by PEFT, and PEFT's logits with it.

The rxlm → PEFT direction of issue 5's interoperability item, checked in CI without Python:
  1. writes the inputs of a short training run: tokenizer.json (a character-level byte-level BPE whose ids fit
     the tiny Llama fixture's 256-token vocabulary: <|endoftext|>, <|im_start|>, <|im_end|>, then printable ASCII
     and newline, no merges), train.jsonl / val.jsonl (chat samples) and train.toml (the run's settings);
  2. runs `rxlm train` on tests/fixtures/tiny_llama/f32 with them (FFA-LoRA r8, SGD with a large lr so that
     B moves away from 0; one thread; from the repository root so that base_model_name_or_path is the
     relative fixture path) and copies the adapter it wrote (RUN/adapter) into adapter/;
  3. loads that adapter with peft.PeftModel.from_pretrained on the same base (transformers, f32, eager
     attention), and saves PEFT's logits for a fixed token sequence (interop.json: input_ids) in
     logits.safetensors ([1, T, 256] f32), plus the base model's logits without the adapter for contrast.

tests/integration/peft_interop_test.cc re-runs the same training (the adapter must still be what rxlm writes)
and checks rxlm's logits with the committed adapter equal PEFT's.

Usage: python3 tools/reference/make_peft_interop_fixture.py [--rxlm build/rxlm] [--out tests/fixtures/lora/interop]
"""
import argparse
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import peft
import torch
import transformers
from peft import PeftModel
from safetensors.torch import save_file
from transformers import LlamaForCausalLM

ROOT = Path(__file__).resolve().parents[2]
BASE = "tests/fixtures/tiny_llama/f32"  # relative: recorded in adapter_config.json as rxlm is given it
# A fixed input spanning the vocabulary (ids < 256), as in lora_merge_test.
INPUT_IDS = [1, 17, 200, 45, 3, 99, 128, 7, 64, 250, 31, 12, 5, 77, 180, 2, 9, 140, 33, 66, 111, 222, 4, 90]
TRAIN_TOML = """# rxlm train settings of the interoperability fixture (see tools/reference/make_peft_interop_fixture.py)
[lora]
rank = 8
alpha = 16
targets = ["q_proj", "v_proj"]
freeze_a = true

[optim]
name = "sgd"
lr = 1.0

[data]
batch_size = 2
max_length = 96

[run]
epochs = 3
seed = 7
"""
DRUGS = ["aspirin", "heparin", "insulin", "metoprolol", "furosemide", "atorvastatin"]


def byte_level_char(b: int) -> str:
    """GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 upwards."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    if b in printable:
        return chr(b)
    n = sum(1 for x in range(b) if x not in printable)
    return chr(256 + n)


def tokenizer_json() -> dict:
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {s: i for i, s in enumerate(specials)}
    for b in [0x0A] + list(range(0x20, 0x7F)):
        vocab[byte_level_char(b)] = len(vocab)
    assert len(vocab) <= 256, len(vocab)
    return {
        "version": "1.0", "truncation": None, "padding": None, "normalizer": None,
        "added_tokens": [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for i, s in enumerate(specials)],
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": []},
    }


def samples(first: int, count: int) -> str:
    lines = []
    for i in range(first, first + count):
        messages = [{"role": "system", "content": "Pharmacist."},
                    {"role": "user", "content": f"Patient {i}."},
                    {"role": "assistant", "content": f"- {DRUGS[i % 6]}\n- {DRUGS[(i + 2) % 6]}"}]
        lines.append(json.dumps({"messages": messages}))
    return "\n".join(lines) + "\n"


def write_inputs(out: Path):
    out.mkdir(parents=True, exist_ok=True)
    (out / "tokenizer.json").write_text(json.dumps(tokenizer_json(), indent=1, ensure_ascii=False) + "\n")
    (out / "train.jsonl").write_text(samples(0, 8))
    (out / "val.jsonl").write_text(samples(100, 3))
    (out / "train.toml").write_text(TRAIN_TOML)


def train_args(out_rel: str, run: str) -> list:
    """The `rxlm train` arguments; peft_interop_test.cc runs exactly these (from the repository root)."""
    return ["train", "--model", BASE, "--tokenizer", f"{out_rel}/tokenizer.json", "--chat-format", "chatml",
            "--train", f"{out_rel}/train.jsonl", "--val", f"{out_rel}/val.jsonl", "--config", f"{out_rel}/train.toml",
            "--out", run]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rxlm", default=str(ROOT / "build/rxlm"))
    parser.add_argument("--out", default=str(ROOT / "tests/fixtures/lora/interop"))
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out_rel = os.path.relpath(out, ROOT)
    write_inputs(out)

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        env = dict(os.environ, OMP_NUM_THREADS="1")
        done = subprocess.run([args.rxlm] + train_args(out_rel, str(run)), cwd=ROOT, env=env, capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise SystemExit(f"rxlm train failed:\n{done.stdout}\n{done.stderr}")
        print(done.stdout, end="")
        shutil.rmtree(out / "adapter", ignore_errors=True)
        shutil.copytree(run / "adapter", out / "adapter")

    torch.manual_seed(0)
    base = LlamaForCausalLM.from_pretrained(ROOT / BASE, torch_dtype=torch.float32, attn_implementation="eager")
    base.eval()
    ids = torch.tensor([INPUT_IDS])
    with torch.no_grad():
        base_logits = base(input_ids=ids).logits.clone()
    model = PeftModel.from_pretrained(base, out / "adapter")
    model.eval()
    b_norm = sum(float(p.abs().max()) for n, p in model.named_parameters() if "lora_B" in n)
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    change = float((logits - base_logits).abs().max())
    print(f"PEFT loaded rxlm's adapter: sum over tensors of max|B| {b_norm:.4f}; max |logit change| from the adapter "
          f"{change:.4f}")
    assert change > 1e-2, "the adapter must change the logits for the fixture to test anything"
    save_file({"logits": logits.contiguous(), "base_logits": base_logits.contiguous()}, out / "logits.safetensors")
    (out / "interop.json").write_text(json.dumps({
        "input_ids": INPUT_IDS,
        "rxlm_train_args": train_args(out_rel, "RUN"),
        "omp_num_threads": 1,
        "peft_logit_change_from_adapter": change,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
    }, indent=2) + "\n")
    print(f"wrote {out_rel}: tokenizer.json train.jsonl val.jsonl train.toml adapter/ logits.safetensors interop.json")


if __name__ == "__main__":
    main()
