#!/usr/bin/env bash
# The length-dynamics study: one supervised warm start, then every algorithm x every seed with the same
# budget (configs/study/<algo>.ini), then figures of the seed-mean curves and a table of the results.
#   launch/study.sh [--runs DIR] [--out DIR] [--np N] [--algos "A B ..."] [--seeds "S ..."] [--set k=v ...]
# Defaults: --runs runs/study, --out results/length-dynamics, --np 2, seeds 1 2 3, the six algorithms and
# three controls (configs/study/*_clip.ini, dapo_no_dynsamp.ini). RLVR names the binary (build/rlvr).
# --set applies to every stage (e.g. a smaller budget). Finished runs (DIR/<algo>/seed<S>/wall_s) are kept,
# unfinished ones start over, so an interrupted study continues where it stopped.
# Writes OUT/table.md (final held-out accuracy and length, clip fractions, rollouts, wall time; mean ± std
# over seeds), OUT/runs.tsv (the same per run) and OUT/figures/*.png.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
command_line="launch/study.sh${*:+ $*}"
runs=$root/runs/study out=$root/results/length-dynamics np=2
controls="gspo_luspo_clip luspo_gspo_clip dapo_no_dynsamp"  # each changes one thing of gspo, luspo or dapo
algos="grpo dapo gspo luspo grpo_lambda sspo $controls" seeds="1 2 3"
rlvr=${RLVR:-$root/build/rlvr}
sets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --np) np=$2; shift 2 ;;
        --algos) algos=$2; shift 2 ;;
        --seeds) seeds=$2; shift 2 ;;
        --set) sets+=(--set "$2"); shift 2 ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "study.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
for a in $algos; do
    [ -f "$root/configs/study/$a.ini" ] || { echo "study.sh: no configs/study/$a.ini for algorithm '$a'" >&2; exit 2; }
done
for s in $seeds; do [[ "$s" =~ ^[0-9]+$ ]] || { echo "study.sh: seed '$s': expected a non-negative integer" >&2; exit 2; }; done
local_sh=(env RLVR="$rlvr" bash "$root/launch/local.sh")

# One training stage into a fresh run directory, timed; wall_s marks it finished.
run_stage() {
    local dir=$1; shift
    [ -s "$dir/wall_s" ] && { echo "   kept (finished earlier): $dir"; return; }
    rm -rf "$dir"
    local start=$SECONDS
    "${local_sh[@]}" "$@" --np "$np" --run-dir "$dir" "${sets[@]}" > "$dir.log" 2>&1 ||
        { echo "study.sh: stage failed, see $dir.log:" >&2; tail -n 5 "$dir.log" >&2; exit 1; }
    echo $(( SECONDS - start )) > "$dir/wall_s"
}

mkdir -p "$runs"
echo "== warm start: configs/study/base.ini [sft] -> $runs/warm"
run_stage "$runs/warm" "$root/configs/study/base.ini" --cmd sft
warm=$(ls "$runs"/warm/ckpt/step-*.h5 | sort | tail -n 1)

for a in $algos; do
    mkdir -p "$runs/$a"
    for s in $seeds; do
        echo "== $a seed $s -> $runs/$a/seed$s"
        run_stage "$runs/$a/seed$s" "$root/configs/study/$a.ini" --init "$warm" \
            --set train.seed="$s" --set rollout.seed="$s"
        jq -r '"   held out: greedy \(.greedy_accuracy * 1000 | round / 10)%, sampled \(.sampled_accuracy * 1000 | round / 10)%, length \(.sampled_length_mean * 10 | round / 10)"' \
            <(tail -n 1 "$runs/$a/seed$s/eval.jsonl")
    done
done

# Seed-mean curves: every numeric key averaged per step over the seeds (legend = algorithm).
mean_of_seeds() {
    jq -s -c 'group_by(.step)[] | . as $g | reduce ($g[0] | keys[]) as $k ({};
        .[$k] = ([$g[][$k] | numbers] | if length > 0 then add / length else null end))' "$@"
}
rm -rf "$runs/mean"
for a in $algos; do
    mkdir -p "$runs/mean/$a"
    for f in metrics eval; do
        files=()
        for s in $seeds; do files+=("$runs/$a/seed$s/$f.jsonl"); done
        mean_of_seeds "${files[@]}" > "$runs/mean/$a/$f.jsonl"
    done
done

