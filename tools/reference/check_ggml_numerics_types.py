#!/usr/bin/env python3
"""One-off check, beyond the CI fixture, that `rxlm generate --numerics ggml` equals llama.cpp for the
other weight types it accepts: SmolLM2-135M-Instruct is requantised by llama.cpp itself (its
llama_model_quantize) to Q8_0 and to F32, then for the 5 fixture prompts llama.cpp's greedy reply
(prompt in one batch, f32 KV cache, flash attention off, up to 32 tokens or the first stop token) is
compared with rxlm's printed text. The Q8_0 file sends every projection through ggml's Q8_0 kernels
(and tinyBLAS for the prompt batch), the F32 file through ggml's f32 dot and tinyBLAS. The files
(145 MB, 540 MB) go to --work and are not committed.

    python3 tools/reference/check_ggml_numerics_types.py --rxlm build/rxlm [--work /tmp]
"""
import argparse
import json
import pathlib
import subprocess

import numpy as np
import llama_cpp

SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def main():
    root = pathlib.Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser()
    parser.add_argument("--rxlm", default=str(root / "build/rxlm"))
    parser.add_argument("--work", default="/tmp")
    args = parser.parse_args()
    source = subprocess.check_output(["bash", str(root / "scripts/find-smollm2.sh")], text=True).strip()
    cases = json.loads((root / "tests/fixtures/smollm2/greedy.json").read_text())["cases"]
    failures = 0
    for name, ftype in [("q8_0", llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0), ("f32", llama_cpp.LLAMA_FTYPE_ALL_F32)]:
        model = f"{args.work}/smollm2-{name}.gguf"
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype, params.allow_requantize, params.nthread = ftype, True, 2
        if llama_cpp.llama_model_quantize(source.encode(), model.encode(), params) != 0:
            raise SystemExit(f"llama.cpp could not write {model}")
        llm = llama_cpp.Llama(model_path=model, n_ctx=512, n_batch=512, n_threads=2, type_k=llama_cpp.GGML_TYPE_F32,
                              type_v=llama_cpp.GGML_TYPE_F32, flash_attn=False, verbose=False)
        for case in cases:
            llm.reset()
            llm.eval(case["prompt_ids"])
            tokens = []
            for _ in range(32):
                logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))
                tokens.append(int(np.argmax(logits)))
                llm.eval([tokens[-1]])
            stop = next((i for i, t in enumerate(tokens) if llm.token_is_eog(t)), len(tokens)) \
                if hasattr(llm, "token_is_eog") else next((i for i, t in enumerate(tokens) if t in (0, 1, 2)), 32)
            want = llm.detokenize(tokens[:stop]).decode("utf-8", "replace")
            text = case["text"]
            begin = text.index("<|im_start|>user\n") + len("<|im_start|>user\n")
            prompt = text[begin:text.index("<|im_end|>", begin)]
            got = subprocess.run([args.rxlm, "generate", "--model", model, "--chat", "--system", SYSTEM, "--prompt", prompt,
                                  "--max-tokens", str(stop), "--numerics", "ggml", "--threads", "1"],
                                 capture_output=True, text=True, check=True).stdout
            same = got == want + "\n"
            failures += not same
            print(f"{name}: {'equal' if same else 'DIFFERENT'} for {stop} tokens: {want[:50]!r}")
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    main()
