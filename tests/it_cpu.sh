# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# CPU kernels across machines: with dist.deterministic=true the weights are the same bits whatever OpenBLAS kernel
# (OPENBLAS_CORETYPE, as on another CPU) and OpenMP thread count run the step, because the backward's products go
# through the fixed-order kernels of src/model/matmul.c; fast mode keeps OpenBLAS, and the control check shows those
# two settings really compute different bits there; nor do glibc's non-FMA libm variants change a bit. rlvr --version
# and checkpoints name the build's -march; the steady-state benchmarks print their phases and limits; the heap gets
# transparent huge pages unless the user says no (skipped for a sanitizer build, whose allocator is not glibc's).
plan 37
# A sanitizer build's allocator replaces glibc's heap: the page-fault and huge-page checks then measure that allocator.
NO_GLIBC_HEAP=
ldd "$RLVR" 2>/dev/null | grep -q 'libasan' && NO_GLIBC_HEAP="AddressSanitizer's allocator replaces glibc's heap here"
# The benchmarks' checks run configs/small.ini's width, heads and vocabulary on 2 of its 12 layers: what they check
# does not need the depth, and the random initialisation of 124M parameters would take most of their time.
SMALL2="--set model.num_hidden_layers=2"
RL=(--config "$ROOT/configs/tiny-train.ini" --set train.steps=2 --set eval.n_prompts=0)
CK=ckpt/step-000002.h5
for mode in true false; do
    OPENBLAS_CORETYPE=Haswell OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
        "$RLVR" train "${RL[@]}" --set dist.deterministic=$mode --run-dir "$TMP/$mode-haswell-1" >/dev/null 2>&1
    OPENBLAS_CORETYPE=Prescott OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 \
        "$RLVR" train "${RL[@]}" --set dist.deterministic=$mode --run-dir "$TMP/$mode-prescott-2" >/dev/null 2>&1
done
expect_ok "deterministic: Haswell kernels on 1 thread = Prescott kernels on 2 threads, bit for bit" \
    "$RLVR" ckpt diff "$TMP/true-haswell-1/$CK" "$TMP/true-prescott-2/$CK" --exact
expect_ok "fast mode (OpenBLAS backward): the same two settings give different weights" bash -c \
    "test -s '$TMP/false-haswell-1/$CK' && test -s '$TMP/false-prescott-2/$CK' &&
     ! '$RLVR' ckpt diff '$TMP/false-haswell-1/$CK' '$TMP/false-prescott-2/$CK' --exact"
# glibc's libm picks its exp/log/pow/sin/cos by CPU (FMA or not): a CPU without FMA computes other bits. Those reach
# the weights only after a rounding to float, so the deterministic run is tested for the same bits under the
# non-FMA variants (an SFT warm start, then GRPO-lambda, whose reward uses exp), with awk's exp as the control.
NOFMA=glibc.cpu.hwcaps=-AVX2,-FMA,-AVX
EXPS='BEGIN { for (i = 1; i <= 100000; i++) printf "%.17g\\n", exp(-30 + i * 0.0003) }'
libm_run() {
    local dir=$1; shift
    env "$@" OMP_NUM_THREADS=1 "$RLVR" sft --config "$ROOT/configs/tiny-train.ini" --set dist.deterministic=true \
        --run-dir "$dir/sft" >/dev/null 2>&1 &&
    env "$@" OMP_NUM_THREADS=1 "$RLVR" train --config "$ROOT/configs/tiny-train.ini" --set dist.deterministic=true \
        --set algo.name=grpo_lambda --set train.steps=4 --set eval.n_prompts=0 \
        --init "$dir/sft/ckpt/step-000200.h5" --run-dir "$dir/rl" >/dev/null 2>&1
}
# same_runs A B: libm_run's checkpoints are the same bits, and so are its metrics but for the timings.
same_runs() {
    local untimed='del(.time_sampling_s, .time_scoring_s, .time_training_s, .tokens_per_s_rollout,
                       .tokens_per_s_train, .step_time_s, .ranks)' f
    "$RLVR" ckpt diff --exact "$1/sft/ckpt/step-000200.h5" "$2/sft/ckpt/step-000200.h5" &&
        "$RLVR" ckpt diff --exact "$1/rl/ckpt/step-000004.h5" "$2/rl/ckpt/step-000004.h5" &&
        jq -se '.[0].reward_mean > 0' "$1/rl/metrics.jsonl" >/dev/null || return 1
    for f in sft/metrics.jsonl rl/metrics.jsonl; do
        cmp <(jq -c "$untimed" "$1/$f") <(jq -c "$untimed" "$2/$f") || return 1
    done
}
if grep -qw fma /proc/cpuinfo && ! cmp -s <(awk "$EXPS") <(GLIBC_TUNABLES=$NOFMA awk "$EXPS"); then
    pass "control: glibc's exp gives other bits with its non-FMA variant ($NOFMA)"
    libm_run "$TMP/libm-fma"
    libm_run "$TMP/libm-nofma" GLIBC_TUNABLES=$NOFMA
    expect_ok "deterministic: SFT then GRPO-lambda, the same weights and metrics with glibc's non-FMA libm" \
        same_runs "$TMP/libm-fma" "$TMP/libm-nofma"
