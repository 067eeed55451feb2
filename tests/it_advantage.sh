# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# Advantages over ranks (results/objectives.md §1, §3 GRPO-λ, §6): build/mpi_advantage splits one batch over the ranks
# three ways and compares every rank's slice with the serial computation on the whole batch (bit for bit), the
# serial one with the per-group formula, and the §6 case with its hand value; GRPO-λ's random tie order
# (algo.lambda_ties = random) must pick, on every rank, the groups its documented key picks.
plan 3
ADV_TEST=$(dirname "$RLVR")/mpi_advantage
for np in 1 2 3; do
    if [ -x "$ADV_TEST" ]; then
        expect_ok "advantages on $np ranks: slices = serial = formula, §6 hand value" mpi $np "$ADV_TEST"
    else
        fail "advantages on $np ranks" "$ADV_TEST is missing: make $ADV_TEST"
    fi
done
