// Keys given by hand that have no effect (base/config_effect.h): for each predicate, a key given under a config where
// it does nothing is listed with the reason written out here from the code that reads it; the same key under a config
// where it acts is not; and a key not given by hand (a default, a preset, a value that follows another key) never is.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/config_effect.h"

#define MAX_SETS 5

typedef struct {
    const char *set;                    // the key given by hand, "section.key=value"
    const char *inert[MAX_SETS];        // a config under which it does nothing
    const char *reason;                 // the whole line expected there
    const char *acting[MAX_SETS];       // a config under which it acts
} Row;

#define MOE "model.type=qwen3_moe", "model.num_experts=4", "model.moe_intermediate_size=32"

static const Row ROWS[] = {
    {"algo.lambda=0.5", {"algo.name=grpo"}, "algo.lambda has no effect under algo.name = grpo (only grpo_lambda reads it)",
     {"algo.name=grpo_lambda"}},
    {"algo.alpha=0.3", {"algo.name=gspo"}, "algo.alpha has no effect under algo.name = gspo (only grpo_lambda reads it)",
     {"algo.name=grpo_lambda"}},
    {"algo.lambda_count=floor", {"algo.name=dapo"},
     "algo.lambda_count has no effect under algo.name = dapo (only grpo_lambda reads it)", {"algo.name=grpo_lambda"}},
    {"algo.lambda_ties=random", {NULL}, "algo.lambda_ties has no effect under algo.name = grpo (only grpo_lambda reads it)",
     {"algo.name=grpo_lambda"}},
    {"algo.lambda_few_correct=center", {"algo.name=sspo"},
     "algo.lambda_few_correct has no effect under algo.name = sspo (only grpo_lambda reads it)", {"algo.name=grpo_lambda"}},
    {"algo.sspo_c_min=0.4", {"algo.name=gspo"}, "algo.sspo_c_min has no effect under algo.name = gspo (only sspo reads it)",
     {"algo.name=sspo"}},
    {"algo.sspo_c_max=3", {"algo.name=grpo_lambda"},
     "algo.sspo_c_max has no effect under algo.name = grpo_lambda (only sspo reads it)", {"algo.name=sspo"}},
    {"algo.sspo_delimiters=.", {NULL}, "algo.sspo_delimiters has no effect under algo.name = grpo (only sspo reads it)",
     {"algo.name=sspo"}},
    {"algo.log_ratio_clamp=5", {"algo.name=drgrpo"},
     "algo.log_ratio_clamp has no effect under algo.name = drgrpo (only gspo, luspo and sspo read it: their ratios are "
     "per sequence or segment)",
     {"algo.name=luspo"}},
    {"algo.log_ratio_clamp=5", {"algo.name=dapo"},
     "algo.log_ratio_clamp has no effect under algo.name = dapo (only gspo, luspo and sspo read it: their ratios are "
     "per sequence or segment)",
     {"algo.name=sspo"}},
    {"algo.l_c=100", {"algo.agg=token-mean"},
     "algo.l_c has no effect under algo.agg = token-mean (only seq-mean-token-sum-norm reads it)",
     {"algo.name=drgrpo"}},  // its preset's aggregation
    {"algo.l_c=100", {"algo.name=luspo"},
     "algo.l_c has no effect under algo.agg = seq-mean-token-sum (only seq-mean-token-sum-norm reads it)",
     {"algo.agg=seq-mean-token-sum-norm"}},
    {"algo.max_gen_batches=2", {NULL},
     "algo.max_gen_batches has no effect under algo.dynamic_sampling = false (only dynamic sampling reads it)",
     {"algo.name=dapo"}},  // its preset turns dynamic sampling on
    {"adv.eps_std=1e-4", {"adv.std=none"}, "adv.eps_std has no effect under adv.std = none (only a division by the group "
                                           "std reads it)",
     {"adv.std=biased"}},
    {"reward.overlong_factor=0.5", {NULL},
     "reward.overlong_factor has no effect under reward.overlong_buffer = 0 (only the overlong punishment, "
     "overlong_buffer > 0, reads it)",
     {"algo.name=dapo"}},  // its automatic buffer, a fifth of max_new_tokens
    {"reward.overlong_factor=0.5", {"algo.name=dapo", "reward.overlong_buffer=0"},
     "reward.overlong_factor has no effect under reward.overlong_buffer = 0 (only the overlong punishment, "
     "overlong_buffer > 0, reads it)",
     {"reward.overlong_buffer=4"}},
    {"model.num_experts_per_tok=1", {"model.type=qwen2"},
     "model.num_experts_per_tok has no effect under model.type = qwen2 (only qwen2_moe and qwen3_moe read it)", {MOE}},
    {"model.moe_intermediate_size=16", {NULL},
     "model.moe_intermediate_size has no effect under model.type = qwen3 (only qwen2_moe and qwen3_moe read it)",
     {"model.type=qwen3_moe", "model.num_experts=4"}},
    {"model.shared_expert_intermediate_size=16", {NULL},
     "model.shared_expert_intermediate_size has no effect under model.type = qwen3 (only qwen2_moe and qwen3_moe read "
     "it)",
     {"model.type=qwen2_moe", "model.num_experts=4", "model.moe_intermediate_size=32"}},
    {"model.norm_topk_prob=false", {NULL},
     "model.norm_topk_prob has no effect under model.type = qwen3 (only qwen2_moe and qwen3_moe read it)", {MOE}},
    {"model.decoder_sparse_step=2", {NULL},
     "model.decoder_sparse_step has no effect under model.type = qwen3 (only qwen2_moe and qwen3_moe read it)", {MOE}},
    {"model.mlp_only_layers=0", {NULL},
     "model.mlp_only_layers has no effect under model.type = qwen3 (only qwen2_moe and qwen3_moe read it)", {MOE}},
    {"model.router_aux_loss_coef=0.1", {NULL},
     "model.router_aux_loss_coef has no effect under model.type = qwen3 (only qwen2_moe and qwen3_moe read it)", {MOE}},
    {"tokenizer.bos_token=<s>", {NULL}, "tokenizer.bos_token has no effect under tokenizer.type = byte (only bpe reads it)",
     {"tokenizer.type=bpe", "tokenizer.path=t.json"}},
    {"tokenizer.eos_token=</s>", {NULL}, "tokenizer.eos_token has no effect under tokenizer.type = byte (only bpe reads it)",
     {"tokenizer.type=bpe", "tokenizer.path=t.json"}},
    {"tokenizer.pad_token=<p>", {NULL}, "tokenizer.pad_token has no effect under tokenizer.type = byte (only bpe reads it)",
     {"tokenizer.type=bpe", "tokenizer.path=t.json"}},
    {"task.ops=add", {"task.name=gsm8k"}, "task.ops has no effect under task.name = gsm8k (only arith reads it)", {NULL}},
    {"task.digits_min=2", {"task.name=math"}, "task.digits_min has no effect under task.name = math (only arith reads it)",
     {NULL}},
    {"task.digits_max=2", {"task.name=dapo"}, "task.digits_max has no effect under task.name = dapo (only arith reads it)",
     {NULL}},
    {"task.verbose_ratio=0.2", {"task.name=gsm8k"},
     "task.verbose_ratio has no effect under task.name = gsm8k (only arith reads it)", {NULL}},
    {"task.styles=terse:1", {"task.name=gsm8k"}, "task.styles has no effect under task.name = gsm8k (only arith reads it)",
     {NULL}},
    {"task.eval_size=10", {"task.name=math"}, "task.eval_size has no effect under task.name = math (only arith reads it)",
     {NULL}},
    {"task.seed=7", {"task.name=gsm8k"}, "task.seed has no effect under task.name = gsm8k (only arith reads it)", {NULL}},
    {"task.verbose_ratio=0.2", {"task.styles=terse:1,steps:1"},
     "task.verbose_ratio has no effect under task.styles = 'terse:1,steps:1' (only an empty styles reads it)", {NULL}},
    {"task.verbose_ratio=0.2", {"task.styles=terse:1"},
     "task.verbose_ratio has no effect under task.styles = 'terse:1' (only an empty styles reads it)",
     {"task.styles=, ,"}},  // task/task_arith.c parse_styles: separators alone are no entry, so no style
    {"data.prompt_field=q", {NULL},
     "data.prompt_field has no effect under task.name = arith (only the dataset tasks math, gsm8k and dapo read it)",
     {"task.name=math"}},
    {"data.answer_field=a", {NULL},
     "data.answer_field has no effect under task.name = arith (only the dataset tasks math, gsm8k and dapo read it)",
     {"task.name=gsm8k"}},
    {"data.template=Q: {question}", {NULL},
     "data.template has no effect under task.name = arith and eval.benchmarks empty (only the dataset tasks math, gsm8k "
     "and dapo, and benchmark files, read it)",
     {"task.name=dapo"}},
    {"data.template=Q: {question}", {NULL},
     "data.template has no effect under task.name = arith and eval.benchmarks empty (only the dataset tasks math, gsm8k "
     "and dapo, and benchmark files, read it)",
     {"eval.benchmarks=math500"}},  // eval/benchmark.c: a preset sets the fields, not the template
    {"data.answer_format=boxed", {NULL},
     "data.answer_format has no effect under task.name = arith (only the dataset tasks math, gsm8k and dapo read it)",
     {"task.name=dapo"}},
    {"data.shuffle=false", {NULL},
     "data.shuffle has no effect under task.name = arith (only the dataset tasks math, gsm8k and dapo read it)",
     {"task.name=math"}},
    {"data.answer_format=plain", {"eval.benchmarks=math500"},  // the preset sets it
     "data.answer_format has no effect under task.name = arith (only the dataset tasks math, gsm8k and dapo read it)",
     {"task.name=math"}},
    {"data.skip_bad_lines=true", {NULL},
     "data.skip_bad_lines has no effect under task.name = arith and eval.benchmarks empty (only the dataset tasks math, "
     "gsm8k and dapo, and benchmark files, read it)",
     {"task.name=math"}},
    {"data.skip_bad_lines=true", {NULL},
     "data.skip_bad_lines has no effect under task.name = arith and eval.benchmarks empty (only the dataset tasks math, "
     "gsm8k and dapo, and benchmark files, read it)",
     {"eval.benchmarks=math500"}},  // a benchmark file's malformed lines
    {"prompt.enable_thinking=true", {NULL},
     "prompt.enable_thinking has no effect under prompt.template = none (only the chat templates read it)",
     {"prompt.template=chatml"}},
    {"eval.every=5", {"eval.n_prompts=0"},
     "eval.every has no effect under eval.n_prompts = 0 and eval.benchmarks empty (training evaluates nothing)", {NULL}},
    {"eval.every=5", {"task.eval_size=0"},
     "eval.every has no effect under task.eval_size = 0 and eval.benchmarks empty (training evaluates nothing)",
     {"task.eval_size=0", "eval.benchmarks=gsm8k"}},
    {"eval.every=5", {"task.name=math"},
     "eval.every has no effect under data.eval_path empty and eval.benchmarks empty (training evaluates nothing)",
     {"task.name=math", "data.eval_path=e.jsonl"}},
    {"eval.samples=4", {"eval.n_prompts=0"},
     "eval.samples has no effect under eval.n_prompts = 0 and eval.benchmarks empty (training evaluates nothing; rlvr "
     "eval reads it from the run's checkpoints)",
     {"eval.n_prompts=0", "eval.benchmarks=b=b.jsonl"}},
    {"eval.temperature=0.5", {"eval.n_prompts=0"},
     "eval.temperature has no effect under eval.n_prompts = 0 and eval.benchmarks empty (training evaluates nothing; "
     "rlvr eval reads it from the run's checkpoints)",
     {NULL}},
    {"eval.top_p=0.9", {"eval.n_prompts=0"},
     "eval.top_p has no effect under eval.n_prompts = 0 and eval.benchmarks empty (training evaluates nothing; rlvr "
     "eval reads it from the run's checkpoints)",
     {NULL}},
    {"eval.max_new_tokens=8", {"eval.n_prompts=0"},
     "eval.max_new_tokens has no effect under eval.n_prompts = 0 and eval.benchmarks empty (training evaluates nothing; "
     "rlvr eval reads it from the run's checkpoints)",
     {NULL}},
    {"eval.data_dir=d", {NULL},
     "eval.data_dir has no effect under eval.benchmarks empty (only the names in eval.benchmarks read it)",
     {"eval.benchmarks=gsm8k"}},  // rlvr eval's --data files are paths: it never reads eval.data_dir
    {"train.min_lr_ratio=0.1", {NULL},
     "train.min_lr_ratio has no effect under train.schedule = constant (only cosine reads it)", {"train.schedule=cosine"}},
    {"dist.overlap=false", {"dist.deterministic=true"},
     "dist.overlap has no effect under dist.deterministic = true (only fast mode reads it)", {"dist.zero_stage=1"}},
    {"dist.overlap=false", {"dist.zero_stage=2"},
     "dist.overlap has no effect under dist.zero_stage = 2 (only zero stages 0 and 1 read it)", {NULL}},
    {"dist.overlap=false", {MOE, "dist.expert_parallel=2"},
     "dist.overlap has no effect under dist.expert_parallel = 2 (only expert_parallel = 1 reads it)", {MOE}},
    {"dist.sample_gather=whole", {NULL},
     "dist.sample_gather has no effect under dist.zero_stage = 0 (only zero stage 3 reads it)", {"dist.zero_stage=3"}},
    {"dist.sample_gather=whole", {"dist.zero_stage=3", "rollout.schedule=dynamic"},
     "dist.sample_gather has no effect under rollout.schedule = dynamic (only the static schedule reads it)",
     {"dist.zero_stage=3", "rollout.schedule=static"}},
    {"dist.sample_gather=whole", {MOE, "dist.zero_stage=3", "dist.expert_parallel=2"},
     "dist.sample_gather has no effect under dist.expert_parallel = 2 (only expert_parallel = 1 reads it)",
     {MOE, "dist.zero_stage=3"}},
    {"rollout.pack_weights=false", {"dist.zero_stage=3"},
     "rollout.pack_weights has no effect under dist.zero_stage = 3 (decoding reads the weights as they are gathered, "
     "never a packed copy)",
     {"dist.zero_stage=2"}},
};

