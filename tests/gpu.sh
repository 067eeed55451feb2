#!/usr/bin/env bash
# The GPU checks and benchmarks in one run (a few minutes on an H200; per-section time limits keep even a hung run
# under 8 minutes after the build: 345 s of sections, 45 s of compute-sanitizer, 60 s of PyTorch): builds
# build/gpu_check (make gpu-check, sm_90 unless CUDA_ARCH says otherwise) and runs its sections, each in its own
# process so that a crash in one leaves the others' results:
# every kernel against its CPU twin, the MoE block, the batch-invariance checks, the model's layer loop on the CUDA
# backend (tiny dense and MoE models against the CPU backend; bit-for-bit invariance), the micro-benchmarks. A section
# that crashes is run again under compute-sanitizer (when present) to name the faulting kernel. Then the loss
# kernel against PyTorch eager (tests/bench_loss_torch.py; skipped without torch), and one summary. With
# GPU_RESULTS=path the summary is also written as a Markdown fragment for results/gpu.md.
#   bash tests/gpu.sh [--quick]            GPU_RESULTS=/tmp/gpu-fragment.md bash tests/gpu.sh
# Exit status: 0 every check passed, 1 a check failed or a section crashed or timed out, 2 the build failed,
# 3 no GPU present.
set -u
cd "$(dirname "$0")/.."
for d in /usr/local/cuda/bin /usr/local/cuda-*/bin; do [ -x "$d/nvcc" ] && PATH="$PATH:$d"; done
export PATH
log=$(mktemp)
trap 'rm -f "$log" "$log.section"' EXIT

if ! command -v nvcc >/dev/null; then
    echo "gpu.sh: nvcc not found (install the CUDA toolkit or put its bin/ on PATH): nothing built" >&2
    exit 2
fi
echo "gpu.sh: building build/gpu_check (CUDA_ARCH=${CUDA_ARCH:-90})"
if ! make -j"$(nproc)" --no-print-directory CUDA=1 CUDA_ARCH="${CUDA_ARCH:-90}" gpu-check >"$log" 2>&1; then
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
        echo "$(date -u '+%Y-%m-%d %H:%M UTC'), revision $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)," \
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
