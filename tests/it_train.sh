# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# Training: SFT warm start, RL on 1/2/4 ranks (deterministic bits, fast-mode gradients), skipped backwards without
# a loss coefficient, resume (same and other rank counts), crash during a checkpoint save, checkpoint rejection, non-finite guard, ckpt tools, and
# LUSPO raising held-out accuracy over the warm start. configs/tiny-train.ini throughout.
plan 67
CFG="$ROOT/configs/tiny-train.ini"
T="$TMP/train"
mkdir -p "$T"
# stopped_at_2 NAME DIR: the --stop-after 2 run left step 2 as its only step checkpoint, so the resume after it has
# work to do (resuming a finished run is a no-op that would make a resume check pass untested).
stopped_at_2() {
    expect_ok "$1: the interrupted run stopped at step 2" bash -c 'cd "$0/ckpt" && [ "$(echo step-*.h5)" = step-000002.h5 ]' "$2"
}

# The warm start every RL test starts from (200 SFT steps, ~7 s).
expect_ok "sft: warm start on reference solutions" "$RLVR" sft --config "$CFG" --run-dir "$T/sft" --set eval.every=100
SFT="$T/sft/ckpt/step-000200.h5"
expect_ok "sft: run dir holds config, metrics, eval, log, checkpoint" \
    test -s "$T/sft/config.ini" -a -s "$T/sft/metrics.jsonl" -a -s "$T/sft/eval.jsonl" -a -s "$T/sft/log.txt" -a -s "$SFT"
expect_ok "sft: loss falls" bash -c "
    first=\$(head -1 '$T/sft/metrics.jsonl' | grep -o '\"loss\":[0-9.e-]*' | cut -d: -f2)
    last=\$(tail -1 '$T/sft/metrics.jsonl' | grep -o '\"loss\":[0-9.e-]*' | cut -d: -f2)
    awk -v a=\"\$first\" -v b=\"\$last\" 'BEGIN { exit !(b < a / 4) }'"
# SFT resumes bit for bit too (data cursor and optimizer moments in the checkpoint).
SFT_SHORT=(--config "$CFG" --set sft.steps=4 --set eval.n_prompts=0 --set dist.deterministic=true)
"$RLVR" sft "${SFT_SHORT[@]}" --run-dir "$T/sft-a" >/dev/null 2>&1
"$RLVR" sft "${SFT_SHORT[@]}" --run-dir "$T/sft-b" --stop-after 2 >/dev/null 2>&1
stopped_at_2 "sft" "$T/sft-b"
mpi 2 "$RLVR" sft --run-dir "$T/sft-b" --resume >/dev/null 2>&1
expect_ok "sft: deterministic, stopped at 2 on 1 rank, resumed on 2 = uninterrupted" \
    "$RLVR" ckpt diff "$T/sft-a/ckpt/step-000004.h5" "$T/sft-b/ckpt/step-000004.h5" --exact

RL=(--config "$CFG" --init "$SFT" --set train.steps=3 --set eval.n_prompts=0)
last_ckpt() { echo "$1/ckpt/step-000003.h5"; }
# Deterministic mode: the same weights, bit for bit, on 1, 2 and 4 ranks.
for np in 1 2 4; do
    mpi $np "$RLVR" train "${RL[@]}" --set dist.deterministic=true --run-dir "$T/det$np" >/dev/null 2>&1
done
for np in 2 4; do
    expect_ok "deterministic: 3 steps on $np ranks = 1 rank, bit for bit" \
        "$RLVR" ckpt diff "$(last_ckpt "$T/det1")" "$(last_ckpt "$T/det$np")" --exact
done

# Fast mode: step-1 gradients agree to 1e-6 (relative) over rank counts.
for np in 1 2 4; do
    RLVR_TEST_DUMP_GRAD="$T/grad$np.h5" mpi $np -x RLVR_TEST_DUMP_GRAD "$RLVR" train "${RL[@]}" --run-dir "$T/fast$np" \
        >/dev/null 2>&1
done
for np in 2 4; do
    expect_ok "fast: step-1 gradient on $np ranks within 1e-6 of 1 rank" bash -c "
        rel=\$('$RLVR' ckpt diff '$T/grad1.h5' '$T/grad$np.h5' | sed -n 's/^total: relative change \([^,]*\),.*/\1/p')
        awk -v r=\"\$rel\" 'BEGIN { exit !(r != \"\" && r + 0 <= 1e-6) }'"
