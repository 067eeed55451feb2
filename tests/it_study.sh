# The length-dynamics study script on a tiny budget: runs, seed means, table, figures, restart, bad options.
plan 10
study=(env RLVR="$RLVR" bash "$ROOT/launch/study.sh" --runs "$TMP/study" --out "$TMP/study-out" --algos "gspo luspo"
       --seeds "1 2" --set sft.steps=20 --set train.steps=4 --set eval.every=2 --set eval.n_prompts=16 --set task.eval_size=16)
expect_ok "study: 2 algorithms x 2 seeds run" "${study[@]}"
expect_ok "study: table rows, per-run rows, figures" bash -c '
    grep -q "^| gspo | .* ± .*% |" "$1/table.md" && grep -q "^| luspo | " "$1/table.md" &&
    grep -q "^Made by .launch/study.sh --runs" "$1/table.md" && [ "$(wc -l < "$1/runs.tsv")" -eq 5 ] &&
    for f in length_mean sampled_length_mean sampled_accuracy clip_frac; do
        [ "$(head -c 4 "$1/figures/$f.png" | tail -c 3)" = PNG ] || exit 1; done' _ "$TMP/study-out"
expect_ok "study: runs.tsv holds each run's last held-out evaluation" bash -c '
    want=$(jq -r "[.greedy_accuracy, .sampled_accuracy] | @tsv" <(tail -n 1 "$1/luspo/seed2/eval.jsonl"))
    got=$(awk -F"\t" "\$1 == \"luspo\" && \$2 == 2 { print \$3 \"\t\" \$4 }" "$2/runs.tsv")
    [ -n "$want" ] && [ "$want" = "$got" ]' _ "$TMP/study" "$TMP/study-out"
expect_ok "study: seed-mean curve is the mean of the seeds" bash -c '
    a=$(jq -s ".[2].length_mean" "$1/gspo/seed1/metrics.jsonl") b=$(jq -s ".[2].length_mean" "$1/gspo/seed2/metrics.jsonl")
    m=$(jq -s ".[2].length_mean" "$1/mean/gspo/metrics.jsonl")
    jq -e -n "($a + $b) / 2 - $m | fabs < 1e-9" > /dev/null' _ "$TMP/study"
cp "$TMP/study/luspo/seed1/eval.jsonl" "$TMP/study-luspo1-eval.jsonl"
rm "$TMP/study/luspo/seed1/wall_s"
out=$("${study[@]}" 2>&1)
if grep -q "kept (finished earlier): $TMP/study/gspo/seed2" <<< "$out" &&
   ! grep -q "kept (finished earlier): $TMP/study/luspo/seed1" <<< "$out"; then
    pass "study: a restart keeps finished runs and redoes unfinished ones"
else
    fail "study: a restart keeps finished runs and redoes unfinished ones" "$out"
fi
expect_same "study: a redone run reproduces its held-out evaluation bit for bit" \
    "$TMP/study-luspo1-eval.jsonl" "$TMP/study/luspo/seed1/eval.jsonl"
expect_error "study: unknown algorithm" "no configs/study/ppo.ini for algorithm 'ppo'" \
    bash "$ROOT/launch/study.sh" --algos "gspo ppo"
expect_error "study: bad seed" "seed 'x': expected a non-negative integer" bash "$ROOT/launch/study.sh" --seeds "1 x"
expect_ok "eval_study: rlvr eval of every final checkpoint, mean ± std over the seeds" bash -c '
    bash "$ROOT/launch/eval_study.sh" --runs "$1" --out "$2/eval.md" --prompts 8 --n 4 >/dev/null 2>&1 &&
    a=$(jq .avg "$1/luspo/seed1/final-eval/eval.jsonl") b=$(jq .avg "$1/luspo/seed2/final-eval/eval.jsonl") &&
    want=$(awk -v a="$a" -v b="$b" "BEGIN { m = (a + b) / 2; printf \"%.1f ± %.1f\", 100 * m, 100 * sqrt((a - m)^2 + (b - m)^2) }") &&
    grep -q "^| luspo | 2 | $want | " "$2/eval.md" && grep -q "^| gspo | 2 | " "$2/eval.md"' _ "$TMP/study" "$TMP/study-out"
expect_error "eval_study: no runs" "no runs DIR/<algo>/seed<S>" bash "$ROOT/launch/eval_study.sh" --runs "$TMP/none"
