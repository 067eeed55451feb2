#!/usr/bin/env bash
# Evaluates the final checkpoint of every run of a length-dynamics study (launch/study.sh) with rlvr eval and
# writes a Markdown table with the seed spread: per algorithm, mean ± std over seeds of avg@K, maj@K, pass@K
# and the response length on the task's held-out split.
#   launch/eval_study.sh [--runs DIR] [--out FILE] [--np N] [--n K] [--prompts P] [--note TEXT]
# Defaults: --runs runs/study, --out results/eval.md, --np 2, K = 8 samples and P = 256 problems (the study's
# own evaluation). RLVR names the binary (build/rlvr). Each run's evaluation goes to RUN/final-eval/. TEXT
# (e.g. how the runs were made) is added under the header.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=$root/runs/study out=$root/results/eval.md np=2 k=8 prompts=256 note=""
rlvr=${RLVR:-$root/build/rlvr}
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --np) np=$2; shift 2 ;;
        --n) k=$2; shift 2 ;;
        --prompts) prompts=$2; shift 2 ;;
        --note) note=$2; shift 2 ;;
        -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "eval_study.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
for v in "$np" "$k" "$prompts"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "eval_study.sh: '$v': expected a positive integer" >&2; exit 2; }
done
command_line="launch/eval_study.sh --runs $runs --out $out --np $np --n $k --prompts $prompts"
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

# The study's runs: DIR/<algo>/seed<S> with a finished training (wall_s) and checkpoints.
mapfile -t run_dirs < <(find "$runs" -mindepth 2 -maxdepth 2 -name 'seed*' -type d | sort)
[ ${#run_dirs[@]} -gt 0 ] || { echo "eval_study.sh: no runs DIR/<algo>/seed<S> in $runs" >&2; exit 1; }
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
for dir in "${run_dirs[@]}"; do
    [ -s "$dir/wall_s" ] || { echo "   skipped (unfinished): $dir" >&2; continue; }
    ckpt=$(ls "$dir"/ckpt/step-*.h5 | sort | tail -n 1)
    rm -rf "$dir/final-eval"
    mpirun --oversubscribe --bind-to none -np "$np" "$rlvr" eval --ckpt "$ckpt" --out "$dir/final-eval" --n "$k" \
        --set "eval.n_prompts=$prompts" 2>&1 | sed "s|^|$(basename "$(dirname "$dir")")/$(basename "$dir"): |" >&2
    jq -r --arg algo "$(basename "$(dirname "$dir")")" --argjson k "$k" \
        '[$algo, .avg, .maj, .["pass@\($k)"], .length_mean, .step, .revision] | @tsv' "$dir/final-eval/eval.jsonl" >> "$rows"
done

# mean ± std (sample std over seeds) per algorithm, in the order the runs were found.
table=$(awk -F'\t' '
    !($1 in n) { order[++m] = $1 }
    { n[$1]++; for (c = 2; c <= 5; c++) { s[$1, c] += $c; q[$1, c] += $c * $c } }
    function ms(a, c, scale,   mu, v) {
        mu = s[a, c] / n[a]; v = n[a] > 1 ? (q[a, c] - n[a] * mu * mu) / (n[a] - 1) : 0
        return sprintf("%.1f ± %.1f", scale * mu, scale * sqrt(v > 0 ? v : 0))
    }
    END { for (i = 1; i <= m; i++) { a = order[i]
        printf "| %s | %d | %s | %s | %s | %s |\n", a, n[a], ms(a, 2, 100), ms(a, 3, 100), ms(a, 4, 100), ms(a, 5, 1) } }' "$rows")
step=$(cut -f6 "$rows" | sort -u | paste -sd, -) revs=$(cut -f7 "$rows" | sort -u | paste -sd, -)
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
mkdir -p "$(dirname "$out")"
cat > "$out" <<EOF
# Evaluation of the length-dynamics study's final checkpoints

Made by \`$command_line\` on $(date -u +%Y-%m-%d), $(nproc --all) cores ($cpu), rlvr revision $revs, from the
runs in \`$runs\` (final step $step). Each run's final checkpoint is evaluated by \`rlvr eval\` on the first
$prompts held-out problems of the study's task, $k samples each, drawn as training evaluates them. Mean ± std
over seeds; avg@$k is the accuracy over all samples, maj@$k the share of problems whose majority answer is
right, pass@$k the unbiased estimate that one of $k samples is right; length in tokens.
${note:+
$note
}
| algorithm | seeds | avg@$k (%) | maj@$k (%) | pass@$k (%) | response length |
|---|---|---|---|---|---|
$table
EOF
echo "$out"
