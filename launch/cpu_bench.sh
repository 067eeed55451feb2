#!/usr/bin/env bash
# Regenerates the measurements of results/cpu-bench.md: rlvr against llama2.c (run.c, decoding) and llm.c
# (train_gpt2.c, forward+backward) at the 124M shapes of configs/small.ini, random weights, side by side in one
# run, in interleaved rounds (rlvr, peer, rlvr, peer, ...) for 1 and 2 OpenMP threads.
#   launch/cpu_bench.sh [OUT.jsonl]        (default results/cpu-bench.jsonl)
# Environment: PEERS (where the peers are cloned and built, outside this repository; default ~/rlvr-peers),
# ROUNDS (3), NEW (decoded tokens per response, 256), THREADS ("1 2"), MARCH (rlvr's build, native),
# LLM_STEPS (timed llm.c steps per round, 5), SAMPLE_REPEAT (rounds of batch 1 and the group inside each bench sample,
# taking turns, 2), and OPENBLAS_CORETYPE for OpenBLAS's kernel (rlvr's fast backward
# and the sgemm peak; e.g. SkylakeX on Sapphire Rapids, which Debian's OpenBLAS 0.3.21 runs as Prescott).
# Needs git (or the peers already cloned there), cc, make, jq.
# Prints two summary tables (medians over the rounds) at the end, the second where rlvr's forward+backward spent its
# time by operation (bench model --ops); every raw measurement goes to OUT.jsonl.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/results/cpu-bench.jsonl}
PEERS=${PEERS:-$HOME/rlvr-peers}
ROUNDS=${ROUNDS:-3} NEW=${NEW:-256} THREADS=${THREADS:-1 2} MARCH=${MARCH:-native} LLM_STEPS=${LLM_STEPS:-5}
SAMPLE_REPEAT=${SAMPLE_REPEAT:-2}
BUILD=build-$MARCH
mkdir -p "$PEERS"
case "$PEERS" in "$ROOT"/*) echo "cpu_bench.sh: PEERS must be outside the repository" >&2; exit 2 ;; esac

# The peers, built as their own Makefiles build them: llama2.c `make runomp`, llm.c `make train_gpt2`.
for repo in llama2.c llm.c; do
    [ -d "$PEERS/$repo" ] || git clone -q "https://github.com/karpathy/$repo" "$PEERS/$repo"
done
make -s -C "$PEERS/llama2.c" runomp >/dev/null
make -s -C "$PEERS/llm.c" train_gpt2 >/dev/null 2>&1
make -s -C "$ROOT" BUILD="$BUILD" MARCH="$MARCH" "$BUILD/rlvr" >/dev/null
RLVR=$ROOT/$BUILD/rlvr

# Random weights and data at configs/small.ini's shapes (12 layers, width 768, 12 heads, vocab 50257, MLP 2048
# SwiGLU = llm.c's 3072 GELU in weights), written by a small C program so no Python is needed.
GEN=$PEERS/gen_weights
cat > "$GEN.c" <<'EOF'
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static uint64_t s = 88172645463325252ull;
static float rnd(void) { s ^= s << 13, s ^= s >> 7, s ^= s << 17; return ((float)(s >> 40) / 16777216.0f - 0.5f) * 0.04f; }
static void floats(FILE *f, size_t n) { for (size_t i = 0; i < n; i++) { float x = rnd(); fwrite(&x, 4, 1, f); } }
static void ones(FILE *f, size_t n) { float x = 1; for (size_t i = 0; i < n; i++) fwrite(&x, 4, 1, f); }
static void zeros(FILE *f, size_t n) { float x = 0; for (size_t i = 0; i < n; i++) fwrite(&x, 4, 1, f); }
int main(int argc, char **argv) {
    const int D = 768, F = 2048, L = 12, H = 12, V = 50257, S = 1024, Vp = 50304, F4 = 3072;
    const char *dir = argv[1];
    char p[4096];
    snprintf(p, sizeof p, "%s/llama2c_small.bin", dir);  /* llama2.c legacy format, shared classifier */
    FILE *f = fopen(p, "wb");
    int cfg[7] = {D, F, L, H, H, V, S};
    fwrite(cfg, 4, 7, f);
    floats(f, (size_t)V * D); ones(f, (size_t)L * D);
    floats(f, (size_t)L * D * D * 4); ones(f, (size_t)L * D);
    floats(f, (size_t)L * F * D * 3); ones(f, D);
    zeros(f, (size_t)S * (D / H));  /* freq_cis_real and _imag (unused) */
    fclose(f);
    snprintf(p, sizeof p, "%s/llama2c_tok.bin", dir);  /* V entries: llama's specials and bytes, " ", then names */
    f = fopen(p, "wb");
    int maxlen = 8;
    fwrite(&maxlen, 4, 1, f);
    for (int i = 0; i < V; i++) {
        char t[16]; float sc = 0;
        if (i < 3) snprintf(t, sizeof t, "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
        else if (i < 259) snprintf(t, sizeof t, "<0x%02X>", i - 3);
        else if (i == 259) snprintf(t, sizeof t, " ");
        else snprintf(t, sizeof t, "t%d", i);
        int n = (int)strlen(t);
        fwrite(&sc, 4, 1, f), fwrite(&n, 4, 1, f), fwrite(t, 1, n, f);
    }
    fclose(f);
    snprintf(p, sizeof p, "%s/llm.c/gpt2_124M.bin", dir);  /* llm.c version 3 (padded vocabulary) */
    f = fopen(p, "wb");
    int h[256] = {20240326, 3, S, V, L, H, D, Vp};
    fwrite(h, 4, 256, f);
    floats(f, (size_t)Vp * D); floats(f, (size_t)S * D);
    ones(f, (size_t)L * D); zeros(f, (size_t)L * D);
    floats(f, (size_t)L * 3 * D * D); zeros(f, (size_t)L * 3 * D);
    floats(f, (size_t)L * D * D); zeros(f, (size_t)L * D);
    ones(f, (size_t)L * D); zeros(f, (size_t)L * D);
    floats(f, (size_t)L * F4 * D); zeros(f, (size_t)L * F4);
    floats(f, (size_t)L * D * F4); zeros(f, (size_t)L * D);
    ones(f, D); zeros(f, D);
    fclose(f);
    for (int split = 0; split < 2; split++) {  /* random tokens for its data loaders */
        snprintf(p, sizeof p, "%s/llm.c/dev/data/tinyshakespeare/tiny_shakespeare_%s.bin", dir, split ? "val" : "train");
        f = fopen(p, "wb");
        int d[256] = {20240520, 1, 65536};
        fwrite(d, 4, 256, f);
        for (int i = 0; i < 65536; i++) { uint16_t t = (uint16_t)((s = s * 6364136223846793005ull + 1) >> 33) % V; fwrite(&t, 2, 1, f); }
        fclose(f);
    }
    return 0;
}
EOF
mkdir -p "$PEERS/llm.c/dev/data/tinyshakespeare"
[ -s "$PEERS/llm.c/gpt2_124M.bin" ] || { cc -O2 -o "$GEN" "$GEN.c" && "$GEN" "$PEERS"; }

