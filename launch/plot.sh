#!/usr/bin/env bash
# PNG figures of training curves, several runs overlaid (one line per run, legend = run directory).
#   launch/plot.sh [--out DIR] RUN_DIR [RUN_DIR ...]
# Reads RUN_DIR/metrics.jsonl (one JSON object per step); writes DIR/<metric>.png (DIR defaults to the
# first run's figures/). Needs gnuplot and jq (launch/setup.sh installs both).
set -euo pipefail

# metric key in metrics.jsonl : axis label
METRICS=(
    "reward_mean:reward (mean)"
    "accuracy:accuracy"
    "length_mean:response length (tokens, mean)"
    "clip_frac:clip fraction (tokens)"
    "entropy:entropy (token mean, nats)"
)

out=""
runs=()
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) runs+=("$1"); shift ;;
    esac
done
[ ${#runs[@]} -gt 0 ] || { echo "plot.sh: give at least one run directory" >&2; exit 2; }
for r in "${runs[@]}"; do
    [ -s "$r/metrics.jsonl" ] || { echo "plot.sh: $r/metrics.jsonl missing or empty" >&2; exit 1; }
done
out=${out:-${runs[0]}/figures}
mkdir -p "$out"
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT

for entry in "${METRICS[@]}"; do
    key=${entry%%:*} label=${entry#*:}
    plots=()
    for i in "${!runs[@]}"; do
        jq -r --arg k "$key" 'select(.step != null and .[$k] != null) | [.step, .[$k]] | @tsv' \
            "${runs[$i]}/metrics.jsonl" > "$data/$key.$i.tsv"
        [ -s "$data/$key.$i.tsv" ] || continue
        name=$(basename "${runs[$i]}")
        plots+=("'$data/$key.$i.tsv' using 1:2 with lines lw 2 title '${name//\'/}'")
    done
    [ ${#plots[@]} -gt 0 ] || { echo "plot.sh: no '$key' values; skipped" >&2; continue; }
    gnuplot <<GP
set terminal pngcairo size 900,540 noenhanced
set output '$out/$key.png'
set title '$label'
set xlabel 'step'
set ylabel '$label'
set grid
set key outside right
plot $(IFS=,; echo "${plots[*]}")
GP
    echo "$out/$key.png"
done
