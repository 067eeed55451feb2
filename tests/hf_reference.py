#!/usr/bin/env python3
"""Reference logits from Hugging Face transformers for the C model (run by hand, not by CI).

    pip install torch transformers h5py numpy
    python3 tests/hf_reference.py build/rlvr

For each architecture (qwen2, qwen3, qwen2_moe with a shared expert, qwen3_moe) it makes a tiny random checkpoint
with `rlvr init`, gives the norm weights and biases random values too (init sets them to 1 and 0), loads every
tensor into transformers' own Qwen2/Qwen3/Qwen2-MoE/Qwen3-MoE model, runs fixed token sequences one at a time
(float32, eager attention) and writes checkpoint + tokens + logits to tests/fixtures/hf_<type>.h5, which
tests/test_model_hf.c compares against (relative error <= 1e-5).
"""
import json
import os
import subprocess
import sys
import zlib

import h5py
import numpy as np
import torch
import transformers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMON = ["model.vocab_size=64", "model.hidden_size=32", "model.intermediate_size=48", "model.num_hidden_layers=2",
          "model.num_attention_heads=4", "model.num_key_value_heads=2", "model.init_std=0.3",
          "model.max_position_embeddings=64", "model.rope_theta=1000"]
MOE = ["model.num_experts=4", "model.num_experts_per_tok=2", "model.moe_intermediate_size=24"]
CASES = {
    "qwen2": COMMON + ["model.type=qwen2", "model.tie_word_embeddings=false"],
    "qwen3": COMMON + ["model.type=qwen3", "model.head_dim=12"],
    "qwen2_moe": COMMON + MOE + ["model.type=qwen2_moe", "model.shared_expert_intermediate_size=40"],
    "qwen3_moe": COMMON + MOE + ["model.type=qwen3_moe", "model.norm_topk_prob=true"],
}
SEQ_LENS = [7, 1, 12, 5]


def make_checkpoint(rlvr, name, sets, path):
    args = [rlvr, "init", "--config", os.path.join(ROOT, "configs", "tiny-dense.ini"), "--out", path]
    for s in sets:
        args += ["--set", s]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    with h5py.File(path, "r+") as f:
        for key, ds in f["model"].items():
            if key.endswith("norm.weight") or key.endswith("layernorm.weight"):
                ds[...] = (1 + 0.3 * rng.standard_normal(ds.shape)).astype(np.float32)
            elif key.endswith(".bias"):
                ds[...] = (0.3 * rng.standard_normal(ds.shape)).astype(np.float32)


def hf_model(path):
    with h5py.File(path, "r") as f:
        cfg = json.loads(f["meta"].attrs["hf_config"])
        weights = {k: torch.from_numpy(np.array(v)) for k, v in f["model"].items()}
    config = transformers.AutoConfig.for_model(**cfg)
    config._attn_implementation = "eager"
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    state = model.state_dict()
    loaded = {}
    for k, v in weights.items():
        if ".mlp.experts." not in k:
            loaded[k] = v
            continue
        prefix, proj = k.rsplit(".", 1)  # model.layers.i.mlp.experts, gate_proj|up_proj|down_proj
        if prefix + ".gate_up_proj" in state:  # fused expert layout of newer transformers
            if proj == "down_proj":
                loaded[k] = v if state[k].shape == v.shape else v.transpose(1, 2)
            continue
        for e in range(v.shape[0]):
            loaded[f"{prefix}.{e}.{proj}.weight"] = v[e]
    for k in state:  # fused gate_up_proj [E, 2F, D] (or [E, D, 2F])
        if k.endswith("experts.gate_up_proj"):
            prefix = k[: -len(".gate_up_proj")]
            fused = torch.cat([weights[prefix + ".gate_proj"], weights[prefix + ".up_proj"]], dim=1)
            loaded[k] = fused if state[k].shape == fused.shape else fused.transpose(1, 2)
    if cfg.get("tie_word_embeddings") and "lm_head.weight" in state:
        loaded["lm_head.weight"] = weights["model.embed_tokens.weight"]
    missing = set(state) - set(loaded)
    extra = set(loaded) - set(state)
    if missing or extra:
        sys.exit(f"{path}: weight mapping: missing {sorted(missing)}, unexpected {sorted(extra)}")
    for k, v in loaded.items():
        if state[k].shape != v.shape:
            sys.exit(f"{path}: {k}: shape {tuple(v.shape)} vs HF {tuple(state[k].shape)}")
    model.load_state_dict(loaded, strict=True)
    return model, cfg


def main():
    rlvr = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "rlvr"))
    out_dir = os.path.join(ROOT, "tests", "fixtures")
    os.makedirs(out_dir, exist_ok=True)
    for name, sets in CASES.items():
        path = os.path.join(out_dir, f"hf_{name}.h5")
        make_checkpoint(rlvr, name, sets, path)
        model, cfg = hf_model(path)
        rng = np.random.default_rng(7)
        tokens, logits = [], []
        with torch.no_grad():
            for n in SEQ_LENS:
                t = rng.integers(0, cfg["vocab_size"], size=n)
                out = model(torch.from_numpy(t)[None, :], use_cache=False).logits[0]
                tokens.append(t)
                logits.append(out.numpy().astype(np.float32))
        offsets = np.cumsum([0] + SEQ_LENS).astype(np.int64)
        with h5py.File(path, "r+") as f:
            f["fixture/tokens"] = np.concatenate(tokens).astype(np.int64)
            f["fixture/seq_offsets"] = offsets
            f["fixture/logits"] = np.concatenate(logits)
            f["fixture"].attrs["transformers"] = transformers.__version__
            f["fixture"].attrs["torch"] = str(torch.__version__)
        print(f"{path}: {len(SEQ_LENS)} sequences, logits {np.concatenate(logits).shape}, transformers "
              f"{transformers.__version__}")


if __name__ == "__main__":
    main()
