# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# Tasks, verifiers and rewards: `rlvr reward` end to end, its one-line errors, and results/objectives.md §4 values.
plan 25
cat > "$TMP/r.jsonl" <<'JSONL'
{"id": 1, "response": "so \\boxed{\\frac12}", "answer": "0.5"}
{"id": 2, "response": "Answer: 1,000", "answer": "#### 1000"}
{"id": 3, "response": "\\boxed{-3}", "answer": "3"}

{"id": 4, "response": "\\boxed{}", "answer": "3", "truncated": true, "response_len": 64}
JSONL
# Without --task the config's task judges (arith by default), whose verifier reads no \boxed{}: a warning says so.
printf '{"response":"so \\\\boxed{42}","answer":"42"}\n' > "$TMP/boxed.jsonl"
expect_ok "reward: no answer extracted by the default task's verifier is one warning naming it" bash -c '
    err=$("$RLVR" reward --in "$TMP/boxed.jsonl" --out "$TMP/boxed.out" 2>&1 >/dev/null) &&
    [ "$err" = "rlvr: reward: task arith'"'"'s verifier found no answer in any of the 1 responses; --task picks another (arith, math, gsm8k, dapo)" ] &&
    [ -z "$("$RLVR" reward --task math --in "$TMP/boxed.jsonl" --out "$TMP/boxed.out" 2>&1 >/dev/null)" ]'
expect_ok "reward --task math: accuracy line" \
    bash -c 'out=$("$RLVR" reward --task math --in "$TMP/r.jsonl" --out "$TMP/s.jsonl") &&
        grep -qx "accuracy: 0.5000 (2/4), format: 0.7500, mean reward: 0.5000" <<< "$out"'
expect_ok "reward --task math: verdicts written back with the input fields" bash -c '
    [ "$(wc -l < "$TMP/s.jsonl")" -eq 4 ] &&
    grep -q "\"id\":1,.*\"extracted\":\"\\\\\\\\frac12\",\"correct\":true,\"format_ok\":true,\"reward\":1," "$TMP/s.jsonl" &&
    grep -q "\"id\":3,.*\"correct\":false,.*\"reward\":0," "$TMP/s.jsonl" &&
    grep -q "\"id\":4,.*\"extracted\":\"\",\"correct\":false,.*\"loss_masked\":false" "$TMP/s.jsonl"'
# --out /dev/stdout: the JSON lines alone on stdout, the summary on stderr.
expect_ok "reward --out /dev/stdout: only JSON lines on stdout, the accuracy line on stderr" bash -c '
    "$RLVR" reward --task math --in "$TMP/r.jsonl" --out /dev/stdout > "$TMP/piped.out" 2> "$TMP/piped.err" &&
    [ "$(wc -l < "$TMP/piped.out")" -eq 4 ] && ! grep -v "^{.*}$" "$TMP/piped.out" &&
    grep -qx "accuracy: 0.5000 (2/4), format: 0.7500, mean reward: 0.5000" "$TMP/piped.err"'
# results/objectives.md §4: pm1 accuracy, format 0.5, overlong with L_max 64, L_buf 16, f 0.3 at |y| = 56: -0.15.
expect_ok "reward: pm1 + format + overlong + filter hand values" bash -c '
    "$RLVR" reward --task math --in "$TMP/r.jsonl" --out "$TMP/s2.jsonl" --set reward.accuracy=pm1 \
        --set reward.format_reward=0.5 --set reward.overlong_buffer=16 --set reward.overlong_factor=0.3 \
        --set reward.overlong_filter=true --set rollout.max_new_tokens=64 >/dev/null &&
    grep -q "\"id\":3,.*\"reward\":-0.5," "$TMP/s2.jsonl" &&
    grep -q "\"id\":4,.*\"r_overlong\":-0.3,\"loss_masked\":true" "$TMP/s2.jsonl"'
printf '{"response": "Answer: 3901", "answer": "3901"}\n{"response": "Answer: 3900", "answer": 3901}\n' > "$TMP/a.jsonl"
expect_ok "reward --task arith: integer verifier" \
    bash -c 'out=$("$RLVR" reward --task arith --in "$TMP/a.jsonl" --out "$TMP/b.jsonl") && grep -q "^accuracy: 0.5000 (1/2)" <<< "$out"'
printf '{"response": "\\\\boxed{0.1}", "answer": 0.1}\n{"response": "\\\\boxed{0.3}", "answer": 0.3}\n' > "$TMP/num.jsonl"
expect_ok "reward: a numeric answer 0.1 is read as 0.1, not 0.10000000000000001" \
    bash -c 'out=$("$RLVR" reward --task math --in "$TMP/num.jsonl" --out "$TMP/num.out") && grep -q "^accuracy: 1.0000 (2/2)" <<< "$out"'
# A sum's scientific-notation term keeps its exponent's sign (1.5e-2 + x), where 2e-1 + x stays 2e - 1 + x.
cat > "$TMP/sci.jsonl" <<'JSONL'
{"response": "\\boxed{1.5e-2+x}", "answer": "x+\\frac{3}{200}"}
{"response": "\\boxed{1E-3-y}", "answer": "-y+0.001"}
{"response": "\\boxed{2e-1+x}", "answer": "x+0.2"}
{"response": "\\boxed{2e-1+x}", "answer": "x-1+2e"}
JSONL
expect_ok "reward --task math: scientific notation inside sums" bash -c '
    "$RLVR" reward --task math --in "$TMP/sci.jsonl" --out "$TMP/sci.out" >/dev/null &&
    [ "$(grep -o "\"correct\":[a-z]*" "$TMP/sci.out" | tr "\n" " ")" = "\"correct\":true \"correct\":true \"correct\":false \"correct\":true " ]'