else
    skip "control: glibc's exp gives other bits with its non-FMA variant ($NOFMA)" "the CPU has no FMA, or libm one variant"
    skip "deterministic: SFT then GRPO-lambda, the same weights and metrics with glibc's non-FMA libm" \
        "the CPU has no FMA, or libm one variant"
fi
expect_ok "rlvr --version names the revision, -march and OpenBLAS kernel" bash -c \
    "'$RLVR' --version | grep -Eq '^rlvr ([0-9a-f]{12}(-dirty)?|unknown), -march=[^,]+, OpenBLAS [A-Za-z0-9_]+( \(chosen .*\))?\$'"
expect_ok "the checkpoint records the build's -march and the OpenBLAS kernel that ran (Haswell, as set)" bash -c \
    "h5dump -a /meta/build_march '$TMP/true-haswell-1/$CK' | grep -q \"\$('$RLVR' --version | sed 's/.*-march=\([^,]*\),.*/\1/')\" &&
     h5dump -a /meta/blas_kernel '$TMP/true-haswell-1/$CK' | grep -q '\"Haswell\"' &&
     h5dump -a /meta/blas_kernel '$TMP/true-prescott-2/$CK' | grep -q '\"Prescott\"'"
# OpenBLAS on a CPU it does not know (0.3.21 reads an Emerald Rapids Xeon as Prescott), played by a library function
# that answers as OpenBLAS does: the kernel OPENBLAS_CORETYPE names where it is set, else Prescott. The kernel rlvr
# should ask for comes from /proc/cpuinfo's flags; the real library's own report (OPENBLAS_VERBOSE) shows it loaded.
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)" "
has() { for f in "$@"; do [[ $flags == *" $f "* ]] || return 1; done; }
if has avx512f avx512cd avx512dq avx512bw avx512vl; then widest=SkylakeX
elif has avx2 fma; then widest=Haswell
elif has avx; then widest=Sandybridge
else widest=; fi
printf '#include <stdlib.h>\nchar *openblas_get_corename(void) { char *c = getenv("OPENBLAS_CORETYPE"); return c ? c : "Prescott"; }\n' \
    > "$TMP/misread.c"
if [ -n "$NO_GLIBC_HEAP" ] || [ -z "$widest" ] || ! cc -shared -fPIC -o "$TMP/misread.so" "$TMP/misread.c"; then
    why=${NO_GLIBC_HEAP:-${widest:+no C compiler for the stand-in library}}
    skip "OpenBLAS reads the CPU as Prescott: rlvr runs the CPU's widest kernel and --version says so" "${why:-the CPU has no AVX}"
    skip "OpenBLAS reads the CPU as Prescott: the user's OPENBLAS_CORETYPE is kept" "${why:-the CPU has no AVX}"
