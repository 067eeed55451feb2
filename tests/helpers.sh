# shellcheck shell=bash  # sourced by tests/integration.sh (and tests/runner_selftest.sh)
# Helpers of the integration scripts (tests/it_*.sh). tests/integration.sh sources this file into the subshell
# that runs each script. Every check records one line in $CHECKS ("ok NAME", "FAIL NAME" or "skip NAME") and
# the runner compares their number with the script's `plan N`. Every helper returns 0: a failed check is
# recorded, not an error of the script.

# plan N: the script runs exactly N checks (passed, failed or skipped), declared before the first one.
plan() { printf 'plan %s\n' "$1" >> "$CHECKS"; }

pass() { printf 'ok %s\n' "$1" >> "$CHECKS"; printf '  ok    %s\n' "$1"; }

# fail NAME [DETAIL]: DETAIL (e.g. the command's output) is shown indented, 20 lines at most.
fail() {
    printf 'FAIL %s\n' "$1" >> "$CHECKS"; printf '  FAIL  %s\n' "$1"
    [ -z "${2:-}" ] || printf '%s\n' "$2" | head -n 20 | sed 's/^/        /'
    return 0
}

# skip NAME REASON: the check could not run here (no GPU, ...); counted as skipped, never as passed.
skip() {
    [ -n "${2:-}" ] || { fail "$1" "skipped without a reason"; return 0; }
    printf 'skip %s\n' "$1" >> "$CHECKS"; printf '  skip  %s (%s)\n' "$1" "$2"
}

# Open MPI in containers: allow root, oversubscribe the 2 CI cores, avoid CMA single-copy.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
mpi() { local np=$1; shift; mpirun --oversubscribe -np "$np" "$@"; }

# expect_ok NAME CMD...: the command succeeds.
expect_ok() {
    local name=$1 out; shift
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$out"; fi
}

# expect_error NAME PATTERN CMD...: the command fails and its stderr has exactly one line matching PATTERN.
expect_error() {
    local name=$1 pattern=$2 err rc; shift 2
    err=$("$@" 2>&1 >/dev/null); rc=$?
    if [ $rc -eq 0 ]; then fail "$name" "succeeded; expected an error matching: $pattern"
    elif [ "$(printf '%s\n' "$err" | grep -cE -- "$pattern")" -ne 1 ]; then
        fail "$name" "stderr did not have one line matching '$pattern':"$'\n'"$err"
    else pass "$name"; fi
}

# nonempty NAME FILE...: true when every FILE has content; else records a failure of check NAME (two missing or
# empty outputs are neither "the same" nor "different" results).
nonempty() {
    local name=$1 f; shift
    for f in "$@"; do [ -s "$f" ] || { fail "$name" "$f is missing or empty"; return 1; }; done
}

# expect_same NAME FILE_A FILE_B: byte-identical files, both with content.
expect_same() {
    nonempty "$1" "$2" "$3" || return 0
    if cmp -s "$2" "$3"; then pass "$1"; else fail "$1" "$(diff <(head -c 2000 "$2") <(head -c 2000 "$3") | head -10)"; fi
}

# expect_differ NAME FILE_A FILE_B: files with content that differ.
expect_differ() {
    nonempty "$1" "$2" "$3" || return 0
    if cmp -s "$2" "$3"; then fail "$1" "$2 and $3 are identical"; else pass "$1"; fi
}
