# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# Keys given by hand without effect (src/base/config_effect.c), checked against what a run does: for each sampled
# key, two 2-step runs of configs/tiny-train.ini with the key at two values give the same weights bit for bit (rlvr
# ckpt diff --exact) and the same metrics.jsonl but for its times, and both print the warning, on the console and in
# log.txt. For a few of the keys under a config where they act, the two values give other weights and no warning.
plan 21
CFG="$ROOT/configs/tiny-train.ini"
E="$TMP/effect"
mkdir -p "$E"
# Rewards that vary without a warm start: a response with a digit is well formatted. No evaluation, 2 steps.
BASE=(--config "$CFG" --set train.steps=2 --set eval.n_prompts=0 --set reward.format_reward=1
      --set 'reward.format_pattern=[0-9]' --set dist.deterministic=true)
DENSE=(--set model.type=qwen3 --set model.num_experts=0)
SFT=(--config "$CFG" --set sft.steps=2 --set sft.batch_size=8 --set eval.n_prompts=0 --set dist.deterministic=true)

# metrics.jsonl without its times and speeds (the per-rank times under "ranks" included).
untimed() {
    sed -E -e 's/"ranks":\{([^{}]|\{[^{}]*\})*\},?//' \
        -e 's/"(time_[a-z_]+|step_time_s|tokens_per_s_[a-z]+)":[-0-9.e+]+,?//g' -e 's/,}/}/' "$1"
}

# run NAME CMD ARGS...: a run into $E/NAME, its console in $E/NAME.out.
run() { local name=$1 cmd=$2; shift 2; "$RLVR" "$cmd" "$@" --run-dir "$E/$name" > "$E/$name.out" 2>&1; }

# same_run A B: both runs finished with the same weights, bit for bit, and the same untimed metrics.
same_run() {
    local a=$E/$1 b=$E/$2
    [ -s "$a/ckpt/step-000002.h5" ] && [ -s "$b/ckpt/step-000002.h5" ] || { echo "a run failed:"; cat "$a.out" "$b.out"; return 1; }
    "$RLVR" ckpt diff "$a/ckpt/step-000002.h5" "$b/ckpt/step-000002.h5" --exact || return 1
    cmp <(untimed "$a/metrics.jsonl") <(untimed "$b/metrics.jsonl") || { echo "metrics differ"; return 1; }
}

# warned NAME KEY: the run warned that KEY has no effect, once on its console and once in its log.
warned() {
    local pattern="^(.* )?warning: config: $2 has no effect "
    [ "$(grep -cE "$pattern" "$E/$1.out")" -eq 1 ] && [ "$(grep -cE "$pattern" "$E/$1/log.txt")" -eq 1 ] ||
        { echo "no warning for $2 in $1:"; cat "$E/$1.out"; return 1; }
}

# inert CMD KEY VALUE_A VALUE_B ARGS...: the key at either value gives the same run, and both warn.
inert() {
    local cmd=$1 key=$2 a=$3 b=$4 name; shift 4
    name=$cmd-${key//./_}
    run "$name-a" "$cmd" "$@" --set "$key=$a"
    run "$name-b" "$cmd" "$@" --set "$key=$b"
    expect_ok "$cmd: $key = $a or $b: the same run, and a warning" same_and_warned "$name" "$key"
}

same_and_warned() { same_run "$1-a" "$1-b" && warned "$1-a" "$2" && warned "$1-b" "$2"; }

# other_and_quiet NAME KEY: the two runs ended with other weights, and neither warned about KEY.
other_and_quiet() {
    local a=$E/$1-a b=$E/$1-b
    [ -s "$a/ckpt/step-000002.h5" ] && [ -s "$b/ckpt/step-000002.h5" ] || { echo "a run failed:"; cat "$a.out" "$b.out"; return 1; }
    ! "$RLVR" ckpt diff "$a/ckpt/step-000002.h5" "$b/ckpt/step-000002.h5" --exact >/dev/null || { echo "same weights"; return 1; }
    ! grep -h "warning: config: $2 " "$a.out" "$b.out" "$a/log.txt" "$b/log.txt"
}

# acting CMD KEY VALUE_A VALUE_B ARGS...: the key at the two values gives other weights, and no warning names it.
acting() {
    local cmd=$1 key=$2 a=$3 b=$4 name; shift 4
    name=act-${key//./_}
    run "$name-a" "$cmd" "$@" --set "$key=$a"
    run "$name-b" "$cmd" "$@" --set "$key=$b"
    expect_ok "$cmd: $key = $a or $b where it acts: other weights, no warning" other_and_quiet "$name" "$key"
}

# [algo] under luspo (tiny-train's), no dynamic sampling.
inert train algo.lambda 0.5 0.9 "${BASE[@]}"
inert train algo.sspo_c_min 0.3 0.9 "${BASE[@]}"
inert train algo.max_gen_batches 2 7 "${BASE[@]}"
# [reward] without an overlong buffer; [adv] without a std.
inert train reward.overlong_factor 0.5 2 "${BASE[@]}"
inert train adv.eps_std 0.001 0.5 "${BASE[@]}" --set adv.std=none
# MoE keys of a dense model.
inert train model.norm_topk_prob true false "${BASE[@]}" "${DENSE[@]}"
inert train model.router_aux_loss_coef 0 0.5 "${BASE[@]}" "${DENSE[@]}"
inert train model.decoder_sparse_step 1 2 "${BASE[@]}" "${DENSE[@]}"
# The byte tokenizer; [data] under task arith; [eval] without an evaluation.
inert train tokenizer.bos_token '<x>' '<y>' "${BASE[@]}"
inert train data.shuffle true false "${BASE[@]}"
inert train eval.samples 2 6 "${BASE[@]}"
inert train eval.temperature 0.5 1.5 "${BASE[@]}"
# [train]'s cosine floor under the constant schedule; [dist] keys of other modes.
inert train train.min_lr_ratio 0.1 0.9 "${BASE[@]}"
inert train dist.sample_gather layer whole "${BASE[@]}"
inert train dist.overlap true false "${BASE[@]}"
# rlvr sft warns as rlvr train does; the [algo] and [sft] sections of a shared file get no warning of their own.
inert sft algo.lambda 0.2 0.5 "${SFT[@]}"

# A resume warns again for the keys the saved run gave by hand (/meta given_keys), not for the others its config.ini
# holds (every key): algo.alpha is there too, at its default.
"$RLVR" train --run-dir "$E/train-algo_lambda-a" --resume --set train.steps=3 > "$E/resumed.out" 2>&1
resumed_warns() {
    grep -q '^step 3/3 ' "$E/resumed.out" || { cat "$E/resumed.out"; return 1; }
    [ "$(grep -c 'warning: config: algo.lambda has no effect ' "$E/resumed.out")" -eq 1 ] &&
        [ "$(grep -c 'warning: config: algo.lambda has no effect ' "$E/train-algo_lambda-a/log.txt")" -eq 2 ] &&
        ! grep 'warning: config: algo.alpha ' "$E/resumed.out"
}
expect_ok "train --resume: the warning again for the key the run gave, none for keys it did not" resumed_warns

# The same kinds of keys where they act.
acting train reward.overlong_factor 0.5 2 "${BASE[@]}" --set reward.overlong_buffer=10 --set rollout.stop=5  # lengths that differ
acting train adv.eps_std 0.001 0.5 "${BASE[@]}"
acting train model.norm_topk_prob true false "${BASE[@]}"
acting train train.min_lr_ratio 0.1 0.9 "${BASE[@]}" --set train.schedule=cosine
