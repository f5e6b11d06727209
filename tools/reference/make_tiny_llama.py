#!/usr/bin/env python3
"""Writes tests/fixtures/tiny_llama/: a tiny random Llama-3.1-style model in every format rxlm loads,
each with the logits transformers computes for a fixed batch of token ids.

Variants (same seeded weights unless noted):
  f32/      config.json + model.safetensors (F32), untied head
  bf16/     the f32 weights rounded to bf16 and stored BF16
  tied/     tie_word_embeddings = true (its own seeded weights), F32
  sharded/  the f32 model split into 3 shards + model.safetensors.index.json
  gguf/     tiny-f32.gguf and tiny-q8_0.gguf, written with the `gguf` package the way llama.cpp's
            convert_hf_to_gguf.py writes a LlamaForCausalLM (q/k rows permuted, llama3 rope scaling as a
            rope_freqs.weight tensor, llama.* metadata)
Each variant has reference.json + logits (raw little-endian f32, shape [2, 40, 256]); the logits are the
transformers model's, computed in f32 on exactly the weights stored (bf16-rounded, Q8_0-dequantized).

Usage: python3 tools/reference/make_tiny_llama.py [--out tests/fixtures/tiny_llama] [--check-llama-cpp]
"""
import argparse
import json
import math
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

SEED = 20260412
BATCH, SEQ, VOCAB = 2, 40, 256
ROPE_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 32}
INIT_STD = 0.08  # large enough that logits are far from flat


