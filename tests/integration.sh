#!/usr/bin/env bash
# Integration tests: runs every tests/it_*.sh (sourced, in name order) against a built rlvr binary
# and ends with the plain line "N passed, N failed". Usage: tests/integration.sh build/rlvr [PATTERN]
set -u
RLVR=$(realpath "${1:-build/rlvr}")
PATTERN=${2:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d /tmp/rlvr-it.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export RLVR ROOT TMP

# Open MPI in containers: allow root, oversubscribe the 2 CI cores, avoid CMA single-copy.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
mpi() { local np=$1; shift; mpirun --oversubscribe -np "$np" "$@"; }

passed=0 failed=0
pass() { passed=$((passed + 1)); printf '  ok    %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf '  FAIL  %s\n' "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/        /' | head -20; }

# expect_ok NAME CMD...: the command succeeds.
expect_ok() {
    local name=$1; shift
    local out
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$out"; fi
}

# expect_error NAME PATTERN CMD...: the command fails and stderr has exactly one line matching PATTERN.
expect_error() {
    local name=$1 pattern=$2; shift 2
    local err rc
    err=$("$@" 2>&1 >/dev/null); rc=$?
    if [ $rc -eq 0 ]; then fail "$name" "succeeded; expected an error matching: $pattern"; return; fi
    if [ "$(printf '%s\n' "$err" | grep -cE -- "$pattern")" -ne 1 ]; then
        fail "$name" "stderr did not have one line matching '$pattern':"$'\n'"$err"; return
    fi
    pass "$name"
}

# expect_same NAME FILE_A FILE_B: byte-identical files.
expect_same() {
    if cmp -s "$2" "$3"; then pass "$1"; else fail "$1" "$(diff <(head -c 2000 "$2") <(head -c 2000 "$3") | head -10)"; fi
}

for script in "$ROOT"/tests/it_*.sh; do
    [ -n "$PATTERN" ] && [[ "$script" != *"$PATTERN"* ]] && continue
    echo "$(basename "$script")"
    # shellcheck source=/dev/null
    source "$script"
done
echo "integration: $passed passed, $failed failed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
