# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# Config edges: a value the key table accepts either trains (2 RL steps, exit 0, every logged metric finite: a NaN
# would be written as null) or is refused up front with one line naming the key and what was expected. A
# representative set of a sweep over every key's boundary values (min, max, the corners where a formula degenerates:
# groups of 1, greedy sampling, 1-token responses, no clipping room, lambda 0 and 1, top-k = experts), dense and MoE,
# on 1 and 2 ranks (fewer prompts than ranks). configs/tiny-train.ini, warm-started so that rewards differ.
plan 34
CFG="$ROOT/configs/tiny-train.ini"
T="$TMP/edges"
mkdir -p "$T"
DENSE=(--config "$CFG" --set model.type=qwen3 --set model.num_experts=0)
"$RLVR" sft "${DENSE[@]}" --set sft.steps=100 --set eval.n_prompts=0 --run-dir "$T/sft" >/dev/null 2>&1
RL=("${DENSE[@]}" --init "$T/sft/ckpt/step-000100.h5" --set train.steps=2 --set eval.n_prompts=0)
MOE=(--config "$CFG" --set train.steps=2 --set eval.n_prompts=0)

# finite DIR [KEYS]: metrics.jsonl holds steps 1 and 2, without a null or a non-finite number anywhere, but for the
# top-level KEYS (a JSON array), null in every step: means over nothing (results/objectives.md §5).
finite() {
    jq -se --argjson nulls "${2:-[]}" 'map(.step) == [1, 2] and
        all(.[]; . as $r | all($nulls[]; . as $k | $r | has($k) and .[$k] == null)) and
        (map(delpaths([$nulls[] | [.]])) | ([.. | select(. == null)] == []) and
            ([.. | numbers | select(isinfinite or isnan)] == []))' "$1/metrics.jsonl" >/dev/null
}
RUNS=0
# trains NAME NP ARGS...: `rlvr train ARGS` on NP ranks exits 0 and logs finite metrics (NULLS: the keys null).
trains() {
    local name=$1 np=$2 dir="$T/run$((++RUNS))" out
    shift 2
    if ! out=$(mpi "$np" "$RLVR" train "$@" --run-dir "$dir" 2>&1); then fail "$name" "$out"
    elif ! finite "$dir" "${NULLS:-[]}"; then fail "$name" "$(cat "$dir/metrics.jsonl")"
    else pass "$name"; fi
}

trains "rollout.n = 2, unbiased std: finite" 1 "${RL[@]}" --set rollout.n=2 --set algo.name=drgrpo --set adv.std=unbiased
trains "rollout.temperature 1e-3 (all but greedy), top_k = 2: finite" 1 "${RL[@]}" --set rollout.temperature=1e-3 \
    --set rollout.top_k=2
trains "rollout.top_p just above 1 / vocab_size: finite" 1 "${RL[@]}" --set rollout.top_p=0.004
trains "max_new_tokens = 1, seq-mean-token-sum-norm: finite" 1 "${RL[@]}" --set rollout.max_new_tokens=1 \
    --set algo.agg=seq-mean-token-sum-norm
trains "eps_low = eps_high = 0 (every ratio off 1 clipped), two epochs: finite" 1 "${RL[@]}" --set algo.eps_low=0 \
    --set algo.eps_high=0 --set train.ppo_epochs=2
trains "lr = 0, grad_clip = 0, beta = 0 under grpo: finite" 1 "${RL[@]}" --set train.lr=0 --set train.grad_clip=0 \
    --set algo.name=grpo --set algo.beta=0
trains "entropy_coef at its maximum (100): finite" 1 "${RL[@]}" --set algo.entropy_coef=100
NULLS='["efficiency_reward_mean"]' trains "grpo_lambda, lambda = 0: finite, the mean over no efficiency group null" 1 \
    "${RL[@]}" --set algo.name=grpo_lambda --set algo.lambda=0
trains "grpo_lambda, lambda = 1, alpha = 1: finite" 1 "${RL[@]}" --set algo.name=grpo_lambda --set algo.lambda=1 \
    --set algo.alpha=1
trains "dapo, overlong filter and buffer = max_new_tokens: finite" 1 "${RL[@]}" --set algo.name=dapo \
    --set reward.overlong_filter=true --set reward.overlong_buffer=12
trains "sspo, dynamic sampling, overlong filter: finite" 1 "${RL[@]}" --set algo.name=sspo \
    --set algo.dynamic_sampling=true --set reward.overlong_filter=true
trains "gspo, log_ratio_clamp = 0, eps 0: finite" 1 "${RL[@]}" --set algo.name=gspo --set algo.log_ratio_clamp=0 \
    --set algo.eps_low=0 --set algo.eps_high=0
trains "luspo, n_minibatches = prompts_per_step = 4, micro_batch 1: finite" 1 "${RL[@]}" --set algo.name=luspo \
    --set train.n_minibatches=4 --set train.micro_batch=1
trains "MoE, top-k = num_experts = 4: finite" 1 "${MOE[@]}" --set model.num_experts_per_tok=4
trains "MoE, 1 expert of top-1: finite" 1 "${MOE[@]}" --set model.num_experts=1 --set model.num_experts_per_tok=1
trains "2 ranks, 1 prompt a step (a rank without a group): finite" 2 "${RL[@]}" --set train.prompts_per_step=1
trains "2 ranks, 1 prompt, rollout.n = 2, micro_batch 1, zero stage 3: finite" 2 "${RL[@]}" \
    --set train.prompts_per_step=1 --set rollout.n=2 --set train.micro_batch=1 --set dist.zero_stage=3