static int count_sets(const char *const *sets) {
    int n = 0;
    while (n < MAX_SETS && sets[n]) n++;
    return n;
}

// The config of sets (NULL-terminated, or MAX_SETS long), plus one more set when extra is not NULL.
static Config resolved(const char *const *sets, const char *extra) {
    const char *all[MAX_SETS + 1];
    int n = count_sets(sets);
    memcpy(all, sets, (size_t)n * sizeof *all);
    if (extra) all[n++] = extra;
    Config c;
    Err e = {{0}};
    cr_assert_eq(config_resolve(&c, NULL, all, n, &e), 0, "%s", e.msg);
    return c;
}

// The reason given for key, copied into buf, or NULL when key is not listed.
static const char *reason_for(const Config *c, const char *key, char *buf, size_t len) {
    InertKey *k;
    int n = config_inert_keys(c, &k);
    const char *found = NULL;
    for (int i = 0; i < n && !found; i++)
        if (!strcmp(k[i].key, key)) found = buf, snprintf(buf, len, "%s", k[i].reason);
    free(k);
    return found;
}

static void key_of(const char *set, char *key, size_t len) { snprintf(key, len, "%.*s", (int)strcspn(set, "="), set); }

Test(config_effect, given_and_inert_is_listed_with_its_reason) {
    for (size_t i = 0; i < sizeof ROWS / sizeof ROWS[0]; i++) {
        const Row *r = &ROWS[i];
        char key[64], why[512];
        key_of(r->set, key, sizeof key);
        Config c = resolved(r->inert, r->set);
        const char *got = reason_for(&c, key, why, sizeof why);
        cr_expect(got && !strcmp(got, r->reason), "row %zu %s: got '%s', expected '%s'", i, r->set, got ? got : "(none)",
                  r->reason);
    }
}