machine="$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
{
    echo "{\"machine\":\"$machine\",\"date\":\"$(date -u +%FT%TZ)\",\"revision\":\"$(git -C "$ROOT" rev-parse --short HEAD)\",\"rlvr\":\"$("$RLVR" --version)\",\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
} > "$OUT"
log() { printf '%s\n' "$1" >> "$OUT"; }

max_threads=$(printf '%s\n' $THREADS | sort -n | tail -1)
for round in $(seq 1 "$ROUNDS"); do
    # rlvr forward+backward: 2 x 128 = 256 tokens per step, as llm.c's B=4 x T=64. One run takes the thread counts
    # in turn, each pass between two sgemm bursts, so each line's fraction of the peak and speedup are the moment's;
    # --ops adds where each pass's time went, by operation.
    OMP_NUM_THREADS=$max_threads OPENBLAS_NUM_THREADS=$max_threads "$RLVR" bench model \
        --config "$ROOT/configs/small.ini" --repeat 3 --ops $(printf -- '--threads %s ' $THREADS) |
        sed "s/^{/{\"round\":$round,/" >> "$OUT"
    for t in $THREADS; do
        export OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t
        # rlvr decode: memory read bandwidth, batch 1 and a group of 8 in turns (its JSON lines carry threads and
        # limits).
        "$RLVR" bench sample --config "$ROOT/configs/small.ini" --new "$NEW" --repeat "$SAMPLE_REPEAT" | grep -v warm-up |
            sed "s/^{/{\"round\":$round,/" >> "$OUT"
        # llama2.c decode: the same model shapes and number of new tokens.
        tps=$(cd "$PEERS/llama2.c" && ./run "$PEERS/llama2c_small.bin" -z "$PEERS/llama2c_tok.bin" -t 1.0 -s 1 \
            -n $((NEW + 1)) -i "a" 2>&1 >/dev/null | sed -n 's/achieved tok\/s: //p')
        log "{\"round\":$round,\"bench\":\"llama2.c\",\"threads\":$t,\"tokens_per_s\":${tps:-null}}"
        # llm.c training steps (forward, backward, AdamW) of 256 tokens; step 0 is its warm-up.
        ms=$(cd "$PEERS/llm.c" && stdbuf -oL ./train_gpt2 2>/dev/null | grep -m $((LLM_STEPS + 1)) 'took' | tail -n +2 |
            sed -n 's/.*(took \([0-9.]*\) ms)/\1/p' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}' || true)  # grep -m ends llm.c early (SIGPIPE)
        log "{\"round\":$round,\"bench\":\"llm.c\",\"threads\":$t,\"tokens\":256,\"step_ms_median\":${ms:-null}}"
    done
