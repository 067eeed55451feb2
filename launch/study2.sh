#!/usr/bin/env bash
# Length-dynamics study 2: arith tasks where length is a free choice (configs/study2/<task>.ini). Per task, one
# supervised warm start and the style mix it samples; then each of the task's algorithms x every seed with the
# same budget (configs/study2/<task>_<algo>.ini) and the style mix of its final policy; then figures, tables and
# seed-paired differences with 95% t-intervals for the comparisons behind each claim.
#   launch/study2.sh [--runs DIR] [--out DIR] [--np N] [--tasks "T ..."] [--algos "A ..."] [--seeds "S ..."]
#                    [--set k=v ...] [--report-only]
# Defaults: --runs runs/study2, --out results/length-dynamics-2, --np 2, seeds 1 2 3, tasks equal edge waste,
# each with its algorithms (PLAN below); --algos keeps only the named ones. RLVR names the binary (build/rlvr).
# Runs go in tiers (TIERS, main comparisons first), seed by seed within each, so an interrupted study has
# complete comparisons on all its seeds.
# --set applies to every stage (e.g. a smaller budget). Finished stages (a wall_s file) are kept and
# unfinished ones start over, so an interrupted study continues where it stopped. --report-only runs nothing and
# remakes the outputs from finished stages (an unfinished one is an error), e.g. while other runs go on.
# Writes OUT/table.md, OUT/runs.tsv (one row per run), OUT/styles.tsv (style mix of every policy),
# OUT/claims.tsv (the paired differences) and OUT/figures/<task>/*.png.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
command_line="launch/study2.sh${*:+ $*}"
runs=$root/runs/study2 out=$root/results/length-dynamics-2 np=2 tasks="equal edge waste" algos="" seeds="1 2 3"
rlvr=${RLVR:-$root/build/rlvr} report_only=0
declare -A PLAN=(
    [equal]="gspo luspo grpo grpo_lambda sspo"
    [edge]="gspo luspo gspo_luspo_clip"
    [waste]="grpo grpo_lambda"
)
TIERS=("equal:gspo equal:luspo equal:grpo equal:grpo_lambda equal:sspo edge:gspo edge:luspo"
       "waste:grpo waste:grpo_lambda" "edge:gspo_luspo_clip")
# The comparisons: task, treatment, baseline (differences are treatment - baseline, paired by seed).
COMPARISONS="equal:luspo:gspo edge:luspo:gspo edge:gspo_luspo_clip:gspo edge:luspo:gspo_luspo_clip
equal:grpo_lambda:grpo waste:grpo_lambda:grpo
equal:sspo:gspo equal:sspo:grpo equal:gspo:grpo"
sets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --np) np=$2; shift 2 ;;
        --tasks) tasks=$2; shift 2 ;;
        --algos) algos=$2; shift 2 ;;
        --seeds) seeds=$2; shift 2 ;;
        --set) sets+=(--set "$2"); shift 2 ;;
        --report-only) report_only=1; shift ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "study2.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
[[ "$np" =~ ^[1-9][0-9]*$ ]] || { echo "study2.sh: --np '$np': expected a positive integer" >&2; exit 2; }
for t in $tasks; do
    [ -n "${PLAN[$t]:-}" ] || { echo "study2.sh: unknown task '$t'; expected some of: ${!PLAN[*]}" >&2; exit 2; }
done
for a in $algos; do
    grep -qw -- "$a" <<< "${PLAN[*]}" || { echo "study2.sh: algorithm '$a' is in no task's plan" >&2; exit 2; }
done
for s in $seeds; do [[ "$s" =~ ^[0-9]+$ ]] || { echo "study2.sh: seed '$s': expected a non-negative integer" >&2; exit 2; }; done
[ -n "$tasks" ] && [ -n "$seeds" ] || { echo "study2.sh: --tasks and --seeds must not be empty" >&2; exit 2; }
in_list() { [[ " $2 " == *" $1 "* ]]; }
# The algorithms run on a task: its plan, filtered by --algos.
task_algos() { local a; for a in ${PLAN[$1]}; do if [ -z "$algos" ] || in_list "$a" "$algos"; then echo "$a"; fi; done; }
local_sh=(env RLVR="$rlvr" bash "$root/launch/local.sh")

