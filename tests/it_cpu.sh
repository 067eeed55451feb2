# CPU kernels across machines: with dist.deterministic=true the weights are the same bits whatever OpenBLAS kernel
# (OPENBLAS_CORETYPE, as on another CPU) and OpenMP thread count run the step, because the backward's products go
# through the fixed-order kernels of src/model/matmul.c; fast mode keeps OpenBLAS, and the control check shows those
# two settings really compute different bits there. rlvr --version and checkpoints name the build's -march; the
# steady-state benchmarks print their phases and limits.
plan 6
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
expect_ok "rlvr --version names the revision, -march and OpenBLAS kernel" bash -c \
    "'$RLVR' --version | grep -Eq '^rlvr [0-9a-f]{12}(-dirty)?, -march=[^,]+, OpenBLAS [A-Za-z0-9]+\$|^rlvr unknown, -march='"
expect_ok "the checkpoint records the build's -march" bash -c \
    "h5dump -a /meta/build_march '$TMP/true-haswell-1/$CK' | grep -q \"\$('$RLVR' --version | sed 's/.*-march=\([^,]*\),.*/\1/')\""
expect_ok "bench train: sampling, scoring, update and step lines" bash -c \
    "[ \"\$('$RLVR' bench train --config '$ROOT/configs/tiny-train.ini' --repeat 1 | grep -Eo '\"phase\":\"[a-z]+\"' | tr '\n' ' ')\" = \
       '\"phase\":\"sampling\" \"phase\":\"scoring\" \"phase\":\"update\" \"phase\":\"step\" ' ]"
expect_ok "bench model --deterministic: median, best and the sgemm peak of the run" bash -c \
    "'$RLVR' bench model --config '$ROOT/configs/tiny-moe.ini' --seqs 2 --seq-len 8 --repeat 2 --deterministic |
     grep -c '\"seconds_best\":[0-9.]*,.*\"sgemm_gflop_per_s\":[0-9.]*,\"fraction_of_sgemm\"' | grep -qx 2"
