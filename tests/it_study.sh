# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# The length-dynamics study scripts on a tiny budget: runs, seed means, tables, figures, restart, bad options
# (launch/study.sh, then launch/study2.sh with its style mix and paired differences), in directories whose names
# hold a space.
plan 24
study=(env RLVR="$RLVR" bash "$ROOT/launch/study.sh" --runs "$TMP/my study" --out "$TMP/my study-out" --algos "gspo luspo"
       --seeds "1 2" --set sft.steps=20 --set train.steps=4 --set eval.every=2 --set eval.n_prompts=16 --set task.eval_size=16)
expect_ok "study: 2 algorithms x 2 seeds run" "${study[@]}"
expect_ok "study: table rows, per-run rows, figures" bash -c '
    grep -q "^| gspo | .* ± .*% |" "$1/table.md" && grep -q "^| luspo | " "$1/table.md" &&
    grep -q "^Made by .launch/study.sh --runs" "$1/table.md" && [ "$(wc -l < "$1/runs.tsv")" -eq 5 ] &&
    grep -q "revision [0-9a-f]\{7,\}[^ ]* (5 runs) (as recorded" "$1/table.md" &&
    for f in length_mean sampled_length_mean sampled_accuracy clip_frac; do
        [ "$(head -c 4 "$1/figures/$f.png" | tail -c 3)" = PNG ] || exit 1; done' _ "$TMP/my study-out"
expect_ok "study: runs.tsv holds each run's last held-out evaluation" bash -c '
    want=$(jq -r "[.greedy_accuracy, .sampled_accuracy] | @tsv" <(tail -n 1 "$1/luspo/seed2/eval.jsonl"))
    got=$(awk -F"\t" "\$1 == \"luspo\" && \$2 == 2 { print \$3 \"\t\" \$4 }" "$2/runs.tsv")
    [ -n "$want" ] && [ "$want" = "$got" ]' _ "$TMP/my study" "$TMP/my study-out"
expect_ok "study: seed-mean curve is the mean of the seeds" bash -c '
    a=$(jq -s ".[2].length_mean" "$1/gspo/seed1/metrics.jsonl") b=$(jq -s ".[2].length_mean" "$1/gspo/seed2/metrics.jsonl")
    m=$(jq -s ".[2].length_mean" "$1/mean/gspo/metrics.jsonl")
    jq -e -n "($a + $b) / 2 - $m | fabs < 1e-9" > /dev/null' _ "$TMP/my study"
cp "$TMP/my study/luspo/seed1/eval.jsonl" "$TMP/study-luspo1-eval.jsonl"
rm "$TMP/my study/luspo/seed1/wall_s"
out=$("${study[@]}" 2>&1)
if grep -q "kept (finished earlier): $TMP/my study/gspo/seed2" <<< "$out" &&
   ! grep -q "kept (finished earlier): $TMP/my study/luspo/seed1" <<< "$out"; then
    pass "study: a restart keeps finished runs and redoes unfinished ones"
else
    fail "study: a restart keeps finished runs and redoes unfinished ones" "$out"
fi
expect_same "study: a redone run reproduces its held-out evaluation bit for bit" \
    "$TMP/study-luspo1-eval.jsonl" "$TMP/my study/luspo/seed1/eval.jsonl"
expect_error "study: unknown algorithm" "no configs/study/ppo.ini for algorithm 'ppo'" \
    bash "$ROOT/launch/study.sh" --algos "gspo ppo"
expect_error "study: bad seed" "seed 'x': expected a non-negative integer" bash "$ROOT/launch/study.sh" --seeds "1 x"
expect_ok "eval_study: rlvr eval of every final checkpoint, mean ± std over the seeds" bash -c '
    bash "$ROOT/launch/eval_study.sh" --runs "$1" --out "$2/eval.md" --prompts 8 --n 4 >/dev/null 2>&1 &&
    a=$(jq .avg "$1/luspo/seed1/final-eval/eval.jsonl") b=$(jq .avg "$1/luspo/seed2/final-eval/eval.jsonl") &&
    want=$(awk -v a="$a" -v b="$b" "BEGIN { m = (a + b) / 2; printf \"%.1f ± %.1f\", 100 * m, 100 * sqrt((a - m)^2 + (b - m)^2) }") &&
    grep -q "^| luspo | 2 | $want | " "$2/eval.md" && grep -q "^| gspo | 2 | " "$2/eval.md"' _ "$TMP/my study" "$TMP/my study-out"
expect_error "eval_study: no runs" "no runs DIR/<algo>/seed<S>" bash "$ROOT/launch/eval_study.sh" --runs "$TMP/none"
# Study 2 (launch/study2.sh) on a tiny budget: one task, two algorithms x two seeds.
study2=(env RLVR="$RLVR" bash "$ROOT/launch/study2.sh" --runs "$TMP/my study2" --out "$TMP/my study2-out" --np 1
        --tasks waste --seeds "1 2" --set sft.steps=10 --set train.steps=2 --set eval.every=1 --set eval.n_prompts=4
        --set task.eval_size=16 --set train.prompts_per_step=4)
expect_ok "study2: 1 task, 2 algorithms x 2 seeds run" "${study2[@]}"
expect_ok "study2: table, runs, styles, claims and figures" bash -c '
    grep -q "^| waste | grpo_lambda | .* ± .*% |" "$1/table.md" && grep -q "^| waste | warm start | " "$1/table.md" &&
    grep -q "^| waste | grpo_lambda − grpo | 2 | " "$1/table.md" && [ "$(wc -l < "$1/runs.tsv")" -eq 5 ] &&
    [ "$(wc -l < "$1/claims.tsv")" -eq 5 ] &&
    for f in length_mean sampled_length_mean sampled_accuracy; do
        [ "$(head -c 4 "$1/figures/waste/$f.png" | tail -c 3)" = PNG ] || exit 1; done' _ "$TMP/my study2-out"
