#!/usr/bin/env bash
# Measures per-rank peak memory (RSS) and step time of RL training under ZeRO stages 0-2 on 1, 2 and 4 ranks, on
# the 180M-parameter Qwen3-MoE built from configs/tiny-train.ini (the sizes below), and writes results/sharding.md
# with the ZeRO formulas next to the measurements and evaluated for Qwen2.5-7B and Qwen3-30B-A3B.
#   launch/sharding.sh [--out FILE] [--steps S] [--note TEXT]
# Defaults: --out results/sharding.md, --steps 2 (the last step is measured: by then the Adam moments are
# resident). RLVR names the binary (build/rlvr). Each run is one `mpirun -np N /usr/bin/time -v rlvr train`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/results/sharding.md steps=2 note=""
rlvr=${RLVR:-$root/build/rlvr}
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --note) note=$2; shift 2 ;;
        -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "sharding.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
[[ "$steps" =~ ^[1-9][0-9]*$ ]] || { echo "sharding.sh: --steps '$steps': expected a positive integer" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
MODEL=(--set model.hidden_size=512 --set model.num_hidden_layers=7 --set model.num_experts=32
       --set model.moe_intermediate_size=512 --set model.num_attention_heads=8 --set model.num_key_value_heads=4
       --set model.intermediate_size=1024)
RUN=(--config "$root/configs/tiny-train.ini" "${MODEL[@]}" --set train.steps="$steps" --set train.prompts_per_step=2
     --set rollout.n=2 --set eval.n_prompts=0)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# measure NP STAGE DET: one table row (ranks, stage, mode, max and min peak RSS over ranks, bytes/param, step time).
measure() {
    local np=$1 z=$2 det=$3 dir=$tmp/run-$1-$2-$3
    mpirun -np "$np" bash -c '/usr/bin/time -v -o "$0.$OMPI_COMM_WORLD_RANK" "$@"' "$tmp/time-$np-$z-$det" \
        "$rlvr" train "${RUN[@]}" --set dist.zero_stage="$z" --set dist.deterministic="$det" --run-dir "$dir" \
        >/dev/null 2>&1
    local kb max min step n_params
    kb=$(cat "$tmp/time-$np-$z-$det".* | sed -n 's/.*Maximum resident set size (kbytes): //p' | sort -n)
    max=$(echo "$kb" | tail -1) min=$(echo "$kb" | head -1)
    step=$(tail -1 "$dir/metrics.jsonl" | sed -n 's/.*"step_time_s":\([0-9.e-]*\).*/\1/p')
    n_params=$(sed -n 's/.* \([0-9]*\) parameters,.*/\1/p' "$dir/log.txt" | head -1)
    echo "$n_params" > "$tmp/n_params"
    "$rlvr" ckpt info "$(ls "$dir"/ckpt/step-*.h5 | tail -1)" | sed -n 's/^git_revision //p' > "$tmp/revision"
    awk -v np="$np" -v z="$z" -v det="$det" -v max="$max" -v min="$min" -v n="$n_params" -v t="$step" 'BEGIN {
        printf "| %d | %d | %s | %.0f | %.0f | %.2f | %.1f |\n", np, z, det == "true" ? "deterministic" : "fast",
               max / 1024, min / 1024, max * 1024 / n, t }'
    rm -rf "$dir"
}

rows=$tmp/rows
: > "$rows"
for cfg in "1 0 false" "1 0 true" "2 0 false" "2 0 true" "2 1 false" "2 2 false" "2 2 true" "4 0 false" "4 0 true" \
           "4 1 false" "4 2 false" "4 2 true"; do
    echo "sharding.sh: ranks, stage, deterministic = $cfg" >&2
    measure $cfg >> "$rows"
done

n_params=$(cat "$tmp/n_params") revision=$(cat "$tmp/revision")

