# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# The doc check of make test (tests/check_docs.sh): the repository's documents and comments cite only paths, config
# keys, rlvr options and identifiers that exist; in a copy of it, each kind of stale citation is named by file and
# line and fails the check, a historical section's stale name passes only with its HISTORY entry, which does not
# excuse the same name elsewhere, and an entry that excuses nothing is itself a finding.
plan 7
expect_ok "docs: every citation of the repository's documents and comments exists" bash "$ROOT/tests/check_docs.sh" "$RLVR"

# A copy of the documents, sources and scripts the check reads (no .git, no build outputs).
copy=$TMP/repo
mkdir -p "$copy"
tar -C "$ROOT" --exclude=./.git --exclude='./build*' --exclude=./runs -cf - . | tar -C "$copy" -xf -
reset_copy() { for f in README.md src/README.md results/gpu.md src/algo/loss.h tests/check_docs.sh; do cp "$ROOT/$f" "$copy/$f"; done; }
# check_copy NAME WANT_RC EXPECTED: the check on the copy exits WANT_RC and prints exactly EXPECTED, its last line's
# counts left out.
check_copy() {
    local out rc
    out=$(bash "$copy/tests/check_docs.sh" "$RLVR" "$copy" 2>&1); rc=$?
    out=$(sed '$s/^check_docs: [0-9].* checked; /check_docs: /' <<< "$out")
    if [ $rc -eq "$2" ] && [ "$out" = "$3" ]; then pass "$1"
    else fail "$1" "exit $rc, expected $2; got:"$'\n'"$out"$'\n'"expected:"$'\n'"$3"; fi
}

# README: a path, a {a,b} alternative, a key, an option, a subcommand, an identifier; src/README.md a folder path.
printf '%s\n' 'Gone: `src/model/gone.c`, `kernels/logits_loss.{cu,hh}`, `train.gone_key`, `rlvr train --gone-opt`,' \
    '`rlvr gone-sub`, `gone_function()`.' >> "$copy/README.md"
n=$(wc -l < "$copy/README.md")
echo 'The gone module (`model/gone_module.c`).' >> "$copy/src/README.md"
m=$(wc -l < "$copy/src/README.md")
# A C comment: a path, a key, a function.
sed -i '1s|$| (tests/gone_test.c, rollout.gone, gone_helper_fn())|' "$copy/src/algo/loss.h"
check_copy "docs: stale citations in the READMEs and a comment are each named, by file and line" 1 \
"README.md:$((n - 1)): cites 'src/model/gone.c', which does not exist (expected a path)
README.md:$((n - 1)): cites 'kernels/logits_loss.hh', which does not exist (expected a path)
README.md:$((n - 1)): cites 'train.gone_key', which does not exist (expected a key)
README.md:$((n - 1)): cites 'rlvr train --gone-opt', which does not exist (expected an option)
README.md:$n: cites 'rlvr gone-sub', which does not exist (expected a subcommand)
README.md:$n: cites 'gone_function', which does not exist (expected an identifier)
src/README.md:$m: cites 'src/model/gone_module.c', which does not exist (expected a path)
src/algo/loss.h:1: cites 'tests/gone_test.c', which does not exist (expected a path)
src/algo/loss.h:1: cites 'rollout.gone', which does not exist (expected a key)
src/algo/loss.h:1: cites 'gone_helper_fn', which does not exist (expected an identifier)
check_docs: FAILED: 10 finding(s)"

# A dated section planted at the end of results/gpu.md citing a file gone since: a finding without its HISTORY
# entry, none with it; the same name in the file's undated first lines still fails with the entry.
reset_copy
printf '\n## A planted record (2026-01-01, revision 0123abc)\n\nIt ran `src/model/gone_then.c`.\n' >> "$copy/results/gpu.md"
line=$(wc -l < "$copy/results/gpu.md")
check_copy "docs: a historical section's gone path is a finding without its HISTORY entry" 1 \
"results/gpu.md:$line: cites 'src/model/gone_then.c', which does not exist (expected a path)
check_docs: FAILED: 1 finding(s)"
sed -i 's/^HISTORY=($/&\n    "results\/gpu.md|src\/model\/gone_then.c|renamed since"/' "$copy/tests/check_docs.sh"
check_copy "docs: with its HISTORY entry the historical section passes" 0 "check_docs: no findings"
sed -i '2s|$| (`src/model/gone_then.c`)|' "$copy/results/gpu.md"
check_copy "docs: the HISTORY entry does not excuse the name outside the historical sections" 1 \
"results/gpu.md:2: cites 'src/model/gone_then.c', which does not exist (expected a path)
check_docs: FAILED: 1 finding(s)"

# An entry that excuses nothing.
reset_copy
sed -i 's/^HISTORY=($/&\n    "results\/gpu.md|src\/model\/never_cited.c|no reason"/' "$copy/tests/check_docs.sh"
check_copy "docs: a HISTORY entry that excuses nothing is a finding" 1 \
"tests/check_docs.sh: HISTORY entry 'results/gpu.md|src/model/never_cited.c' excuses no citation (remove it)
check_docs: FAILED: 1 finding(s)"

# results/: an option in a current section is checked, in a dated one (what that revision ran) it is not.
reset_copy
printf '\n## A planted record (2026-01-01, revision 0123abc)\n\nIt ran `rlvr train --gone-then`.\n' >> "$copy/results/gpu.md"
sed -i '2s|$| (`rlvr train --gone-now`)|' "$copy/results/gpu.md"
check_copy "docs: an option of results/ is checked in a current section, not in a dated one" 1 \
"results/gpu.md:2: cites 'rlvr train --gone-now', which does not exist (expected an option)
check_docs: FAILED: 1 finding(s)"
