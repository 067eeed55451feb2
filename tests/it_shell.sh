# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# The script checks of make test. The shell check (tests/check_shell.sh): the repository's scripts are clean at
# `shellcheck -S warning`; a finding fails the check and is named; without shellcheck the check says it skipped,
# never that it passed. The layering check (tests/check_layers.sh) fails without the objects its call check reads.
plan 4
if command -v shellcheck >/dev/null; then
    expect_ok "shell: every script of the repository is clean at shellcheck -S warning" bash "$ROOT/tests/check_shell.sh"
    # A tree with one script that cds unchecked: exit 1, the finding by file and line, the count.
    mkdir -p "$TMP/tree/launch"
    printf '#!/usr/bin/env bash\ncd "$1"\necho ok\n' > "$TMP/tree/launch/unchecked_cd.sh"
    out=$(bash "$ROOT/tests/check_shell.sh" "$TMP/tree" 2>&1); rc=$?
    if [ $rc -eq 1 ] && grep -q '^launch/unchecked_cd.sh:2:1: warning: .*\[SC2164\]$' <<< "$out" &&
        [ "$(tail -n 1 <<< "$out")" = "check_shell: FAILED: 1 finding(s) (shellcheck exit 1)" ]
    then pass "shell: a finding fails the check, named by file and line"
    else fail "shell: a finding fails the check, named by file and line" "exit $rc:"$'\n'"$out"; fi
else
    skip "shell: every script of the repository is clean at shellcheck -S warning" "shellcheck is not installed"
    skip "shell: a finding fails the check, named by file and line" "shellcheck is not installed"
fi
# No shellcheck on PATH (bash by its path; the check needs no other program before it looks).
mkdir -p "$TMP/no-tools"
out=$(PATH="$TMP/no-tools" "$BASH" "$ROOT/tests/check_shell.sh" "$ROOT" 2>&1); rc=$?
if [ $rc -eq 0 ] && [ "$out" = "check_shell: SKIPPED: shellcheck is not installed (as root: apt-get install shellcheck, or launch/setup.sh --test)" ]
then pass "shell: without shellcheck the check says it skipped"
else fail "shell: without shellcheck the check says it skipped" "exit $rc:"$'\n'"$out"; fi
# check_layers.sh with an objects directory that is not there (a wrong OBJ_DIR, an unbuilt tree): one line, exit 1.
out=$(bash "$ROOT/tests/check_layers.sh" "$ROOT/src" "$TMP/no-objects" 2>&1); rc=$?
if [ $rc -eq 1 ] && [ "$out" = "check_layers: $(find "$ROOT/src" -name '*.c' | wc -l) of $(find "$ROOT/src" -name '*.c' | wc -l) sources have no object under $TMP/no-objects (build them first: make); their calls are unchecked" ]
then pass "layers: without the objects the check fails, naming the directory"
else fail "layers: without the objects the check fails, naming the directory" "exit $rc:"$'\n'"$out"; fi
