# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# Launch scripts: syntax, the Slurm dry run for 2 nodes x 4 ranks, the restart option, local.sh, paths with spaces, the
# repository found from a spool copy of slurm.sbatch, plot.sh, cpu_bench_cases.sh.
plan 15
expect_ok "slurm.sbatch passes bash -n" bash -n "$ROOT/launch/slurm.sbatch"
printf '[train]\nsteps = 1\n' > "$TMP/slurm.ini"
sl_env=(DRY_RUN=1 NODES=2 TASKS_PER_NODE=4 GPUS_PER_TASK=1 CPUS_PER_TASK=8 CONFIG="$TMP/slurm.ini" RUN_DIR="$TMP/slurm-run" RLVR=rlvr)
got=$(env "${sl_env[@]}" bash "$ROOT/launch/slurm.sbatch" 2>&1)
want="srun --mpi=pmix --kill-on-bad-exit=1 --nodes=2 --ntasks=8 --cpus-per-task=8 --gpus-per-task=1 rlvr train --config $TMP/slurm.ini --run-dir $TMP/slurm-run --resume=auto "
if [ "$got" = "$want" ]; then pass "slurm dry run: srun, 2 nodes x 4 ranks"; else fail "slurm dry run: srun, 2 nodes x 4 ranks" "got:  $got"$'\n'"want: $want"; fi
got=$(env "${sl_env[@]}" LAUNCHER=mpirun bash "$ROOT/launch/slurm.sbatch" 2>&1)
case "$got" in "mpirun -np 8 --map-by ppr:4:node:PE=8 "*) pass "slurm dry run: mpirun, 8 ranks" ;; *) fail "slurm dry run: mpirun, 8 ranks" "$got" ;; esac
got=$(env "${sl_env[@]}" EXTRA=--resume bash "$ROOT/launch/slurm.sbatch" 2>/dev/null)
case "$got" in *"--run-dir $TMP/slurm-run --resume ") pass "slurm: rlvr decides the restart (--resume=auto); EXTRA=--resume replaces it" ;; *) fail "slurm: EXTRA=--resume replaces --resume=auto" "$got" ;; esac
expect_error "slurm: bad launcher" "LAUNCHER 'ssh': expected srun or mpirun" \
    env DRY_RUN=1 LAUNCHER=ssh CONFIG="$TMP/slurm.ini" bash "$ROOT/launch/slurm.sbatch"
got=$(DRY_RUN=1 RLVR=rlvr bash "$ROOT/launch/local.sh" "$TMP/slurm.ini" --np 3 --run-dir "$TMP/local" --set train.steps=2)
case "$got" in "mpirun -np 3 "*"rlvr train --config $TMP/slurm.ini --run-dir $TMP/local --resume=auto --set train.steps=2 ") pass "local.sh dry run" ;; *) fail "local.sh dry run" "$got" ;; esac
expect_error "local.sh: bad --np" "--np 'x': expected a positive integer" bash "$ROOT/launch/local.sh" "$TMP/slurm.ini" --np x
# Paths with spaces (users' run directories, cluster file systems) stay whole words of the command the scripts print.
sp="$TMP/a dir"
mkdir -p "$sp/init dir/ckpt" "$sp/bin" "$sp/spool"
printf '[train]\nsteps = 1\n' > "$sp/my run.ini"
touch "$sp/init dir/ckpt/step-000002.h5" "$sp/init dir/ckpt/step-000010.h5"
words() { eval "printf '%s\n' $1"; }  # the words of a printed (printf %q) command line, one a line
got=$(DRY_RUN=1 RLVR="$sp/rl vr" bash "$ROOT/launch/local.sh" "$sp/my run.ini" --np 3 --run-dir "$sp/run 1" --set "a.b=c d")
want=$(printf '%s\n' "$sp/rl vr" train --config "$sp/my run.ini" --run-dir "$sp/run 1" --resume=auto --set "a.b=c d")
if [ "$(words "$got" | tail -n 9)" = "$want" ]; then pass "local.sh: paths with spaces stay whole words"
else fail "local.sh: paths with spaces stay whole words" "got:  $got"; fi
got=$(cd "$sp" && env DRY_RUN=1 CONFIG="my run.ini" RUN_DIR="run 1" INIT="init dir" RLVR="$sp/rl vr" bash "$ROOT/launch/slurm.sbatch")
want=$(printf '%s\n' "$sp/rl vr" train --config "$sp/my run.ini" --run-dir "$sp/run 1" --resume=auto \
    --init "$sp/init dir/ckpt/step-000010.h5")
