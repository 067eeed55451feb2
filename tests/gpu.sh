#!/usr/bin/env bash
# The GPU checks and benchmarks in one run (a few minutes on an H200; per-section time limits keep even a hung run
# under 8 minutes after the build: 345 s of sections, 45 s of compute-sanitizer, the end-to-end part until 410 s,
# 60 s of PyTorch): builds build/gpu_check (make gpu-check, sm_90 unless CUDA_ARCH says otherwise) and runs its
# sections, each in its own process so that a crash in one leaves the others' results:
# every kernel against its CPU twin, the MoE block, the batch-invariance checks, the model's layer loop on the CUDA
# backend (tiny dense and MoE models against the CPU backend; bit-for-bit invariance), the micro-benchmarks. A section
# that crashes is run again under compute-sanitizer (when present) to name the faulting kernel. Then build/unit's
# loss-kernel test (tests/test_cuda_logits.c) where build/unit runs, and build/rlvr end
# to end on the GPU (training steps against the CPU, 1 vs 2 GPUs plain, at zero 3 and expert-parallel, sampled =
# scored log-probs, rlvr bench), the loss kernel against PyTorch eager (tests/bench_loss_torch.py; skipped without
# torch), and one summary. With GPU_RESULTS=path the summary is also written as a Markdown fragment for results/gpu.md.
#   bash tests/gpu.sh [--quick]            GPU_RESULTS=/tmp/gpu-fragment.md bash tests/gpu.sh
# GPU_CHECK_PREBUILT=1 runs a build/gpu_check built elsewhere (carried to a machine without the build's libraries);
# GPU_KEEP=FILE.tgz keeps the end-to-end part's logs and outputs.
# Exit status: 0 every check passed, 1 a check failed or a section crashed or timed out, 2 the build failed,
# 3 no GPU present.
set -u
cd "$(dirname "$0")/.." || exit 1
for d in /usr/local/cuda/bin /usr/local/cuda-*/bin; do [ -x "$d/nvcc" ] && PATH="$PATH:$d"; done
export PATH
log=$(mktemp)
trap 'rm -f "$log" "$log.section"' EXIT  # extended below by the end-to-end part's folder

if ! command -v nvcc >/dev/null; then
    echo "gpu.sh: nvcc not found (install the CUDA toolkit or put its bin/ on PATH): nothing built" >&2
    exit 2
fi
if [ "${GPU_CHECK_PREBUILT:-0}" = 1 ] && [ -x build/gpu_check ]; then
    echo "gpu.sh: using the prebuilt build/gpu_check (GPU_CHECK_PREBUILT=1: built elsewhere and carried here)"
elif echo "gpu.sh: building build/gpu_check (CUDA_ARCH=${CUDA_ARCH:-90})" && ! make -j"$(nproc)" --no-print-directory CUDA=1 CUDA_ARCH="${CUDA_ARCH:-90}" gpu-check >"$log" 2>&1; then
    cat "$log"
    echo "gpu.sh: build failed" >&2
    exit 2
fi
: >"$log"

