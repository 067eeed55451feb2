#!/usr/bin/env python3
"""PyTorch eager baseline for `rlvr bench loss`, run by hand on a GPU machine (never by CI):

    python3 tests/bench_loss_torch.py [--tokens 16384] [--vocab 151936] [--repeat 5]

The same computation as the fused kernels, written the usual way: log_softmax + gather for the target
log-prob, entropy from softmax, and autograd for dL/dlogits with L = sum(dlogp * logp + dH * H).
Prints one JSON line per dtype (time, peak memory) in the format of `rlvr bench loss`.
"""
import argparse
import json

import torch


def step(logits, targets, dlogp, dh):
    x = logits.detach().requires_grad_(True)
    logp_all = torch.log_softmax(x.float(), dim=-1)
    logp = logp_all.gather(-1, targets[:, None])[:, 0]
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    (dlogp * logp + dh * entropy).sum().backward()
    return logp, entropy, x.grad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=16384)
    ap.add_argument("--vocab", type=int, default=151936)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    dev = torch.device("cuda")
    name = torch.cuda.get_device_name(dev)
    for dtype, label in ((torch.float32, "f32"), (torch.bfloat16, "bf16")):
        tokens = args.tokens
        while tokens >= 1:
            try:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
                g = torch.Generator(device=dev).manual_seed(42)
                logits = (3 * torch.randn(tokens, args.vocab, device=dev, generator=g)).to(dtype)
                targets = torch.randint(0, args.vocab, (tokens,), device=dev, generator=g)
                dlogp = torch.full((tokens,), 1.0 / tokens, device=dev)
                dh = torch.zeros(tokens, device=dev)
                step(logits, targets, dlogp, dh)  # warm-up
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                for _ in range(args.repeat):
                    step(logits, targets, dlogp, dh)
                end.record()
                torch.cuda.synchronize()
                seconds = start.elapsed_time(end) / 1e3 / args.repeat
                print(json.dumps({"bench": "loss_torch_eager", "device": name, "dtype": label, "tokens": tokens,
                                  "vocab": args.vocab, "seconds": round(seconds, 6),
                                  "peak_GiB": round(torch.cuda.max_memory_allocated() / 2**30, 2),
                                  "torch": torch.__version__}), flush=True)
                break
            except torch.cuda.OutOfMemoryError:
                del logits
                tokens //= 2  # report at the largest size that fits
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
