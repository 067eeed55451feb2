#!/usr/bin/env bash
# Regenerates the measurements of results/cpu-bench.md: rlvr against llama2.c (run.c, decoding) and llm.c
# (train_gpt2.c, forward+backward) at the 124M shapes of configs/small.ini, random weights, side by side in one
# run, in interleaved rounds (rlvr, peer, rlvr, peer, ...) for 1 and 2 OpenMP threads.
#   launch/cpu_bench.sh [OUT.jsonl]        (default results/cpu-bench.jsonl)
# Environment: PEERS (where the peers are cloned and built, outside this repository; default ~/rlvr-peers),
# ROUNDS (3), NEW (decoded tokens per response, 256), THREADS ("1 2"), MARCH (rlvr's build, native),
# DECODE_SHAPES (the models decoded by rlvr and llama2.c: "small", configs/small.ini, and "qwen2.5-0.5b",
# configs/qwen2.5-0.5b-shapes.ini, whose rows are longer and whose attention groups its query heads; default "small"),
# LLM_STEPS (timed llm.c steps per round, 5), SAMPLE_REPEAT (rounds of batch 1 and the group inside each bench sample,
# taking turns, 2), and OPENBLAS_CORETYPE for OpenBLAS's kernel (rlvr's fast backward
# and the sgemm peak; e.g. SkylakeX on Sapphire Rapids, which Debian's OpenBLAS 0.3.21 runs as Prescott).
# Needs git (or the peers already cloned there), cc, make, jq.
# Prints summary tables (medians over the rounds) at the end: configs/small.ini's, where rlvr's forward+backward spent
# its time by operation (bench model --ops), and one per further decode shape; every raw measurement goes to OUT.jsonl.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/results/cpu-bench.jsonl}
PEERS=${PEERS:-$HOME/rlvr-peers}
ROUNDS=${ROUNDS:-3} NEW=${NEW:-256} THREADS=${THREADS:-1 2} MARCH=${MARCH:-native} LLM_STEPS=${LLM_STEPS:-5}
SAMPLE_REPEAT=${SAMPLE_REPEAT:-2} DECODE_SHAPES=${DECODE_SHAPES:-small}
BUILD=build-$MARCH
# A decode shape's rlvr config, and its llama2.c model and tokenizer under PEERS.
shape_config() {
    case $1 in
    small) echo "$ROOT/configs/small.ini" ;;
    qwen2.5-0.5b) echo "$ROOT/configs/qwen2.5-0.5b-shapes.ini" ;;
    *) echo "cpu_bench.sh: DECODE_SHAPES: unknown shape '$1' (expected small or qwen2.5-0.5b)" >&2; return 2 ;;
    esac
}
shape_llama2c() { if [ "$1" = small ]; then echo llama2c_small.bin llama2c_tok.bin; else echo "llama2c_$1.bin llama2c_$1_tok.bin"; fi; }
for shape in $DECODE_SHAPES; do shape_config "$shape" >/dev/null || exit 2; done
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
# SwiGLU = llm.c's 3072 GELU in weights), and for llama2.c at each further decode shape, written by a small C program
# so no Python is needed.
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
/* A llama2.c model (legacy format, shared classifier) at dir/llama2c_NAME.bin and its tokenizer at TOK: V entries,
   llama's specials and bytes, " ", then names. */
