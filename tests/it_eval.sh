# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# rlvr eval: the held-out split gives what training's own evaluation gave, the same bits on 1, 2 and 3 ranks,
# a benchmark file scored by the task's verifier, the table of runs, and one clear error per bad input.
plan 26
E=$TMP/eval
"$RLVR" sft --config "$ROOT/configs/demo.ini" --run-dir "$E/sft" --set sft.steps=60 --set eval.every=60 \
    --set eval.n_prompts=12 --set checkpoint.every=60 >/dev/null 2>&1
ck=$E/sft/ckpt/step-000060.h5
expect_ok "eval: held-out split of the checkpoint's task" "$RLVR" eval --ckpt "$ck" --out "$E/r1"
expect_ok "eval: avg@K and length equal training's sampled evaluation of the same checkpoint" \
    jq -ne --slurpfile t "$E/sft/eval.jsonl" --slurpfile r "$E/r1/eval.jsonl" \
    '$t[-1].step == 60 and $r[0].step == 60 and $r[0].prompts == 12 and $r[0].samples == 8 and
     $r[0].avg == $t[-1].sampled_accuracy and $r[0].length_mean == $t[-1].sampled_length_mean'
for np in 2 3; do
    mpi $np "$RLVR" eval --ckpt "$ck" --out "$E/r$np" 2>/dev/null
    expect_ok "eval: $np ranks write the same eval.jsonl and samples.jsonl as 1 rank" \
        bash -c "cmp '$E/r1/eval.jsonl' '$E/r$np/eval.jsonl' && cmp '$E/r1/samples.jsonl' '$E/r$np/samples.jsonl'"
done

# A benchmark file of the same prompts, in the same order (so the same draws), whose answer is what sample 0
# said: the expected accuracy is the share of samples whose answer equals sample 0's, counted by jq.
jq -c 'select(.sample_index == 0) | {problem: .prompt, answer: (if (.extracted | test("^[0-9]{1,9}$")) then
       .extracted else "no answer \(.prompt_index)" end)}' "$E/r1/samples.jsonl" > "$E/aime24.jsonl"
expect_ok "eval: a benchmark file through its preset" "$RLVR" eval --ckpt "$ck" --out "$E/b" --data "$E/aime24.jsonl"
expect_ok "eval: the benchmark's responses are the held-out ones (same prompts, same draws)" \
    jq -ne --slurpfile a "$E/r1/samples.jsonl" --slurpfile b "$E/b/samples.jsonl" \
    '[$a[] | .response] == [$b[] | .response] and ($b | length) == 96 and all($b[]; .benchmark == "aime24")'
expect_ok "eval: avg@K, pass@1 and pass@K as counted from the verdicts" jq -ne \
    --slurpfile s "$E/b/samples.jsonl" --slurpfile r "$E/b/eval.jsonl" '
    def num: if test("^[0-9]{1,9}$") then tonumber else null end;
    [$s[] | (.extracted | num) as $x | (.answer | num) as $y | ($x != null and $x == $y)] as $ok |
    ($ok | map(select(.)) | length) as $c |
    ([range(12) as $p | $ok[$p * 8:($p + 1) * 8] | any] | map(select(.)) | length) as $any |
    $c > 0 and $r[0].avg == $c / 96 and $r[0]["pass@1"] == $r[0].avg and $r[0]["pass@8"] == $any / 12 and
    ([$s[] | .correct] == $ok)'
expect_ok "eval --table: one row per run, benchmarks as columns" bash -c \
    "'$RLVR' eval --table '$E/r1' '$E/b' | grep -qx '| run | heldout | aime24 | avg | length |' &&
     '$RLVR' eval --table '$E/r1' '$E/b' | grep -q '^| b | – | [0-9.]* ± [0-9.]* | [0-9.]* | [0-9]* |$'"

expect_ok "eval: samples.jsonl's prompt is the whole chat-templated prompt (its first token is no BOS to drop)" bash -c "
    '$RLVR' eval --ckpt '$ck' --out '$E/chat' --n 1 --set eval.n_prompts=1 --set eval.max_new_tokens=2 \
        --set prompt.template=chatml 2>/dev/null &&
    jq -e '.prompt | startswith(\"<|im_start|>user\\n\") and endswith(\"<|im_start|>assistant\\n\")' '$E/chat/samples.jsonl'"

