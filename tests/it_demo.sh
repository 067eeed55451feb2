# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# make demo end to end (2 ranks, SFT then LUSPO, figures, rlvr eval table): held-out accuracy must rise.
plan 3
out=$(bash "$ROOT/launch/demo.sh" "$RLVR" --run-dir "$TMP/demo" --set sft.steps=400 --set train.steps=40 2>&1)
if [ $? -ne 0 ]; then fail "demo runs" "$(tail -n 20 <<< "$out")"; else pass "demo runs"; fi
first=$(head -n 1 "$TMP/demo/rl/eval.jsonl"); last=$(tail -n 1 "$TMP/demo/rl/eval.jsonl")
if jq -e -n --argjson a "$first" --argjson b "$last" \
    '$b.sampled_accuracy > $a.sampled_accuracy + 0.05 and $b.greedy_accuracy > $a.greedy_accuracy' >/dev/null; then
    pass "demo: held-out accuracy rises (sampled +5 points, greedy up)"
else
    fail "demo: held-out accuracy rises" "before $first"$'\n'"after  $last"
fi
expect_ok "demo: rlvr eval table and figures" bash -c 'grep -q "^| before | [0-9.]* ± " <<< "$0" && grep -q "^| after | [0-9.]* ± " <<< "$0" &&
    [ -s "$1/demo/figures/accuracy.png" ] && [ -s "$1/demo/figures/length_mean.png" ]' "$out" "$TMP"
