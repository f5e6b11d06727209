#!/usr/bin/env python3
"""Every intermediate f32 tensor llama.cpp computes (through llama-cpp-python's eval callback) while it
evaluates a token sequence one token at a time, saved as .npz for comparing rxlm's llama.cpp-compatible
numerics op by op (`rxlm generate --numerics ggml`, docs/inference.md). A debugging aid: nothing it
writes is committed.

    python3 tools/reference/dump_llamacpp_tensors.py --ids 1,2,3 --out /tmp/dump.npz [--model PATH] [--batch]

Keys are "<step>/<tensor name>" (step = index of the llama_decode call), e.g. "3/attn_norm-0",
"3/result_output". --batch evaluates the ids in one call instead (step 0 only).
"""
import argparse
import ctypes
import pathlib
import subprocess

import numpy as np
import llama_cpp
import llama_cpp.llama_cpp as llama_capi


class GgmlTensor(ctypes.Structure):  # ggml.h, struct ggml_tensor (GGML_MAX_DIMS 4, GGML_MAX_SRC 10)
    _fields_ = [("type", ctypes.c_int), ("buffer", ctypes.c_void_p), ("ne", ctypes.c_int64 * 4),
                ("nb", ctypes.c_size_t * 4), ("op", ctypes.c_int), ("op_params", ctypes.c_int32 * 16),
                ("flags", ctypes.c_int32), ("src", ctypes.c_void_p * 10), ("view_src", ctypes.c_void_p),
                ("view_offs", ctypes.c_size_t), ("data", ctypes.c_void_p), ("name", ctypes.c_char * 64),
                ("extra", ctypes.c_void_p), ("padding", ctypes.c_char * 8)]


def main():
    root = pathlib.Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=subprocess.check_output(["bash", str(root / "scripts/find-smollm2.sh")], text=True).strip())
    parser.add_argument("--ids", required=True, help="comma-separated token ids")
    parser.add_argument("--out", required=True)
    parser.add_argument("--batch", action="store_true")
    args = parser.parse_args()
    ids = [int(x) for x in args.ids.split(",")]

    saved, step = {}, [0]

    @llama_cpp.ggml_backend_sched_eval_callback
    def callback(t, ask, _user):
        tensor = ctypes.cast(t, ctypes.POINTER(GgmlTensor)).contents
        if ask:
            return True
        if tensor.type != 0 or not tensor.data:  # f32 only
            return True
        ne, nb = list(tensor.ne), list(tensor.nb)
        count = ne[0] * ne[1] * ne[2] * ne[3]
        # a strided view: gather it element by element through its strides
        span = sum((n - 1) * s for n, s in zip(ne, nb)) + 4
        raw = np.ctypeslib.as_array(ctypes.cast(tensor.data, ctypes.POINTER(ctypes.c_uint8)), shape=(span,))
        view = np.lib.stride_tricks.as_strided(raw.view(np.float32) if nb[0] == 4 and span % 4 == 0 else raw,
                                               shape=tuple(reversed(ne)), strides=tuple(reversed(nb)))
        if count and nb[0] == 4:
            saved[f"{step[0]}/{tensor.name.decode()}"] = np.array(view, dtype=np.float32)
        return True

    default_params = llama_capi.llama_context_default_params

    def with_callback():
        params = default_params()
        params.cb_eval = callback
        return params

    llama_capi.llama_context_default_params = with_callback
    llm = llama_cpp.Llama(model_path=args.model, n_ctx=512, n_batch=512, n_threads=2, type_k=llama_cpp.GGML_TYPE_F32,
                          type_v=llama_cpp.GGML_TYPE_F32, flash_attn=False, verbose=False)
    llm.reset()
    if args.batch:
        llm.eval(ids)
    else:
        for token in ids:
            llm.eval([token])
            step[0] += 1
    logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float32)
    saved["final_logits"] = logits
    np.savez(args.out, **saved)
    print(f"wrote {args.out}: {len(saved)} tensors")


if __name__ == "__main__":
    main()