# Equations compare side by side or mirrored, assignment lists item by item in any order; a name is never dropped
# when both answers are equations (x=1 is not y=1), and 2x+1=0 is not 2x-1=0.
cat > "$TMP/eq.jsonl" <<'JSONL'
{"response": "\\boxed{f(x)=x+1}", "answer": "f(x) = 1+x"}
{"response": "\\boxed{2x+1=0}", "answer": "1+2x=0"}
{"response": "\\boxed{x=\\frac12, y=2}", "answer": "x=0.5,y=2"}
{"response": "\\boxed{x=1.5e-2, y=2}", "answer": "y=2, x=0.015"}
{"response": "\\boxed{y=2x+3}", "answer": "2x+3=y"}
{"response": "\\boxed{x=1}", "answer": "y=1"}
{"response": "\\boxed{2x+1=0}", "answer": "2x-1=0"}
{"response": "\\boxed{x=1, y=2}", "answer": "x=2, y=1"}
JSONL
expect_ok "reward --task math: equations and assignment lists" bash -c '
    "$RLVR" reward --task math --in "$TMP/eq.jsonl" --out "$TMP/eq.out" >/dev/null &&
    [ "$(grep -o "\"correct\":[a-z]*" "$TMP/eq.out" | cut -d: -f2 | tr "\n" " ")" = "true true true true true false false false " ]'
# Polynomials compare by exact canonical form (src/text/verify_poly.h), equations by lhs - rhs up to sign; near
# misses stay wrong: a sign error, a wrong power, x=1 against 2x=2, a word against its anagram.
cat > "$TMP/poly.jsonl" <<'JSONL'
{"response": "So \\boxed{2(x+1)}", "answer": "2x+2"}
{"response": "Answer: $(x+1)^2$", "answer": "x^2 + 2x + 1"}
{"response": "\\boxed{\\frac{x+1}{2}}", "answer": "\\frac{1}{2}x+\\frac12"}
{"response": "\\boxed{y-3=2x}", "answer": "y = 2x + 3"}
{"response": "\\boxed{2x+1=0}", "answer": "-2x-1=0"}
{"response": "\\boxed{(x-1)^2}", "answer": "x^2+2x+1"}
{"response": "\\boxed{x^3}", "answer": "x"}
{"response": "\\boxed{2x=2}", "answer": "x=1"}
{"response": "\\boxed{\\text{sey}}", "answer": "yes"}
JSONL
expect_ok "reward --task math: polynomials and equations up to sign" bash -c '
    "$RLVR" reward --task math --in "$TMP/poly.jsonl" --out "$TMP/poly.out" >/dev/null &&
    [ "$(grep -o "\"correct\":[a-z]*" "$TMP/poly.out" | cut -d: -f2 | tr "\n" " ")" = "true true true true true false false false false " ]'
# Roots of rationals and \pi are atoms with rational coefficients beside variables (src/text/verify_poly.h), and a tuple
# assignment is its list of equations (src/text/verify_norm.h); near misses stay wrong: another radicand, x=\pi
# against 2x=2\pi, values swapped between the variables.
cat > "$TMP/surd.jsonl" <<'JSONL'
{"response": "\\boxed{\\frac{3\\sqrt2}{2}x}", "answer": "1.5\\sqrt{2}x"}
{"response": "Answer: $2\\sqrt{3}\\pi$", "answer": "\\pi\\sqrt{12}"}
{"response": "\\boxed{(x,y)=(1,2)}", "answer": "y = 2, x = 1"}
{"response": "\\boxed{\\frac32\\sqrt2x}", "answer": "\\frac32\\sqrt3x"}
{"response": "\\boxed{x=\\pi}", "answer": "2x=2\\pi"}
{"response": "\\boxed{(x,y)=(1,2)}", "answer": "x=2, y=1"}
JSONL
expect_ok "reward --task math: root and pi coefficients, tuple assignments" bash -c '
    "$RLVR" reward --task math --in "$TMP/surd.jsonl" --out "$TMP/surd.out" >/dev/null &&
    [ "$(grep -o "\"correct\":[a-z]*" "$TMP/surd.out" | cut -d: -f2 | tr "\n" " ")" = "true true true false false false " ]'
printf '{"index": 0, "response": "Answer: 0"}\n{"index": 3, "split": "eval", "response": "x"}\n' > "$TMP/idx.jsonl"
expect_ok "reward --task arith: answers from the task by index" \
    bash -c '"$RLVR" reward --task arith --in "$TMP/idx.jsonl" --out "$TMP/idx.out" >/dev/null && [ "$(wc -l < "$TMP/idx.out")" -eq 2 ]'