trains "2 ranks, 3 prompts in 3 mini-batches, dynamic schedule, tokens balance: finite" 2 "${RL[@]}" \
    --set train.prompts_per_step=3 --set train.n_minibatches=3 --set rollout.schedule=dynamic --set train.balance=tokens
trains "2 ranks, MoE, expert parallel 2, 1 prompt: finite" 2 "${MOE[@]}" --set dist.expert_parallel=2 \
    --set train.prompts_per_step=1
trains "2 ranks, 1 held-out prompt evaluated: finite" 2 "${RL[@]}" --set eval.n_prompts=1 --set eval.samples=1

# Near-greedy DAPO: every group has equal rewards, every generation batch; the steps select no response. Their means and
# fractions over none are null (results/objectives.md §5), not 0 (which read as 0% accuracy), their counts numbers.
"$RLVR" train "${RL[@]}" --set algo.name=dapo --set rollout.temperature=1e-3 --run-dir "$T/dropped" >"$T/dropped.out" 2>&1
expect_ok "dapo, every group dropped: null accuracy, loss, reward and grad_norm; 0 responses; console says so" bash -c '
    jq -se "length == 2 and all(.[]; .sequences == 0 and .tokens == 0 and .gen_batches == 4 and .updates == 0
        and .accuracy == null and .length_mean == null and .loss == null and .entropy == null and .reward_mean == null
        and .frac_zero_std == null and .grad_norm == null and .lr == 0.001)" "$0/metrics.jsonl" >/dev/null &&
    grep -q "^step 2/2 | no response selected (4 generation batches)" "$0.out"' "$T/dropped"

# refused NAME PATTERN ARGS...: `rlvr train ARGS` fails with exactly one stderr line matching PATTERN, before step 1.
refused() {
    local name=$1 pattern=$2 dir="$T/run$((++RUNS))"
    shift 2
    expect_error "$name" "$pattern" "$RLVR" train "$@" --run-dir "$dir"
}
refused "adam_eps = 0 refused: AdamW's m / (sqrt(v) + eps) is 0/0 for a weight never given a gradient" \
    "^rlvr: --set train.adam_eps=0: \[train\] adam_eps = '0': expected a number in \(0, 1\]: m / \(sqrt\(v\) \+ eps\) is 0/0" \
    "${RL[@]}" --set train.adam_eps=0
refused "rms_norm_eps = 0 refused: RMSNorm is 0/0 for a zero row" \
    "\[model\] rms_norm_eps = '0': expected a number in \(0, 1\]: x / sqrt\(mean\(x\^2\) \+ eps\) is 0/0" \
    "${MOE[@]}" --set model.rms_norm_eps=0 --set model.init_std=0
refused "n_minibatches above prompts_per_step refused: a mini-batch holds whole groups" \
    "\[train\] n_minibatches \(5\) must be <= prompts_per_step \(4\)" "${RL[@]}" --set train.n_minibatches=5
refused "an eval.max_new_tokens past the model's positions names [eval], not [rollout]" \
    "\[eval\] max_new_tokens 60 exceed \[model\] max_position_embeddings 64" \
    "${RL[@]}" --set eval.n_prompts=1 --set eval.max_new_tokens=60
refused "a rollout.max_new_tokens past the model's positions names [rollout]" \
    "\[rollout\] max_new_tokens 60 exceed \[model\] max_position_embeddings 64" "${RL[@]}" --set rollout.max_new_tokens=60
# A group of one response, or of n equal ones (greedy), has equal rewards: every advantage 0 under every objective.
refused "rollout.n = 1 refused by rlvr train: a group of one has advantage 0" \
    "\[rollout\] n = 1: a group of one response has equal rewards, so every advantage is 0" "${RL[@]}" --set rollout.n=1
expect_error "rollout.n = 1 refused on 2 ranks too, and with DAPO (which would drop every group)" \
    "\[rollout\] n = 1: a group of one response" mpi 2 "$RLVR" train "${RL[@]}" --set rollout.n=1 --set algo.name=dapo \
    --run-dir "$T/n1-2ranks"
refused "rollout.temperature = 0 refused by rlvr train: greedy groups are n equal responses" \
    "\[rollout\] temperature = 0 \(greedy\): a group of n equal responses has equal rewards" "${RL[@]}" \
    --set rollout.temperature=0
refused "rollout.top_k = 1 refused by rlvr train (greedy)" "\[rollout\] top_k = 1 \(greedy\)" "${RL[@]}" --set rollout.top_k=1
refused "rollout.top_p at its minimum refused by rlvr train (greedy)" "\[rollout\] top_p <= 1 / vocab_size" "${RL[@]}" \
    --set rollout.top_p=1e-9
refused "a [data] template without {question} refused: every gsm8k prompt would be the same text" \
    "\[data\] template = 'Solve it.' has no \{question\}" "${RL[@]}" --set task.name=gsm8k \
    --set "data.path=$ROOT/tests/fixtures/datasets/gsm8k.jsonl" --set "data.template=Solve it."
refused "grpo_lambda with dynamic sampling refused" "\[algo\] name = grpo_lambda does not run with \[algo\] dynamic_sampling" \
    "${RL[@]}" --set algo.name=grpo_lambda --set algo.dynamic_sampling=true
refused "an [eval] benchmarks entry the task cannot read names [eval] benchmarks, not rlvr eval's --data" \
    "^rlvr: \[eval\] benchmarks data/nosuch.jsonl: task arith reads no files" "${RL[@]}" --set eval.benchmarks=nosuch