done

# Micro-batch size does not change the gradient (float64 accumulation; the per-micro-batch load-balancing loss
# is switched off since, as in Hugging Face, it is a function of the micro-batch's tokens).
for mb in 4 1; do
    RLVR_TEST_DUMP_GRAD="$T/grad-mb$mb.h5" "$RLVR" train "${RL[@]}" --set train.steps=1 --set model.router_aux_loss_coef=0 \
        --set train.micro_batch=$mb --run-dir "$T/mb$mb" >/dev/null 2>&1
done
expect_ok "fast: micro_batch 1 and 4 give the same step-1 gradient within 1e-6" bash -c "
    rel=\$('$RLVR' ckpt diff '$T/grad-mb4.h5' '$T/grad-mb1.h5' | sed -n 's/^total: relative change \([^,]*\),.*/\1/p')
    awk -v r=\"\$rel\" 'BEGIN { exit !(r != \"\" && r + 0 <= 1e-6) }'"
expect_ok "one epoch: the importance ratio is exactly 1 (ppo_kl 0, nothing clipped)" bash -c \
    "[ \$(grep -c '\"ppo_kl\":0,\"clip_frac\":0,' '$T/fast1/metrics.jsonl') -eq 3 ]"
# ppo_epochs × n_minibatches, DAPO dynamic sampling, and GRPO with its frozen reference: still rank-count free.
for np in 1 4; do
    mpi $np "$RLVR" train "${RL[@]}" --set dist.deterministic=true --set train.ppo_epochs=2 --set train.n_minibatches=2 \
        --run-dir "$T/epochs$np" >/dev/null 2>&1
done
expect_ok "deterministic: 2 epochs × 2 mini-batches on 4 ranks = 1 rank" \
    "$RLVR" ckpt diff "$(last_ckpt "$T/epochs1")" "$(last_ckpt "$T/epochs4")" --exact
for np in 1 4; do
    mpi $np "$RLVR" train "${RL[@]}" --set dist.deterministic=true --set algo.name=sspo --set train.ppo_epochs=2 \
        --run-dir "$T/sspo$np" >/dev/null 2>&1
done
expect_ok "deterministic: sspo (global mean entropy H̄) on 4 ranks = 1 rank" \
    "$RLVR" ckpt diff "$(last_ckpt "$T/sspo1")" "$(last_ckpt "$T/sspo4")" --exact
for np in 1 2; do
    mpi $np "$RLVR" train "${RL[@]}" --set dist.deterministic=true --set algo.name=dapo --run-dir "$T/dapo$np" >/dev/null 2>&1
done
expect_ok "deterministic: dapo with dynamic sampling on 2 ranks = 1 rank" \
    "$RLVR" ckpt diff "$(last_ckpt "$T/dapo1")" "$(last_ckpt "$T/dapo2")" --exact
# The logged metrics are global sums too: in deterministic mode their bits do not depend on the rank count either.
# 12 groups in micro-batches of 1 response make 48 per-micro-batch parts that 3 ranks would otherwise sum in
# another order; timing fields are left out (learned: what the run learned and logged).
learned() { sed -E 's/,"time_sampling_s".*"tokens_per_s_train":[^,]*//; s/,"tokens_per_s_train":[^,]*//; s/,"step_time_s".*//' "$1"; }
for np in 1 3; do
    mpi $np "$RLVR" train "${RL[@]}" --set dist.deterministic=true --set train.micro_batch=1 \
        --set train.prompts_per_step=12 --run-dir "$T/logged$np" >/dev/null 2>&1
    mpi $np "$RLVR" sft --config "$CFG" --set sft.steps=3 --set eval.every=100 --set dist.deterministic=true \
        --set train.micro_batch=1 --run-dir "$T/sftlogged$np" >/dev/null 2>&1
done
for run in logged1 logged3 sftlogged1 sftlogged3; do learned "$T/$run/metrics.jsonl" >"$T/$run.learned"; done
same_log() { [ "$(wc -l <"$1")" -eq 3 ] && cmp "$1" "$2"; }  # 3 steps logged, the same bytes
expect_ok "deterministic: RL's logged loss, entropy and clip metrics on 3 ranks = 1 rank, bit for bit" \
    same_log "$T/logged1.learned" "$T/logged3.learned"
expect_ok "deterministic: SFT's logged loss and accuracy on 3 ranks = 1 rank, bit for bit" \
    same_log "$T/sftlogged1.learned" "$T/sftlogged3.learned"