# The overlong punishment shapes training at rollout.max_new_tokens (results/objectives.md §4); evaluation samples at
# eval.max_new_tokens, here equal to the buffer (L_max - L_buf = 0 punished every response), and reports R_acc +
# R_format: demo.ini's binary accuracy and no format bonus give 1 to a correct response and 0 to any other.
for ol in 20 0; do
    "$RLVR" eval --ckpt "$ck" --out "$E/ol$ol" --data "$E/aime24.jsonl" --set eval.max_new_tokens=20 \
        --set reward.overlong_buffer=$ol 2>/dev/null
done
expect_ok "eval: samples.jsonl's reward has no overlong punishment (eval.max_new_tokens = reward.overlong_buffer)" \
    jq -ne --slurpfile a "$E/ol20/samples.jsonl" '($a | length) == 96 and any($a[]; .correct) and any($a[]; .correct | not)
        and all($a[]; .reward == (if .correct then 1 else 0 end))'
expect_ok "eval: avg@K, pass@k and maj@K do not depend on reward.overlong_buffer" \
    jq -ne --slurpfile a "$E/ol20/eval.jsonl" --slurpfile b "$E/ol0/eval.jsonl" '$a == $b and ($a | length) == 1'

# During training, eval.benchmarks run the same code: the record at step 4 equals rlvr eval of that checkpoint.
expect_ok "eval: eval.benchmarks during training" "$RLVR" sft --config "$ROOT/configs/demo.ini" --run-dir "$E/bt" \
    --set sft.steps=4 --set eval.every=2 --set eval.n_prompts=4 --set checkpoint.every=4 \
    --set "eval.benchmarks=aime24=$E/aime24.jsonl" --set eval.samples=2
