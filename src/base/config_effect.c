#include "base/config_effect.h"

#include <stdlib.h>
#include <string.h>

// Each predicate writes why its keys do nothing under c ("under algo.name = grpo (only grpo_lambda reads it)") and
// returns true, or returns false where they act. Each follows the code that reads the keys, named in its comment.
typedef bool (*Inert)(const Config *c, char *why, size_t len);

static const char *enum_name(const char *dotted, int value) {
    char section[32];
    const char *dot = strchr(dotted, '.');
    snprintf(section, sizeof section, "%.*s", (int)(dot - dotted), dotted);
    return config_enum_name(section, dot + 1, value);
}

// algo/advantage.c: grpo_lambda_rewards runs only when AdvParams.grpo_lambda (algo.name = grpo_lambda).
static bool not_grpo_lambda(const Config *c, char *why, size_t len) {
    if (c->algo.name == ALGO_GRPO_LAMBDA) return false;
    snprintf(why, len, "under algo.name = %s (only grpo_lambda reads it)", enum_name("algo.name", c->algo.name));
    return true;
}

// algo/loss.c sspo_scale and train/rl_update.c segment_delims: segment-level ratios, SSPO only.
static bool not_sspo(const Config *c, char *why, size_t len) {
    if (c->algo.name == ALGO_SSPO) return false;
    snprintf(why, len, "under algo.name = %s (only sspo reads it)", enum_name("algo.name", c->algo.name));
    return true;
}

// algo/loss.c surrogate_sequence: token-level ratios are never clamped (clamp = INFINITY).
static bool token_ratio(const Config *c, char *why, size_t len) {
    AlgoName n = c->algo.name;
    if (n == ALGO_GSPO || n == ALGO_LUSPO || n == ALGO_SSPO) return false;
    snprintf(why, len, "under algo.name = %s (only gspo, luspo and sspo read it: their ratios are per sequence or segment)",
             enum_name("algo.name", n));
    return true;
}

// algo/loss.c agg_weight: L_c divides the seq-mean-token-sum-norm weight only.
static bool agg_not_norm(const Config *c, char *why, size_t len) {
    if (c->algo.agg == AGG_SEQ_MEAN_TOKEN_SUM_NORM) return false;
    snprintf(why, len, "under algo.agg = %s (only seq-mean-token-sum-norm reads it)", enum_name("algo.agg", c->algo.agg));
    return true;
}

// train/groups.c: one generation batch unless dynamic sampling refills.
static bool no_dynamic_sampling(const Config *c, char *why, size_t len) {
    if (c->algo.dynamic_sampling) return false;
    snprintf(why, len, "under algo.dynamic_sampling = false (only dynamic sampling reads it)");
    return true;
}

// algo/advantage.c: adv.std = none subtracts the group mean and divides by nothing.
static bool no_std(const Config *c, char *why, size_t len) {
    if (c->adv.std != ADV_STD_NONE) return false;
    snprintf(why, len, "under adv.std = none (only a division by the group std reads it)");
    return true;
}

// task/reward.c: the overlong term, and its factor, only when overlong_buffer > 0.
static bool no_overlong(const Config *c, char *why, size_t len) {
    if (c->reward.overlong_buffer > 0) return false;
    snprintf(why, len, "under reward.overlong_buffer = 0 (only the overlong punishment, overlong_buffer > 0, reads it)");
    return true;
}

// model/model.c model_dims, create: the MoE dimensions and layers only for the *_moe types (config.c refuses
// num_experts > 0 under a dense type, so a dense one given by hand holds 0).
static bool dense_model(const Config *c, char *why, size_t len) {
    if (c->model.type == MODEL_QWEN2_MOE || c->model.type == MODEL_QWEN3_MOE) return false;
    snprintf(why, len, "under model.type = %s (only qwen2_moe and qwen3_moe read it)", enum_name("model.type", c->model.type));
    return true;
}

// text/tokenizer_bpe.c: the special tokens are looked up in a tokenizer.json's added tokens.
static bool byte_tokenizer(const Config *c, char *why, size_t len) {
    if (c->tokenizer.type == TOKENIZER_BPE) return false;
    snprintf(why, len, "under tokenizer.type = byte (only bpe reads it)");
    return true;
}

static bool arith(const Config *c) { return !strcmp(c->task.name, "arith"); }

