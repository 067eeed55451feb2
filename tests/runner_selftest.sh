#!/usr/bin/env bash
# Self-test of tests/integration.sh on the scripts in tests/runner_fixtures/ (which the normal run never picks
# up): each broken one (a syntax error half-way, an early `exit 0`, a wrong plan count, a failing command, ...)
# makes the runner exit non-zero and say why; the good one passes with its skip counted as skipped.
# Run by `make test` before the integration tests; ends with "N passed, N failed" and exits non-zero on a failure.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FIX=$ROOT/tests/runner_fixtures
CHECKS=$(mktemp /tmp/rlvr-runner-selftest.XXXXXX)
trap 'rm -f "$CHECKS"' EXIT
# shellcheck source=tests/helpers.sh
source "$ROOT/tests/helpers.sh"

# expect_run NAME STATUS SUMMARY REASON WHICH: the runner (on a stand-in binary: the fixtures never run rlvr)
# exits with STATUS, its last line is SUMMARY, and a line matches the regex REASON (when not empty).
expect_run() {
    local name=$1 status=$2 summary=$3 reason=$4 out rc; shift 4
    out=$(bash "$ROOT/tests/integration.sh" "$(type -P true)" "$@" 2>&1); rc=$?
    if [ $rc -ne "$status" ]; then fail "$name" "exit status $rc, expected $status:"$'\n'"$out"
    elif [ "$(tail -n 1 <<< "$out")" != "$summary" ]; then fail "$name" "last line is not '$summary':"$'\n'"$out"
    elif [ -n "$reason" ] && ! grep -qE -- "$reason" <<< "$out"; then fail "$name" "no line matches '$reason':"$'\n'"$out"
    else pass "$name"; fi
}

expect_run "runner: a good script passes; its skip is counted as skipped" 0 "3 passed, 0 failed, 1 skipped" \
    "^  skip  a check that cannot run here \(no such device\)$" "$FIX/it_good.sh"
expect_run "runner: a syntax error half-way fails the script before it runs" 1 "0 passed, 1 failed, 0 skipped" \
    "^  FAIL  it_syntax_error.sh: syntax error: .*line 4: syntax error near unexpected token .fi'$" "$FIX/it_syntax_error.sh"
expect_run "runner: an early exit 0 fails the script" 1 "1 passed, 1 failed, 0 skipped" \
    "^  FAIL  it_early_exit.sh: exited before its end \(exit 0 after 1 checks\)$" "$FIX/it_early_exit.sh"
expect_run "runner: a wrong plan count fails the script" 1 "2 passed, 1 failed, 0 skipped" \
    "^  FAIL  it_wrong_plan.sh: ran 2 checks, planned 3$" "$FIX/it_wrong_plan.sh"
expect_run "runner: a failing command fails its check; the script runs on" 1 "1 passed, 1 failed, 0 skipped" \
    "^  FAIL  a command that fails$" "$FIX/it_failing_command.sh"
expect_run "runner: a script without a plan fails" 1 "1 passed, 1 failed, 0 skipped" \
    "^  FAIL  it_no_plan.sh: no 'plan N' before its first check$" "$FIX/it_no_plan.sh"
expect_run "runner: exit 3 half-way fails the script" 1 "1 passed, 1 failed, 0 skipped" \
    "^  FAIL  it_exit_status.sh: exited with status 3 after 1 checks$" "$FIX/it_exit_status.sh"
expect_run "runner: an unset variable (set -u) fails the script" 1 "1 passed, 1 failed, 0 skipped" \
    "^  FAIL  it_unbound_variable.sh: exited with status 1 after 1 checks$" "$FIX/it_unbound_variable.sh"
expect_run "runner: a skip without a reason is a failure" 1 "0 passed, 1 failed, 0 skipped" \
    "^  FAIL  a check skipped without a reason$" "$FIX/it_skip_without_reason.sh"
# All fixtures in one run (a directory): a broken script stops neither the run nor the count of later ones.
expect_run "runner: a directory runs every fixture and adds them up" 1 "10 passed, 8 failed, 1 skipped" \
    "^failed: it_wrong_plan.sh: ran 2 checks, planned 3$" "$FIX/"
expect_run "runner: a pattern matching no script is an error, not 0 failed" 2 \
    "integration.sh: no test scripts match 'no_such_script'" "" no_such_script

echo "runner self-test: $(grep -c '^ok ' "$CHECKS") passed, $(grep -c '^FAIL ' "$CHECKS") failed"
! grep -q '^FAIL ' "$CHECKS"