expect_ok "dapo: dynamic sampling drew extra generation batches" grep -q '"gen_batches":2' "$T/dapo1/metrics.jsonl"
"$RLVR" train "${RL[@]}" --set dist.deterministic=true --set algo.name=grpo --run-dir "$T/grpo1" >/dev/null 2>&1
mpi 2 "$RLVR" train "${RL[@]}" --set dist.deterministic=true --set algo.name=grpo --run-dir "$T/grpo2" --stop-after 2 \
    >/dev/null 2>&1
stopped_at_2 "grpo" "$T/grpo2"
"$RLVR" train --run-dir "$T/grpo2" --resume >/dev/null 2>&1
expect_ok "grpo (β > 0, reference policy): 2 ranks, resumed on 1 = uninterrupted 1-rank run" \
    "$RLVR" ckpt diff "$(last_ckpt "$T/grpo1")" "$(last_ckpt "$T/grpo2")" --exact
expect_ok "grpo: KL against the reference is logged" grep -q '"kl":0.0[0-9]' "$T/grpo1/metrics.jsonl"

# A micro-batch without a loss coefficient (its group's rewards all equal, algo.beta = 0, no entropy bonus, no
# load-balancing loss) adds only zeros to the gradient, so its backward is skipped, and before the step's first update,
# whose forward would give the sampler's log-probs, its forward too (train.skip_zero_backward): the same bits as
# running them, on 1 rank in deterministic mode, on 2 in fast mode (each layer's sum posted inside the last backward),
# at zero stage 3 on 2 (the weights' gathers along a fixed cycle), over 2 epochs of 2 mini-batches (only the first
# update's forwards skipped), and with GRPO-λ. A micro-batch holds one group here.
ZB=("${RL[@]}" --set model.router_aux_loss_coef=0 --set train.prompts_per_step=6)
zero_backward() {  # zero_backward NAME NP SETTINGS...: one run with the skip and one without
    local name=$1 np=$2 s
    shift 2
    for s in true false; do
        mpi "$np" "$RLVR" train "${ZB[@]}" "$@" --set train.skip_zero_backward=$s --run-dir "$T/$name-$s" \
            >/dev/null 2>&1
    done
}
zero_backward zb-det 1 --set dist.deterministic=true
zero_backward zb-fast 2
zero_backward zb-z3 2 --set dist.deterministic=true --set dist.zero_stage=3
zero_backward zb-epochs 1 --set dist.deterministic=true --set train.ppo_epochs=2 --set train.n_minibatches=2
zero_backward zb-lambda 2 --set dist.deterministic=true --set algo.name=grpo_lambda
expect_ok "zero backward: a step had groups with equal rewards and groups without" \
    jq -se 'any(.frac_zero_std > 0 and .frac_zero_std < 1)' "$T/zb-det-true/metrics.jsonl"
same_skip() {  # same_skip NAME: the runs with and without the skip end with the same weights and logs
    local s
    for s in true false; do learned "$T/$1-$s/metrics.jsonl" >"$T/$1-$s.learned"; done
    "$RLVR" ckpt diff "$(last_ckpt "$T/$1-true")" "$(last_ckpt "$T/$1-false")" --exact &&
        same_log "$T/$1-true.learned" "$T/$1-false.learned"
}
for c in det fast z3 epochs lambda; do
    expect_ok "zero backward ($c): skipped = run, the weights and the logged metrics bit for bit" same_skip "zb-$c"
done

# Stop after step 2, resume: identical to the uninterrupted run (fast: same ranks; deterministic: 2 -> 4 ranks).
mpi 2 "$RLVR" train "${RL[@]}" --run-dir "$T/res-fast" --stop-after 2 >/dev/null 2>&1
stopped_at_2 "resume (fast)" "$T/res-fast"
expect_ok "resume: continues from step 2 (2 ranks, fast)" mpi 2 "$RLVR" train --run-dir "$T/res-fast" --resume
expect_ok "resume: fast mode, same rank count, bit for bit" \
    "$RLVR" ckpt diff "$(last_ckpt "$T/fast2")" "$(last_ckpt "$T/res-fast")" --exact
expect_ok "resume: metrics.jsonl has steps 1, 2, 3 once each" bash -c \
    "[ \"\$(grep -o '^{\"step\":[0-9]*' '$T/res-fast/metrics.jsonl' | cut -d: -f2 | tr '\n' ' ')\" = '1 2 3 ' ]"