# One stage into a fresh directory, timed: wall_s marks it finished, cpu_s holds the CPU seconds of every
# process it ran (user + system, the ranks included).
run_stage() {
    local dir=$1; shift
    [ -s "$dir/wall_s" ] && { echo "   kept (finished earlier): $dir"; return; }
    [ "$report_only" = 0 ] || { echo "study2.sh: --report-only: $dir is not finished" >&2; exit 1; }
    rm -rf "$dir" "$dir.log"
    mkdir -p "$(dirname "$dir")"
    local start=$SECONDS
    /usr/bin/time -f '%U %S' -o "$dir.cpu" "$@" > "$dir.log" 2>&1 ||
        { echo "study2.sh: stage failed, see $dir.log:" >&2; tail -n 5 "$dir.log" >&2; exit 1; }
    mkdir -p "$dir"
    awk '{ printf "%.1f\n", $1 + $2 }' "$dir.cpu" > "$dir/cpu_s" && rm -f "$dir.cpu"
    echo $(( SECONDS - start )) > "$dir/wall_s"
}
train_stage() { local dir=$1 config=$2; shift 2; run_stage "$dir" "${local_sh[@]}" "$config" --np "$np" --run-dir "$dir" "${sets[@]}" "$@"; }
last_ckpt() { ls "$1"/ckpt/step-*.h5 | sort | tail -n 1; }
# A policy's final evaluation: FINAL_PROMPTS held-out problems x 8 samples (rlvr eval), whose samples give the
# style mix; --set eval.n_prompts=... overrides the count.
FINAL_PROMPTS=128
# Its output is the same on any number of ranks (rlvr eval --help), so it runs on --np ranks like training.
style_stage() {
    run_stage "$1/styles" env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 \
        mpirun --oversubscribe --bind-to none -np "$np" -x OMP_NUM_THREADS "$rlvr" eval --ckpt "$(last_ckpt "$1")" \
        --out "$1/styles" --n 8 --set eval.n_prompts=$FINAL_PROMPTS "${sets[@]}"
}

# The warm starts first, then the runs of each tier seed by seed.
for t in $tasks; do
    echo "== $t: warm start, configs/study2/$t.ini [sft] -> $runs/$t/warm"
    train_stage "$runs/$t/warm" "$root/configs/study2/$t.ini" --cmd sft
    style_stage "$runs/$t/warm"
