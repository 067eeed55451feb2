#!/usr/bin/env bash
# Shell check (make test): shellcheck at -S warning over every shell script of the repository (launch/*.sh,
# launch/*.sbatch, tests/*.sh, results/*.sh, .ci/run), sourced files followed (-x); tests/runner_fixtures/ is broken
# on purpose and left out. One line per finding and exit 1 if any. Without shellcheck it says the check is skipped
# (launch/setup.sh --test installs it) and exits 0. A split or an expansion that is meant carries
# `# shellcheck disable=SCxxxx  # why` where it is.
# Usage: tests/check_shell.sh [ROOT]   (ROOT: the repository, default the one holding this file)
set -uo pipefail
ROOT=$(cd "${1:-$(dirname "$0")/..}" && pwd) || { echo "check_shell: no directory '${1:-}'" >&2; exit 2; }
cd "$ROOT" || exit 2
if ! command -v shellcheck >/dev/null; then
    echo "check_shell: SKIPPED: shellcheck is not installed (as root: apt-get install shellcheck, or launch/setup.sh --test)"
    exit 0
fi
mapfile -t scripts < <(compgen -G 'launch/*.sh'; compgen -G 'launch/*.sbatch'; compgen -G 'tests/*.sh'
                       compgen -G 'results/*.sh'; compgen -G '.ci/run')
[ ${#scripts[@]} -gt 0 ] || { echo "check_shell: no shell scripts under $ROOT" >&2; exit 2; }
echo "check_shell: $(shellcheck --version | sed -n 's/^version: /shellcheck /p') -S warning over ${#scripts[@]} scripts"
# Paths relative to ROOT, where the `# shellcheck source=` directives start.
findings=$(shellcheck -x -S warning -f gcc "${scripts[@]}" 2>&1)
status=$?
if [ "$status" -ne 0 ]; then
    printf '%s\n' "$findings"
    echo "check_shell: FAILED: $(grep -c ': \(error\|warning\): ' <<< "$findings") finding(s) (shellcheck exit $status)"
    exit 1
fi
echo "check_shell: ${#scripts[@]} scripts, no findings"