mpi 2 "$RLVR" train "${RL[@]}" --set dist.deterministic=true --run-dir "$T/res-det" --stop-after 2 >/dev/null 2>&1
stopped_at_2 "resume (deterministic)" "$T/res-det"
mpi 4 "$RLVR" train --run-dir "$T/res-det" --resume >/dev/null 2>&1
expect_ok "resume: deterministic, saved on 2 ranks, resumed on 4, bit for bit" \
    "$RLVR" ckpt diff "$(last_ckpt "$T/det1")" "$(last_ckpt "$T/res-det")" --exact
expect_error "resume: fresh run refuses a run dir with checkpoints" "already has checkpoints" \
    "$RLVR" train "${RL[@]}" --run-dir "$T/res-det"
expect_error "resume: nothing to resume" "no checkpoint in" "$RLVR" train --config "$CFG" --run-dir "$T/empty" --resume
# A run dir longer than rlvr keeps (2047 bytes) is refused: it was cut short, and the run written to that prefix.
LONG=$T/long
for _ in $(seq 1 21); do LONG=$LONG/$(printf 'd%.0s' $(seq 1 99)); done
expect_error "reject: a --run-dir of more than 2047 bytes" "run-dir: a path of 2[0-9]{3} bytes; at most 2047" \
    "$RLVR" train --config "$CFG" --run-dir "$LONG" --set train.steps=1 --set eval.n_prompts=0
expect_ok "reject: nothing written for the long --run-dir" test ! -e "$T/long"

# rlvr bench train runs in a temporary run directory: under $TMPDIR (else /tmp), removed when it ends; one it cannot
# create is named in the error.
mkdir -p "$T/bench-tmp"
expect_ok "bench train: its run directory is made under \$TMPDIR while it runs, and removed after" bash -c '
    TMPDIR=$1 "$RLVR" bench train --config "$2" --repeat 1 >/dev/null 2>&1 & pid=$!
    seen=
    while kill -0 $pid 2>/dev/null; do compgen -G "$1/rlvr-bench-train-??????/run/ckpt" >/dev/null && seen=1; sleep 0.02; done
    wait $pid && [ -n "$seen" ] && [ -z "$(ls -A "$1")" ] || { echo "exit $?, seen ${seen:-no}"; ls -A "$1"; false; }' \
    _ "$T/bench-tmp" "$CFG"
expect_error "bench train: a \$TMPDIR that does not exist is named" \
    "bench train: cannot create its temporary run directory $T/no-such-dir/rlvr-bench-train-XXXXXX \(from \\\$TMPDIR\): No such file" \
    env TMPDIR="$T/no-such-dir" "$RLVR" bench train --config "$CFG" --repeat 1

# SIGKILL while step 2's checkpoint is being written: step 1's survives, the resumed run matches.
RLVR_TEST_CKPT_SLEEP=2 "$RLVR" train "${RL[@]}" --set checkpoint.every=1 --run-dir "$T/kill" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 300); do [ -e "$T/kill/ckpt/step-000002.h5.tmp" ] && break; sleep 0.1; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
expect_ok "crash: killed mid-save leaves step 1 complete and no step 2" \
    test -s "$T/kill/ckpt/step-000001.h5" -a ! -e "$T/kill/ckpt/step-000002.h5" -a -e "$T/kill/ckpt/step-000002.h5.tmp"
expect_ok "crash: resume from step 1 finishes" "$RLVR" train --run-dir "$T/kill" --resume
expect_ok "crash: resumed run = uninterrupted run, bit for bit" \
    "$RLVR" ckpt diff "$(last_ckpt "$T/fast1")" "$(last_ckpt "$T/kill")" --exact
expect_ok "crash: stale .tmp removed" test ! -e "$T/kill/ckpt/step-000002.h5.tmp"

# Damaged and mismatched checkpoints: one clear message, nothing loaded.
head -c 20000 "$SFT" > "$T/truncated.h5"
expect_error "reject: truncated checkpoint" "truncated.h5: .*truncated" "$RLVR" train --config "$CFG" \
    --init "$T/truncated.h5" --set train.steps=3 --set eval.n_prompts=0 --run-dir "$T/bad1"
expect_error "reject: model shape mismatch" "step-000200.h5: the checkpoint's \[model\] hidden_size is 32, the config's 48" \
    "$RLVR" train "${RL[@]}" --set model.hidden_size=48 --run-dir "$T/bad2"
