#!/usr/bin/env bash
# The sampler's packed weights (src/model/matmul.h matmul_pack_make) exist only in builds whose MARCH has AVX-512, which
# make test's own build is not. Where this CPU has x86-64-v4, rlvr is built again at that level into BUILD/x86-64-v4 and
# tests/it_sample.sh runs against it: its decode rows read packed weights (groups of 8 and 7, and ranks of 8 rows),
# whose bits it compares with rlvr score's and with one rank's. Elsewhere it says it skipped.
#   tests/integration_isa.sh BUILD
set -euo pipefail
build=$1 level=x86-64-v4
lacks=$(bash "$(dirname "$0")/unit_isa.sh" --lacks $level)
if [[ -n $lacks ]]; then
    echo "integration at -march=$level: skipped (this CPU lacks$lacks)"
    exit 0
fi
echo "integration at -march=$level (it_sample.sh):"
make --no-print-directory -s -j"$(nproc)" BUILD="$build/$level" MARCH=$level "$build/$level/rlvr"
bash "$(dirname "$0")/integration.sh" "$build/$level/rlvr" it_sample
