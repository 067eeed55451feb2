#!/usr/bin/env python3
"""A large random Hugging Face directory for measuring `rlvr import` (results/hf-import.md); nothing is downloaded.

    python3 tests/hf_big_model.py DIR [--layers 6] [--shard-gb 0.5]

Writes DIR/config.json (a Qwen3-MoE shaped like a small Qwen3-30B-A3B: vocab 151936, hidden 1024, 64 experts of
width 512, top-8) and bf16 shards model-0000K-of-0000N.safetensors + model.safetensors.index.json with per-expert
tensor names, exactly as save_pretrained lays them out. Values are random normals truncated to bf16. Only numpy is
needed; tensors are generated and written one at a time.
"""
import argparse
import json
import os
import struct

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("dir")
p.add_argument("--layers", type=int, default=6)
p.add_argument("--shard-gb", type=float, default=0.5)
a = p.parse_args()

V, D, H, KV, HD, E, K, FE, F = 151936, 1024, 16, 4, 128, 64, 8, 512, 3072
config = {
    "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "vocab_size": V, "hidden_size": D,
    "intermediate_size": F, "num_hidden_layers": a.layers, "num_attention_heads": H, "num_key_value_heads": KV,
    "head_dim": HD, "hidden_act": "silu", "max_position_embeddings": 40960, "rms_norm_eps": 1e-6,
    "rope_theta": 1000000.0, "rope_scaling": None, "tie_word_embeddings": False, "attention_bias": False,
    "attention_dropout": 0.0, "use_sliding_window": False, "sliding_window": None, "num_experts": E,
    "num_experts_per_tok": K, "moe_intermediate_size": FE, "norm_topk_prob": True, "decoder_sparse_step": 1,
    "mlp_only_layers": [], "router_aux_loss_coef": 0.001, "output_router_logits": False, "torch_dtype": "bfloat16",
    "bos_token_id": 151643, "eos_token_id": 151645,
}

tensors = [("model.embed_tokens.weight", [V, D])]
for l in range(a.layers):
    pre = f"model.layers.{l}."
    tensors += [(pre + "input_layernorm.weight", [D]), (pre + "self_attn.q_proj.weight", [H * HD, D]),
                (pre + "self_attn.k_proj.weight", [KV * HD, D]), (pre + "self_attn.v_proj.weight", [KV * HD, D]),
                (pre + "self_attn.o_proj.weight", [D, H * HD]), (pre + "self_attn.q_norm.weight", [HD]),
                (pre + "self_attn.k_norm.weight", [HD]), (pre + "post_attention_layernorm.weight", [D]),
                (pre + "mlp.gate.weight", [E, D])]
    for e in range(E):
        tensors += [(pre + f"mlp.experts.{e}.gate_proj.weight", [FE, D]),
                    (pre + f"mlp.experts.{e}.up_proj.weight", [FE, D]),
                    (pre + f"mlp.experts.{e}.down_proj.weight", [D, FE])]
tensors += [("model.norm.weight", [D]), ("lm_head.weight", [V, D])]

limit = a.shard_gb * 1e9
shards, cur, size = [], [], 0
for name, shape in tensors:
    b = 2 * int(np.prod(shape))
    if cur and size + b > limit:
        shards.append(cur)
        cur, size = [], 0
    cur.append((name, shape))
    size += b
shards.append(cur)

os.makedirs(a.dir, exist_ok=True)
rng = np.random.default_rng(0)
weight_map, total = {}, 0
for i, shard in enumerate(shards):
    fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
    header, at = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in shard:
        n = 2 * int(np.prod(shape))
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [at, at + n]}
        at += n
        weight_map[name] = fname
    total += at
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(os.path.join(a.dir, fname), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for name, shape in shard:
            x = rng.standard_normal(int(np.prod(shape)), dtype=np.float32) * 0.02
            if name.endswith("norm.weight"):
                x += 1
            f.write((x.view(np.uint32) >> 16).astype(np.uint16).tobytes())
with open(os.path.join(a.dir, "model.safetensors.index.json"), "w") as f:
    json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
with open(os.path.join(a.dir, "config.json"), "w") as f:
    json.dump(config, f, indent=2)
print(f"{a.dir}: {len(tensors)} tensors, {total / 1e9:.3f} GB of bf16 in {len(shards)} shards")