// task/task.c task_create: a dataset task reads [data] and no arith generator key.
static bool dataset_task(const Config *c, char *why, size_t len) {
    if (arith(c)) return false;
    char q[ERR_ABBREV_SIZE];  // rlvr config leaves the name unchecked: quoted as messages quote a user's value
    snprintf(why, len, "under task.name = %s (only arith reads it)", err_abbrev(c->task.name, q));
    return true;
}

// task/task.c task_create: the embedded task reads no [data] key.
static bool arith_task(const Config *c, char *why, size_t len) {
    if (!arith(c)) return false;
    snprintf(why, len, "under task.name = arith (only the dataset tasks math, gsm8k and dapo read it)");
    return true;
}

// eval/benchmark.c benchmark_config: a benchmark file keeps data.template and data.skip_bad_lines (its preset sets
// the fields and the answer format), so under arith they act as soon as eval.benchmarks names one.
static bool arith_task_no_benchmarks(const Config *c, char *why, size_t len) {
    if (!arith(c) || c->eval.benchmarks[0]) return false;
    snprintf(why, len, "under task.name = arith and eval.benchmarks empty (only the dataset tasks math, gsm8k and dapo, "
                       "and benchmark files, read it)");
    return true;
}

// task/task_arith.c arith_reference: styles, when given, pick every reference; verbose_ratio only without them.
// parse_styles splits at commas and spaces: ", ," lists no style.
static bool styles_given(const Config *c, char *why, size_t len) {
    if (!c->task.styles[strspn(c->task.styles, ", ")]) return false;
    char q[ERR_ABBREV_SIZE];
    snprintf(why, len, "under task.styles = '%s' (only an empty styles reads it)", err_abbrev(c->task.styles, q));
    return true;
}

// task/template.c: [BOS] + text under template none; enable_thinking shapes the chat templates only.
static bool no_chat_template(const Config *c, char *why, size_t len) {
    if (c->prompt.template_ != TEMPLATE_NONE) return false;
    snprintf(why, len, "under prompt.template = none (only the chat templates read it)");
    return true;
}

// Why a training run evaluates nothing (train/trainer.c loop: held-out prompts from a split, or benchmarks), or NULL.
static const char *no_evaluation(const Config *c) {
    if (c->eval.benchmarks[0]) return NULL;
    if (c->eval.n_prompts == 0) return "eval.n_prompts = 0 and eval.benchmarks empty";
    if (arith(c) && c->task.eval_size == 0) return "task.eval_size = 0 and eval.benchmarks empty";
    if (!arith(c) && !c->data.eval_path[0]) return "data.eval_path empty and eval.benchmarks empty";
    return NULL;
}

// train/trainer.c loop: eval.every times evaluations only.
static bool no_evaluation_every(const Config *c, char *why, size_t len) {
    const char *none = no_evaluation(c);
    if (!none) return false;
    snprintf(why, len, "under %s (training evaluates nothing)", none);
    return true;
}

// eval/benchmark.c eval_sampling: the evaluations' sampling, which rlvr eval reads too from a run's checkpoints.
static bool no_evaluation_sampling(const Config *c, char *why, size_t len) {
    const char *none = no_evaluation(c);
    if (!none) return false;
    snprintf(why, len, "under %s (training evaluates nothing; rlvr eval reads it from the run's checkpoints)", none);
    return true;
}

// eval/benchmark.c benchmark_specs: data_dir places a benchmark named without its file; rlvr eval's --data are paths.
static bool no_benchmarks(const Config *c, char *why, size_t len) {
    if (c->eval.benchmarks[0]) return false;
    snprintf(why, len, "under eval.benchmarks empty (only the names in eval.benchmarks read it)");
    return true;
}

// algo/optim.c lr_at: the constant schedule has no floor.
static bool constant_schedule(const Config *c, char *why, size_t len) {
    if (c->train.schedule != SCHEDULE_CONSTANT) return false;
    snprintf(why, len, "under train.schedule = constant (only cosine reads it)");
    return true;
}

// train/update.c updater_init, algo/grad_reduce.c grad_reducer_layers: the overlapped sums are fast mode's, below
// zero stage 2, without expert parallelism.
static bool no_overlap(const Config *c, char *why, size_t len) {
    const DistConfig *d = &c->dist;
    if (d->deterministic) snprintf(why, len, "under dist.deterministic = true (only fast mode reads it)");
    else if (d->zero_stage >= 2) snprintf(why, len, "under dist.zero_stage = %d (only zero stages 0 and 1 read it)", d->zero_stage);
    else if (d->expert_parallel > 1)
        snprintf(why, len, "under dist.expert_parallel = %d (only expert_parallel = 1 reads it)", d->expert_parallel);
    else return false;
    return true;
}