Test(config_effect, given_and_acting_is_not_listed) {
    for (size_t i = 0; i < sizeof ROWS / sizeof ROWS[0]; i++) {
        const Row *r = &ROWS[i];
        char key[64], why[512];
        key_of(r->set, key, sizeof key);
        Config c = resolved(r->acting, r->set);
        const char *got = reason_for(&c, key, why, sizeof why);
        cr_expect(!got, "row %zu %s under its acting config: '%s'", i, r->set, got);
    }
}

// The same key left to its default (or a preset) under the config where it would do nothing.
Test(config_effect, not_given_is_never_listed) {
    for (size_t i = 0; i < sizeof ROWS / sizeof ROWS[0]; i++) {
        const Row *r = &ROWS[i];
        char key[64], why[512];
        key_of(r->set, key, sizeof key);
        Config c = resolved(r->inert, NULL);
        cr_expect(!reason_for(&c, key, why, sizeof why), "row %zu: %s listed without being given", i, key);
    }
}

// model.num_experts > 0 under a dense type is refused (src/base/config.c validate): the 0 given by hand is inert there.
Test(config_effect, num_experts_under_dense_and_moe) {
    const char *dense[] = {"model.type=qwen2", "model.num_experts=0", NULL}, *moe[] = {MOE, NULL};
    char why[512];
    Config c = resolved(dense, NULL);
    const char *got = reason_for(&c, "model.num_experts", why, sizeof why);
    cr_expect(got && !strcmp(got, "model.num_experts has no effect under model.type = qwen2 (only qwen2_moe and "
                                  "qwen3_moe read it)"), "%s", got ? got : "(none)");
    c = resolved(moe, NULL);
    cr_expect(!reason_for(&c, "model.num_experts", why, sizeof why));
}