# ZeRO's model-state bytes per parameter and rank (fp32 weights 4, gradient 4, Adam moments 8; rlvr keeps no
# fp16 copy): stage 0 16; 1: 8 + 8/N; 2: 4 + 12/N; 3: 16/N.
formula() { awk -v z="$1" -v n="$2" 'BEGIN { v = z == 0 ? 16 : z == 1 ? 8 + 8 / n : z == 2 ? 4 + 12 / n : 16 / n; printf "%.2f", v }'; }
{
    echo "# Sharded training state: memory per parameter and ZeRO stages"
    echo
    echo "Made by \`launch/sharding.sh --out ${out#$root/} --steps $steps\` on $(date -u +%Y-%m-%d), $(nproc --all) cores"
    echo "($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), shared with other jobs, rlvr revision"
    echo "$revision. ${note}"
    echo
    echo "Model: the Qwen3-MoE of \`configs/tiny-train.ini\` grown to $n_params parameters (hidden 512, 7 layers, 32"
    echo "experts of 512, top-2); one RL step of 2 prompts × 2 samples (two micro-batches on one rank), the last of"
    echo "$steps steps measured (the Adam moments are resident by then). Peak RSS per rank from \`/usr/bin/time -v\`"
    echo "(the whole process: about 31 MB of it is the fixed cost of the binary, MPI and OpenBLAS); step time from"
    echo "\`metrics.jsonl\` (oversubscribed cores with 4 ranks, so only the memory columns compare across rows)."
    echo
    echo "| ranks | zero stage | mode | peak RSS, max rank (MB) | min rank (MB) | bytes/param (max rank) | step (s) |"
    echo "|---|---|---|---|---|---|---|"
    cat "$rows"
    echo
    echo "## What each stage keeps per rank"
    echo
    echo "rlvr trains in fp32 without a separate master copy: weights 4, gradient 4, Adam moments 8 bytes per"
    echo "parameter. ZeRO (Rajbhandari et al. 2020) divides them over the N data-parallel ranks:"
    echo
    echo "| stage | ZeRO: bytes/param per rank | N = 2 | N = 4 | rlvr today |"
    echo "|---|---|---|---|---|"
    echo "| 0 | 16 | 16 | 16 | 16 (fast); deterministic: 16 with one or two micro-batches per rank (the held one handed back layer by layer as the last backward sums it), 40 with more |"
    echo "| 1 | 8 + 8/N | $(formula 1 2) | $(formula 1 4) | as the paper |"
    echo "| 2 | 4 + 12/N | $(formula 2 2) | $(formula 2 4) | 4 + 12/N and one layer's gradient with one micro-batch per rank (each layer summed onto its owners as the backward finishes it, the rest handed back); 8 + 8/N with more (the earlier micro-batches' full gradient) |"
    echo "| 3 | 16/N | $(formula 3 2) | $(formula 3 4) | not implemented (weights gathered per layer) |"
    echo
    echo "By the formula (stage 3 is not implemented, so not measured), stage 3 on 4 ranks keeps $(formula 3 4) of stage 0's 16 bytes: $(awk 'BEGIN { printf "%.0f", 100 * 4 / 16 }')% of its state per rank."
    echo
    echo "## Qwen2.5-7B and Qwen3-30B-A3B on GPUs of 80 GB"
    echo
    echo "Model state in GB per GPU by the formulas above (7.62e9 and 30.5e9 parameters; activations, KV caches"
    echo "and buffers come on top). A layout fits when its state leaves room for those within 80 GB."
    echo
    echo "| model | GPUs | stage 0 | stage 1 | stage 2 | stage 3 |"
    echo "|---|---|---|---|---|---|"
    for m in "Qwen2.5-7B 7.62e9" "Qwen3-30B-A3B 30.5e9"; do
        set -- $m
        for g in 8 16 32 64; do
            awk -v name="$1" -v p="$2" -v n="$g" 'BEGIN {
                printf "| %s | %d | %.1f | %.1f | %.1f | %.1f |\n", name, n, p * 16 / 1e9, p * (8 + 8 / n) / 1e9,
                       p * (4 + 12 / n) / 1e9, p * 16 / n / 1e9 }'
        done
    done
} > "$out"
echo "sharding.sh: wrote $out" >&2