start=$(date +%s)
sanitized=0
crashed=0
for section in kernels:75 moe:40 invariance:75 model:45 bench:110; do
    name=${section%:*} limit=${section#*:}
    echo "== $name"
    timeout "$limit" build/gpu_check --section "$name" "$@" 2>&1 | tee "$log.section"
    rc=${PIPESTATUS[0]}
    if [ "$rc" = 3 ]; then
        echo "gpu.sh: NO GPU PRESENT: the kernels were built but nothing was checked or measured (exit 3)"
        exit 3
    fi
    grep -v '^gpu_check: [0-9]* check(s) failed' "$log.section" >>"$log"
    if [ "$rc" = 124 ]; then
        printf '  FAIL  %-52s\t%s\n' "section $name" "did not finish within $limit s" | tee -a "$log"
        crashed=1
    elif [ "$rc" != 0 ] && [ "$rc" != 1 ]; then
        printf '  FAIL  %-52s\t%s\n' "section $name" "crashed (exit $rc): $(grep '^gpu_check: ' "$log.section" | tail -1)" |
            tee -a "$log"
        crashed=1
    elif [ "$rc" = 1 ] && ! grep -q '^  FAIL ' "$log.section"; then
        printf '  FAIL  %-52s\t%s\n' "section $name" "stopped: $(grep '^gpu_check: ' "$log.section" | tail -1)" | tee -a "$log"
        crashed=1
    fi
    # A CUDA fault: once per run, the same section under compute-sanitizer names the kernel and the address.
    if [ "$crashed" = 1 ] && [ "$sanitized" = 0 ] && [ "$name" != bench ] && command -v compute-sanitizer >/dev/null; then
        sanitized=1
        echo "gpu.sh: section $name again under compute-sanitizer (first errors):"
        timeout 45 compute-sanitizer --tool memcheck --print-limit 5 build/gpu_check --section "$name" 2>&1 |
            grep -E '^========= ' | head -40
    fi
done

# End to end through build/rlvr with dist.device = cuda (one rank per GPU), each part under its own time limit, cut
# to what is left before E2E_END seconds after the start (default 410, so that with PyTorch's 60 s the whole stays
# under 8 minutes), and skipped once less than 15 s are left. build/rlvr
# needs Open MPI, HDF5 and OpenBLAS: build it where they are (make CUDA=1) and carry it with .gpu-runtime/
# (bash launch/gpu_runtime.sh), whose env.sh is sourced here when present.
result() { printf '  %-4s  %-52s\t%s\n' "$1" "$2" "$3" | tee -a "$log"; }
left() { echo $(( ${E2E_END:-410} - ($(date +%s) - start) )); }
in_time() { [ "$(left)" -ge 15 ] || { result skip "$1" "out of time (E2E_END)"; return 1; }; }
lim() { local l; l=$(left); echo $(( l < $1 ? l : $1 )); }  # a part's limit, cut to the time left
e2e=$(mktemp -d)
# GPU_KEEP=FILE.tgz: the end-to-end part's logs and outputs (checkpoints aside) kept in FILE.tgz, to read elsewhere.
trap '[ -n "${GPU_KEEP:-}" ] && tar -C "$e2e" --exclude=ckpt -czf "$GPU_KEEP" .; rm -f "$log" "$log.section"; rm -rf "$e2e"' EXIT
# shellcheck source=/dev/null
[ -f .gpu-runtime/env.sh ] && . .gpu-runtime/env.sh
RLVR=build/rlvr
# The Criterion test of the loss kernels against their twin (tests/test_cuda_logits.c: fp32 and bf16, in place and
# not), where build/unit runs (carried: bash launch/gpu_runtime.sh build/unit).
echo "== build/unit --filter 'cuda_logits/*'"
name="cuda_logits: both passes vs model/logprob.c, fp32 and bf16"
if ! build/unit --list >/dev/null 2>&1; then
    result skip "$name" "build/unit does not run here"
else
    out=$(timeout 60 build/unit --filter='cuda_logits/*' --verbose 2>&1)
    if grep -q 'Tested: 1 | Passing: 1 ' <<<"$out"; then result pass "$name" "odd shapes up to V = 151936 (limits 1e-6 fp32, 1e-2 bf16)"
    elif grep -q '^\[SKIP\] cuda_logits::' <<<"$out"; then
        result skip "$name" "$(grep -m1 '^\[SKIP\] cuda_logits::' <<<"$out" | sed 's/^[^:]*::[^:]*: //')"
    else result FAIL "$name" "$(grep -m1 -E 'relative error|vs|SKIP|CRASH|Failing' <<<"$out" | sed 's/^\[----\] *//')"; fi
fi
echo "== end to end (build/rlvr, dist.device = cuda)"
if ! "$RLVR" --version >/dev/null 2>"$e2e/err"; then
    result skip "rlvr end to end" "build/rlvr does not run here: $(head -c 200 "$e2e/err" | head -1)"
else
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    CFG=configs/tiny-train.ini
    # 1. The training step on the GPU against the CPU: SFT, whose data does not depend on the weights (an RL step's
    # responses are sampled, and one bf16 logit may pick another token). Limit 2^-6 relative on each step's loss: the
    # bound gpu_check uses for chains of several bf16 roundings (weights and activations in bf16, fp32 sums; the
    # first step starts from the same weights, the next two differ by AdamW steps of at most lr per element).
    SFT=(--config "$CFG" --set sft.steps=3 --set eval.n_prompts=0 --set dist.deterministic=true)
    if in_time "sft: 3 steps, GPU loss vs CPU loss"; then
        timeout "$(lim 60)" "$RLVR" sft "${SFT[@]}" --set dist.device=cpu --run-dir "$e2e/sft-cpu" >"$e2e/sft-cpu.log" 2>&1
        timeout "$(lim 60)" "$RLVR" sft "${SFT[@]}" --set dist.device=cuda --run-dir "$e2e/sft-gpu" >"$e2e/sft-gpu.log" 2>&1
        rc=$?
        line=$(grep -m1 '^rlvr: rank 0 on ' "$e2e/sft-gpu.log")
        if [ "$rc" != 0 ]; then result FAIL "sft: 3 steps, GPU loss vs CPU loss" "exit $rc: $(tail -1 "$e2e/sft-gpu.log")"
        else
            verdict=$(python3 - "$e2e/sft-cpu/metrics.jsonl" "$e2e/sft-gpu/metrics.jsonl" <<'PY'
import json, sys
a, b = ([json.loads(l)["loss"] for l in open(f) if '"loss"' in l] for f in sys.argv[1:3])
rel = [abs(x - y) / abs(x) for x, y in zip(a, b)]
ok = len(a) == len(b) == 3 and max(rel) <= 2 ** -6
print(("pass" if ok else "FAIL") + "\t" + " ".join(f"{x:.6f}/{y:.6f}" for x, y in zip(a, b))
      + f" (cpu/gpu), max relative {max(rel) if rel else float('nan'):.2e} (limit 2^-6)")
PY
)
            result "${verdict%%$'\t'*}" "sft: 3 steps, GPU loss vs CPU loss" "${verdict#*$'\t'} [$line]"
        fi
    fi
    # 2. RL steps on 1 GPU, and on 2 GPUs bit-identical (deterministic: fixed-point gradient sums).
    RL=(--config "$CFG" --set train.steps=3 --set eval.n_prompts=0 --set dist.deterministic=true --set dist.device=cuda)
    if in_time "rl: 3 deterministic steps on 1 GPU"; then
        if timeout "$(lim 90)" "$RLVR" train "${RL[@]}" --run-dir "$e2e/rl1" >"$e2e/rl1.log" 2>&1 && [ -s "$e2e/rl1/ckpt/step-000003.h5" ]; then
            result pass "rl: 3 deterministic steps on 1 GPU" "$(tail -2 "$e2e/rl1.log" | head -1)"
        else result FAIL "rl: 3 deterministic steps on 1 GPU" "$(tail -1 "$e2e/rl1.log")"; fi
    fi
    ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ')
    if [ "${ngpu:-0}" -lt 2 ]; then result skip "rl: 1 vs 2 GPUs bit for bit" "${ngpu:-0} GPU(s) here"
    elif in_time "rl: 1 vs 2 GPUs bit for bit"; then
        timeout "$(lim 120)" mpirun -np 2 "$RLVR" train "${RL[@]}" --run-dir "$e2e/rl2" >"$e2e/rl2.log" 2>&1
        if out=$("$RLVR" ckpt diff "$e2e/rl1/ckpt/step-000003.h5" "$e2e/rl2/ckpt/step-000003.h5" --exact 2>&1); then
            result pass "rl: 1 vs 2 GPUs bit for bit" "3 deterministic steps, weights and moments identical"
        else result FAIL "rl: 1 vs 2 GPUs bit for bit" "$(echo "$out" | tail -1) / $(tail -1 "$e2e/rl2.log")"; fi
    fi
    # 2a. ZeRO stage 3 on 1 GPU: every unit read through the device's weight windows (CUDA backend windowed mode; no
    # collective with one rank), bit-identical to the plain run.
    name="rl: zero 3 on 1 GPU (weight windows) = plain, bit for bit"
    if in_time "$name"; then
        timeout "$(lim 90)" "$RLVR" train "${RL[@]}" --set dist.zero_stage=3 --run-dir "$e2e/rl1-z3" >"$e2e/rl1-z3.log" 2>&1
        if out=$("$RLVR" ckpt diff "$e2e/rl1/ckpt/step-000003.h5" "$e2e/rl1-z3/ckpt/step-000003.h5" --exact 2>&1); then
            result pass "$name" "3 deterministic steps, weights and moments identical"
        else result FAIL "$name" "$(echo "$out" | tail -1) / $(tail -1 "$e2e/rl1-z3.log")"; fi
    fi
    # 2b. Sharded on 2 GPUs, bit-identical to the 1-GPU run: ZeRO stage 3 (each unit's bf16 weights and fp32 biases
    # gathered into device windows by NCCL broadcasts, algo/param_gather.c) and expert parallelism (counts over MPI,
    # rows over NCCL sends and receives, model/moe_ep.c), alone and with zero 2 and 3. Skipped with one GPU.
    for shard in "zero 3:--set dist.zero_stage=3" "expert parallel 2:--set dist.expert_parallel=2" \
                 "expert parallel 2, zero 2:--set dist.expert_parallel=2 --set dist.zero_stage=2" \
                 "expert parallel 2, zero 3:--set dist.expert_parallel=2 --set dist.zero_stage=3"; do
        name="rl: 1 GPU vs 2 GPUs ${shard%%:*}, bit for bit"
        read -r -a sets <<<"${shard#*:}"
        if [ "${ngpu:-0}" -lt 2 ]; then result skip "$name" "${ngpu:-0} GPU(s) here"; continue; fi
        in_time "$name" || continue
        dir="$e2e/rl2-$(echo "${shard%%:*}" | tr -cd 'a-z0-9')"
        timeout "$(lim 90)" mpirun -np 2 "$RLVR" train "${RL[@]}" "${sets[@]}" --run-dir "$dir" >"$dir.log" 2>&1
        if out=$("$RLVR" ckpt diff "$e2e/rl1/ckpt/step-000003.h5" "$dir/ckpt/step-000003.h5" --exact 2>&1); then
            result pass "$name" "3 deterministic steps, weights and moments identical"
        else result FAIL "$name" "$(echo "$out" | tail -1) / $(tail -1 "$dir.log")"; fi
    done
    # 3. Sampled log-probs = scored log-probs, bit for bit, on the GPU (src/README.md invariant 2), dense and MoE.
    printf '%s\n' '{"prompt": "12+7="}' '{"prompt": "3*4="}' '{"prompt_tokens": [256, 49, 50, 120]}' >"$e2e/prompts.jsonl"
    for kind in dense moe; do
        name="sample = score on the GPU ($kind), bit for bit"
        in_time "$name" || continue
        sets=(--config "configs/tiny-$kind.ini" --set rollout.max_new_tokens=24 --set rollout.temperature=0.9
              --set rollout.top_k=40 --set rollout.top_p=0.95 --set dist.device=cuda)
        "$RLVR" init --config "configs/tiny-$kind.ini" --set model.vocab_size=288 --out "$e2e/$kind.h5" >/dev/null 2>&1
        timeout "$(lim 60)" "$RLVR" sample --ckpt "$e2e/$kind.h5" --prompts "$e2e/prompts.jsonl" --n 4 --out "$e2e/$kind.jsonl" \
            "${sets[@]}" >"$e2e/$kind.log" 2>&1 &&
            timeout "$(lim 60)" "$RLVR" score --ckpt "$e2e/$kind.h5" --in "$e2e/$kind.jsonl" --out "$e2e/$kind-score.h5" \
                "${sets[@]}" >>"$e2e/$kind.log" 2>&1
        verdict=$(python3 - "$e2e/$kind.jsonl" "$e2e/$kind-score.h5" <<'PY' 2>&1
import json, sys
import h5py
rows = [json.loads(l) for l in open(sys.argv[1])]
with h5py.File(sys.argv[2]) as f:
    bad = sum(sum(x != y for x, y in zip([v for r in rows for v in r[k]], f[k][:].tolist())) for k in ("logp", "entropy"))
    n = len(f["logp"])
print(("pass" if n and not bad and n == sum(len(r["logp"]) for r in rows) else "FAIL") + f"\t{n} tokens, {bad} differ")
PY
)
        [[ $verdict == pass* || $verdict == FAIL* ]] || verdict="FAIL"$'\t'"$(tail -1 "$e2e/$kind.log") $(echo "${verdict:0:200}" | tr '\n' ' ')"
        result "${verdict%%$'\t'*}" "$name" "${verdict#*$'\t'}"
    done
    # 4. rlvr bench on the GPU at Qwen2.5-1.5B's shapes (random init): training tokens/s and MFU against the bf16
    # peak, decode of batch 1 and of a group of 8 against HBM bandwidth.
    Q15=(--set model.type=qwen2 --set model.vocab_size=151936 --set model.hidden_size=1536 --set model.intermediate_size=8960
         --set model.num_hidden_layers=28 --set model.num_attention_heads=12 --set model.num_key_value_heads=2
         --set model.max_position_embeddings=4096 --set dist.device=cuda)
    if in_time "bench model (1.5B)"; then
        timeout "$(lim 150)" "$RLVR" bench model --config configs/small.ini "${Q15[@]}" --seqs 4 --seq-len 1024 --repeat 3 \
            >"$e2e/bm.jsonl" 2>"$e2e/bm.err"
        python3 - "$e2e/bm.jsonl" <<'PY' | tee -a "$log"
import json, sys
for r in (json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")):
    print(f"  bench {'rlvr bench model ' + r['phase'] + ', 1.5B':<51}\t{r['tokens_per_s']:.0f} tokens/s, MFU {r.get('mfu', 0):.3f} "
          f"of {r.get('peak_bf16_tflop_per_s', 0):.0f} TFLOP/s bf16 (goal 0.5), {r['device']}")
PY
        [ -s "$e2e/bm.jsonl" ] || result FAIL "bench model (1.5B)" "$(tail -1 "$e2e/bm.err")"
    fi
    if in_time "bench sample (1.5B)"; then
        timeout "$(lim 120)" "$RLVR" bench sample --config configs/small.ini "${Q15[@]}" --new 128 >"$e2e/bs.jsonl" 2>"$e2e/bs.err"
        python3 - "$e2e/bs.jsonl" <<'PY' | tee -a "$log"
import json, sys
for r in (json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")):
    if r.get("bench") == "sample" and "warm-up" not in r["config"]:
        print(f"  bench {'rlvr bench sample, group of ' + str(r['group']) + ', 1.5B':<51}\t{r['tokens_per_s']:.0f} tokens/s, "
              f"weights read at {r['weight_gb_per_s']:.0f} GB/s and KV cache at {r['kv_gb_per_s']:.0f}, together "
              f"{r['fraction_of_read_bandwidth']:.3f} of HBM (goal 0.7 at batch 1)")
PY
        [ -s "$e2e/bs.jsonl" ] || result FAIL "bench sample (1.5B)" "$(tail -1 "$e2e/bs.err")"
    fi
    if in_time "bench train (tiny)"; then
        timeout "$(lim 60)" "$RLVR" bench train --config "$CFG" --set dist.device=cuda --repeat 2 >"$e2e/bt.jsonl" 2>"$e2e/bt.err"
        sed -n 's/.*"phase":"\([a-z]*\)","device":"\([^"]*\)".*"seconds":\([0-9.]*\).*/  bench rlvr bench train (tiny) \1\t\3 s median on \2/p' \
            "$e2e/bt.jsonl" | tee -a "$log"
        [ -s "$e2e/bt.jsonl" ] || result FAIL "bench train (tiny)" "$(tail -1 "$e2e/bt.err")"
    fi
fi

# PyTorch eager on the same loss (fwd + bwd, bf16) as gpu_check's loss benchmark: seconds per token compared.
ours=$(sed -n 's/^gpu_check: loss_fwd_bwd tokens=\([0-9]*\) vocab=[0-9]* seconds=\([0-9.]*\)$/\1 \2/p' "$log")
if [ -n "$ours" ] && python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    torch_line=$(timeout 60 python3 tests/bench_loss_torch.py --tokens "${ours% *}" --repeat 5 2>/dev/null | grep '"bf16"')
    if [ -n "$torch_line" ]; then
        python3 - "$ours" "$torch_line" <<'PY' | tee -a "$log"
import json, sys
tokens, ours = sys.argv[1].split()
t = json.loads(sys.argv[2])
ratio = (t["seconds"] / t["tokens"]) / (float(ours) / int(tokens))
print(f"  bench {'loss fwd+bwd vs PyTorch eager (bf16)':<51}\tPyTorch {t['torch']} {t['seconds']*1e3:.1f} ms for {t['tokens']} tokens, "
      f"ours {float(ours)*1e3:.1f} ms for {tokens}: {ratio:.1f}x faster (goal 5x)")
PY
    else
        echo "  skip  loss vs PyTorch eager: tests/bench_loss_torch.py gave no bf16 result" | tee -a "$log"
    fi
elif [ -n "$ours" ]; then
    echo "  skip  loss vs PyTorch eager: torch with CUDA not importable" | tee -a "$log"
fi

passed=$(grep -c '^  pass ' "$log")
failed=$(grep -c '^  FAIL ' "$log")
device=$(sed -n 's/^gpu_check: device 0: //p' "$log" | head -1)
echo
echo "gpu.sh summary: $passed passed, $failed failed on ${device:-?} in $(( $(date +%s) - start )) s"
grep -E '^  (FAIL|bench|skip) ' "$log"

if [ -n "${GPU_RESULTS:-}" ]; then
    {
        echo "## tests/gpu.sh on ${device:-?}"
        echo
        # The binaries' revision (they may be built elsewhere and carried), else the tree's.
        rev=$("$RLVR" --version 2>/dev/null | sed -n 's/^rlvr \([^,]*\),.*/\1/p')
        echo "$(date -u '+%Y-%m-%d %H:%M UTC'), revision ${rev:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}," \
             "command \`bash tests/gpu.sh $*\`: $passed checks passed, $failed failed."
        echo
        echo '| check | result | measured (limit) |'
        echo '|---|---|---|'
        sed -n 's/|/\\|/g; s/^  \(pass\|FAIL\)  \([^\t]*\)\t\(.*\)$/| \2 | \1 | \3 |/p' "$log" | sed 's/ \{2,\}|/ |/g'
        echo
        echo '| benchmark | measured (limit) |'
        echo '|---|---|'
        sed -n 's/|/\\|/g; s/^  bench \([^\t]*\)\t\(.*\)$/| \1 | \2 |/p' "$log" | sed 's/ \{2,\}|/ |/g'
        grep '^  skip ' "$log" | sed 's/^  skip  /\nSkipped: /'
    } >"$GPU_RESULTS"
    echo "gpu.sh: results fragment written to $GPU_RESULTS"
fi
[ "$failed" = 0 ] && exit 0
exit 1