// Presets and keys that follow another key fill values by themselves: none is given by hand.
Test(config_effect, presets_and_followed_keys_are_not_given) {
    // luspo's preset overlong_factor 0.3 with no buffer; eval.samples etc. follow rollout's with no evaluation.
    const char *sets[] = {"algo.name=luspo", "eval.n_prompts=0", "rollout.n=4", "rollout.temperature=0.7", NULL};
    Config c = resolved(sets, NULL);
    InertKey *k;
    cr_expect_eq(config_inert_keys(&c, &k), 0, "%s", k ? k[0].reason : "");
    cr_expect_null(k);
    free(k);
}

// A config read back from a checkpoint's text gives every key; config_mark_given says which were the run's own.
Test(config_effect, stored_config_lists_only_the_keys_it_marks_given) {
    const char *sets[] = {"algo.lambda=0.5", "algo.sspo_c_min=0.4", NULL};
    Config c = resolved(sets, NULL), back;
    char *text = config_to_string(&c);
    Err e = {{0}};
    cr_assert_eq(config_resolve_text(&back, text, "stored", NULL, 0, &e), 0, "%s", e.msg);
    InertKey *k;
    int n = config_inert_keys(&back, &k);
    cr_expect_gt(n, 2, "every key of the text reads as given");
    free(k);
    cr_assert_eq(config_mark_given(&back, "algo.lambda\n", "stored", &e), 0, "%s", e.msg);
    n = config_inert_keys(&back, &k);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(k[0].key, "algo.lambda");
    free(k), free(text);
}