expect_ok "eval: a run's benchmark record = rlvr eval of its checkpoint" bash -c "
    '$RLVR' eval --ckpt '$E/bt/ckpt/step-000004.h5' --out '$E/bt-eval' --data 'aime24=$E/aime24.jsonl' 2>/dev/null &&
    jq -ne --slurpfile t '$E/bt/eval.jsonl' --slurpfile r '$E/bt-eval/eval.jsonl' '
        [\$t[] | select(.benchmark == \"aime24\") | .step] == [0, 2, 4] and \$r[0].samples == 2 and
        ([\$t[] | select(.benchmark == \"aime24\")][-1] | del(.checkpoint, .revision)) == (\$r[0] | del(.checkpoint, .revision))'"
expect_ok "eval --table reads a training run's benchmark records" bash -c \
    "'$RLVR' eval --table '$E/bt' | grep -q '^| bt | [0-9.]* ± [0-9.]* | '"
expect_ok "plot.sh draws each benchmark's avg@K and length against step" bash -c \
    "bash '$ROOT/launch/plot.sh' --out '$E/fig' '$E/bt' >/dev/null 2>&1 && [ -s '$E/fig/benchmark_aime24_avg.png' ] &&
     [ -s '$E/fig/benchmark_aime24_length.png' ]"

printf '%s\n' '{"problem": "1+1=", "answer": "2"}' '{"problem": "2+2=", "answer": ' > "$E/bad.jsonl"
expect_error "eval: a broken line names file and line" "bad.jsonl:2: " \
    "$RLVR" eval --ckpt "$ck" --out "$E/x" --data "math500=$E/bad.jsonl"
expect_ok "eval: data.skip_bad_lines leaves the broken line out, says so and why, and its record counts it" bash -c "
    err=\$('$RLVR' eval --ckpt '$ck' --out '$E/skip' --data 'math500=$E/bad.jsonl' --set data.skip_bad_lines=true 2>&1) &&
    grep -q 'math500: 1 prompts (1 malformed lines skipped: data.skip_bad_lines) x ' <<<\"\$err\" &&
    grep -qF 'rlvr: eval: math500: data.skip_bad_lines: 1 malformed line(s) of the eval data skipped; the first: $E/bad.jsonl:2: ' <<<\"\$err\" &&
    jq -ne --slurpfile s '$E/skip/eval.jsonl' --slurpfile b '$E/b/eval.jsonl' \
        '\$s[0].skipped_lines == 1 and \$s[0].prompts == 1 and \$b[0].skipped_lines == 0'"
expect_ok "eval: a training run's benchmark with data.skip_bad_lines logs the count and the first line's error" bash -c "
    '$RLVR' sft --config '$ROOT/configs/demo.ini' --run-dir '$E/bt-skip' --set sft.steps=1 --set eval.every=1 \
        --set eval.n_prompts=0 --set 'eval.benchmarks=math500=$E/bad.jsonl' --set data.skip_bad_lines=true \
        --set eval.samples=1 >/dev/null 2>&1 &&
    grep -qF 'eval step 0: math500: data.skip_bad_lines: 1 malformed line(s) of the eval data skipped; the first: $E/bad.jsonl:2: ' \
        '$E/bt-skip/log.txt'"
printf '%s\n' '{"question": "1+1=", "answer": "2"}' > "$E/amc.jsonl"
expect_error "eval: a missing field names file, line and field" "amc.jsonl:1: .*problem" \
    "$RLVR" eval --ckpt "$ck" --out "$E/x" --data "aime25=$E/amc.jsonl"
printf '%s\n' '{"problem": "What is 1+1?", "answer": "2"}' > "$E/plain.jsonl"
expect_error "eval: a file without a preset under the embedded task is refused, not replaced by its own split" \
    "plain.jsonl: task arith reads no files" "$RLVR" eval --ckpt "$ck" --out "$E/x" --data "$E/plain.jsonl"
expect_error "eval: an unknown preset" "unknown benchmark 'aime2024'" \
    "$RLVR" eval --ckpt "$ck" --out "$E/x" --data "aime2024=$E/amc.jsonl"
expect_ok "eval: benchmarks that failed left no empty eval.jsonl or samples.jsonl, and no .tmp" \
    bash -c '[ -d "$1" ] && ! compgen -G "$1/*"' _ "$E/x"

# Records append across benchmarks and runs, each benchmark's whole: a second benchmark that fails keeps the
# older records and the first benchmark's; a write that fails partway (a file size limit, as a full disk would)
# keeps both files as they were.
cp -r "$E/b" "$E/keep"
expect_ok "eval: a failing second benchmark keeps the older records and appends the first benchmark's, whole" bash -c "
    ! '$RLVR' eval --ckpt '$ck' --out '$E/keep' --data 'aime24=$E/aime24.jsonl' --data 'math500=$E/bad.jsonl' \
        2>/dev/null &&
    [ \$(wc -l < '$E/keep/eval.jsonl') -eq 2 ] && cmp -s '$E/b/eval.jsonl' <(head -n 1 '$E/keep/eval.jsonl') &&
    cmp -s <(cat '$E/b/samples.jsonl' '$E/b/samples.jsonl') '$E/keep/samples.jsonl' && ! compgen -G '$E/keep/*.tmp'"
cp -r "$E/b" "$E/limit"
limit_kb=$(( $(stat -c %s "$E/b/samples.jsonl") / 1024 + 4 ))  # the older file fits, twice it does not
expect_ok "eval: a failed write names the file and keeps eval.jsonl and samples.jsonl as they were, no .tmp" bash -c "
    err=\$(trap '' XFSZ; ulimit -f $limit_kb; '$RLVR' eval --ckpt '$ck' --out '$E/limit' --data '$E/aime24.jsonl' 2>&1)
    [ \$? -eq 1 ] && grep -q 'limit/samples.jsonl: ' <<<\"\$err\" && cmp -s '$E/b/eval.jsonl' '$E/limit/eval.jsonl' &&
    cmp -s '$E/b/samples.jsonl' '$E/limit/samples.jsonl' && ! compgen -G '$E/limit/*.tmp'"
# An append renames a copy over the file, so a directory another process writes into (a training run's, holding
# its .lock; another rlvr eval) is refused, naming the holder, rather than dropping the other's lines.
mkdir -p "$E/held"
exec 9>"$E/held/.lock"
flock -n 9
expect_error "eval: an output directory another process holds (a training run's) is refused" \
    "held: in use by another run" "$RLVR" eval --ckpt "$ck" --out "$E/held" --n 1 --set eval.n_prompts=1
exec 9>&-
# What a killed eval left (atomic_file's NAME.XXXXXX.tmp) goes once the directory is locked, each file named on its
# own line; near misses of the pattern stay.
cp -r "$E/b" "$E/stale"
touch "$E/stale/eval.jsonl.Ab12Cd.tmp" "$E/stale/samples.jsonl.000000.tmp" "$E/stale/notes.tmp" "$E/stale/a.1234567.tmp"
expect_ok "eval: stale temporary files in the output directory removed, each named; the near misses stay" bash -c '
    err=$("$RLVR" eval --ckpt "$1" --out "$2" --data "$3" 2>&1 >/dev/null) || { echo "$err"; exit 1; }
    [ "$(grep "^removed a stale temporary file: " <<<"$err" | sort)" = "removed a stale temporary file: $2/eval.jsonl.Ab12Cd.tmp
removed a stale temporary file: $2/samples.jsonl.000000.tmp" ] && [ "$(cd "$2" && echo *.tmp)" = "a.1234567.tmp notes.tmp" ] ||
    { echo "$err"; ls "$2"; false; }' _ "$ck" "$E/stale" "$E/aime24.jsonl"
