# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# Foundation: command line, config errors, every dist collective on 1, 2, 4 and 10 ranks (more ranks than the self-test
# once held on its stack).
# --help, unknown subcommand, help SUB, --version x, 10 subcommand helps, config, 4 config errors, 4 rank counts, abort, NCCL; a process
# started alone runs without MPI, the same bits as under mpirun -np 1.
plan $((6 + 10 + 1 + 4 + 4 + 2 + 3))
expect_ok "rlvr --help lists subcommands" bash -c 'out=$("$RLVR" --help) && grep -q "train" <<< "$out" && grep -q "config" <<< "$out"'
expect_error "unknown subcommand" "unknown subcommand 'frobnicate'" "$RLVR" frobnicate
expect_ok "rlvr help train is rlvr train --help, and rlvr ckpt help info is rlvr ckpt info --help" bash -c '
    [ "$("$RLVR" help train)" = "$("$RLVR" train --help)" ] && "$RLVR" help train | grep -q "^usage: rlvr train " &&
    [ "$("$RLVR" ckpt help info)" = "$("$RLVR" ckpt info --help)" ]'
expect_error "rlvr help of an unknown subcommand suggests one" "unknown subcommand 'trian' \(did you mean 'train'\?\)" \
    "$RLVR" help trian
expect_error "rlvr --version takes no arguments" "rlvr: --version takes no arguments" "$RLVR" --version x
# The subcommand list's summary of bench against bench's own list of benchmarks.
expect_ok "rlvr --help names every benchmark of rlvr bench --help" bash -c '
    names=$("$RLVR" bench --help | sed -n "/^benchmarks:/,/^\$/p" | awk "NF > 1 {print \$1}")
    [ -n "$names" ] && for n in $names; do "$RLVR" --help | grep "^  bench " | grep -qw "$n" || exit 1; done'
for sub in train sft sample score reward loss init ckpt bench config; do
    expect_ok "rlvr $sub --help" bash -c 'out=$("$RLVR" "$0" --help) && grep -q "usage: rlvr $0" <<< "$out"' "$sub"
done
expect_ok "rlvr config prints a resolved config" bash -c 'out=$("$RLVR" config --set algo.name=luspo) && grep -qx "eps_low = 0.002" <<< "$out"'
printf '[model]\nhiden_size = 3\n' > "$TMP/unknown.ini"
expect_error "config: unknown key names file:line and suggests" \
    "unknown.ini:2: unknown key 'hiden_size' in \[model\] \(did you mean 'hidden_size'\?\)" \
    "$RLVR" config --config "$TMP/unknown.ini"
printf '[train]\nlr = fast\n' > "$TMP/bad.ini"
expect_error "config: bad value names the expected form" "bad.ini:2: \[train\] lr = 'fast': expected a number" \
    "$RLVR" config --config "$TMP/bad.ini"
expect_error "config: missing file" "missing.ini: cannot open config file" "$RLVR" config --config "$TMP/missing.ini"
expect_error "config: bad --set" "--set rollout.top_k=-1: \[rollout\] top_k = '-1': expected an integer" \
    "$RLVR" config --set rollout.top_k=-1
for np in 1 2 4 10; do
    expect_ok "dist collectives on $np ranks" mpi $np "$RLVR" dist-selftest
done
expect_error "a fatal error on one rank aborts all ranks" "rlvr: rank 2: deliberate failure" \
    timeout 60 mpirun --oversubscribe -np 4 "$RLVR" dist-selftest --fail-on-rank 2

# Started by a launcher (here a Slurm step's variable), rlvr initialises MPI, which fails where Open MPI cannot make
# its session directory; started alone, it never initialises MPI (src/base/dist.c), so the same setting is harmless.
NO_SESSION=OMPI_MCA_orte_tmpdir_base=/proc/rlvr-none
expect_error "control: under a launcher, MPI_Init fails when Open MPI cannot make its session directory" \
    "unable to create the desired directory" env SLURM_PROCID=0 $NO_SESSION "$RLVR" config
expect_ok "started alone: rlvr runs as one rank without initialising MPI" env $NO_SESSION "$RLVR" config
ALONE=(--config "$ROOT/configs/tiny-train.ini" --set train.steps=2 --set eval.n_prompts=0 --set dist.deterministic=true)
"$RLVR" train "${ALONE[@]}" --run-dir "$TMP/alone" >/dev/null 2>&1
mpi 1 "$RLVR" train "${ALONE[@]}" --run-dir "$TMP/mpirun" >/dev/null 2>&1
expect_ok "started alone = mpirun -np 1: the same checkpoint, bit for bit" \
    "$RLVR" ckpt diff --exact "$TMP/alone/ckpt/step-000002.h5" "$TMP/mpirun/ckpt/step-000002.h5"

# gpu_count: GPUs on this machine, as nvidia-smi (or else /dev/nvidiaN) sees them, independently of rlvr.
gpu_count() {
    local n
    n=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ')
    [ "$n" -gt 0 ] || n=$(compgen -G '/dev/nvidia[0-9]*' | wc -l)
    echo "$n"
}

# NCCL all-reduce on one rank per GPU (at most 2): a skip without a CUDA build or a GPU, never a pass.
nccl_check() {
    local name="NCCL all-reduce of a device buffer" gpus np out
    if ! ldd "$RLVR" | grep -q libnccl; then skip "$name" "rlvr built without CUDA"; return; fi
    gpus=$(gpu_count)
    if [ "$gpus" -eq 0 ]; then skip "$name" "no GPU on this machine"; return; fi
    np=$((gpus < 2 ? gpus : 2))
    if out=$(mpi $np "$RLVR" dist-selftest --gpu 2>&1) && grep -q '^ok   NCCL all-reduce' <<< "$out"; then
        pass "$name on $np GPU rank(s)"
    else
        fail "$name on $np GPU rank(s)" "$out"
    fi
}
nccl_check