if [ "$(words "$got" | tail -n 9)" = "$want" ]; then pass "slurm dry run: paths with spaces stay whole words; INIT's newest checkpoint"
else fail "slurm dry run: paths with spaces stay whole words; INIT's newest checkpoint" "got:  $got"; fi
# Slurm runs a spool copy of the script, which finds the repository from scontrol's Command= (the path given to
# sbatch, here one with spaces, then any script arguments). A stand-in scontrol prints it.
ln -s "$ROOT" "$sp/my repo"
cp "$ROOT/launch/slurm.sbatch" "$sp/spool/slurm_script"
printf '#!/bin/sh\necho "JobId=7 JobName=rlvr"\necho "   Command=%s/launch/slurm.sbatch an-argument"\n' "$sp/my repo" > "$sp/bin/scontrol"
chmod +x "$sp/bin/scontrol"
got=$(cd "$sp" && env -u RLVR PATH="$sp/bin:$PATH" SLURM_JOB_ID=7 DRY_RUN=1 bash "$sp/spool/slurm_script" 2>&1)
want=$(printf '%s\n' "$sp/my repo/build/rlvr" train --config "$sp/my repo/configs/demo.ini" --run-dir "$sp/runs/train-7" --resume=auto)
if [ "$(words "$got" | tail -n 7)" = "$want" ]; then pass "slurm: the spool copy finds a repository whose path has spaces"
else fail "slurm: the spool copy finds a repository whose path has spaces" "got:  $got"; fi
printf '#!/bin/sh\necho "scontrol: error: cannot reach slurmctld" >&2\nexit 1\n' > "$sp/bin/scontrol"
expect_error "slurm: a failing scontrol in the spool copy says to set RLVR_ROOT" \
    "^slurm.sbatch: cannot find the repository \(Command ''\); set RLVR_ROOT$" \
    env PATH="$sp/bin:$PATH" SLURM_JOB_ID=7 DRY_RUN=1 bash "$sp/spool/slurm_script"
mkdir -p "$TMP/runA" "$TMP/runB"
for s in 1 2 3; do
    echo "{\"step\":$s,\"reward_mean\":0.$s,\"accuracy\":0.$s,\"length_mean\":1$s,\"clip_frac\":0.0$s,\"entropy\":1.$s}" >> "$TMP/runA/metrics.jsonl"
    echo "{\"step\":$s,\"reward_mean\":0.$((5 - s)),\"accuracy\":0.$s,\"length_mean\":2$s,\"clip_frac\":0.1,\"entropy\":0.$s}" >> "$TMP/runB/metrics.jsonl"
done
expect_ok "plot.sh overlays runs into PNGs" bash -c 'bash "$ROOT/launch/plot.sh" --out "$TMP/figs" "$TMP/runA" "$TMP/runB" >/dev/null &&
    for m in reward_mean accuracy length_mean clip_frac entropy; do
        [ "$(head -c 4 "$TMP/figs/$m.png" | tail -c 3)" = PNG ] || exit 1; done'
# cpu_bench_cases.sh: a case whose read tests before and after give round trips more than twofold apart ran while the
# VM moved its cores (here from two chiplets to one); llama2.c takes the read test before it; other thread counts
# and shapes are left out; the last case, with no read test after it, still gets its row.
{
    echo '{"round":1,"shape":"small","bench":"memory_read","threads":2,"gb_per_s":60,"thread_round_trip_ns":320}'
    echo '{"round":1,"shape":"small","bench":"sample","threads":2,"group":1,"tokens_per_s":100,"read_gb_per_s":61,"fraction_of_read_bandwidth":0.9}'
    echo '{"round":1,"shape":"small","bench":"memory_read","threads":2,"gb_per_s":61,"thread_round_trip_ns":330}'
    echo '{"round":1,"shape":"small","bench":"sample","threads":1,"group":1,"tokens_per_s":55,"read_gb_per_s":30,"fraction_of_read_bandwidth":0.9}'
    echo '{"round":1,"shape":"qwen2.5-0.5b","bench":"sample","threads":2,"group":1,"tokens_per_s":9,"read_gb_per_s":61,"fraction_of_read_bandwidth":0.9}'
    echo '{"round":1,"shape":"small","bench":"sample","threads":2,"group":8,"tokens_per_s":500,"read_gb_per_s":61,"fraction_of_read_bandwidth":0.6}'
    echo '{"round":1,"shape":"small","bench":"memory_read","threads":2,"gb_per_s":34,"thread_round_trip_ns":70}'
    echo '{"round":1,"shape":"small","bench":"llama2.c","threads":2,"tokens_per_s":50}'
    echo '{"round":2,"shape":"small","bench":"sample","threads":2,"group":1,"tokens_per_s":60,"read_gb_per_s":34,"fraction_of_read_bandwidth":0.95}'
} > "$TMP/cases.jsonl"
got=$(bash "$ROOT/launch/cpu_bench_cases.sh" "$TMP/cases.jsonl" 2 | tail -n +3)
want="| 1 | rlvr, group 1 | 320 / 330 | held | 61 | 100 | 0.9 |
| 1 | rlvr, group 8 | 330 / 70 | moved | 61 | 500 | 0.6 |
| 1 | llama2.c | 70 (before) | - | 34 (before) | 50 | - |
| 2 | rlvr, group 1 | 70 / - | - | 34 | 60 | 0.95 |"
if [ "$got" = "$want" ]; then pass "cpu_bench_cases.sh: each case's round trips before and after, a move marked"
else fail "cpu_bench_cases.sh: each case's round trips before and after, a move marked" "got:"$'\n'"$got"$'\n'"want:"$'\n'"$want"; fi
expect_ok "cpu_bench_cases.sh SHAPE: the cases of that decode shape only" bash -c \
    "bash '$ROOT/launch/cpu_bench_cases.sh' '$TMP/cases.jsonl' 2 qwen2.5-0.5b | tail -n +3 |
     grep -qxF '| 1 | rlvr, group 1 | - / - | - | 61 | 9 | 0.9 |'"
expect_error "cpu_bench_cases.sh: bad THREADS" "THREADS: expected a positive integer, got 'two'" \
    bash "$ROOT/launch/cpu_bench_cases.sh" "$TMP/cases.jsonl" two
