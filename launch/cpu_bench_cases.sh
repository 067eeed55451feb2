#!/usr/bin/env bash
# The decode cases of a launch/cpu_bench.sh run at one decode shape (SHAPE, default small) on THREADS threads, a row each,
# with the threads' round trip measured beside the read tests before and after the case: tens of ns where the cores
# share a last-level cache, several times that across chiplets, where each core also has its own link to memory. A VM
# can move between the two from one minute to the next; where the two round trips differ more than twofold it moved
# during the case, whose figures then mix two machines ("moved"; `rlvr bench sample` runs such a case again).
# llama2.c's runs, which measure neither, are listed with the read test that ended the rlvr run just before them.
#   launch/cpu_bench_cases.sh OUT.jsonl THREADS [SHAPE]
set -euo pipefail
[ $# -eq 2 ] || [ $# -eq 3 ] || { echo "usage: launch/cpu_bench_cases.sh OUT.jsonl THREADS [SHAPE]" >&2; exit 2; }
[ -r "$1" ] || { echo "cpu_bench_cases.sh: cannot read '$1'" >&2; exit 2; }
[[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "cpu_bench_cases.sh: THREADS: expected a positive integer, got '$2'" >&2; exit 2; }
echo "| round | program | threads' round trip before / after, ns | placement | read GB/s | tokens/s | fraction of read |"
echo "|---|---|---|---|---|---|---|"
# A case's row waits for the read test after it; the stream ends with a marker, so the last case gets its row too.
shape=${3:-small}
jq -rn --argjson t "$2" --arg shape "$shape" '
    def ns: if . == null then "-" else (. * 10 | round / 10 | tostring) end;
    def placement($a; $b): if $a == null or $b == null then "-"
                           elif ([$a, $b] | max) > 2 * ([$a, $b] | min) then "moved" else "held" end;
    def row($c; $before; $after):
        "| \($c.round) | rlvr, group \($c.group) | \($before | ns) / \($after | ns) | \(placement($before; $after)) | " +
        "\($c.read_gb_per_s) | \($c.tokens_per_s) | \($c.fraction_of_read_bandwidth) |";
    foreach ((inputs | select(.threads == $t and .shape == $shape)), {bench: "end"}) as $l ({};
        .emit = [] |
        if $l.bench == "memory_read" or $l.bench == "end" then
            (if .case then .emit = [row(.case; .case_rt; $l.thread_round_trip_ns)] else . end)
            | .case = null | .rt = $l.thread_round_trip_ns | .bw = $l.gb_per_s
        elif $l.bench == "sample" then .case = $l | .case_rt = .rt
        elif $l.bench == "llama2.c" then
            .emit = ["| \($l.round) | llama2.c | \(.rt | ns) (before) | - | \(.bw // "-") (before) | " +
                     "\($l.tokens_per_s) | - |"]
        else . end;
        .emit[])' "$1"