expect_error "reject: wrong model type" "step-000200.h5: the checkpoint's \[model\] type is qwen3_moe, the config's qwen3" \
    "$RLVR" train "${RL[@]}" --set model.type=qwen3 --set model.num_experts=0 --run-dir "$T/bad3"

# A start that fails leaves the run directory as it found it: none when it made it (nor the parents it made), an
# existing one without what the start made there and with the rest untouched.
expect_error "failed start: train with a missing --init" "--init $T/nonexistent.h5: No such file or directory" \
    "$RLVR" train --config "$CFG" --init "$T/nonexistent.h5" --run-dir "$T/new-parent/fresh"
expect_ok "failed start: train left no run directory, nor the parent it made" test ! -e "$T/new-parent"
expect_error "failed start: sft with a missing --init" "--init $T/nonexistent.h5: No such file or directory" \
    "$RLVR" sft --config "$CFG" --init "$T/nonexistent.h5" --run-dir "$T/fresh-sft"
expect_ok "failed start: sft left no run directory" test ! -e "$T/fresh-sft"
# A Hugging Face --init is imported into the run directory (init.h5) before the config's [model] refuses it.
expect_error "failed start: a Hugging Face --init that the config's [model] refuses" \
    "fresh-hf/init.h5: the checkpoint's \[model\] type is qwen2, the config's qwen3_moe" \
    "$RLVR" train --config "$CFG" --init "$ROOT/tests/fixtures/hf/qwen2_f32" --run-dir "$T/fresh-hf"
expect_ok "failed start: no run directory, no imported init.h5 left" test ! -e "$T/fresh-hf"
# An existing directory whose config.ini the run cannot replace (a directory): the start fails at its last step,
# after it saved the reference policy into the ckpt/ it made.
mkdir -p "$T/kept/config.ini" "$T/kept/notes" && echo "mine" > "$T/kept/notes/a.txt" && echo "mine too" > "$T/kept/b.txt"
listing() { (cd "$1" && find . -mindepth 1 -printf '%p %y %s %m %T@\n' | sort && cat notes/a.txt b.txt); }
export -f listing
before=$(listing "$T/kept")
expect_error "failed start: an existing run directory whose config.ini cannot be written" \
    "kept/config.ini: cannot open for writing" \
    "$RLVR" train --config "$CFG" --set algo.beta=0.1 --set train.steps=1 --run-dir "$T/kept"
expect_ok "failed start: the existing directory has what it had, as it was (no ckpt/, reference.h5 or .lock added)" \
    bash -c '[ "$(listing "$1")" = "$2" ] || { listing "$1"; false; }' _ "$T/kept" "$before"
expect_ok "failed start: a refused fresh start keeps the existing run's .lock and checkpoints" \
    test -e "$T/res-det/.lock" -a -s "$(last_ckpt "$T/res-det")"

# Non-finite gradient: the update is skipped, the tensor named, the run stops after max_bad_steps.
expect_error "guard: stops after train.max_bad_steps non-finite steps" \
    "stopping after 2 non-finite steps in a row .*gradient in model.layers.1.mlp.gate.weight" \
    env RLVR_TEST_POISON_GRAD=model.layers.1.mlp.gate.weight RLVR_TEST_DUMP_GRAD="$T/nan-grad.h5" "$RLVR" train "${RL[@]}" --set train.max_bad_steps=2 \
    --run-dir "$T/nan"
expect_ok "guard: each skipped update is logged with its step" grep -q "step 1: non-finite gradient in model.layers.1.mlp.gate.weight" "$T/nan/log.txt"

# rlvr ckpt tools on the runs above.
expect_ok "ckpt info: step, world size and tree" bash -c "
    out=\$('$RLVR' ckpt info '$(last_ckpt "$T/det4")')
    grep -qx 'step 3' <<<\"\$out\" && grep -qx 'world_size 4' <<<\"\$out\" && grep -q '/optim/m/model.norm.weight  32 float32' <<<\"\$out\""
# The checkpoint names the code that wrote it: the build's git revision, or "unknown" outside a git checkout.
rev=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null) || rev=unknown
got=$("$RLVR" ckpt info "$(last_ckpt "$T/det4")" | sed -n 's/^git_revision //p')
case "$got" in "$rev"|"$rev-dirty") pass "ckpt: records the build's git revision ($got)" ;;
    *) fail "ckpt: records the build's git revision" "got '$got', expected $rev" ;; esac
