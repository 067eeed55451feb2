#!/usr/bin/env python3
"""Hugging Face model directories and their transformers logits for `rlvr import` / `rlvr export` (run by hand).

    pip install torch transformers safetensors h5py numpy
    python3 tests/hf_fixtures.py build/rlvr

Makes tiny random models of the four architectures with transformers' own classes and saves them with
save_pretrained into tests/fixtures/hf/<case>/ (config.json, generation_config.json, model.safetensors or shards +
model.safetensors.index.json): f32 and bf16, one sharded, tied embeddings, a Qwen3 with head_dim != hidden/heads, a
Qwen3-MoE with decoder_sparse_step = 2 and mlp_only_layers. Every parameter gets a random value (norms around 1)
so the logits are not degenerate. It loads each directory back with from_pretrained(dtype=float32) -- bf16 weights
upcast exactly as transformers does -- runs fixed token sequences one at a time (eager attention) and writes tokens +
logits to reference.h5, which tests/test_hf_import.c compares `rlvr import` + the C forward against.

With the rlvr binary it then checks the way back: import, `rlvr export --dtype f32` (and bf16) into a temporary
directory, load that with transformers: the logits must equal the reference bit for bit, the exported tensors must
equal the saved ones bit for bit (for bf16 export of f32 weights: equal to torch's own .to(bfloat16), round to nearest
even). It prints a Markdown table for results/hf-import.md.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch
import transformers
from safetensors import safe_open

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "hf")
SEQ_LENS = [7, 1, 12, 5]
COMMON = dict(vocab_size=32, hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=2,
              num_key_value_heads=1, max_position_embeddings=64, rope_theta=1000.0, rms_norm_eps=1e-6)
MOE = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=12)

# name: (config class, config overrides, dtype, save_pretrained max_shard_size or None)
CASES = {
    "qwen2_f32": (transformers.Qwen2Config, dict(tie_word_embeddings=False), torch.float32, None),
    "qwen2_bf16_tied": (transformers.Qwen2Config, dict(tie_word_embeddings=True), torch.bfloat16, None),
    "qwen3_f32_head_dim": (transformers.Qwen3Config, dict(head_dim=12, tie_word_embeddings=False), torch.float32, None),
    "qwen3_bf16_tied": (transformers.Qwen3Config, dict(head_dim=8, tie_word_embeddings=True), torch.bfloat16, None),
    "qwen2_moe_f32_sharded": (transformers.Qwen2MoeConfig, dict(MOE, shared_expert_intermediate_size=20,
                                                                 tie_word_embeddings=False), torch.float32, "8KB"),
    "qwen2_moe_bf16": (transformers.Qwen2MoeConfig, dict(MOE, shared_expert_intermediate_size=20, norm_topk_prob=True,
                                                          tie_word_embeddings=False), torch.bfloat16, None),
    "qwen3_moe_f32_sparse": (transformers.Qwen3MoeConfig, dict(MOE, num_hidden_layers=4, decoder_sparse_step=2,
                                                                mlp_only_layers=[3], norm_topk_prob=True,
                                                                tie_word_embeddings=False), torch.float32, None),
    "qwen3_moe_bf16": (transformers.Qwen3MoeConfig, dict(MOE, norm_topk_prob=False, tie_word_embeddings=False),
                       torch.bfloat16, None),
}


def make(name, cls, over, dtype, shard):
    path = os.path.join(OUT, name)
    shutil.rmtree(path, ignore_errors=True)
    config = cls(**dict(COMMON, **over))
    torch.manual_seed(sum(map(ord, name)))
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    with torch.no_grad():
        for key, p in model.named_parameters():
            p.copy_(1 + 0.3 * torch.randn_like(p) if key.endswith("norm.weight") else 0.3 * torch.randn_like(p))
    model = model.to(dtype)
    kwargs = {"max_shard_size": shard} if shard else {}
    model.save_pretrained(path, **kwargs)
    return path


def logits_of(path, tokens):
    model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32,
                                                              attn_implementation="eager").eval()
    with torch.no_grad():
        return [model(torch.from_numpy(t)[None, :], use_cache=False).logits[0].numpy().astype(np.float32)
                for t in tokens]


def tensors_of(path):
    files = [f for f in os.listdir(path) if f.endswith(".safetensors")]
    out = {}
    for f in files:
        with safe_open(os.path.join(path, f), "pt") as s:
            for k in s.keys():
                out[k] = s.get_tensor(k)
    return out


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.view(torch.int16 if a.element_size() == 2 else
                                                                             torch.int32).flatten(),
                                                                      b.view(torch.int16 if b.element_size() == 2 else
                                                                             torch.int32).flatten())


def check_export(rlvr, name, path, tokens, want):
    """import -> export (f32 and bf16) -> transformers: logits and tensors."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = os.path.join(tmp, "c.h5")
        subprocess.run([rlvr, "import", "--hf", path, "--out", ckpt], check=True, stdout=subprocess.DEVNULL)
        source = tensors_of(path)
        for dt in ["f32", "bf16"]:
            out = os.path.join(tmp, "export-" + dt)
            subprocess.run([rlvr, "export", ckpt, "--out", out, "--dtype", dt], check=True, stdout=subprocess.DEVNULL)
            got = tensors_of(out)
            names_ok = sorted(got) == sorted(source)
            if dt == "f32":
                expect = {k: v.float() for k, v in source.items()}
            else:
                expect = {k: v.to(torch.bfloat16) for k, v in source.items()}  # f32 -> bf16: torch rounds to even
            bits_ok = names_ok and all(same_bits(got[k], expect[k]) for k in got)
            logits = logits_of(out, tokens)
            same_as_ref = all(np.array_equal(a, b) for a, b in zip(logits, want))
            diff = max(float(np.max(np.abs(a - b))) for a, b in zip(logits, want))
            rows.append((name, dt, names_ok, bits_ok, same_as_ref, diff))
    return rows


def main():
    rlvr = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
    os.makedirs(OUT, exist_ok=True)
    report = []
    for name, (cls, over, dtype, shard) in CASES.items():
        path = make(name, cls, over, dtype, shard)
        rng = np.random.default_rng(7)
        tokens = [rng.integers(0, COMMON["vocab_size"], size=n) for n in SEQ_LENS]
        want = logits_of(path, tokens)
        with h5py.File(os.path.join(path, "reference.h5"), "w") as f:
            f["tokens"] = np.concatenate(tokens).astype(np.int64)
            f["seq_offsets"] = np.cumsum([0] + SEQ_LENS).astype(np.int64)
            f["logits"] = np.concatenate(want)
            f.attrs["transformers"] = transformers.__version__
            f.attrs["torch"] = str(torch.__version__)
        size = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
        print(f"{path}: {sorted(os.listdir(path))}, {size} bytes")
        if rlvr:
            report += check_export(rlvr, name, path, tokens, want)
    if report:
        print("\n| fixture | export dtype | same tensor names | tensors bit-identical | logits bit-identical | "
              "max abs diff |\n|---|---|---|---|---|---|")
        for r in report:
            print(f"| {r[0]} | {r[1]} | {'yes' if r[2] else 'NO'} | {'yes' if r[3] else 'NO'} | "
                  f"{'yes' if r[4] else 'no'} | {r[5]:.3g} |")
        print(f"\ntransformers {transformers.__version__}, torch {torch.__version__}")
        if not all(r[2] and r[3] for r in report):
            sys.exit("export check failed")


if __name__ == "__main__":
    main()