done

# Summary: medians over the rounds, per thread count.
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "nan"}'; }
field() { grep -o "\"$1\":[0-9.]*" | cut -d: -f2; }
echo "| threads | read GB/s | rlvr batch-1 tok/s | llama2.c tok/s | rlvr group-8 tok/s | group-8 / batch-1 | rlvr fwd+bwd tok/s | sgemm GFLOP/s | fraction of sgemm (median pass) | (best pass) | fwd+bwd speedup over $(printf '%s\n' $THREADS | head -1) thread(s) | sgemm's own speedup | CPU time stolen (fwd+bwd) | llm.c tok/s |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for t in $THREADS; do
    sel() { grep "\"threads\":${t}[,}]" "$OUT"; }
    bw=$(sel | grep '"memory_read"' | field gb_per_s | median)
    b1=$(sel | grep '"bench":"sample"' | grep '"group":1,' | field tokens_per_s | median)
    g8=$(sel | grep '"bench":"sample"' | grep '"group":8,' | field tokens_per_s | median)
    ll=$(sel | grep '"llama2.c"' | field tokens_per_s | median)
    fwd_bwd() { sel | grep '"bench":"model","phase":"forward+backward"'; }  # not the --ops lines
    fb=$(fwd_bwd | field tokens_per_s | median)
    pk=$(fwd_bwd | field sgemm_gflop_per_s | median)
    fr=$(fwd_bwd | field fraction_of_sgemm | median)
    frb=$(fwd_bwd | field fraction_of_sgemm_best | median)
    up=$(fwd_bwd | field speedup | median)
    sup=$(fwd_bwd | field sgemm_speedup | median)
    st=$(fwd_bwd | field steal_fraction | median)  # a VM's hypervisor taking the CPUs
    lm=$(sel | grep '"llm.c"' | field step_ms_median | median)
    lmt=$(awk -v ms="$lm" 'BEGIN { if (ms + 0 > 0) printf "%.1f", 256000 / ms; else print "nan" }')
    gr=$(awk -v g="$g8" -v b="$b1" 'BEGIN { if (b + 0 > 0) printf "%.2f", g / b; else print "nan" }')
    echo "| $t | $bw | $b1 | $ll | $g8 | $gr | $fb | $pk | $fr | $frb | ${up:--} | ${sup:--} | $st | $lmt |"
done

# Where the forward+backward's time went (--ops): medians over the rounds per operation and weight shape, at the
# first and last thread counts, largest share first.
t0=$(printf '%s\n' $THREADS | head -1) t1=$max_threads
echo
echo "| operation | weight | calls per pass | ms at $t0 | ms at $t1 | share at $t1 | GFLOP/s at $t0 | GFLOP/s at $t1 | fraction of sgemm at $t1 | speedup |"
echo "|---|---|---|---|---|---|---|---|---|---|"
jq -rs --argjson t0 "$t0" --argjson t1 "$t1" '
    def median: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
    def fmt(d): if . == null then "-" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
    def ms: if . == null then null else . * 1000 end;
    def at($t; f): [.[] | select(.threads == $t) | f // empty] | median;
    [.[] | select(.bench == "model_op")] | group_by([.op, .weight])
    | map({op: .[0].op, weight: (.[0].weight // "-"), calls: .[0].calls, s0: at($t0; .seconds), s1: at($t1; .seconds),
           share: at($t1; .share), g0: at($t0; .gflop_per_s), g1: at($t1; .gflop_per_s),
           f1: at($t1; .fraction_of_sgemm), up: at($t1; .speedup)})
    | sort_by(-.share)[]
    | "| \(.op) | \(.weight) | \(.calls // "-") | \(.s0 | ms | fmt(1)) | \(.s1 | ms | fmt(1)) | \(.share | fmt(3)) | " +
      "\(.g0 | fmt(1)) | \(.g1 | fmt(1)) | \(.f1 | fmt(2)) | \(.up | fmt(2)) |"' "$OUT"
