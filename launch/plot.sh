#!/usr/bin/env bash
# PNG figures of training curves, several runs overlaid (one line per run, legend = run directory).
#   launch/plot.sh [--out DIR] [--note TEXT] RUN_DIR [RUN_DIR ...]
# Reads RUN_DIR/metrics.jsonl (per step) and, when present, RUN_DIR/eval.jsonl (held out, and the benchmarks of
# eval.benchmarks: benchmark_<name>_avg.png and _length.png); writes DIR/<metric>.png (DIR defaults to the
# first run's figures/), with TEXT (e.g. the command that made the runs) under each title. Needs gnuplot and
# jq (launch/setup.sh installs both).
set -euo pipefail

# file in the run directory : key : axis label
METRICS=(
    "metrics:reward_mean:reward (mean)"
    "metrics:accuracy:accuracy"
    "metrics:length_mean:response length (tokens, mean)"
    "metrics:clip_frac:clip fraction (tokens)"
    "metrics:clip_frac_unit:clip fraction (sequences or segments)"
    "metrics:entropy:entropy (token mean, nats)"
    "eval:sampled_accuracy:held-out accuracy (sampled)"
    "eval:greedy_accuracy:held-out accuracy (greedy)"
    "eval:sampled_length_mean:held-out response length (sampled, tokens)"
)

out="" note=""
runs=()
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        --note) note=$2; shift 2 ;;
        -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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

note=$(tr -d '"\\' <<< "$note")  # it goes inside a gnuplot "string"

# plot KEY LABEL FILE JQ_FILTER STYLE: one PNG, a line per run from the (step, value) rows the filter selects.
plot() {
    local key=$1 label=$2 file=$3 filter=$4 style=$5 plots=() i name
    for i in "${!runs[@]}"; do
        [ -s "${runs[$i]}/$file.jsonl" ] || continue
        jq -r "$filter | [.step, .value] | @tsv" "${runs[$i]}/$file.jsonl" > "$data/$key.$i.tsv"
        [ -s "$data/$key.$i.tsv" ] || continue
        name=$(basename "${runs[$i]}")
        plots+=("'$data/$key.$i.tsv' using 1:2 with $style lw 2 title '${name//\'/}'")
    done
    if [ ${#plots[@]} -eq 0 ]; then
        [ "$file" = eval ] || echo "plot.sh: no '$key' values; skipped" >&2
        return
    fi
    gnuplot 2>&1 <<GP | { grep -v 'empty y range' || true; } >&2  # constant curves are fine
set terminal pngcairo size 900,540 noenhanced
set output '$out/$key.png'
set title "$label${note:+\\n$note}"
set xlabel 'step'
set ylabel '$label'
set grid
set key outside right
plot $(IFS=,; echo "${plots[*]}")
GP
    echo "$out/$key.png"
}

for entry in "${METRICS[@]}"; do
    file=${entry%%:*} rest=${entry#*:}
    key=${rest%%:*} label=${rest#*:}
    style=lines
    [ "$file" = eval ] && style="linespoints pt 7"
    plot "$key" "$label" "$file" "select(.step != null and .benchmark == null and .[\"$key\"] != null) | {step, value: .[\"$key\"]}" "$style"
done

# Benchmarks evaluated during training (eval.benchmarks): avg@K and response length against step.
benchmarks=$(for r in "${runs[@]}"; do
    [ ! -s "$r/eval.jsonl" ] || jq -r 'select(.benchmark != null) | .benchmark' "$r/eval.jsonl"; done | awk '!seen[$0]++')
for b in $benchmarks; do
    sel="select(.benchmark == \"$b\")"
    plot "benchmark_${b}_avg" "$b: avg@K" eval "$sel | {step, value: .avg}" "linespoints pt 7"
    plot "benchmark_${b}_length" "$b: response length (tokens, mean)" eval "$sel | {step, value: .length_mean}" "linespoints pt 7"
done
