#!/usr/bin/env bash
# Measures per-rank peak memory (RSS) and step time of RL training under ZeRO stages 0-3 on 1, 2 and 4 ranks, on
# the 180M-parameter Qwen3-MoE built from configs/tiny-train.ini (the sizes below), and writes results/sharding.md
# with the ZeRO formulas next to the measurements and evaluated for Qwen2.5-7B and Qwen3-30B-A3B.
#   launch/sharding.sh [--out FILE] [--steps S] [--rows "NP:STAGE:DET ..."] [--note TEXT]
# Defaults: --out results/sharding.md, --steps 2 (the last step is measured: by then the Adam moments are
# resident), every row. With --rows only those rows are measured (e.g. "4:3:false 4:0:false"); the other rows of
# FILE's table stay, each with the revision it was measured at. FILE's text from "## Reading the measurements" on
# is kept. RLVR names the binary (build/rlvr). Each run is one `mpirun -np N /usr/bin/time -v rlvr train`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/results/sharding.md steps=2 note=""
rows_wanted="1:0:false 1:0:true 2:0:false 2:0:true 2:1:false 2:2:false 2:2:true 2:3:false 4:0:false 4:0:true
             4:1:false 4:2:false 4:2:true 4:3:false 4:3:true"
rlvr=${RLVR:-$root/build/rlvr}
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --note) note=$2; shift 2 ;;
        --rows) rows_wanted=$2; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "sharding.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
[[ "$steps" =~ ^[1-9][0-9]*$ ]] || { echo "sharding.sh: --steps '$steps': expected a positive integer" >&2; exit 2; }
for row in $rows_wanted; do
    [[ "$row" =~ ^[124]:[0-3]:(true|false)$ ]] ||
        { echo "sharding.sh: --rows '$row': expected NP:STAGE:DET with NP 1, 2 or 4, STAGE 0-3, DET true|false" >&2; exit 2; }
done
source "$root/launch/peak_rss.sh"
MODEL=(--set model.hidden_size=512 --set model.num_hidden_layers=7 --set model.num_experts=32
       --set model.moe_intermediate_size=512 --set model.num_attention_heads=8 --set model.num_key_value_heads=4
       --set model.intermediate_size=1024)
RUN=(--config "$root/configs/tiny-train.ini" "${MODEL[@]}" --set train.steps="$steps" --set train.prompts_per_step=2
     --set rollout.n=2 --set eval.n_prompts=0)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# measure NP STAGE DET: one table row (ranks, stage, mode, max and min peak RSS over ranks, bytes/param, step time,
# load average when the run started, revision).
measure() {
    local np=$1 z=$2 det=$3 dir=$tmp/run-$1-$2-$3 load max min step n_params
    load=$(cut -d' ' -f1 /proc/loadavg)
    read -r max min step n_params < <(peak_rss_run "$np" "$dir" "${RUN[@]}" --set dist.zero_stage="$z" \
        --set dist.deterministic="$det")
    echo "$n_params" > "$tmp/n_params"
    local revision
    revision=$("$rlvr" ckpt info "$(ls "$dir"/ckpt/step-*.h5 | tail -1)" | sed -n 's/^git_revision //p')
    awk -v np="$np" -v z="$z" -v det="$det" -v max="$max" -v min="$min" -v n="$n_params" -v t="$step" -v l="$load" \
        -v rev="$revision" 'BEGIN {
        printf "| %d | %d | %s | %.0f | %.0f | %.2f | %.1f | %s | %s |\n", np, z, det == "true" ? "deterministic" : "fast",
               max / 1024, min / 1024, max * 1024 / n, t, l, rev }'
    rm -rf "$dir"
}

