#!/usr/bin/env bash
# Builds the libFuzzer targets (clang -fsanitize=fuzzer,address,undefined) and runs each for SECONDS.
# usage: bash tests/fuzz.sh [SECONDS=10] [TARGET...]   (targets: config verify dataset tokenizer safetensors hf_config; default all)
# Seeds: tests/fuzz_corpus/<target>/ (read only); new inputs go to a scratch directory.
# Targets build and run FUZZ_JOBS at a time (default: the CPU count; each fuzzer is single-threaded); their reports
# print in target order. Exit status 0 only when no target crashed, leaked, hung (> 5 s per input) or exceeded 2 GiB.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_EACH=${1:-10}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(config verify dataset tokenizer safetensors hf_config)
OUT=${FUZZ_BUILD:-$ROOT/build/fuzz}
mkdir -p "$OUT"
CC=${FUZZ_CC:-clang}
# shellcheck disable=SC2054,SC2207  # -fsanitize= takes a comma list; pkg-config prints flags to split into words
FLAGS=(-std=c17 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I"$ROOT/src" $(pkg-config --cflags libcjson))
declare -A SRCS=(
    [verify]="src/text/verify.c src/text/verify_norm.c src/text/verify_num.c src/text/verify_poly.c"
    [dataset]="src/task/dataset.c src/base/jsonl.c src/base/rng.c src/base/error.c src/text/verify.c src/text/verify_norm.c src/text/verify_num.c src/text/verify_poly.c"
    [config]="src/base/config.c src/base/error.c src/base/suggest.c"
    [tokenizer]="src/text/tokenizer.c src/text/tokenizer_bpe.c src/base/error.c"
    [safetensors]="src/io/safetensors.c src/base/error.c"
    [hf_config]="src/model/model_hf.c src/model/model.c src/base/jsonl.c src/base/error.c src/base/rng.c"
)
declare -A LIBS=([verify]="" [dataset]="$(pkg-config --libs libcjson) -lm" [config]="$(pkg-config --libs inih) -lm"
                 [tokenizer]="$(pkg-config --libs libcjson libpcre2-8 libutf8proc) -lm"
                 [safetensors]="$(pkg-config --libs libcjson) -lm" [hf_config]="$(pkg-config --libs libcjson) -lm")
for t in "${TARGETS[@]}"; do
    [ -n "${SRCS[$t]:-}" ] || { echo "fuzz.sh: unknown target '$t' (expected: ${!SRCS[*]})" >&2; exit 2; }
done

# fuzz_one T: builds fuzz_T and runs it for SECONDS_EACH; non-zero when either fails.
fuzz_one() {
    local t=$1 scratch log status
    echo "== build fuzz_$t"
    (cd "$ROOT" && $CC "${FLAGS[@]}" "tests/fuzz_$t.c" ${SRCS[$t]} ${LIBS[$t]} -o "$OUT/fuzz_$t") ||
        { echo "fuzz_$t: the build FAILED"; return 1; }
    scratch=$(mktemp -d)
    echo "== run fuzz_$t for ${SECONDS_EACH}s"
    log="$scratch.log"
    if "$OUT/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=5 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$OUT/crash-$t-" "$scratch" "$ROOT/tests/fuzz_corpus/$t" >"$log" 2>&1; then
        status=0
    else
        status=$?
    fi
    grep -E "^(SUMMARY|stat::number_of_executed_units|stat::peak_rss_mb|Done)|ERROR|deadly" "$log" || true
    [ "$status" -eq 0 ] || tail -40 "$log"
    rm -f "$log"
    rm -rf "$scratch"
    [ "$status" -eq 0 ] || { echo "fuzz_$t FAILED (exit $status); reproducer in $OUT/crash-$t-*"; return 1; }
    echo "fuzz_$t: ok"
}

JOBS=${FUZZ_JOBS:-$(nproc)}
rm -f "$OUT"/status-*
for t in "${TARGETS[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    { fuzz_one "$t" && echo passed >"$OUT/status-$t"; } >"$OUT/report-$t" 2>&1 &
done
wait
failed=0
for t in "${TARGETS[@]}"; do
    cat "$OUT/report-$t"
    [ "$(cat "$OUT/status-$t" 2>/dev/null)" = passed ] || failed=1
    rm -f "$OUT/report-$t" "$OUT/status-$t"
done
[ "$failed" -eq 0 ] || { echo "fuzz.sh: a target failed (above)" >&2; exit 1; }