printf '{"response": "Answer: 1", "answer": "1"}\n{"answer": "1"}\n' > "$TMP/missing.jsonl"
expect_error "reward: missing response names file:line" 'missing.jsonl:2: missing key "response"' \
    "$RLVR" reward --task math --in "$TMP/missing.jsonl" --out "$TMP/o.jsonl"
printf '{"response": "Answer: 1", "answer": "1"}\n{"response": \n' > "$TMP/broken.jsonl"
expect_error "reward: invalid JSON names file:line" 'broken.jsonl:2: invalid JSON' \
    "$RLVR" reward --task math --in "$TMP/broken.jsonl" --out "$TMP/o.jsonl"
printf '{"response": "Answer: 1", "answer": "1"}\n{"response": "Answer: 1", "answer": "1", "response": "2"}\n' \
    > "$TMP/twice.jsonl"  # Python's json would read the second response, cJSON the first
expect_error "reward: a repeated key names file:line and the key" 'twice.jsonl:2: key "response" appears more than once' \
    "$RLVR" reward --task math --in "$TMP/twice.jsonl" --out "$TMP/o.jsonl"
printf '{"response": "Answer: 1"}\n' > "$TMP/noanswer.jsonl"
expect_error "reward: no answer and no index" 'noanswer.jsonl:1: expected "answer" \(string\) or "index"' \
    "$RLVR" reward --task math --in "$TMP/noanswer.jsonl" --out "$TMP/o.jsonl"
printf '{"index": 0, "response": "Answer: 1"}\n' > "$TMP/nodata.jsonl"
# A bad line mid-file leaves no half output and keeps an older one whole (the output is written beside OUT, renamed).
printf '{"response": "x", "answer": "1"}\n' > "$TMP/old.jsonl"
cp "$TMP/old.jsonl" "$TMP/kept.jsonl"
printf '{"response": "x", "answer": "1"}\n{"response": "y"}\n' > "$TMP/half.jsonl"
expect_ok "reward: a bad second line leaves the older output as it was and no .tmp" bash -c '
    ! "$RLVR" reward --task math --in "$TMP/half.jsonl" --out "$TMP/kept.jsonl" 2>/dev/null &&
    cmp -s "$TMP/old.jsonl" "$TMP/kept.jsonl" && ! compgen -G "$TMP/kept.jsonl*.tmp"'
expect_error "reward: index on a task without data" 'nodata.jsonl:1: task math: no train data; set \[data\] path' \
    "$RLVR" reward --task math --in "$TMP/nodata.jsonl" --out "$TMP/o.jsonl"
expect_error "reward: unknown task names --task" "^rlvr reward: --task 'chess': expected arith, math, gsm8k or dapo" \
    "$RLVR" reward --task chess --in "$TMP/r.jsonl" --out "$TMP/o.jsonl"
expect_error "reward: bad format pattern" "format_pattern '\(x': invalid PCRE2 pattern" \
    "$RLVR" reward --task math --in "$TMP/r.jsonl" --out "$TMP/o.jsonl" --set 'reward.format_pattern=(x'
expect_error "reward: missing --in is a usage error" "--in and --out are required" "$RLVR" reward --task math
expect_error "reward: missing input file" "nope.jsonl: cannot open" \
    "$RLVR" reward --task math --in "$TMP/nope.jsonl" --out "$TMP/o.jsonl"
printf '{"question": "q1", "answer": "#### 1"}\nnot json\n' > "$TMP/gsm.jsonl"
expect_error "reward: dataset errors name file:line" 'gsm.jsonl:2: invalid JSON' \
    "$RLVR" reward --task gsm8k --set "data.path=$TMP/gsm.jsonl" --in "$TMP/r.jsonl" --out "$TMP/o.jsonl"
expect_ok "reward: data.skip_bad_lines skips the malformed record and says which" bash -c '
    err=$("$RLVR" reward --task gsm8k --set "data.path=$1" --set data.skip_bad_lines=true --in "$2" --out "$3" 2>&1) &&
    grep -qF "rlvr: reward: data.skip_bad_lines: 1 malformed line(s) of the training data skipped; the first: $1:2: invalid JSON" \
        <<<"$err"' _ "$TMP/gsm.jsonl" "$TMP/r.jsonl" "$TMP/o.jsonl"
# The committed agreement corpus still gives the committed math-verify agreement (no PyPI needed).
expect_ok "reward: math-verify agreement corpus >= 97%" bash -c '
    "$RLVR" reward --task math --in "$ROOT/tests/verifier_agreement/corpus.jsonl" --out "$TMP/agree.out" >/dev/null &&
    awk "{ mv = /\"math_verify\":true/; ok = /\"correct\":true/; agree += (mv == ok); n++ }
         END { printf \"agreement %d/%d\\n\", agree, n; exit !(n >= 2000 && agree >= 0.97 * n) }" "$TMP/agree.out"'
