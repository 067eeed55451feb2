#!/usr/bin/env bash
# Integration tests: runs each tests/it_*.sh (in name order) against a built rlvr binary and ends with the plain
# line "N passed, N failed, N skipped"; the exit status is non-zero when anything failed.
# Each script runs in its own subshell with tests/helpers.sh (pass, fail, skip, expect_ok, mpi, ...) and its own
# empty $TMP, and declares `plan N` at its top. A script fails as a whole (one more failure) when it has a
# syntax error, exits before its end or with a non-zero status, or runs a number of checks other than planned.
# Usage: tests/integration.sh build/rlvr [WHICH]
#   WHICH  a PATTERN (no / or *) runs the tests/it_*.sh whose name contains it (all of them when empty);
#          a DIR/ runs its it_*.sh; any other path or glob runs those files (how tests/runner_selftest.sh runs
#          tests/runner_fixtures/, which the normal run never picks up).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RLVR=$(realpath -e "${1:-build/rlvr}" 2>/dev/null) && [ -x "$RLVR" ] ||
    { echo "integration.sh: '${1:-build/rlvr}' is not an executable (build it first: make)" >&2; exit 2; }
TMP=$(mktemp -d /tmp/rlvr-it.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export RLVR ROOT

# select_scripts [WHICH]: the scripts to run, one path per line, in name order.
select_scripts() {
    local which=${1:-}
    if [[ "$which" != */* && "$which" != *[*?[]* ]]; then
        compgen -G "$ROOT/tests/it_*.sh" | while read -r f; do [[ "${f##*/}" != *"$which"* ]] || echo "$f"; done
    elif [ -d "$which" ]; then compgen -G "$which/it_*.sh"
    else compgen -G "$which"; fi | LC_ALL=C sort
}

# run_script FILE DIR: runs FILE in a subshell whose checks go to DIR/checks, followed by "end STATUS" (FILE's
# last command returned STATUS) when FILE ran to its end, and always by "status N" (the subshell's exit status).
run_script() {
    (
        export CHECKS=$2/checks TMP=$2/tmp
        mkdir -p "$TMP"
        # shellcheck source=tests/helpers.sh
        source "$ROOT/tests/helpers.sh"
        # shellcheck source=/dev/null
        source "$1"
        echo "end $?" >> "$CHECKS"
    )
    echo "status $?" >> "$2/checks"
}

# script_problem CHECKS: why the script as a whole failed, from its checks file (nothing when it did not).
script_problem() {
    local checks=$1 ran planned first end status
    ran=$(grep -cE '^(ok|FAIL|skip) ' "$checks")
    planned=$(sed -n 's/^plan //p' "$checks")
    first=$(head -n 1 "$checks")
    end=$(sed -n 's/^end //p' "$checks")
    status=$(sed -n 's/^status //p' "$checks")
    if [ "$status" != 0 ]; then echo "exited with status $status after $ran checks"
    elif [ -z "$end" ]; then echo "exited before its end (exit 0 after $ran checks)"
    elif [ "$end" != 0 ]; then echo "its last command failed with status $end"
    elif [[ "$first" != "plan "* ]]; then echo "no 'plan N' before its first check"
    elif ! [[ "$planned" =~ ^[0-9]+$ ]]; then echo "plan '$planned': expected one plan with a number"
    elif [ "$ran" -ne "$planned" ]; then echo "ran $ran checks, planned $planned"
    fi
}

mapfile -t scripts < <(select_scripts "${2:-}")
[ ${#scripts[@]} -gt 0 ] || { echo "integration.sh: no test scripts match '${2:-}'" >&2; exit 2; }
passed=0 failed=0 skipped=0 failures=() times=()
for script in "${scripts[@]}"; do
    name=$(basename "$script")
    echo "$name"
    mkdir -p "$TMP/$name"
    start=$SECONDS
    # A syntax error anywhere fails the script before any of it runs.
    if syntax=$(bash -n "$script" 2>&1); then
        run_script "$script" "$TMP/$name"
        problem=$(script_problem "$TMP/$name/checks")
    else
        touch "$TMP/$name/checks"
        problem="syntax error: ${syntax%%$'\n'*}"
    fi
    times+=("${name%.sh} $((SECONDS - start))s")
    passed=$((passed + $(grep -c '^ok ' "$TMP/$name/checks")))
    failed=$((failed + $(grep -c '^FAIL ' "$TMP/$name/checks")))
    skipped=$((skipped + $(grep -c '^skip ' "$TMP/$name/checks")))
    mapfile -t -O ${#failures[@]} failures < <(sed -n "s/^FAIL /$name: /p" "$TMP/$name/checks")
    if [ -n "$problem" ]; then
        failed=$((failed + 1)); failures+=("$name: $problem")
        printf '  FAIL  %s: %s\n' "$name" "$problem"
    fi
done
echo "time per script: ${times[*]}"
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "integration: $passed passed, $failed failed, $skipped skipped"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