// train/rl_step.c rl_step, algo/param_gather.c: only zero stage 3's static schedule streams the layers.
static bool no_layer_gather(const Config *c, char *why, size_t len) {
    const DistConfig *d = &c->dist;
    if (d->zero_stage != 3) snprintf(why, len, "under dist.zero_stage = %d (only zero stage 3 reads it)", d->zero_stage);
    else if (c->rollout.schedule == ROLLOUT_DYNAMIC)
        snprintf(why, len, "under rollout.schedule = dynamic (only the static schedule reads it)");
    else if (d->expert_parallel > 1)
        snprintf(why, len, "under dist.expert_parallel = %d (only expert_parallel = 1 reads it)", d->expert_parallel);
    else return false;
    return true;
}

// model/model_forward.c model_pack_weights: zero stage 3 gathers the weights as the decode reads them, into the same
// memory, so there is no resident copy to pack.
static bool gathered_weights(const Config *c, char *why, size_t len) {
    if (c->dist.zero_stage != 3) return false;
    snprintf(why, len, "under dist.zero_stage = 3 (decoding reads the weights as they are gathered, never a packed copy)");
    return true;
}

typedef struct {
    const char *keys;  // space-separated "section.key" names
    Inert inert;
} Rule;

static const Rule RULES[] = {
    {"algo.lambda algo.alpha algo.lambda_count algo.lambda_ties algo.lambda_few_correct", not_grpo_lambda},
    {"algo.sspo_c_min algo.sspo_c_max algo.sspo_delimiters", not_sspo},
    {"algo.log_ratio_clamp", token_ratio},
    {"algo.l_c", agg_not_norm},
    {"algo.max_gen_batches", no_dynamic_sampling},
    {"adv.eps_std", no_std},
    {"reward.overlong_factor", no_overlong},
    {"model.num_experts model.num_experts_per_tok model.moe_intermediate_size model.shared_expert_intermediate_size "
     "model.norm_topk_prob model.decoder_sparse_step model.mlp_only_layers model.router_aux_loss_coef", dense_model},
    {"tokenizer.bos_token tokenizer.eos_token tokenizer.pad_token", byte_tokenizer},
    {"task.ops task.digits_min task.digits_max task.verbose_ratio task.styles task.eval_size task.seed", dataset_task},
    {"data.prompt_field data.answer_field data.answer_format data.shuffle", arith_task},
    {"data.template data.skip_bad_lines", arith_task_no_benchmarks},
    {"task.verbose_ratio", styles_given},
    {"prompt.enable_thinking", no_chat_template},
    {"eval.every", no_evaluation_every},
    {"eval.samples eval.temperature eval.top_p eval.max_new_tokens", no_evaluation_sampling},
    {"eval.data_dir", no_benchmarks},
    {"train.min_lr_ratio", constant_schedule},
    {"dist.overlap", no_overlap},
    {"dist.sample_gather", no_layer_gather},
    {"rollout.pack_weights", gathered_weights},
};

// Whether the rule's list names key.
static bool names(const char *list, const char *key) {
    size_t n = strlen(key);
    for (const char *p = list; *p;) {
        size_t w = strcspn(p, " ");
        if (w == n && !strncmp(p, key, n)) return true;
        p += w + (p[w] == ' ');
    }
    return false;
}

// The first reason why key does nothing, or false.
static bool inert_key(const Config *c, const char *key, char *why, size_t len) {
    for (size_t i = 0; i < sizeof RULES / sizeof RULES[0]; i++) {
        const Rule *r = &RULES[i];
        if (names(r->keys, key) && r->inert(c, why, len)) return true;
    }
    return false;
}

int config_inert_keys(const Config *c, InertKey **out) {
    char *given = config_given_keys(c), why[384];
    int n = 0;
    *out = NULL;
    for (char *key = given, *end; (end = strchr(key, '\n')); key = end + 1) {
        *end = 0;
        if (!inert_key(c, key, why, sizeof why)) continue;
        *out = xrealloc(*out, (size_t)(n + 1) * sizeof **out);
        InertKey *k = &(*out)[n++];
        snprintf(k->key, sizeof k->key, "%s", key);
        snprintf(k->reason, sizeof k->reason, "%s has no effect %s", key, why);
    }
    free(given);
    return n;
}
