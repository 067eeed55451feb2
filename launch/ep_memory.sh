#!/usr/bin/env bash
# Per-rank peak memory (RSS) and step time of RL training with expert parallelism (dist.expert_parallel = K) on
# 4 ranks, K = 1, 2, 4, with zero stage 0-3, on a 52M-parameter Qwen3-MoE built from configs/tiny-train.ini (hidden
# 256, 4 layers of 32 experts of 512: 98% of the parameters are experts; smaller than launch/sharding.sh's so that
# four ranks fit a shared 24 GB machine); prints the markdown rows of results/sharding.md "Expert parallelism".
#   launch/ep_memory.sh [--steps S] [--rows "K:STAGE:DET ..."]
# (default 2 steps: the last step is measured; default rows: every one of the table; RLVR names the binary)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
steps=2
rows_wanted="1:0:false 2:0:false 4:0:false 1:0:true 4:0:true 1:2:false 2:2:false 1:2:true 2:2:true 1:3:false
2:3:false 4:3:false"
usage() { echo "ep_memory.sh: usage: launch/ep_memory.sh [--steps S] [--rows \"K:STAGE:DET ...\"]" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
        --steps) [ $# -ge 2 ] || usage; steps=$2; shift 2 ;;
        --rows) [ $# -ge 2 ] || usage; rows_wanted=$2; shift 2 ;;
        *) usage ;;
    esac
done
[[ "$steps" =~ ^[1-9][0-9]*$ ]] || { echo "ep_memory.sh: --steps '$steps': expected a positive integer" >&2; exit 2; }
for row in $rows_wanted; do
    [[ "$row" =~ ^[124]:[0-3]:(true|false)$ ]] ||
        { echo "ep_memory.sh: --rows '$row': expected K:STAGE:DET with K 1, 2 or 4, STAGE 0-3, DET true|false" >&2; exit 2; }
done
rlvr=${RLVR:-$root/build/rlvr}
source "$root/launch/peak_rss.sh"
MODEL=(--set model.hidden_size=256 --set model.num_hidden_layers=4 --set model.num_experts=32
       --set model.moe_intermediate_size=512 --set model.num_attention_heads=8 --set model.num_key_value_heads=4
       --set model.intermediate_size=1024)
RUN=(--config "$root/configs/tiny-train.ini" "${MODEL[@]}" --set train.steps="$steps" --set train.prompts_per_step=4
     --set rollout.n=2 --set eval.n_prompts=0)
rev=$("$rlvr" --version 2>/dev/null | sed -n "s/^rlvr \([^,]*\),.*/\1/p" || true)
[ -n "$rev" ] || rev=$(git -C "$root" rev-parse --short=12 HEAD)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# measure K STAGE DET: one row (K, stage, mode, max and min peak RSS over the 4 ranks, bytes/param of the max, step
# time, the 1-minute load average when it started, the revision).
measure() {
    local k=$1 z=$2 det=$3 dir=$tmp/run-$1-$2-$3 max min step n load
    load=$(cut -d' ' -f1 /proc/loadavg)
    read -r max min step n < <(peak_rss_run 4 "$dir" "${RUN[@]}" --set dist.expert_parallel="$k" \
        --set dist.zero_stage="$z" --set dist.deterministic="$det")
    awk -v k="$k" -v z="$z" -v det="$det" -v max="$max" -v min="$min" -v n="$n" -v t="$step" -v load="$load" \
        -v rev="$rev" 'BEGIN {
        printf "| 4 | %d | %d | %s | %.0f | %.0f | %.2f | %.1f | %s | %s |\n", k, z,
               det == "true" ? "deterministic" : "fast", max / 1024, min / 1024, max * 1024 / n, t, load, rev }'
    rm -rf "$dir"
}

echo "| ranks | K | zero stage | mode | peak RSS, max rank (MB) | min rank (MB) | bytes/param (max rank) | step (s) | load | revision |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for row in $rows_wanted; do
    echo "ep_memory.sh: K, zero stage, deterministic = ${row//:/, }" >&2
    measure ${row//:/ }
done