done
for tier in "${TIERS[@]}"; do
    for s in $seeds; do
        for entry in $tier; do
            t=${entry%%:*} a=${entry#*:}
            # A here-string, not a pipe: grep -q leaving early would end task_algos with SIGPIPE, which pipefail
            # turns into a skipped run.
            in_list "$t" "$tasks" && grep -qx -- "$a" <<< "$(task_algos "$t")" || continue
            d=$runs/$t/$a/seed$s
            echo "== $t $a seed $s -> $d"
            train_stage "$d" "$root/configs/study2/${t}_$a.ini" --init "$(last_ckpt "$runs/$t/warm")" \
                --set train.seed="$s" --set rollout.seed="$s"
            style_stage "$d"
            jq -r '"   held out: accuracy \(.avg * 1000 | round / 10)%, length \(.length_mean * 10 | round / 10)"' \
                "$d/styles/eval.jsonl"
        done
    done
done

# --- Reading the runs --------------------------------------------------------------------------------------
mkdir -p "$out"
# Style mix of one policy (run directory, task, algorithm, seed): per style its share of the samples, accuracy and mean length (tokens).
style_rows() {
    jq -r -s -L "$root/launch" --arg t "$2" --arg a "$3" --arg s "$4" 'include "style"; length as $n | group_by(style)[] |
        [$t, $a, $s, (.[0] | style), (length / $n), (map(select(.correct)) | length) / length,
         (map(.tokens) | add / length)] | @tsv' "$1/styles/samples.jsonl"
}
{
    printf 'task\talgo\tseed\tstyle\tshare\taccuracy\tlength\n'
    for t in $tasks; do
        style_rows "$runs/$t/warm" "$t" warm -
        for a in $(task_algos "$t"); do for s in $seeds; do style_rows "$runs/$t/$a/seed$s" "$t" "$a" "$s"; done; done
    done
} > "$out/styles.tsv"

# One row per run: the final evaluation (accuracy, length), the warm start's length, the mean over training's
# evaluations after step 0 (how fast it learned), the clip fraction, the times.
{
    printf 'task\talgo\tseed\tsampled_acc\tlength_start\tlength_final\tsampled_acc_mean\tlength_mean\tclip_tokens\twall_s\tcpu_s\n'
    for t in $tasks; do
        for a in $(task_algos "$t"); do
            for s in $seeds; do
                d=$runs/$t/$a/seed$s
                jq -r -s --arg t "$t" --arg a "$a" --arg s "$s" --argjson wall "$(cat "$d/wall_s")" \
                    --argjson cpu "$(cat "$d/cpu_s")" --slurpfile ev "$d/eval.jsonl" \
                    --slurpfile w "$runs/$t/warm/styles/eval.jsonl" --slurpfile f "$d/styles/eval.jsonl" \
                    '($ev[1:]) as $later |
                     [$t, $a, $s, $f[-1].avg, $w[-1].length_mean, $f[-1].length_mean,
                      ($later | map(.sampled_accuracy) | add / length),
                      ($later | map(.sampled_length_mean) | add / length), (map(.clip_frac) | add / length),
                      $wall, $cpu] | @tsv' "$d/metrics.jsonl"
            done
        done
    done
} > "$out/runs.tsv"

# Seed-paired differences (treatment - baseline) of four columns, with a 95% t-interval over the seeds.
{
    printf 'task\ttreatment\tbaseline\tmetric\tn\tmean_diff\tci_low\tci_high\n'
    for c in $COMPARISONS; do
        IFS=: read -r t x y <<< "$c"
        in_list "$t" "$tasks" && [ -n "$(task_algos "$t" | grep -x "$x")" ] && [ -n "$(task_algos "$t" | grep -x "$y")" ] || continue
        awk -F'\t' -v t="$t" -v x="$x" -v y="$y" '
            BEGIN { split("12.706 4.303 3.182 2.776 2.571 2.447 2.365 2.306 2.262 2.228", tq, " ")
                    split("sampled_acc length_final sampled_acc_mean length_mean", names, " ")
                    split("4 6 7 8", cols, " ") }
            NR > 1 && $1 == t && ($2 == x || $2 == y) { for (k = 1; k <= 4; k++) v[$2, $3, k] = $cols[k]; seen[$3] = 1 }
            END {
                for (k = 1; k <= 4; k++) {
                    n = 0; sum = 0; sq = 0
                    for (s in seen) if ((x SUBSEP s SUBSEP k) in v && (y SUBSEP s SUBSEP k) in v) { d = v[x, s, k] - v[y, s, k]; n++; sum += d; sq += d * d }
                    if (n == 0) continue
                    m = sum / n; half = "nan"; lo = "nan"; hi = "nan"
                    if (n > 1) { sd = sqrt((sq - n * m * m) / (n - 1) > 0 ? (sq - n * m * m) / (n - 1) : 0)
                                 q = n - 1 <= 10 ? tq[n - 1] : 1.96; lo = m - q * sd / sqrt(n); hi = m + q * sd / sqrt(n) }
                    printf "%s\t%s\t%s\t%s\t%d\t%.4f\t%s\t%s\n", t, x, y, names[k], n, m, lo, hi
                }
            }' "$out/runs.tsv"
    done
} > "$out/claims.tsv"

# Seed-mean curves per task and algorithm, then one figure set per task.
mean_of_seeds() {
    jq -s -c 'group_by(.step)[] | . as $g | reduce ($g[0] | keys[]) as $k ({};
        .[$k] = ([$g[][$k] | numbers] | if length > 0 then add / length else null end))' "$@"
}
# In a directory of this invocation's own: other invocations may be reading the same runs.
mean=$(mktemp -d "$runs/mean.XXXXXX")
trap 'rm -rf "$mean"' EXIT
rm -rf "$out/figures"
for t in $tasks; do
    list=$(task_algos "$t")
    [ -n "$list" ] || continue
    means=()
    for a in $list; do
        mkdir -p "$mean/$t/$a"
        means+=("$mean/$t/$a")
        for f in metrics eval; do
            files=()
            for s in $seeds; do files+=("$runs/$t/$a/seed$s/$f.jsonl"); done
            mean_of_seeds "${files[@]}" > "$mean/$t/$a/$f.jsonl"
        done
    done
    bash "$root/launch/plot.sh" --out "$out/figures/$t" --note "$command_line: task $t (mean of seeds $seeds)" \
        "${means[@]}" > /dev/null
done

# The code revisions that made the runs, from their last checkpoints (one, unless the study was resumed).
revisions() {
    for t in $tasks; do
        echo "$runs/$t/warm"
        for a in $(task_algos "$t"); do for s in $seeds; do echo "$runs/$t/$a/seed$s"; done; done
    done | while read -r d; do "$rlvr" ckpt info "$(last_ckpt "$d")" | sed -n 's/^git_revision //p'; done |
        sort | uniq -c | awk '{ printf "%s%s (%d runs)", (NR > 1 ? ", " : ""), $2, $1 }'
}
# What decides the bits besides the revision and --np (results/length-dynamics/README.md): OpenBLAS's kernel
# and its threads per rank.
blas_core=$(OPENBLAS_VERBOSE=2 "$rlvr" config --config "$root/configs/study2/base.ini" 2>&1 >/dev/null | sed -n 's/^Core: //p' | tail -n 1 || true)
threads=$(( $(nproc) / np > 0 ? $(nproc) / np : 1 ))
total_time() { find "$runs" -name "$1" -not -path "$runs/mean.*" -exec cat {} + | awk '{ s += $1 } END { printf "%.0f", s }'; }