else
    expect_ok "OpenBLAS reads the CPU as Prescott: rlvr runs the CPU's widest kernel ($widest) and --version says so" bash -c \
        "out=\$(env -u OPENBLAS_CORETYPE OPENBLAS_VERBOSE=2 LD_PRELOAD='$TMP/misread.so' '$RLVR' --version 2>&1) &&
         [ \"\$(grep '^Core: ' <<<\"\$out\" | tail -1)\" = 'Core: $widest' ] &&
         grep -q ', OpenBLAS $widest (chosen for this CPU, which the library reads as Prescott)\$' <<<\"\$out\""
    expect_ok "OpenBLAS reads the CPU as Prescott: the user's OPENBLAS_CORETYPE is kept" bash -c \
        "OPENBLAS_CORETYPE=Prescott LD_PRELOAD='$TMP/misread.so' '$RLVR' --version | grep -q ', OpenBLAS Prescott\$'"
fi
"$RLVR" bench train --config "$ROOT/configs/tiny-train.ini" --repeat 1 > "$TMP/bench_train.jsonl" 2> "$TMP/bench_train.err"
"$RLVR" bench train --config "$ROOT/configs/tiny-train.ini" --repeat 1 --set algo.beta=0.04 > "$TMP/bench_train_ref.jsonl"
expect_ok "bench train: sampling, scoring, update and step lines, then the update's passes and optimizer" bash -c \
    "[ \"\$(jq -r .phase '$TMP/bench_train.jsonl' | tr '\n' ' ')\" = \
       'sampling scoring update step forward backward reference optimizer ' ]"
# The stolen share is null when no /proc/stat tick passed during this short timed step (a few ms of tiny-train).
# Seconds are printed to 1 us: the sum of four rounded parts may pass the rounded whole by 2 us.
expect_ok "bench train: the forward and backward take CPU time; the passes and the optimizer fit inside the update; a steal_fraction on each line" \
    jq -se 'INDEX(.phase) as $p | $p.forward.cpu_seconds > 0 and $p.backward.cpu_seconds > 0 and
            $p.forward.seconds > 0 and $p.backward.seconds > 0 and $p.optimizer.seconds > 0 and
            $p.forward.seconds + $p.backward.seconds + $p.reference.seconds + $p.optimizer.seconds <= $p.update.seconds + 1e-5 and
            all(has("steal_fraction") and (.steal_fraction == null or (.steal_fraction >= 0 and .steal_fraction <= 1)))' \
    "$TMP/bench_train.jsonl"
# The FLOPs' count itself is checked by tests/test_seqbatch.c; here how each line uses it.
expect_ok "bench train: the backward counts twice the forward's FLOPs, the reference none and no time without one; rates over the sgemm peak and the read test" \
    jq -se 'INDEX(.phase) as $p | $p.forward.gflop > 0 and ($p.backward.gflop / $p.forward.gflop - 2 | fabs) < 1e-6 and
            $p.reference.seconds == 0 and $p.reference.gflop == 0 and $p.reference.gflop_per_s == null and $p.sampling.tokens_per_s > 0 and
            ([$p.forward, $p.backward] | all(.sgemm_gflop_per_s > 0 and
                (.gflop_per_s / .sgemm_gflop_per_s - .fraction_of_sgemm | fabs) < 0.002)) and
            ($p.optimizer | .read_gb_per_s > 0 and (.gb_per_s / .read_gb_per_s - .fraction_of_read_bandwidth | fabs) < 0.002)' \
    "$TMP/bench_train.jsonl"
# Random weights: every reward of a group equal, so no loss coefficient unless an entropy bonus gives each row one.
# The warning comes only from a backend whose LM head skips such rows (two passes: the staged one, as CUDA's).
expect_ok "bench train: the share of rows with a loss coefficient, and the warning when there is none" bash -c \
    "'$RLVR' bench train --config '$ROOT/configs/tiny-train.ini' --repeat 1 --set algo.entropy_coef=1e-4 2>'$TMP/bt_ent.err' |
         jq -se 'map(select(.phase == \"backward\"))[0].live_row_share == 1' >/dev/null &&
     ! grep -q 'no response row had a loss coefficient' '$TMP/bt_ent.err' &&
     ! grep -q 'no response row' '$TMP/bench_train.err' &&
     RLVR_TEST_DEVICE=staged '$RLVR' bench train --config '$ROOT/configs/tiny-train.ini' --repeat 1 \
         >'$TMP/bt_staged.jsonl' 2>'$TMP/bt_staged.err' &&
     share=\$(jq -s 'map(select(.phase == \"backward\"))[0].live_row_share' '$TMP/bt_staged.jsonl') &&
     if [ \"\$share\" = 0 ]; then grep -q 'no response row had a loss coefficient' '$TMP/bt_staged.err'
     else ! grep -q 'no response row' '$TMP/bt_staged.err'; fi"
# Without a load-balancing loss either, no micro-batch has a coefficient: every forward and backward is skipped
# (train.skip_zero_backward; one update a step), counted as such, their FLOPs left out of the rates, and a warning
# says so.
expect_ok "bench train: passes without a loss coefficient skipped, their FLOPs left out, and a warning" bash -c \
    "'$RLVR' bench train --config '$ROOT/configs/tiny-train.ini' --repeat 1 --set model.router_aux_loss_coef=0 \
         2>'$TMP/bt_skip.err' | jq -se 'INDEX(.phase) as \$p | [\$p.forward, \$p.backward] |
             all(.skipped_share == 1 and .gflop == 0 and .gflop_per_s == null)' >/dev/null &&
     grep -q 'were skipped (train.skip_zero_backward)' '$TMP/bt_skip.err' &&
     ! grep -q 'were skipped' '$TMP/bench_train.err' '$TMP/bt_ent.err' &&
     jq -se 'INDEX(.phase) as \$p | [\$p.forward, \$p.backward] | all(.skipped_share == 0)' '$TMP/bench_train.jsonl' \
         >/dev/null"
expect_ok "bench train with a reference model (algo.beta > 0): its forward takes time and the policy's forward's FLOPs" \
    jq -se 'INDEX(.phase) as $p | $p.reference.seconds > 0 and $p.reference.cpu_seconds > 0 and
            $p.reference.gflop == $p.forward.gflop and $p.reference.gflop_per_s > 0 and
            $p.forward.seconds + $p.backward.seconds + $p.reference.seconds + $p.optimizer.seconds <= $p.update.seconds + 1e-5' \
    "$TMP/bench_train_ref.jsonl"
# Steady state: a timed step reuses the memory the warm-up step mapped (src/cli/rlvr.c keeps freed blocks in the
# heap; the gradient buffer is zeroed in place). Counted in 4 KiB pages (huge pages off): a regression that maps a
# step's gradient again faults in about a third of the warm-up's pages.
if [ -z "$NO_GLIBC_HEAP" ]; then
    expect_ok "bench train: the timed steps fault in under 5% of the warm-up step's pages" bash -c \
        "GLIBC_TUNABLES=glibc.malloc.hugetlb=0 '$RLVR' bench train --config '$ROOT/configs/tiny-train.ini' --repeat 3 \
            --set model.hidden_size=128 --set model.intermediate_size=256 --set model.moe_intermediate_size=128 |
         jq -se 'map(select(.phase == \"step\"))[0] | .warm_up_minor_faults > 1000 and .minor_faults * 20 < .warm_up_minor_faults'"
else
    skip "bench train: the timed steps fault in under 5% of the warm-up step's pages" "$NO_GLIBC_HEAP"
fi
# Deterministic mode, several micro-batches per rank: each update's second micro-batch adds into a fresh gradient
# buffer and the third starts full-size limbs (src/algo/grad_reduce.c). Those are made resident at once, in huge pages
# (src/base/pages.h); left to the backward's `+=`, the first read maps the zero page and each 4 KiB page faults in on
# its own (about 20 faults per gradient page per step before).
if [ -n "$NO_GLIBC_HEAP" ]; then
    skip "bench train, deterministic, several micro-batches: a timed step faults in fewer pages than the gradient has" \
        "$NO_GLIBC_HEAP"
elif grep -Eq '\[(madvise|always)\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null; then
    expect_ok "bench train, deterministic, several micro-batches: a timed step faults in fewer pages than the gradient has" bash -c \
        "GLIBC_TUNABLES=glibc.malloc.hugetlb=0 '$RLVR' bench train --config '$ROOT/configs/tiny-train.ini' --repeat 2 \
            --set dist.deterministic=true --set model.hidden_size=256 --set model.intermediate_size=512 \
            --set model.moe_intermediate_size=256 |
         jq -se 'map(select(.phase == \"step\"))[0] | .minor_faults < .n_params * 4 / 4096'"
else
    skip "bench train, deterministic, several micro-batches: a timed step faults in fewer pages than the gradient has" \
        "transparent huge pages are off here"
fi
expect_ok "bench model --deterministic: says so, with median, best and the sgemm peak of the run" bash -c \
    "'$RLVR' bench model --config '$ROOT/configs/tiny-moe.ini' --seqs 2 --seq-len 8 --repeat 2 --deterministic |
     grep -c '\"deterministic\":true,.*\"seconds_best\":[0-9.]*,.*\"sgemm_gflop_per_s\":[0-9.]*,\"fraction_of_sgemm\":[0-9.]*,\"fraction_of_sgemm_best\"' | grep -qx 2"
# --threads 1 --threads 2: the passes take turns between the counts. The process's CPU time per second of a pass shows
# which count each pass really ran on: about 1 on one thread, near 2 on two (OpenMP and OpenBLAS both follow it).
if [ "$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)" -ge 2 ]; then
    "$RLVR" bench model --config "$ROOT/configs/small.ini" $SMALL2 --seqs 1 --seq-len 32 --repeat 3 --threads 1 \
        --threads 2 > "$TMP/threads.jsonl" 2>/dev/null
    expect_ok "bench model --threads 1 --threads 2: a line per count and phase, each pass run on its count, speedups over 1" \
        jq -se 'length == 4 and (map(.threads) == [1, 2, 1, 2]) and all(.speedup_over_threads == 1) and
                all(.fraction_of_sgemm > 0 and .fraction_of_sgemm_best >= .fraction_of_sgemm) and
                all(select(.threads == 1) | .speedup == null and .sgemm_speedup == null) and
                all(select(.threads == 2) | .speedup > 0 and .sgemm_speedup > 0) and
                all(select(.phase == "forward+backward" and .threads == 1) | .cpu_seconds / .seconds < 1.15) and
                all(select(.phase == "forward+backward" and .threads == 2) | .cpu_seconds / .seconds > 1.3)' \
        "$TMP/threads.jsonl"
    # No computation passes the multiply-add peak: not the sgemm's, not a pass's; two threads reach more than one
    # (1.3x, as the CPU-time check above: a busy machine lends the second thread less than a core). It is measured
    # once per thread count, for both phases. A neighbour on the host can steal the second core for the whole
    # quarter second the peak takes (CI once saw it): a run that fails is run once more, and the values of both shown.
    peaks_hold() {
        jq -se 'length == 4 and all(.fma_peak_gflop_per_s > .sgemm_gflop_per_s and .fma_peak_gflop_per_s > .gflop_per_s and
                    (.gflop_per_s / .fma_peak_gflop_per_s - .fraction_of_fma_peak | fabs) < 0.002) and
                (group_by(.threads) | all(map(.fma_peak_gflop_per_s) | unique | length == 1)) and
                (map(select(.threads == 2) | .fma_peak_gflop_per_s) | min) >
                    1.3 * (map(select(.threads == 1) | .fma_peak_gflop_per_s) | max)' "$1" >/dev/null
    }
    peaks() { jq -c '{threads, phase, fma_peak_gflop_per_s, sgemm_gflop_per_s, gflop_per_s, steal_fraction}' "$1"; }
    if peaks_hold "$TMP/threads.jsonl"; then
        pass "bench model: the multiply-add peak per thread count above the sgemm's and the passes' rates, 2 threads > 1"
    else
        "$RLVR" bench model --config "$ROOT/configs/small.ini" $SMALL2 --seqs 1 --seq-len 32 --repeat 3 --threads 1 \
            --threads 2 > "$TMP/threads-again.jsonl" 2>/dev/null
        if peaks_hold "$TMP/threads-again.jsonl"; then
            pass "bench model: the multiply-add peak per thread count above the sgemm's and the passes' rates, 2 threads > 1"
        else
            fail "bench model: the multiply-add peak per thread count above the sgemm's and the passes' rates, 2 threads > 1" \
                "$(peaks "$TMP/threads.jsonl"; echo "run again:"; peaks "$TMP/threads-again.jsonl")"
        fi
    fi
else
    skip "bench model --threads 1 --threads 2: a line per count and phase, each pass run on its count, speedups over 1" \
        "one CPU here"
    skip "bench model: the multiply-add peak per thread count above the sgemm's and the passes' rates, 2 threads > 1" \
        "one CPU here"
fi
expect_ok "bench model --threads: a count given twice is an error (exit 1), nine counts a usage error (exit 2)" bash -c \
    "out=\$('$RLVR' bench model --config '$ROOT/configs/tiny-train.ini' --threads 2 --threads 1 --threads 2 2>&1 >/dev/null)
     [ \$? -eq 1 ] && grep -qx 'rlvr: bench model: --threads 2 is given twice' <<<\"\$out\" || exit 1
     out=\$('$RLVR' bench model --config '$ROOT/configs/tiny-train.ini' \$(printf -- '--threads %s ' 1 2 3 4 5 6 7 8 9) 2>&1 >/dev/null)
     [ \$? -eq 2 ] && grep -qx 'rlvr bench model: --threads is given 9 times; at most 8 thread counts' <<<\"\$out\""
# --prompt-len P: the LM head runs on L - P rows of a sequence (a response's first token is predicted from the
# prompt's last row), so P = 5 leaves out 4 of its rows: 4 x 2 V D FLOPs of the forward (V 50257, D 768).
# --ops: configs/tiny-dense.ini has 2 layers of q [32, 32], k and v [16, 32], o [32, 32], gate and up [64, 32] and
# down [32, 64]: per pass, each weight shape's dw and dx products number what the layers hold. The forward runs o and
# down alone (matmul), q, k and v as one product (matmul_parts) and gate and up with SwiGLU as another (gate_up_act),
# each timed under its stacked weights' shape: [64, 32] and [128, 32].
expect_ok "bench model --ops: a line per operation and thread count, the layers' products counted by weight shape" \
    bash -c "'$RLVR' bench model --config '$ROOT/configs/tiny-dense.ini' --seqs 2 --seq-len 16 --repeat 2 \
                 --threads 1 --threads 2 --ops |
     jq -se '[.[] | select(.bench == \"model_op\")] as \$ops | {\"32x32\": 4, \"16x32\": 4, \"64x32\": 4, \"32x64\": 2} as \$want |
             {\"matmul\": {\"32x32\": 2, \"32x64\": 2}, \"matmul_parts\": {\"64x32\": 2}, \"gate_up_act\": {\"128x32\": 2},
              \"matmul_dw\": \$want, \"matmul_dx\": \$want} as \$wants |
             all(1, 2; . as \$t | [\$ops[] | select(.threads == \$t)] as \$l |
                 all(\$wants | keys[]; . as \$op |
                     ([\$l[] | select(.op == \$op and (.weight | in(\$wants[\$op]))) | {key: .weight, value: .calls}] |
                      from_entries) == \$wants[\$op]) and
                 ((\$l | map(.share) | add) - 1 | fabs < 0.005) and
                 ([\$l[] | select(.op == \"(outside the operations)\")] | length == 1 and .[0].share >= 0 and .[0].share < 0.5) and
                 all(\$l[] | select(.op == \"matmul_dw\" or .op == \"matmul_dx\");
                     (.weight | split(\"x\") | map(tonumber)) as [\$n, \$k] |
                     (2 * .tokens * \$n * \$k * .calls / .seconds / 1e9) / .gflop_per_s - 1 | fabs < 0.02) and
                 all(\$l[]; if \$t == 1 then .speedup == null else .speedup > 0 end))'"
# With more rows than train.head_chunk (32 against 8) the LM head's backward takes the vocabulary (256) in slices of
# 8 x 256 / 32 = 64 columns: each slice's part of dx is an operation of its own, timed as one.
expect_ok "bench model --ops: the LM head's slices of dx are timed, their widths adding up to the vocabulary" \
    bash -c "'$RLVR' bench model --config '$ROOT/configs/tiny-dense.ini' --seqs 2 --seq-len 16 --repeat 2 --ops \
                 --set train.head_chunk=8 |
     jq -se '[.[] | select(.bench == \"model_op\" and .op == \"matmul_dx_slice\")] |
             length == 1 and .[0].weight == \"64x32\" and .[0].calls == 4 and .[0].gflop_per_s > 0'"
expect_error "bench model --ops on another backend than the CPU's is an error naming it" \
    "^rlvr: bench model --ops: the per-operation profile times the CPU backend only \\(the model runs on 'staged'\\)$" \
    env RLVR_TEST_DEVICE=staged "$RLVR" bench model --config "$ROOT/configs/tiny-dense.ini" --seq-len 8 --repeat 1 --ops
# bench sample --ops: each decode step runs every product of the model once per weight (2 layers: o [768, 768] and
# down [768, 2048] alone, q, k and v [768, 768] each as one product and gate and up [2048, 768] each as another with
# SwiGLU, timed under the stacked weights' shape; the LM head [50257, 768]), each reading its fp32 weight once per call. Attention reads each
# token's cached rows 0..pos (768 floats of keys and of values a row, 2 layers): the 4-token prompt is prefilled once
# (1 + 2 + 3 + 4 = 10 rows), then each sequence's 3 decode steps read 5, 6 and 7 rows. The case's own line counts what
# the steps must read from memory: the prompt's 4 rows once a step for the whole group (its responses read one copy)
# and each response's own 1, 2 and 3 rows, 10 + 3 x 4 + 6 g rows.
expect_ok "bench sample --ops: a line per operation and group, each weight and cached row read once per step" \
    bash -c "'$RLVR' bench sample --config '$ROOT/configs/small.ini' $SMALL2 --new 4 --prompt-len 4 --ops |
     jq -se '. as \$all | (map(select(.bench == \"sample\" and (.config | test(\"warm-up\") | not))) |
                 map({key: (.group | tostring), value: .decode_steps}) | from_entries) as \$steps |
             {\"matmul\": {\"768x768\": 2, \"768x2048\": 2, \"50257x768\": 1},
              \"matmul_parts\": {\"2304x768\": 2}, \"gate_up_act\": {\"4096x768\": 2}} as \$want |
             all(1, 8; . as \$g | [\$all[] | select(.bench == \"sample_op\" and .group == \$g)] as \$l |
                 all(\$want | keys[]; . as \$op |
                     ([\$l[] | select(.op == \$op) | {key: .weight, value: .calls_per_step}] | from_entries) ==
                     \$want[\$op]) and
                 ((\$l | map(.share) | add) - 1 | fabs < 0.005) and
                 all(\$l[] | select(.weight != null); (.weight | split(\"x\") | map(tonumber)) as [\$n, \$k] |
                     (.calls_per_step * \$steps[\$g | tostring] * \$n * \$k * 4 / .seconds / 1e9) / .weight_gb_per_s - 1
                     | fabs < 0.02) and
                 ([\$l[] | select(.op == \"attention\")][0] |
                     .kv_gb_per_s * 1e9 * .seconds / (2 * 768 * 8) / (10 + \$g * 18) - 1 | fabs < 0.02) and
                 ([\$all[] | select(.bench == \"sample\" and .group == \$g) | .kv_bytes] | unique ==
                     [(22 + \$g * 6) * 2 * 768 * 8]))'"
# --repeat R: after one untimed run of each case (the warm-up), the two cases take turns R times, batch 1 first in odd
# rounds and the group first in even ones (a case run again because the threads moved during it adds a line marked
# "moved"); --ops then sums each case's rounds, so its calls per decode step are those of a single round.
expect_ok "bench sample --repeat 2: a line per case and round, the first case alternating; --ops sums the rounds" \
    bash -c "for r in 1 2; do '$RLVR' bench sample --config '$ROOT/configs/tiny-train.ini' --new 4 --prompt-len 4 \
                 --repeat \$r --ops; done |
     jq -se '[.[] | select(.bench == \"sample\" and (.config | test(\"warm-up\") | not) and .placement != \"moved\") |
                 [.group, .repeat]] ==
                 [[1, 1], [8, 1], [1, 1], [8, 1], [8, 2], [1, 2]] and
             ([.[] | select(.bench == \"sample\" and (.config | test(\"warm-up\")))] | map([.group, .repeat]) ==
                 [[1, 0], [8, 0], [1, 0], [8, 0]]) and
             ([.[] | select(.bench == \"sample_op\" and .op == \"matmul\")] | group_by([.group, .weight]) |
                 all(length == 2 and .[0].calls_per_step == .[1].calls_per_step))'"
# The read test runs before the first case and after each one; a case's limit is the faster of the two around it,
# so that its fraction is that of its own minute on a VM whose bandwidth moves. The buffer is four times the weights
# within 512 MiB and 2 GiB (tiny-train's weights are far under 128 MiB). A case's fraction of it counts the weights and
# the cached rows it read.
expect_ok "bench sample: the read test around each case, the faster of the two its limit; a 512 MiB buffer at least" \
    bash -c "'$RLVR' bench sample --config '$ROOT/configs/tiny-train.ini' --new 4 --prompt-len 4 |
     jq -se 'map(select(.bench == \"memory_read\" or .bench == \"sample\")) as \$l |
             (\$l | length) as \$n | \$n % 2 == 1 and
             (\$l | map(.bench) == [range(\$n) | if . % 2 == 0 then \"memory_read\" else \"sample\" end]) and
             ([\$l[] | select(.bench == \"sample\" and .placement != \"moved\")] | length == 4) and
             all(\$l[] | select(.bench == \"memory_read\"); .bytes == 536870912 and .gb_per_s > 0) and
             all(range(1; \$n - 1; 2); \$l[.] as \$c | [\$l[. - 1].gb_per_s, \$l[. + 1].gb_per_s] | max == \$c.read_gb_per_s and
                 ((\$c.weight_gb_per_s + \$c.kv_gb_per_s) / \$c.read_gb_per_s - \$c.fraction_of_read_bandwidth | fabs < 0.001)
                 and \$c.kv_gb_per_s > 0)'"
# Each read test has the threads' round trip beside it, and a case the one of the read test it is set against.
expect_ok "bench sample: the threads' round trip beside each read test (2 threads), null on 1 thread" \
    bash -c "for t in 1 2; do OMP_NUM_THREADS=\$t '$RLVR' bench sample --config '$ROOT/configs/tiny-train.ini' --new 4 \
                 --prompt-len 4 | grep -v warm-up; done |
     jq -se 'map(select(.bench == \"memory_read\" or .bench == \"sample\")) | group_by(.threads) as [\$one, \$two] |
             all(\$one[]; .thread_round_trip_ns == null) and
             all(\$two[]; .thread_round_trip_ns > 0 and .thread_round_trip_ns < 2.5e8) and
             all(\$two[] | select(.bench == \"sample\"); . as \$c |
                 any(\$two[] | select(.bench == \"memory_read\"); .gb_per_s == \$c.read_gb_per_s and
                     .thread_round_trip_ns == \$c.thread_round_trip_ns))'"
# --group G: the second case decodes G responses to the one prompt at once, G x N tokens.
expect_ok "bench sample --group 16: batch 1 and a group of 16, 16 x N tokens" bash -c \
    "'$RLVR' bench sample --config '$ROOT/configs/tiny-train.ini' --new 4 --prompt-len 4 --group 16 | grep -v warm-up |
     jq -se '[.[] | select(.bench == \"sample\" and .placement != \"moved\") | [.group, .generated_tokens]] ==
             [[1, 4], [16, 64]]'"
expect_error "bench sample --group 1 is refused, naming the range" \
    "^rlvr bench sample: --group '1': expected an integer in \\[2, 4096\\]$" "$RLVR" bench sample --group 1
# A case is set beside the round trips before and after it: "held" within twofold, "moved" past it (the VM moved the
# threads during it, so its figures mix two placements), and a moved case runs again, twice at most; null on 1 thread.
# RLVR_TEST_ROUND_TRIPS gives the round trips in turn: the first read test, the two warm-ups', then batch 1 moved and
# held, the group moved three times.
expect_ok "bench sample: a case during which the threads moved is marked and run again, twice at most" \
    bash -c "{ OMP_NUM_THREADS=2 RLVR_TEST_ROUND_TRIPS=300,300,300,80,80,300,80,300 '$RLVR' bench sample \
                   --config '$ROOT/configs/tiny-train.ini' --new 4 --prompt-len 4 | grep -v warm-up;
               OMP_NUM_THREADS=1 '$RLVR' bench sample --config '$ROOT/configs/tiny-train.ini' --new 4 --prompt-len 4 |
                   grep -v warm-up; } |
     jq -se '[.[] | select(.bench == \"sample\") | [.threads, .group, .repeat, .placement]] ==
                 [[2, 1, 1, \"moved\"], [2, 1, 1, \"held\"], [2, 8, 1, \"moved\"], [2, 8, 1, \"moved\"],
                  [2, 8, 1, \"moved\"], [1, 1, 1, null], [1, 8, 1, null]]'"
expect_error "bench sample --ops on another backend than the CPU's is an error naming it" \
    "^rlvr: bench sample --ops: the per-operation profile times the CPU backend only \\(the model runs on 'staged'\\)$" \
    env RLVR_TEST_DEVICE=staged "$RLVR" bench sample --config "$ROOT/configs/small.ini" $SMALL2 --new 2 --ops
expect_ok "bench model --prompt-len 5: the forward's FLOPs drop by the LM head's 4 rows" bash -c \
    "for p in 0 5; do '$RLVR' bench model --config '$ROOT/configs/small.ini' $SMALL2 --seqs 1 --seq-len 16 --repeat 1 \
        --prompt-len \$p | jq 'select(.phase == \"forward\") | .gflop'; done |
     jq -se '(.[0] - .[1] - 4 * 2 * 50257 * 768 / 1e9) | fabs < 0.011'"
expect_ok "bench model: --prompt-len not below --seq-len is an error naming both, exit 1" bash -c \
    "out=\$('$RLVR' bench model --config '$ROOT/configs/tiny-train.ini' --seq-len 8 --prompt-len 8 2>&1 >/dev/null)
     [ \$? -eq 1 ] && grep -qx 'rlvr: bench model: --prompt-len 8 must be below --seq-len 8 (a sequence needs a target)' <<<\"\$out\""
# Within --seqs and --seq-len's ranges but past the model's positions: refused before 4 TB of tokens were asked for
# (an abort, exit 134).
expect_ok "bench model: --seq-len past max_position_embeddings is an error naming both, exit 1" bash -c \
    "out=\$('$RLVR' bench model --config '$ROOT/configs/tiny-train.ini' --seqs 1048576 --seq-len 1048576 2>&1 >/dev/null)
     [ \$? -eq 1 ] && grep -qx 'rlvr: bench model: --seq-len 1048576 exceeds \[model\] max_position_embeddings 64' <<<\"\$out\""
# Each phase says how much of the machine's CPU time a hypervisor stole while it ran (/proc/stat on Linux, 100 ticks
# a second: these passes over the LM head of a 50257-token vocabulary take long enough for the counters to move).
expect_ok "bench model and bench sample: each timed line gives the stolen share of CPU time, between 0 and 1" bash -c \
    "{ '$RLVR' bench model --config '$ROOT/configs/small.ini' $SMALL2 --seqs 1 --seq-len 32 --repeat 2;
       '$RLVR' bench sample --config '$ROOT/configs/small.ini' $SMALL2 --new 32 --prompt-len 4 | grep -v warm-up | grep '\"sample\"'; } |
     jq -se 'length == 4 and all(.steal_fraction | type == \"number\" and . >= 0 and . <= 1)'"
# The heap asks for transparent huge pages (src/cli/rlvr.c) unless the user set GLIBC_TUNABLES: the largest
# AnonHugePages of a `bench sample` (201 MB of weights and a read-bandwidth buffer of 4 times that), polled while it
# runs.
huge_peak_kb() {
    env "$@" "$RLVR" bench sample --config "$ROOT/configs/small.ini" $SMALL2 --new 4 --prompt-len 4 >/dev/null 2>&1 &
    local pid=$! peak=0 kb
    while kill -0 "$pid" 2>/dev/null; do
        kb=$(awk '/^AnonHugePages:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null)
        [ "${kb:-0}" -gt "$peak" ] && peak=$kb
        sleep 0.2
    done
    wait "$pid" && echo "$peak"
}
if [ -n "$NO_GLIBC_HEAP" ]; then
    skip "huge pages: > 200 MB of the heap by default" "$NO_GLIBC_HEAP"
    skip "huge pages: none when the user's GLIBC_TUNABLES turns them off" "$NO_GLIBC_HEAP"
elif grep -q '\[madvise\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null; then
    on=$(huge_peak_kb OMP_NUM_THREADS=1) off=$(huge_peak_kb OMP_NUM_THREADS=1 GLIBC_TUNABLES=glibc.malloc.hugetlb=0)
    expect_ok "huge pages: > 200 MB of the heap by default ($on kB)" test "${on:-0}" -gt 204800
    expect_ok "huge pages: none when the user's GLIBC_TUNABLES turns them off ($off kB)" test "${off:-1}" -eq 0
else
    skip "huge pages: > 200 MB of the heap by default" "transparent huge pages are not in madvise mode here"
    skip "huge pages: none when the user's GLIBC_TUNABLES turns them off" "transparent huge pages are not in madvise mode here"
fi