expect_ok "ckpt stats: per-expert router rows and expert usage per layer" bash -c "
    out=\$('$RLVR' ckpt stats '$SFT')
    grep -q 'model.layers.0.mlp.gate.weight per expert:' <<<\"\$out\" && grep -q 'non-finite 0' <<<\"\$out\" &&
    grep -qE '^  layer 1: ([0-9.]+% ){4} \(most/least used' <<<\"\$out\""
expect_ok "ckpt diff: largest change first, per-layer and per-expert summaries" bash -c "
    out=\$('$RLVR' ckpt diff '$SFT' '$(last_ckpt "$T/det1")')
    grep -q '^per layer:' <<<\"\$out\" && grep -q '^  expert 3:' <<<\"\$out\" && grep -q 'identical no' <<<\"\$out\""
expect_error "ckpt info: truncated file" "truncated.h5: .*truncated" "$RLVR" ckpt info "$T/truncated.h5"
expect_error "ckpt stats: non-finite values found and counted" "nan-grad.h5: 1 non-finite values in /model" \
    "$RLVR" ckpt stats "$T/nan-grad.h5"
expect_error "ckpt stats: missing file" "nope.h5: cannot open" "$RLVR" ckpt stats "$T/nope.h5"
expect_error "ckpt diff --exact: differing files fail" "differ \([0-9]+ differences\)" \
    "$RLVR" ckpt diff "$SFT" "$(last_ckpt "$T/det1")" --exact

# data.skip_bad_lines: the run's log names what it left out of the training data (the gsm8k fixture, a broken line),
# and that a dataset without data.eval_path has no held-out evaluation.
{ cat "$ROOT/tests/fixtures/datasets/gsm8k.jsonl"; echo '{"question": "1+1?"}'; } > "$T/gsm-broken.jsonl"
"$RLVR" train --config "$CFG" --set task.name=gsm8k --set "data.path=$T/gsm-broken.jsonl" --set data.skip_bad_lines=true \
    --set model.max_position_embeddings=256 --set rollout.max_new_tokens=8 --set train.steps=1 \
    --run-dir "$T/skip" >/dev/null 2>&1
expect_ok "data.skip_bad_lines: the log names the count and the first skipped line" \
    grep -q "data.skip_bad_lines: 1 malformed line(s) of the training data skipped; the first: $T/gsm-broken.jsonl:4: " \
    "$T/skip/log.txt"
expect_ok "eval: without data.eval_path the log says there is no held-out evaluation (eval.n_prompts > 0)" \
    grep -q "eval: no held-out evaluation: the task has no held-out split (no data.eval_path)$" "$T/skip/log.txt"

# LUSPO after SFT raises held-out accuracy over the warm start (the step-0 evaluation is the SFT model), as a mean
# over 3 seeds (train and rollout) run side by side, so that no one seed decides: greedy accuracy by 5 points and
# sampled accuracy (64 prompts × 8 samples) by 3. Over seeds 1-15 every seed gained >= 6 and >= 3.5 points.
luspo_run() {  # SEED
    "$RLVR" train --config "$CFG" --init "$SFT" --run-dir "$T/luspo$1" --set train.steps=40 --set train.prompts_per_step=8 \
        --set rollout.n=8 --set eval.n_prompts=64 --set train.seed="$1" --set rollout.seed="$1" >/dev/null 2>&1
}
# luspo_gains SEED...: prints each seed's [greedy, sampled] gain from step 0 to 40; fails unless the means reach the bar.
luspo_gains() {
    local s gains
    gains=$(for s in "$@"; do
        jq -sc 'select(.[0].step == 0 and .[-1].step == 40) | [.[-1].greedy_accuracy - .[0].greedy_accuracy,
                .[-1].sampled_accuracy - .[0].sampled_accuracy]' "$T/luspo$s/eval.jsonl"
    done)
    echo "gains [greedy, sampled] per seed: $gains"
    jq -se --argjson n $# 'length == $n and (map(.[0]) | add / $n >= 0.05) and (map(.[1]) | add / $n >= 0.03)' <<< "$gains"
}
pids=()
for seed in 1 2 3; do luspo_run $seed & pids+=($!); done
for pid in "${pids[@]}"; do wait "$pid"; done
expect_ok "luspo after sft raises held-out accuracy (mean of 3 seeds: greedy +5, sampled +3 points)" luspo_gains 1 2 3