// Several keys come in config_given_keys' order (the key table's), one line each.
Test(config_effect, keys_in_table_order) {
    const char *sets[] = {"train.min_lr_ratio=0.1", "algo.lambda=0.5", "model.norm_topk_prob=false", NULL};
    Config c = resolved(sets, NULL);
    InertKey *k;
    cr_assert_eq(config_inert_keys(&c, &k), 3);
    cr_expect_str_eq(k[0].key, "model.norm_topk_prob");
    cr_expect_str_eq(k[1].key, "algo.lambda");
    cr_expect_str_eq(k[2].key, "train.min_lr_ratio");
    for (int i = 0; i < 3; i++) cr_expect(!strchr(k[i].reason, '\n'), "%s", k[i].reason);
    free(k);
}

// A value quoted in a reason is shown as messages show user values (err_abbrev): a control byte escaped, a long
// value cut, so the warning is one plain line. rlvr config checks neither task.name nor task.styles.
Test(config_effect, quoted_values_stay_on_one_line) {
    const char *sets[] = {"task.name=ma\tth", "task.seed=3", NULL};
    char why[512];
    Config c = resolved(sets, NULL);
    const char *got = reason_for(&c, "task.seed", why, sizeof why);
    cr_expect(got && !strcmp(got, "task.seed has no effect under task.name = ma\\tth (only arith reads it)"), "%s",
              got ? got : "(none)");
    const char *styles[] = {"task.styles=terse:1,\x1b[31msteps:1", NULL};
    c = resolved(styles, "task.verbose_ratio=0.2");
    got = reason_for(&c, "task.verbose_ratio", why, sizeof why);
    cr_expect(got && !strcmp(got, "task.verbose_ratio has no effect under task.styles = 'terse:1,\\x1B[31msteps:1' "
                                  "(only an empty styles reads it)"), "%s", got ? got : "(none)");
}