def hf_config_dict(tied: bool, dtype: str) -> dict:
    """config.json as Meta's Llama 3.1 checkpoints write it (transformers 4.4x keys)."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": [2, 3],
        "head_dim": 16,
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": INIT_STD,
        "intermediate_size": 160,
        "max_position_embeddings": 128,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "num_key_value_heads": 2,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": dict(ROPE_SCALING),
        "rope_theta": 10000.0,
        "tie_word_embeddings": tied,
        "torch_dtype": dtype,
        "use_cache": True,
        "vocab_size": VOCAB,
    }


def make_model(tied: bool) -> LlamaForCausalLM:
    cfg = hf_config_dict(tied, "float32")
    config = LlamaConfig(**{k: v for k, v in cfg.items() if k not in ("architectures", "torch_dtype")})
    config._attn_implementation = "eager"
    torch.manual_seed(SEED + (1 if tied else 0))
    model = LlamaForCausalLM(config).float().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):  # not all ones, so a swapped norm shows up in the logits
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif p.dim() == 2 and not (tied and name == "lm_head.weight"):
                p.copy_(INIT_STD * torch.randn_like(p))
    if tied:
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    return model


def input_ids() -> torch.Tensor:
    g = torch.Generator().manual_seed(SEED + 7)
    return torch.randint(0, VOCAB, (BATCH, SEQ), generator=g)


def logits_of(model: LlamaForCausalLM, ids: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        out = model(input_ids=ids, use_cache=False).logits.float().numpy()
    assert out.shape == (BATCH, SEQ, VOCAB)
    assert out.std() > 0.3, f"logits too flat (std {out.std()})"
    return out


def state(model: LlamaForCausalLM, tied: bool) -> dict:
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    if tied:
        sd.pop("lm_head.weight")
    return sd


def write_reference(out: Path, stem: str, ids: torch.Tensor, logits: np.ndarray, dtype: str, note: str) -> None:
    logits_file = f"{stem}logits.f32"
    logits.astype("<f4").tofile(out / logits_file)
    ref = {"input_ids": ids.tolist(), "logits_file": logits_file, "shape": list(logits.shape), "dtype": dtype,
           "note": note}
    (out / f"{stem}reference.json").write_text(json.dumps(ref, indent=None) + "\n")


def write_hf(out: Path, tensors: dict, tied: bool, dtype: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(hf_config_dict(tied, dtype), indent=2) + "\n")
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})


def write_sharded(out: Path, tensors: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(hf_config_dict(False, "float32"), indent=2) + "\n")
    groups = [
        [n for n in tensors if n.startswith("model.embed_tokens") or n.startswith("model.layers.0.")],
        [n for n in tensors if n.startswith("model.layers.1.")],
        [n for n in tensors if n in ("model.norm.weight", "lm_head.weight")],
    ]
    assert sorted(sum(groups, [])) == sorted(tensors)
    weight_map, total = {}, 0
    for i, names in enumerate(groups):
        shard = f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors"
        save_file({n: tensors[n] for n in names}, str(out / shard), metadata={"format": "pt"})
        for n in names:
            weight_map[n] = shard
            total += tensors[n].numel() * tensors[n].element_size()
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")


# --- GGUF, following llama.cpp convert_hf_to_gguf.py (LlamaModel) ---------------------------------

def permute(w: np.ndarray, n_head: int, n_head_kv: int) -> np.ndarray:
    """LlamaModel.permute: rows of q/k reordered so adjacent-pair RoPE equals HF's half-split RoPE."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def rope_freq_factors(cfg: dict) -> np.ndarray:
    """LlamaModel.generate_extra_tensors for rope_type llama3. One deliberate difference: llama.cpp reads
    original_max_position_embeddings from the top level of config.json (default 8192, which is what Llama
    3.1 uses); we read it from rope_scaling, as transformers does, so the GGUF computes the HF logits."""
    rs = cfg["rope_scaling"]
    base, dim = cfg["rope_theta"], cfg["head_dim"]
    freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old_context_len = rs["original_max_position_embeddings"]
    low_freq_wavelen, high_freq_wavelen = old_context_len / low, old_context_len / high
    factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_freq_wavelen:
            factors.append(1)
        elif wavelen > low_freq_wavelen:
            factors.append(factor)
        else:
            smooth = (old_context_len / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return torch.tensor(factors, dtype=torch.float32).numpy()


GGUF_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
GGUF_LAYER = {
    "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight", "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
}


def gguf_name(hf: str) -> str:
    if hf in GGUF_NAMES:
        return GGUF_NAMES[hf]
    parts = hf.split(".", 3)  # model, layers, i, rest
    return f"blk.{parts[2]}.{GGUF_LAYER[parts[3]]}"


def write_gguf(path: Path, tensors: dict, quant: str) -> dict:
    """Returns the HF-layout f32 weights the file really holds (dequantized), for the reference logits."""
    import gguf

    cfg = hf_config_dict(False, "float32")
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("rxlm tiny llama")
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_key_length(cfg["head_dim"])
    w.add_value_length(cfg["head_dim"])
    w.add_rope_freq_base(cfg["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_vocab_size(cfg["vocab_size"])
    w.add_rope_dimension_count(cfg["head_dim"])
    w.add_file_type(gguf.LlamaFileType.ALL_F32 if quant == "f32" else gguf.LlamaFileType.MOSTLY_Q8_0)
    # A 256-token SentencePiece-style byte vocabulary, so llama.cpp can load the file.
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list([f"<0x{i:02X}>" for i in range(VOCAB)])
    w.add_token_scores([0.0] * VOCAB)
    w.add_token_types([gguf.TokenType.BYTE] * VOCAB)
    w.add_bos_token_id(cfg["bos_token_id"])
    w.add_eos_token_id(cfg["eos_token_id"][0])
    w.add_add_bos_token(False)

    w.add_tensor("rope_freqs.weight", rope_freq_factors(cfg))
    stored = {}
    n_head, n_kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    for name, t in tensors.items():
        a = t.float().numpy()
        if name.endswith("q_proj.weight"):
            a = permute(a, n_head, n_head)
        elif name.endswith("k_proj.weight"):
            a = permute(a, n_head, n_kv)
        if quant == "q8_0" and a.ndim == 2:
            q = gguf.quants.quantize(a, gguf.GGMLQuantizationType.Q8_0)
            w.add_tensor(gguf_name(name), q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
            deq = gguf.quants.dequantize(q, gguf.GGMLQuantizationType.Q8_0).reshape(a.shape)
        else:
            w.add_tensor(gguf_name(name), np.ascontiguousarray(a, dtype=np.float32))
            deq = a
        # Quantization is per row and the permutation moves whole rows, so un-permuting the dequantized
        # rows is exactly "the HF weight this file holds".
        if name.endswith("q_proj.weight"):
            deq = unpermute(deq, n_head, n_head)
        elif name.endswith("k_proj.weight"):
            deq = unpermute(deq, n_head, n_kv)
        stored[name] = torch.from_numpy(np.ascontiguousarray(deq, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return stored


def unpermute(w: np.ndarray, n_head: int, n_head_kv: int) -> np.ndarray:
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def load_weights(model: LlamaForCausalLM, tensors: dict) -> LlamaForCausalLM:
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    assert not unexpected and all(m == "lm_head.weight" for m in missing), (missing, unexpected)
    return model


def check_with_llama_cpp(path: Path, ids: torch.Tensor, expected: np.ndarray) -> float:
    """llama.cpp's own forward on the GGUF, as an independent check of permutation and rope_freqs."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=64, logits_all=True, verbose=False, n_threads=2, type_k=0, type_v=0)
    worst = 0.0
    for b in range(BATCH):
        llm.reset()
        llm.eval(ids[b].tolist())
        got = np.array(llm.scores[:SEQ], dtype=np.float32)
        worst = max(worst, float(np.abs(got - expected[b]).max() / np.abs(expected[b]).max()))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "tests/fixtures/tiny_llama"))
    ap.add_argument("--check-llama-cpp", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    ids = input_ids()

    model = make_model(tied=False)
    f32 = state(model, tied=False)
    logits = logits_of(model, ids)
    write_hf(out / "f32", f32, tied=False, dtype="float32")
    write_reference(out / "f32", "", ids, logits, "f32",
                    "transformers LlamaForCausalLM (eager attention), f32 weights, f32 compute; positions 0..39 "
                    "pass original_max_position_embeddings 32 on purpose")
    # The saved directory must mean the same model to transformers itself.
    reloaded = LlamaForCausalLM.from_pretrained(str(out / "f32"), attn_implementation="eager").float().eval()
    assert np.array_equal(logits_of(reloaded, ids), logits), "reloaded f32 model gives other logits"

    write_sharded(out / "sharded", f32)
    write_reference(out / "sharded", "", ids, logits, "f32", "the f32 model split into 3 shards; same logits")

    bf16 = {k: v.to(torch.bfloat16) for k, v in f32.items()}
    model_bf16 = load_weights(make_model(tied=False), {k: v.float() for k, v in bf16.items()})
    write_hf(out / "bf16", bf16, tied=False, dtype="bfloat16")
    write_reference(out / "bf16", "", ids, logits_of(model_bf16, ids), "bf16",
                    "the f32 weights rounded to bf16 (stored BF16); logits computed in f32 on the rounded weights")

    tied_model = make_model(tied=True)
    tied = state(tied_model, tied=True)
    write_hf(out / "tied", tied, tied=True, dtype="float32")
    write_reference(out / "tied", "", ids, logits_of(tied_model, ids), "f32",
                    "tie_word_embeddings true (no lm_head.weight stored); f32 weights and compute")

    (out / "gguf").mkdir()
    for quant in ("f32", "q8_0"):
        path = out / "gguf" / f"tiny-{quant}.gguf"
        stored = write_gguf(path, f32, quant)
        ref_logits = logits_of(load_weights(make_model(tied=False), stored), ids)
        if quant == "f32":
            assert np.array_equal(ref_logits, logits)
        write_reference(out / "gguf", f"tiny-{quant}.", ids, ref_logits, quant,
                        f"the f32 model as GGUF ({quant}; q/k rows permuted as llama.cpp does, so RoPE pairs are "
                        "adjacent; llama3 scaling as rope_freqs.weight); logits of the HF model in f32 on the "
                        "weights this file holds")
        # Only F32: llama-cpp-python 0.3.36 here segfaults on any Q8_0 matmul weight of this tiny model
        # (with F32 weights it loads and matches transformers to ~5e-7).
        if args.check_llama_cpp and quant == "f32":
            print(f"{path.name}: llama.cpp vs transformers max relative error "
                  f"{check_with_llama_cpp(path, ids, ref_logits):.2e}")

    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({total:,} bytes)")


if __name__ == "__main__":
    main()