rows=$tmp/rows
: > "$rows"
for row in $rows_wanted; do
    echo "sharding.sh: ranks, stage, deterministic = $row ($(date -u +%H:%M))" >&2
    measure ${row//:/ } >> "$rows"
done
# Rows of the previous table not measured now stay (9 columns: the revision is the last).
old_rows=$tmp/old_rows
: > "$old_rows"
if [ -f "$out" ]; then
    grep -E '^\| [0-9]+ \| [0-3] \| (fast|deterministic) \|.*\|.*\|.*\|.*\|.*\|.*\|$' "$out" | while read -r line; do
        key=$(echo "$line" | awk -F'|' '{ print $2 $3 $4 }')
        grep -qF "$key" <(awk -F'|' '{ print $2 $3 $4 }' "$rows") || echo "$line"
    done > "$old_rows"
fi
all_rows=$tmp/all_rows
cat "$rows" "$old_rows" | sort -t'|' -k2,2n -k4,4r -k3,3n > "$all_rows"
tail_text=$tmp/tail
: > "$tail_text"
[ -f "$out" ] && sed -n '/^## Reading the measurements/,$p' "$out" > "$tail_text"
ratio() {  # max-rank peak RSS of row $1 over row $2, percent (empty if either is missing)
    awk -F'|' -v a="$1" -v b="$2" '{ k = $2 ":" $3 ":" $4; gsub(/ /, "", k); v[k] = $5 }
        END { if (v[a] != "" && v[b] != "") printf "%.0f", 100 * v[a] / v[b] }' "$all_rows"
}

n_params=$(cat "$tmp/n_params")

# ZeRO's model-state bytes per parameter and rank (fp32 weights 4, gradient 4, Adam moments 8; rlvr keeps no
# fp16 copy): stage 0 16; 1: 8 + 8/N; 2: 4 + 12/N; 3: 16/N.
formula() { awk -v z="$1" -v n="$2" 'BEGIN { v = z == 0 ? 16 : z == 1 ? 8 + 8 / n : z == 2 ? 4 + 12 / n : 16 / n; printf "%.2f", v }'; }
{
    echo "# Sharded training state: memory per parameter and ZeRO stages"
    echo
    echo "Made by \`launch/sharding.sh --out ${out#"$root"/} --steps $steps\` (every row; \`--rows\` measures some and keeps the"
    echo "others), last with \`--rows \"$(echo $rows_wanted)\"\` on $(date -u +%Y-%m-%d), $(nproc --all) cores"
    echo "($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), shared with other jobs (the load column: 1-minute load"
    echo "average when the row started). Each row names the rlvr revision it was measured at. ${note}"
    echo
    echo "Model: the Qwen3-MoE of \`configs/tiny-train.ini\` grown to $n_params parameters (hidden 512, 7 layers, 32"
    echo "experts of 512, top-2); one RL step of 2 prompts × 2 samples (two micro-batches on one rank), the last of"
    echo "$steps steps measured (the Adam moments are resident by then). Peak RSS per rank from \`/usr/bin/time -v\`"
    echo "(the whole process: about 31 MB of it is the fixed cost of the binary, MPI and OpenBLAS); step time from"
    echo "\`metrics.jsonl\` (oversubscribed cores with 4 ranks, so only the memory columns compare across rows)."
    echo
    echo "| ranks | zero stage | mode | peak RSS, max rank (MB) | min rank (MB) | bytes/param (max rank) | step (s) | load | revision |"
    echo "|---|---|---|---|---|---|---|---|---|"
    cat "$all_rows"
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
    echo "| 3 | 16/N | $(formula 3 2) | $(formula 3 4) | 16/N plus, while training, one gathered unit (a layer without its routed experts, or a group of a quarter of them) and the gradient of the layer the backward is in (each layer summed onto its owners when the busiest rank's last backward leaves it; with more micro-batches per rank the earlier ones' full float gradient, as at stage 2), and while sampling one gathered layer (layer by layer each decode step; the gradient's pages given back) |"
    echo
    echo "By the formula, stage 3 on 4 ranks keeps $(formula 3 4) of stage 0's 16 bytes: 25% of its state per rank. What rlvr"
    echo "keeps at stage 3 on 4 ranks with one micro-batch per rank is the same 4 bytes per parameter plus one gathered"
    echo "unit and one layer's gradient while training, plus one layer while sampling. Measured, max-rank peak RSS in"
    echo "fast mode, as a share of stage 0's on as many ranks (rows of"
    echo "different revisions may differ in more than the stage):"
    for np in 2 4; do
        for z in 1 2 3; do
            r=$(ratio "$np:$z:fast" "$np:0:fast")
            if [ -n "$r" ]; then echo "stage $z on $np ranks $r%;"; fi
        done
    done | paste -sd' ' | sed 's/;$/./'
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
    if [ -s "$tail_text" ]; then echo; cat "$tail_text"; fi
} > "$out.new"
mv "$out.new" "$out"
echo "sharding.sh: wrote $out" >&2