static void llama2c(const char *dir, const char *name, const char *tok, int D, int F, int L, int H, int KV, int V) {
    const int S = 1024, KD = D / H * KV;
    char p[4096];
    snprintf(p, sizeof p, "%s/llama2c_%s.bin", dir, name);
    FILE *f = fopen(p, "wb");
    int cfg[7] = {D, F, L, H, KV, V, S};
    fwrite(cfg, 4, 7, f);
    floats(f, (size_t)V * D); ones(f, (size_t)L * D);
    floats(f, (size_t)L * D * D); floats(f, (size_t)L * KD * D * 2); floats(f, (size_t)L * D * D);
    ones(f, (size_t)L * D);
    floats(f, (size_t)L * F * D * 3); ones(f, D);
    zeros(f, (size_t)S * (D / H));  /* freq_cis_real and _imag (unused) */
    fclose(f);
    snprintf(p, sizeof p, "%s/%s", dir, tok);
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
}
int main(int argc, char **argv) {
    const int D = 768, F = 2048, L = 12, H = 12, V = 50257, S = 1024, Vp = 50304, F4 = 3072;
    const char *dir = argv[1];
    if (argc == 3 && !strcmp(argv[2], "qwen2.5-0.5b")) {  /* configs/qwen2.5-0.5b-shapes.ini's shapes */
        llama2c(dir, argv[2], "llama2c_qwen2.5-0.5b_tok.bin", 896, 4864, 24, 14, 2, 151936);
        return 0;
    }
    llama2c(dir, "small", "llama2c_tok.bin", D, F, L, H, H, V);
    char p[4096];
    snprintf(p, sizeof p, "%s/llm.c/gpt2_124M.bin", dir);  /* llm.c version 3 (padded vocabulary) */
    FILE *f = fopen(p, "wb");
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
cc -O2 -o "$GEN" "$GEN.c"
[ -s "$PEERS/llm.c/gpt2_124M.bin" ] || "$GEN" "$PEERS"
for shape in $DECODE_SHAPES; do
    [ "$shape" = small ] || [ -s "$PEERS/llama2c_$shape.bin" ] || "$GEN" "$PEERS" "$shape"
done

machine="$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
{
    echo "{\"machine\":\"$machine\",\"date\":\"$(date -u +%FT%TZ)\",\"revision\":\"$(git -C "$ROOT" rev-parse --short HEAD)\",\"rlvr\":\"$("$RLVR" --version)\",\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"decode_shapes\":\"$DECODE_SHAPES\"}"
} > "$OUT"
log() { printf '%s\n' "$1" >> "$OUT"; }

max_threads=$(printf '%s\n' $THREADS | sort -n | tail -1)
for round in $(seq 1 "$ROUNDS"); do
    # rlvr forward+backward: 2 x 128 = 256 tokens per step, as llm.c's B=4 x T=64. One run takes the thread counts
    # in turn, each pass between two sgemm bursts, so each line's fraction of the peak and speedup are the moment's;
    # --ops adds where each pass's time went, by operation.
    # shellcheck disable=SC2046  # THREADS is a list of thread counts, one --threads each
    OMP_NUM_THREADS=$max_threads OPENBLAS_NUM_THREADS=$max_threads "$RLVR" bench model \
        --config "$ROOT/configs/small.ini" --repeat 3 --ops $(printf -- '--threads %s ' $THREADS) |
        sed "s/^{/{\"round\":$round,/" >> "$OUT"
    for t in $THREADS; do
        export OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t
        for shape in $DECODE_SHAPES; do
            # rlvr decode: memory read bandwidth, batch 1 and a group of 8 in turns (its JSON lines carry threads and
            # limits).
            "$RLVR" bench sample --config "$(shape_config "$shape")" --new "$NEW" --repeat "$SAMPLE_REPEAT" |
                grep -v warm-up | sed "s/^{/{\"round\":$round,\"shape\":\"$shape\",/" >> "$OUT"
            # llama2.c decode: the same model shapes and number of new tokens.
            read -r model tok <<< "$(shape_llama2c "$shape")"
            tps=$(cd "$PEERS/llama2.c" && ./run "$PEERS/$model" -z "$PEERS/$tok" -t 1.0 -s 1 -n $((NEW + 1)) -i "a" \
                2>&1 >/dev/null | sed -n 's/achieved tok\/s: //p')
            log "{\"round\":$round,\"shape\":\"$shape\",\"bench\":\"llama2.c\",\"threads\":$t,\"tokens_per_s\":${tps:-null}}"
        done
        # llm.c training steps (forward, backward, AdamW) of 256 tokens; step 0 is its warm-up.
        ms=$(cd "$PEERS/llm.c" && stdbuf -oL ./train_gpt2 2>/dev/null | grep -m $((LLM_STEPS + 1)) 'took' | tail -n +2 |
            sed -n 's/.*(took \([0-9.]*\) ms)/\1/p' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}' || true)  # grep -m ends llm.c early (SIGPIPE)
        log "{\"round\":$round,\"bench\":\"llm.c\",\"threads\":$t,\"tokens\":256,\"step_ms_median\":${ms:-null}}"
    done
done

# Summary: medians over the rounds, per thread count.
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "nan"}'; }
field() { grep -o "\"$1\":[0-9.]*" | cut -d: -f2; }
# Decoding's medians over the lines the caller's sel() picks: read bandwidth, batch 1's tokens/s and fraction of it,
# the group's tokens/s and llama2.c's; rlvr's cases without those during which the VM moved the threads (bench sample
# ran each again), whose count is in moved.
decode_medians() {
    held() { sel | grep '"bench":"sample"' | grep -v '"placement":"moved"'; }
    bw=$(sel | grep '"memory_read"' | field gb_per_s | median)
    b1=$(held | grep '"group":1,' | field tokens_per_s | median)
    b1f=$(held | grep '"group":1,' | field fraction_of_read_bandwidth | median)
    g8=$(held | grep '"group":8,' | field tokens_per_s | median)
    ll=$(sel | grep '"llama2.c"' | field tokens_per_s | median)
    moved=$(sel | grep -c '"placement":"moved"' || true)
}
echo "| threads | read GB/s | cases moved (run again) | rlvr batch-1 tok/s | its fraction of read | llama2.c tok/s | rlvr group-8 tok/s | group-8 / batch-1 | rlvr fwd+bwd tok/s | sgemm GFLOP/s | fraction of sgemm (median pass) | (best pass) | fwd+bwd speedup over $(printf '%s\n' $THREADS | head -1) thread(s) | sgemm's own speedup | FMA peak GFLOP/s | fwd+bwd's fraction of it | CPU time stolen (fwd+bwd) | llm.c tok/s |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for t in $THREADS; do
    sel() { grep "\"threads\":${t}[,}]" "$OUT" | awk '!/"shape":"/ || /"shape":"small"/'; }  # configs/small.ini's
    decode_medians
    fwd_bwd() { sel | grep '"bench":"model","phase":"forward+backward"'; }  # not the --ops lines
    fb=$(fwd_bwd | field tokens_per_s | median)
    pk=$(fwd_bwd | field sgemm_gflop_per_s | median)
    fr=$(fwd_bwd | field fraction_of_sgemm | median)
    frb=$(fwd_bwd | field fraction_of_sgemm_best | median)
    up=$(fwd_bwd | field speedup | median)
    sup=$(fwd_bwd | field sgemm_speedup | median)
    fp=$(fwd_bwd | field fma_peak_gflop_per_s | median)  # the CPU's own bound, whatever OpenBLAS kernel runs
    ffp=$(fwd_bwd | field fraction_of_fma_peak | median)
    st=$(fwd_bwd | field steal_fraction | median)  # a VM's hypervisor taking the CPUs
    lm=$(sel | grep '"llm.c"' | field step_ms_median | median)
    lmt=$(awk -v ms="$lm" 'BEGIN { if (ms + 0 > 0) printf "%.1f", 256000 / ms; else print "nan" }')
    gr=$(awk -v g="$g8" -v b="$b1" 'BEGIN { if (b + 0 > 0) printf "%.2f", g / b; else print "nan" }')
    echo "| $t | $bw | $moved | $b1 | $b1f | $ll | $g8 | $gr | $fb | $pk | $fr | $frb | ${up:--} | ${sup:--} | $fp | $ffp | $st | $lmt |"