expect_ok "study2: styles.tsv shares and accuracies count the final samples" bash -c '
    f=$1/waste/grpo/seed2/styles/samples.jsonl
    n=$(wc -l < "$f") k=$(jq -s -L "$ROOT/launch" "include \"style\"; map(select(style == \"steps\")) | length" "$f")
    c=$(jq -s -L "$ROOT/launch" "include \"style\"; map(select(style == \"steps\" and .correct)) | length" "$f")
    want=$(awk -v n="$n" -v k="$k" -v c="$c" "BEGIN { if (k > 0) printf \"%.6f %.6f\", k / n, c / k }")
    got=$(awk -F"\t" "\$2 == \"grpo\" && \$3 == 2 && \$4 == \"steps\" { printf \"%.6f %.6f\", \$5, \$6 }" "$2/styles.tsv")
    [ "$want" = "$got" ]' _ "$TMP/my study2" "$TMP/my study2-out"
expect_ok "study2: the paired difference and its t-interval, recomputed" bash -c '
    len() { jq .length_mean "$1/waste/$2/seed$3/styles/eval.jsonl"; }
    d1=$(jq -n "$(len "$1" grpo_lambda 1) - $(len "$1" grpo 1)") d2=$(jq -n "$(len "$1" grpo_lambda 2) - $(len "$1" grpo 2)")
    # n = 2: mean ± t(0.975, 1) * |d1 - d2| / 2, since the std of two values over sqrt(2) is |d1 - d2| / 2.
    want=$(awk -v a="$d1" -v b="$d2" "BEGIN { m = (a + b) / 2; h = 12.706 * (a > b ? a - b : b - a) / 2
                                             printf \"%.3f %.3f %.3f\", m, m - h, m + h }")
    got=$(awk -F"\t" "\$2 == \"grpo_lambda\" && \$4 == \"length_final\" { printf \"%.3f %.3f %.3f\", \$6, \$7, \$8 }" "$2/claims.tsv")
    [ "$want" = "$got" ]' _ "$TMP/my study2" "$TMP/my study2-out"
expect_ok "study2: the style classifier names each reference style" bash -c '
    for pair in "terse|Answer: 132" "restate|We need 47+85.\nAnswer: 132" "steps|7+5=12\n4+8+1=13\nAnswer: 132" \
        "check|We need 47+85.\nAnswer: 132\nCheck: 132-85=47\nAnswer: 132" \
        "restate_steps|We need 47+85.\n7+5=12\n4+8+1=13\nAnswer: 132" \
        "steps_check|We need 47+85.\n7+5=12\n4+8+1=13\nAnswer: 132\nCheck: 132-85=47\nAnswer: 132" \
        "other|132" "other|Answer: 9\nCheck: 9-5=4" "terse|1=1 Answer: 9"; do
        got=$(jq -n -r -L "$ROOT/launch" --arg r "$(printf "${pair#*|}")" "include \"style\"; {response: \$r} | style")
        [ "$got" = "${pair%%|*}" ] || { echo "${pair#*|}: $got"; exit 1; }
    done'
cp "$TMP/my study2/waste/grpo_lambda/seed1/styles/samples.jsonl" "$TMP/study2-samples.jsonl"
cp "$TMP/my study2/waste/grpo_lambda/seed1/eval.jsonl" "$TMP/study2-eval.jsonl"
rm "$TMP/my study2/waste/grpo_lambda/seed1/wall_s"
out=$("${study2[@]}" 2>&1)
if grep -q "kept (finished earlier): $TMP/my study2/waste/warm$" <<< "$out" &&
   grep -q "kept (finished earlier): $TMP/my study2/waste/grpo/seed2$" <<< "$out" &&
   ! grep -q "kept (finished earlier): $TMP/my study2/waste/grpo_lambda/seed1$" <<< "$out"; then
    pass "study2: a restart keeps finished stages and redoes unfinished ones"
else
    fail "study2: a restart keeps finished stages and redoes unfinished ones" "$out"
fi
expect_same "study2: a redone run reproduces its training evaluations bit for bit" \
    "$TMP/study2-eval.jsonl" "$TMP/my study2/waste/grpo_lambda/seed1/eval.jsonl"
expect_same "study2: a redone run reproduces its final samples bit for bit" \
    "$TMP/study2-samples.jsonl" "$TMP/my study2/waste/grpo_lambda/seed1/styles/samples.jsonl"
expect_error "study2: unknown task" "unknown task 'hard'; expected some of" bash "$ROOT/launch/study2.sh" --tasks "waste hard"
expect_error "study2: algorithm in no plan" "algorithm 'ppo' is in no task's plan" bash "$ROOT/launch/study2.sh" --algos ppo
expect_error "study2: bad seed" "seed '-1': expected a non-negative integer" bash "$ROOT/launch/study2.sh" --seeds "-1"
expect_error "study2: bad --np" "--np '0': expected a positive integer" bash "$ROOT/launch/study2.sh" --np 0
expect_error "study2: unknown option" "unknown option '--steps'" bash "$ROOT/launch/study2.sh" --steps 3
expect_error "study2: --report-only refuses an unfinished stage" "--report-only: .*/edge/warm is not finished" \
    env RLVR="$RLVR" bash "$ROOT/launch/study2.sh" --runs "$TMP/my study2" --out "$TMP/my study2-out" --tasks edge --report-only