# Figures: the algorithms in figures/, the controls next to what they change in figures/controls/.
in_list() { [[ " $2 " == *" $1 "* ]]; }
plot_means() {
    local dir=$1 a means=(); shift
    [ $# -gt 0 ] || return 0
    for a in "$@"; do means+=("$runs/mean/$a"); done
    bash "$root/launch/plot.sh" --out "$dir" --note "$command_line (mean of seeds $seeds)" "${means[@]}" > /dev/null
}
main=() ctrl=()
for a in $algos; do if in_list "$a" "$controls"; then ctrl+=("$a"); else main+=("$a"); fi; done
rm -rf "$out/figures"
plot_means "$out/figures" "${main[@]}"
# shellcheck disable=SC2046  # algorithm names: words without spaces
[ ${#ctrl[@]} -eq 0 ] ||
    plot_means "$out/figures/controls" $(for a in gspo luspo dapo; do in_list "$a" "$algos" && echo "$a"; done) "${ctrl[@]}"

# One row per run: the final held-out evaluation, the mean clip fractions and the rollouts generated.
ini_value() { awk -F' = ' -v s="[$2]" -v k="$3" '/^\[/ { in_s = ($0 == s) } in_s && $1 == k { print $2 }' "$1"; }
{
    printf 'algo\tseed\tgreedy_acc\tsampled_acc\tlength_start\tlength_final\tclip_tokens\tclip_units\trollouts\twall_s\n'
    for a in $algos; do
        for s in $seeds; do
            d=$runs/$a/seed$s
            per_batch=$(( $(ini_value "$d/config.ini" train prompts_per_step) * $(ini_value "$d/config.ini" rollout n) ))
            jq -r -s --arg a "$a" --arg s "$s" --argjson pb "$per_batch" --argjson wall "$(cat "$d/wall_s")" \
                --slurpfile ev "$d/eval.jsonl" \
                '($ev[0]) as $e0 | ($ev[-1]) as $e1 | (map(.clip_frac) | add / length) as $ct |
                 (map(.clip_frac_unit) | add / length) as $cu | (map(.gen_batches) | add * $pb) as $ro |
                 [$a, $s, $e1.greedy_accuracy, $e1.sampled_accuracy, $e0.sampled_length_mean,
                  $e1.sampled_length_mean, $ct, $cu, $ro, $wall] | @tsv' "$d/metrics.jsonl"
        done
    done
} > "$out/runs.tsv"

# A markdown table of one eval.jsonl key (seed means, times $3, suffix $4) per algorithm and evaluation step.
eval_table() {
    local first=${algos%% *}
    printf '\n%s:\n\n| algorithm |%s\n|---|%s\n' "$2" "$(jq -r '" step \(.step) |"' "$runs/mean/$first/eval.jsonl" | tr -d '\n')" \
        "$(jq -r '"---|"' "$runs/mean/$first/eval.jsonl" | tr -d '\n')"
    for a in $algos; do
        echo "| $a |$(jq -r --arg k "$1" '.[$k]' "$runs/mean/$a/eval.jsonl" | awk -v x="$3" -v u="$4" '{ printf " %.1f%s |", $1 * x, u }')"
    done
}

# The code revisions that made the runs, from their last checkpoints (one, unless the study was resumed).
revisions() {
    {
        echo "$runs/warm"
        for a in $algos; do for s in $seeds; do echo "$runs/$a/seed$s"; done; done
    } | while read -r d; do
        "$rlvr" ckpt info "$(ls "$d"/ckpt/step-*.h5 | sort | tail -n 1)" | sed -n 's/^git_revision //p'
    done | sort | uniq -c | awk '{ printf "%s%s (%d runs)", (NR > 1 ? ", " : ""), $2, $1 }'
}

# What decides the bits besides the revision and --np (results/length-dynamics/README.md): the backward's
# OpenBLAS kernel and its threads, which Debian's OpenMP OpenBLAS takes from OMP_NUM_THREADS (local.sh's).
blas_core=$(OPENBLAS_VERBOSE=2 "$rlvr" config --config "$root/configs/study/base.ini" 2>&1 >/dev/null | sed -n 's/^Core: //p' | tail -n 1 || true)
threads=$(( $(nproc) / np > 0 ? $(nproc) / np : 1 ))

# The table: mean ± std (unbiased) over seeds.
{
    echo "# Length-dynamics study: results"
    echo
    echo "Made by \`$command_line\` on $(date -u +%Y-%m-%d), $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -n 1)),"
    echo "revision $(revisions) (as recorded in the runs' checkpoints), OpenBLAS core ${blas_core:-not reported}, $np ranks of $threads OpenMP thread(s)."
    echo "Mean ± std over seeds $seeds;"
    echo "held-out numbers are the last evaluation (\`eval.jsonl\`), clip fractions the mean over all steps."
    echo
    echo "| algorithm | held-out accuracy, greedy | held-out accuracy, sampled | held-out length, start → end (tokens) | clip fraction, tokens | clip fraction, sequences/segments | rollouts | wall time (s) |"
    echo "|---|---|---|---|---|---|---|---|"
    awk -F'\t' -v algos="$algos" '
        NR > 1 { n[$1]++; for (c = 3; c <= 10; c++) { x[$1, c] += $c; xx[$1, c] += $c * $c } }
        function m(a, c) { return x[a, c] / n[a] }
        function sd(a, c,   v) { if (n[a] < 2) return 0; v = (xx[a, c] - n[a] * m(a, c) ^ 2) / (n[a] - 1); return v > 0 ? sqrt(v) : 0 }
        function pct(a, c) { return sprintf("%.1f ± %.1f%%", 100 * m(a, c), 100 * sd(a, c)) }
        END {
            k = split(algos, list, " ")
            for (i = 1; i <= k; i++) {
                a = list[i]
                printf "| %s | %s | %s | %.1f → %.1f ± %.1f | %.2f ± %.2f%% | %.2f ± %.2f%% | %d | %.0f ± %.0f |\n", a,
                    pct(a, 3), pct(a, 4), m(a, 5), m(a, 6), sd(a, 6), 100 * m(a, 7), 100 * sd(a, 7),
                    100 * m(a, 8), 100 * sd(a, 8), m(a, 9), m(a, 10), sd(a, 10)
            }
        }' "$out/runs.tsv"
    eval_table sampled_length_mean "Held-out response length (sampled, tokens; mean over seeds) at each evaluation" 1 ""
    eval_table sampled_accuracy "Held-out accuracy (sampled; mean over seeds) at each evaluation" 100 "%"
    echo
    echo "Figures (seed means, one line per algorithm): $(cd "$out" && ls figures/*.png | paste -sd' ')."
    [ ${#ctrl[@]} -eq 0 ] || echo "The controls next to what they change: figures/controls/ (the same names)."
} > "$out/table.md"
echo
cat "$out/table.md"