done

# Decoding on the most threads, case by case, each with the threads' round trip before and after it (a VM can move its
# cores from one chiplet to two during a case).
if [ "$max_threads" -ge 2 ]; then
    for shape in $DECODE_SHAPES; do
        echo
        echo "Decoding at $shape's shapes on $max_threads threads, case by case:"
        echo
        bash "$ROOT/launch/cpu_bench_cases.sh" "$OUT" "$max_threads" "$shape"
    done
fi

# Decoding at the further shapes: rlvr against llama2.c.
for shape in $DECODE_SHAPES; do
    [ "$shape" = small ] && continue
    echo
    echo "Decoding at $shape's shapes ($(shape_config "$shape")):"
    echo
    echo "| threads | read GB/s | cases moved (run again) | rlvr batch-1 tok/s | its fraction of read | llama2.c tok/s | rlvr / llama2.c | rlvr group-8 tok/s |"
    echo "|---|---|---|---|---|---|---|---|"
    for t in $THREADS; do
        sel() { grep "\"threads\":${t}[,}]" "$OUT" | grep "\"shape\":\"$shape\""; }
        decode_medians
        ratio=$(awk -v a="$b1" -v b="$ll" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "nan" }')
        echo "| $t | $bw | $moved | $b1 | $b1f | $ll | $ratio | $g8 |"
    done
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