{
    echo "# Length-dynamics study 2: results"
    echo
    echo "Made by \`$command_line\` on $(date -u +%Y-%m-%d), $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -n 1)),"
    echo "revision $(revisions) (as recorded in the runs' checkpoints), OpenBLAS core ${blas_core:-not reported}, $np ranks of $threads OpenMP thread(s)."
    echo "Every stage together: $(total_time wall_s) s wall, $(total_time cpu_s) s CPU (user + system)."
    echo "Final accuracy, length and style mix: \`rlvr eval\` of each final policy on $FINAL_PROMPTS held-out problems x 8 samples"
    echo "(\`<run>/styles/\`); \"mean over evaluations\": training's held-out evaluations after step 0 (\`eval.jsonl\`)."
    echo
    echo "## Style mix: share of samples / accuracy / mean length (tokens), held-out problems x 8 samples"
    echo
    echo "| task | policy | style | share | accuracy | length |"
    echo "|---|---|---|---|---|---|"
    awk -F'\t' 'NR > 1 { p = $1 "\t" ($2 == "warm" ? "warm start" : $2 " (final, mean of seeds)"); k = p "\t" $4
                 if (!(($1, $2, $3) in seen)) { seen[$1, $2, $3] = 1; ns[p]++ }
                 if (!(k in sh)) { order[++m] = k; of[k] = p }; sh[k] += $5; ac[k] += $5 * $6; ln[k] += $5 * $7 }
        END { for (i = 1; i <= m; i++) { k = order[i]; split(k, f, "\t"); if (sh[k] / ns[of[k]] < 0.01) continue
                  printf "| %s | %s | %s | %.1f%% | %.1f%% | %.1f |\n", f[1], f[2], f[3], 100 * sh[k] / ns[of[k]],
                      (sh[k] > 0 ? 100 * ac[k] / sh[k] : 0), (sh[k] > 0 ? ln[k] / sh[k] : 0) } }' "$out/styles.tsv"
    echo
    echo "(Final rows average the seeds' shares; their accuracy and length are weighted by each seed's share. Styles"
    echo "under 1% of the samples are left out; \`styles.tsv\` has them all.)"
    echo
    echo "## Runs: mean ± std over seeds $seeds"
    echo
    echo "| task | algorithm | final accuracy | length, warm start → final (tokens) | acc., mean over evaluations | clip fraction, tokens | wall (s) | CPU (s) |"
    echo "|---|---|---|---|---|---|---|---|"
    awk -F'\t' 'NR > 1 { k = $1 "\t" $2; if (!(k in n)) order[++m] = k; n[k]++
                          for (c = 4; c <= 11; c++) { x[k, c] += $c; xx[k, c] += $c * $c } }
        function mu(k, c) { return x[k, c] / n[k] }
        function sd(k, c,   v) { if (n[k] < 2) return 0; v = (xx[k, c] - n[k] * mu(k, c) ^ 2) / (n[k] - 1); return v > 0 ? sqrt(v) : 0 }
        END { for (i = 1; i <= m; i++) { k = order[i]; split(k, f, "\t")
                  printf "| %s | %s | %.1f ± %.1f%% | %.1f → %.1f ± %.1f | %.1f ± %.1f%% | %.2f%% | %.0f | %.0f |\n",
                      f[1], f[2], 100 * mu(k, 4), 100 * sd(k, 4), mu(k, 5), mu(k, 6), sd(k, 6), 100 * mu(k, 7),
                      100 * sd(k, 7), 100 * mu(k, 9), mu(k, 10), mu(k, 11) } }' "$out/runs.tsv"
    echo
    echo "## Seed-paired differences, treatment − baseline (95% t-interval over seeds)"
    echo
    echo "| task | treatment − baseline | n | final acc. (points) | final length (tokens) | acc., mean over evaluations (points) | length, mean over evaluations |"
    echo "|---|---|---|---|---|---|---|"
    awk -F'\t' 'function f(m, lo, hi, s) { return lo == "nan" ? sprintf("%+.1f", m * s) : sprintf("%+.1f [%+.1f, %+.1f]", m * s, lo * s, hi * s) }
        NR > 1 { k = $1 "\t" $2 " − " $3; if (!(k in n)) order[++m] = k; n[k] = $5
                 s = ($4 ~ /acc/) ? 100 : 1; cell[k, $4] = f($6, $7, $8, s) }
        END { for (i = 1; i <= m; i++) { k = order[i]; split(k, g, "\t")
                  printf "| %s | %s | %d | %s | %s | %s | %s |\n", g[1], g[2], n[k], cell[k, "sampled_acc"],
                      cell[k, "length_final"], cell[k, "sampled_acc_mean"], cell[k, "length_mean"] } }' "$out/claims.tsv"
    echo
    echo "Figures (seed means, one line per algorithm): figures/<task>/*.png for tasks $tasks."
} > "$out/table.md"
echo
cat "$out/table.md"
