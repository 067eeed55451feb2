# The gradient reducer over ranks (algo/grad_reduce.h): build/mpi_grad_reduce sums micro-batches of known values
# over 1, 2 and 4 ranks, per layer during the last backward, and compares with the sums it computes by hand
# (deterministic: bit for bit; fast: within float rounding); at zero stage 2 each rank keeps only the pages of the
# gradient it owns.
plan 3
GRAD_TEST=$(dirname "$RLVR")/mpi_grad_reduce
for np in 1 2 4; do
    if [ -x "$GRAD_TEST" ]; then
        expect_ok "gradient reducer on $np ranks: sums by hand, only owned pages resident at zero 2" mpi $np "$GRAD_TEST"
    else
        fail "gradient reducer on $np ranks" "$GRAD_TEST is missing: make $GRAD_TEST"
    fi
done
