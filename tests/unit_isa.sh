#!/usr/bin/env bash
# Runs the fixed-order product tests built at other instruction-set levels (Makefile ISA_LEVELS: BUILD/unit-LEVEL)
# where this CPU has every feature of the level, each writing BUILD/unit-LEVEL.tap; where it lacks one, that file
# holds one TAP line reporting the level's tests skipped and why. Fails when a level's tests fail. With --lacks, prints
# the CPU flags of LEVEL this CPU lacks (nothing where it has them all; tests/integration_isa.sh asks).
#   tests/unit_isa.sh BUILD LEVEL...
#   tests/unit_isa.sh --lacks LEVEL
set -euo pipefail
build=$1
shift
# The CPU flags (/proc/cpuinfo names) each level adds to the one before it, as GCC's -march levels define them.
declare -A adds=([x86-64-v3]="avx avx2 bmi1 bmi2 f16c fma abm movbe xsave"
                 [x86-64-v4]="avx512f avx512bw avx512cd avx512dq avx512vl")
declare -A below=([x86-64-v3]="" [x86-64-v4]="x86-64-v3")
cpu=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
missing() {  # the flags of level $1 (and of the levels below it) that this CPU lacks
    local f out=""
    [[ -n ${below[$1]} ]] && out=$(missing "${below[$1]}")
    for f in ${adds[$1]}; do [[ $cpu == *" $f "* ]] || out+=" $f"; done
    echo "$out"
}
if [[ $build == --lacks ]]; then
    [[ -v adds[${1:-}] ]] ||
        { echo "tests/unit_isa.sh: unknown level '${1:-}' (expected one of ${!adds[*]})" >&2; exit 2; }
    missing "$1"
    exit 0
fi
for level; do
    [[ -v adds[$level] ]] || { echo "tests/unit_isa.sh: unknown level '$level' (expected one of ${!adds[*]})" >&2; exit 2; }
    lacks=$(missing "$level")
    if [[ -n $lacks ]]; then
        echo "ok - matmul tests at -march=$level  # SKIP this CPU lacks$lacks" >"$build/unit-$level.tap"
        continue
    fi
    echo "unit at -march=$level:"
    OMP_NUM_THREADS=1 "$build/unit-$level" --jobs 2 --tap="$build/unit-$level.tap"
done
