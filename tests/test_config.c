// Config: defaults, presets, overrides, round trip, and the one-line errors for bad input.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "scratch_dir.h"

// Writes text to dir/name and returns the path (valid for the next 3 calls).
static const char *write_in(const char *dir, const char *name, const char *text) {
    static char path[4][160];
    static int slot;
    char *p = path[slot++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return p;
}

static const char *write_tmp(const char *text) { return write_in(scratch_dir(), "config.ini", text); }

static int resolve_text(const char *text, Config *c, Err *e) {
    return config_resolve(c, write_tmp(text), NULL, 0, e);
}

Test(config, defaults_validate) {
    Config c;
    Err e = {{0}};
    cr_assert_eq(config_resolve(&c, NULL, NULL, 0, &e), 0, "%s", e.msg);
    cr_expect_eq(c.algo.name, ALGO_GRPO);
    cr_expect_float_eq(c.algo.eps_low, 0.2, 1e-15);
    cr_expect_float_eq(c.algo.beta, 0.04, 1e-15);
    cr_expect_eq(c.model.type, MODEL_QWEN3);
}

Test(config, algorithm_presets_follow_objectives) {
    Config c;
    Err e = {{0}};
    const char *luspo[] = {"algo.name=luspo"};
    cr_assert_eq(config_resolve(&c, NULL, luspo, 1, &e), 0, "%s", e.msg);
    cr_expect_float_eq(c.algo.eps_low, 2e-3, 1e-18);
    cr_expect_float_eq(c.algo.eps_high, 2.5e-3, 1e-18);
    cr_expect_float_eq(c.algo.beta, 0, 1e-18);
    const char *gspo[] = {"algo.name=gspo"};
    cr_assert_eq(config_resolve(&c, NULL, gspo, 1, &e), 0, "%s", e.msg);
    cr_expect_float_eq(c.algo.eps_low, 3e-4, 1e-18);
    cr_expect_float_eq(c.algo.eps_high, 4e-4, 1e-18);
    const char *dapo[] = {"algo.name=dapo"};
    cr_assert_eq(config_resolve(&c, NULL, dapo, 1, &e), 0, "%s", e.msg);
    cr_expect_float_eq(c.algo.eps_high, 0.28, 1e-18);
    cr_expect_eq(c.algo.agg, AGG_TOKEN_MEAN);
    cr_expect(c.algo.dynamic_sampling);
    cr_expect_eq(c.reward.accuracy, ACC_PM1);
    const char *dapo_long[] = {"algo.name=dapo", "rollout.max_new_tokens=20480"};
    cr_assert_eq(config_resolve(&c, NULL, dapo_long, 2, &e), 0, "%s", e.msg);
    cr_expect_eq(c.reward.overlong_buffer, 4096, "DAPO's overlong buffer: a fifth of the generation limit");
    cr_expect_float_eq(c.reward.overlong_factor, 1.0, 1e-18);
    const char *dapo_buffer[] = {"reward.overlong_buffer=7", "algo.name=dapo"};
    cr_assert_eq(config_resolve(&c, NULL, dapo_buffer, 2, &e), 0, "%s", e.msg);
    cr_expect_eq(c.reward.overlong_buffer, 7, "an explicit buffer wins");
    cr_assert_eq(config_resolve(&c, NULL, luspo, 1, &e), 0, "%s", e.msg);
    cr_expect_eq(c.reward.overlong_buffer, 0, "only DAPO's recipe turns the punishment on");
    const char *drgrpo[] = {"algo.name=drgrpo"};
    cr_assert_eq(config_resolve(&c, NULL, drgrpo, 1, &e), 0, "%s", e.msg);
    cr_expect_eq(c.adv.std, ADV_STD_NONE);
    cr_expect_eq(c.algo.agg, AGG_SEQ_MEAN_TOKEN_SUM_NORM);
}

Test(config, explicit_key_beats_preset_in_any_order) {
    Config c;
    Err e = {{0}};
    const char *sets[] = {"algo.eps_high=0.5", "algo.name=gspo"};
    cr_assert_eq(config_resolve(&c, NULL, sets, 2, &e), 0, "%s", e.msg);
    cr_expect_float_eq(c.algo.eps_high, 0.5, 1e-18);
    cr_expect_float_eq(c.algo.eps_low, 3e-4, 1e-18);
}

Test(config, file_then_set_override) {
    Config c;
    Err e = {{0}};
    const char *path = write_tmp("[model]\nhidden_size = 32\n[train]\nlr = 3e-4 ; comment\n");
    const char *sets[] = {"train.lr=1e-5"};
    cr_assert_eq(config_resolve(&c, path, sets, 1, &e), 0, "%s", e.msg);
    cr_expect_eq(c.model.hidden_size, 32);
    cr_expect_float_eq(c.train.lr, 1e-5, 1e-20);
}

Test(config, printed_config_parses_back_identically) {
    Config a, b;
    Err e = {{0}};
    const char *sets[] = {"algo.name=sspo", "rollout.stop=\\n\\n|END", "model.type=qwen3_moe", "model.num_experts=4",
                          "model.moe_intermediate_size=32"};
    cr_assert_eq(config_resolve(&a, NULL, sets, 5, &e), 0, "%s", e.msg);
    char *text = config_to_string(&a);
    cr_assert_eq(resolve_text(text, &b, &e), 0, "%s", e.msg);
    char *again = config_to_string(&b);
    cr_expect_str_eq(text, again);
    free(text), free(again);
}

// rlvr config and a checkpoint's config text give each float as the shortest text that reads back as it:
// what a person wrote (1e-06, 0.003), and all 17 digits only where the value needs them.
Test(config, printed_floats_are_the_shortest_that_read_back) {
    Config a, b;
    Err e = {{0}};
    const char *sets[] = {"sft.lr=3e-3", "train.lr=0.30000000000000004", "train.adam_beta1=0.9"};
    cr_assert_eq(config_resolve(&a, NULL, sets, 3, &e), 0, "%s", e.msg);
    char *text = config_to_string(&a);
    cr_expect(strstr(text, "\nrms_norm_eps = 1e-06\n"), "%s", text);
    cr_expect(strstr(text, "\nlr = 0.003\n"), "%s", text);
    cr_expect(strstr(text, "\nlr = 0.30000000000000004\n"), "%s", text);
    cr_expect(strstr(text, "\nadam_beta1 = 0.9\n"), "%s", text);
    cr_assert_eq(resolve_text(text, &b, &e), 0, "%s", e.msg);
    cr_expect(a.model.rms_norm_eps == b.model.rms_norm_eps && a.sft.lr == b.sft.lr && a.train.lr == b.train.lr &&
              a.train.adam_beta1 == b.train.adam_beta1);
    cr_expect(b.train.lr == 0.1 + 0.2 && b.sft.lr == 3e-3);
    free(text);
}

Test(config, unknown_key_names_file_line_and_suggests) {
    Config c;
    Err e = {{0}};
    cr_assert_eq(resolve_text("[model]\n\nhiden_size = 3\n", &c, &e), -1);
    cr_expect(strstr(e.msg, ".ini:3: unknown key 'hiden_size' in [model] (did you mean 'hidden_size'?)"), "%s", e.msg);
}

Test(config, unknown_section_suggests) {
    Config c;
    Err e = {{0}};
    cr_assert_eq(resolve_text("[trian]\nsteps = 3\n", &c, &e), -1);
    cr_expect(strstr(e.msg, ":2: unknown section [trian] (did you mean 'train'?)"), "%s", e.msg);
}

Test(config, bad_values_name_the_expected_form) {
    Config c;
    Err e = {{0}};
    cr_assert_eq(resolve_text("[train]\nsteps = ten\n", &c, &e), -1);
    cr_expect(strstr(e.msg, ":2: [train] steps = 'ten': expected an integer in [0, "), "%s", e.msg);
    cr_assert_eq(resolve_text("[model]\nnum_experts_per_tok = 65\n", &c, &e), -1);  // the MoE backward's limit
    cr_expect(strstr(e.msg, ":2: [model] num_experts_per_tok = '65': expected an integer in [0, 64]"), "%s", e.msg);
    cr_assert_eq(resolve_text("[rollout]\ntop_p = 1.5\n", &c, &e), -1);
    cr_expect(strstr(e.msg, "expected a number in [1e-09, 1]"), "%s", e.msg);
    // 0 is the end of their ranges where the formula divides 0 by 0: refused, the reason given.
    cr_assert_eq(resolve_text("[train]\nadam_eps = 0\n", &c, &e), -1);
    cr_expect(strstr(e.msg, ":2: [train] adam_eps = '0': expected a number in (0, 1]: m / (sqrt(v) + eps) is 0/0"),
              "%s", e.msg);
    cr_assert_eq(resolve_text("[model]\nrms_norm_eps = 0.0\n", &c, &e), -1);
    cr_expect(strstr(e.msg, ":2: [model] rms_norm_eps = '0.0': expected a number in (0, 1]: x / sqrt(mean(x^2) + eps)"),
              "%s", e.msg);
    cr_assert_eq(resolve_text("[train]\nadam_eps = 1e-300\n[model]\nrms_norm_eps = 1\n", &c, &e), 0, "%s", e.msg);
    cr_assert_eq(resolve_text("[algo]\nname = ppo\n", &c, &e), -1);
    cr_expect(strstr(e.msg, "expected one of grpo|dapo|drgrpo|gspo|luspo|grpo_lambda|sspo"), "%s", e.msg);
    cr_assert_eq(resolve_text("[data]\nshuffle = maybe\n", &c, &e), -1);
    cr_expect(strstr(e.msg, "expected true or false"), "%s", e.msg);
    cr_assert_eq(resolve_text("[model]\nhidden_size = 1e3\n", &c, &e), -1);
    cr_assert_eq(resolve_text("[model]\nhidden_size = 99999999999999999999\n", &c, &e), -1);
}

Test(config, syntax_error_and_missing_file) {
    Config c;
    Err e = {{0}};
    cr_assert_eq(resolve_text("[model]\nthis line has no equals\n", &c, &e), -1);
    cr_expect(strstr(e.msg, ":2: syntax error"), "%s", e.msg);
    cr_assert_eq(config_resolve(&c, "/nonexistent/x.ini", NULL, 0, &e), -1);
    cr_expect(strstr(e.msg, "/nonexistent/x.ini: cannot open config file"), "%s", e.msg);
}

Test(config, bad_set_forms) {
    Config c;
    Err e = {{0}};
    const char *forms[] = {"lr=1", "train.lr", ".lr=1", "train.=1", "train.lr=", "model.num_layers=3"};
    for (int i = 0; i < 6; i++) {
        cr_expect_eq(config_resolve(&c, NULL, &forms[i], 1, &e), -1, "%s accepted", forms[i]);
        cr_expect(strstr(e.msg, "--set "), "%s", e.msg);
    }
    cr_expect(strstr(e.msg, "did you mean 'num_hidden_layers'"), "%s", e.msg);
}

// strtoll and strtod skip leading white space and strtod reads hexadecimal: each of these would have set a number
// (3, 16, 0.125) that no file line can give, where "3 " was refused.
Test(config, set_numbers_are_plain_decimals) {
    Config c;
    Err e = {{0}};
    const char *bad[][2] = {
        {"train.steps= 3", "--set train.steps= 3: [train] steps = ' 3': expected an integer in [0, 1073741824]"},
        {"train.steps=\t3", "--set train.steps=\\t3: [train] steps = '\\t3': expected an integer in [0, 1073741824]"},
        {"train.steps=3 ", "--set train.steps=3 : [train] steps = '3 ': expected an integer in [0, 1073741824]"},
        {"train.steps=0x10", "--set train.steps=0x10: [train] steps = '0x10': expected an integer in [0, 1073741824]"},
        {"model.rope_theta=0x10", "--set model.rope_theta=0x10: [model] rope_theta = '0x10': expected a number in "},
        {"model.rope_theta=-0X10", "--set model.rope_theta=-0X10: [model] rope_theta = '-0X10': expected a number in "},
        {"train.lr=0x1p-3", "--set train.lr=0x1p-3: [train] lr = '0x1p-3': expected a number in [0, 10]"},
        {"train.lr= 0.1", "--set train.lr= 0.1: [train] lr = ' 0.1': expected a number in [0, 10]"},
        {"train.lr=nan", "--set train.lr=nan: [train] lr = 'nan': expected a number in [0, 10]"},
        {"train.lr=inf", "--set train.lr=inf: [train] lr = 'inf': expected a number in [0, 10]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(config_resolve(&c, NULL, &bad[i][0], 1, &e), -1, "%s accepted", bad[i][0]);
        cr_expect(!strncmp(e.msg, bad[i][1], strlen(bad[i][1])), "%s:\n%s", bad[i][0], e.msg);
    }
    const char *ok[] = {"train.lr=+0.5", "train.lr=5e-1", "train.steps=+3", "train.steps=-0",
                        "train.lr=2.2250738585072014e-308"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        cr_expect_eq(config_resolve(&c, NULL, &ok[i], 1, &e), 0, "%s: %s", ok[i], e.msg);
}

// A value below a double's smallest normal reads as 0 or a subnormal with ERANGE: in [0, 10], yet not what was
// written, so it is refused with the reason.
Test(config, set_numbers_that_underflow_say_why) {
    Config c;
    Err e = {{0}};
    const char *sets[] = {"train.lr=1e-999", "train.lr=1e-310"};
    for (int i = 0; i < 2; i++) {
        cr_expect_eq(config_resolve(&c, NULL, &sets[i], 1, &e), -1, "%s accepted", sets[i]);
        cr_expect(strstr(e.msg, "expected a number in [0, 10], 0 or of magnitude at least 2.2e-308 (a double's "
                                "smallest normal)"),
                  "%s", e.msg);
    }
    const char *big = "train.lr=1e999";
    cr_expect_eq(config_resolve(&c, NULL, &big, 1, &e), -1);
    cr_expect(strstr(e.msg, "lr = '1e999': expected a number in [0, 10]") && !strstr(e.msg, "smallest"), "%s", e.msg);
}

// Names and values are quoted with their control bytes escaped (err_abbrev), so a message stays one line.
Test(config, control_bytes_in_names_are_escaped) {
    Config c;
    Err e = {{0}};
    const char *set = "a\nb.c=1";
    cr_expect_eq(config_resolve(&c, NULL, &set, 1, &e), -1);
    cr_expect_str_eq(e.msg, "--set a\\nb.c=1: expected section.key=value");
    set = "train.st\reps=1";
    cr_expect_eq(config_resolve(&c, NULL, &set, 1, &e), -1);
    cr_expect_str_eq(e.msg, "--set train.st\\reps=1: expected section.key=value");
    cr_assert_eq(resolve_text("\x1b[31mkey = 1\n", &c, &e), -1);
    cr_expect(strstr(e.msg, ":1: key '\\x1B[31mkey' outside any [section]"), "%s", e.msg);
    cr_assert_eq(resolve_text("[mo\x1b]\nkey = 1\n", &c, &e), -1);
    cr_expect(strstr(e.msg, ":2: unknown section [mo\\x1B]"), "%s", e.msg);
    cr_assert_eq(resolve_text("[model]\nhid\x01 = 1\n", &c, &e), -1);
    cr_expect(strstr(e.msg, ":2: unknown key 'hid\\x01' in [model]"), "%s", e.msg);
}

Test(config, cross_key_validation) {
    Config c;
    Err e = {{0}};
    cr_assert_eq(resolve_text("[model]\nnum_attention_heads = 4\nnum_key_value_heads = 3\n", &c, &e), -1);
    cr_expect(strstr(e.msg, "multiple of num_key_value_heads"), "%s", e.msg);
    cr_assert_eq(resolve_text("[model]\ntype = qwen3_moe\n", &c, &e), -1);
    cr_expect(strstr(e.msg, "needs num_experts >= 1"), "%s", e.msg);
    cr_assert_eq(resolve_text("[task]\ndigits_min = 5\ndigits_max = 2\n", &c, &e), -1);
    // An empty field name would only fail at the first record, naming a JSON key "" instead of the config key.
    cr_assert_eq(resolve_text("[data]\nprompt_field =\n", &c, &e), -1);
    cr_expect(strstr(e.msg, "[data] prompt_field is empty; expected the JSON key (or dotted path) of the records' question"),
              "%s", e.msg);
    cr_assert_eq(resolve_text("[data]\nanswer_field =\n", &c, &e), -1);
    cr_expect(strstr(e.msg, "[data] answer_field is empty"), "%s", e.msg);
    // A template without {question} would give every dataset problem the same prompt.
    cr_assert_eq(resolve_text("[data]\ntemplate = Solve it.\n", &c, &e), -1);
    cr_expect(strstr(e.msg, "[data] template = 'Solve it.' has no {question}"), "%s", e.msg);
    cr_assert_eq(resolve_text("[data]\ntemplate = Q: {question}\\nA:\n", &c, &e), 0, "%s", e.msg);
    // 3 mini-batches of whole groups need 3 prompts; with 2, one would be empty and the step would run 2 updates.
    cr_assert_eq(resolve_text("[train]\nprompts_per_step = 2\nn_minibatches = 3\n", &c, &e), -1);
    cr_expect(strstr(e.msg, "[train] n_minibatches (3) must be <= prompts_per_step (2)"), "%s", e.msg);
    cr_assert_eq(resolve_text("[train]\nprompts_per_step = 3\nn_minibatches = 3\n", &c, &e), 0, "%s", e.msg);
    // The sequence ratio's clamp below the clip's upper edge would cut ratios inside the trust region; at it (eps_high =
    // 0, clamp 0: every ratio above 1 clipped anyway) it cuts none.
    cr_assert_eq(resolve_text("[algo]\nname = gspo\nlog_ratio_clamp = 0\n", &c, &e), -1);
    cr_expect(strstr(e.msg, "[algo] log_ratio_clamp (0) must be >= log(1 + eps_high) = 0.00039992"), "%s", e.msg);
    cr_assert_eq(resolve_text("[algo]\nname = sspo\neps_high = 0.1\nsspo_c_max = 3\nlog_ratio_clamp = 0.26\n", &c, &e),
                 -1);
    cr_expect(strstr(e.msg, "[algo] log_ratio_clamp (0.26) must be >= log(1 + eps_high sspo_c_max) = 0.262364"), "%s",
              e.msg);
    cr_assert_eq(resolve_text("[algo]\nname = luspo\nlog_ratio_clamp = 0.01\n", &c, &e), 0, "%s", e.msg);
    cr_assert_eq(resolve_text("[algo]\nname = gspo\neps_high = 0\nlog_ratio_clamp = 0\n", &c, &e), 0, "%s", e.msg);
    cr_assert_eq(resolve_text("[algo]\nname = grpo\nlog_ratio_clamp = 0\n", &c, &e), 0, "%s", e.msg);  // not read
    // A data file under the embedded task would be ignored: the run would train on arithmetic.
    cr_assert_eq(resolve_text("[data]\neval_path = d/test.jsonl\n", &c, &e), -1);
    cr_expect(strstr(e.msg, "[data] eval_path = 'd/test.jsonl' is read by the dataset tasks only (math, gsm8k, dapo), "
                            "and [task] name is arith"),
              "%s", e.msg);
    cr_assert_eq(resolve_text("[task]\nname = gsm8k\n[data]\npath = d/train.jsonl\n", &c, &e), 0, "%s", e.msg);
    // A tokenizer.json under the byte tokenizer would be ignored: the run would tokenize bytes.
    cr_assert_eq(resolve_text("[tokenizer]\npath = m/tokenizer.json\n", &c, &e), -1);
    cr_expect(strstr(e.msg, "[tokenizer] path = 'm/tokenizer.json' is read by type = bpe only, and type is byte"), "%s",
              e.msg);
    cr_assert_eq(resolve_text("[tokenizer]\ntype = bpe\npath = m/tokenizer.json\n", &c, &e), 0, "%s", e.msg);
}

// results/objectives.md §3 GRPO-λ: each [reading] is a key of [algo]; the defaults are ceil, index and keep.
Test(config, grpo_lambda_readings_are_keys_that_print_and_read_back) {
    Config a, b;
    Err e = {{0}};
    cr_assert_eq(config_resolve(&a, NULL, NULL, 0, &e), 0, "%s", e.msg);
    cr_expect_eq(a.algo.lambda_count, LAMBDA_COUNT_CEIL);
    cr_expect_eq(a.algo.lambda_ties, LAMBDA_TIES_INDEX);
    cr_expect_eq(a.algo.lambda_few_correct, LAMBDA_FEW_KEEP);
    char *text = config_to_string(&a);
    cr_expect(strstr(text, "\nlambda_count = ceil\nlambda_ties = index\nlambda_few_correct = keep\n"), "%s", text);
    free(text);
    const char *sets[] = {"algo.name=grpo_lambda", "algo.lambda_count=round", "algo.lambda_ties=random",
                          "algo.lambda_few_correct=center"};
    cr_assert_eq(config_resolve(&a, NULL, sets, 4, &e), 0, "%s", e.msg);
    cr_expect(a.algo.lambda_count == LAMBDA_COUNT_ROUND && a.algo.lambda_ties == LAMBDA_TIES_RANDOM &&
              a.algo.lambda_few_correct == LAMBDA_FEW_CENTER);
    text = config_to_string(&a);
    cr_expect(strstr(text, "\nlambda_count = round\nlambda_ties = random\nlambda_few_correct = center\n"), "%s", text);
    cr_assert_eq(resolve_text(text, &b, &e), 0, "%s", e.msg);
    cr_expect(b.algo.lambda_count == LAMBDA_COUNT_ROUND && b.algo.lambda_ties == LAMBDA_TIES_RANDOM &&
              b.algo.lambda_few_correct == LAMBDA_FEW_CENTER);
    free(text);
    cr_assert_eq(resolve_text("[algo]\nlambda_count = floor\n", &b, &e), 0, "%s", e.msg);
    cr_expect_eq(b.algo.lambda_count, LAMBDA_COUNT_FLOOR);
    cr_assert_eq(resolve_text("[algo]\nlambda_count = trunc\n", &b, &e), -1);
    cr_expect(strstr(e.msg, ":2: [algo] lambda_count = 'trunc': expected one of ceil|floor|round"), "%s", e.msg);
    cr_assert_eq(resolve_text("[algo]\nlambda_ties = id\n", &b, &e), -1);
    cr_expect(strstr(e.msg, "expected one of index|random"), "%s", e.msg);
    cr_assert_eq(resolve_text("[algo]\nlambda_few_correct = zero\n", &b, &e), -1);
    cr_expect(strstr(e.msg, "expected one of keep|center"), "%s", e.msg);
}

// Dynamic sampling would drop GRPO-λ's all-correct groups before its transform: the pair is refused, in any order,
// from a file or --set; either alone runs.
Test(config, grpo_lambda_with_dynamic_sampling_is_refused) {
    Config c;
    Err e = {{0}};
    const char *want = "[algo] name = grpo_lambda does not run with [algo] dynamic_sampling = true: dynamic sampling "
                       "drops the groups whose rewards are all equal before GRPO-λ's reward transform, among them the "
                       "all-correct groups GRPO-λ ranks first and rewards for being short";
    cr_assert_eq(resolve_text("[algo]\nname = grpo_lambda\ndynamic_sampling = true\n", &c, &e), -1);
    cr_expect(strstr(e.msg, ".ini: ") && strstr(e.msg, want), "%s", e.msg);
    const char *sets[] = {"algo.dynamic_sampling=true", "algo.name=grpo_lambda"};
    memset(&e, 0, sizeof e);
    cr_assert_eq(config_resolve(&c, NULL, sets, 2, &e), -1);
    cr_expect(strstr(e.msg, want), "%s", e.msg);
    const char *dapo_then_lambda[] = {"algo.name=dapo", "algo.name=grpo_lambda"};  // dapo's preset is dapo's alone
    cr_expect_eq(config_resolve(&c, NULL, dapo_then_lambda, 2, &e), 0, "%s", e.msg);
    cr_expect_eq(config_resolve(&c, NULL, sets, 1, &e), 0, "%s", e.msg);
    cr_expect_eq(config_resolve(&c, NULL, sets + 1, 1, &e), 0, "%s", e.msg);
}

Test(config, model_type_presets) {
    Config c;
    Err e = {{0}};
    const char *q2[] = {"model.type=qwen2"};
    cr_assert_eq(config_resolve(&c, NULL, q2, 1, &e), 0, "%s", e.msg);
    cr_expect(c.model.attention_bias);
    cr_expect(!c.model.qk_norm);
    cr_expect_str_eq(config_enum_name("model", "type", c.model.type), "qwen2");
}

static const char *include_dir(void) { return scratch_dir(); }

Test(config, include_loads_base_relative_to_file_then_overrides) {
    Config c;
    Err e = {{0}};
    const char *dir = include_dir();
    write_in(dir, "base.ini", "[model]\nhidden_size = 32\n[train]\nlr = 3e-4\nsteps = 7\n");
    const char *top = write_in(dir, "top.ini", "include = base.ini\n[train]\nlr = 1e-5\n[algo]\nname = gspo\n");
    cr_assert_eq(config_resolve(&c, top, NULL, 0, &e), 0, "%s", e.msg);
    cr_expect_eq(c.model.hidden_size, 32);
    cr_expect_eq(c.train.steps, 7);
    cr_expect_float_eq(c.train.lr, 1e-5, 1e-20);
    cr_expect_float_eq(c.algo.eps_low, 3e-4, 1e-18, "the preset still follows the final algo.name");
    cr_expect_str_eq(c.source, top);
}

// top.ini (in the include test directory) with this text fails with an error containing want and, for an
// included file's error, not the including file's place as well.
static void expect_top_error(const char *text, const char *want) {
    Config c;
    Err e = {{0}};
    cr_assert_eq(config_resolve(&c, write_in(include_dir(), "top.ini", text), NULL, 0, &e), -1, "accepted: %s", text);
    cr_expect(strstr(e.msg, want), "%s", e.msg);
    if (!strstr(want, "top.ini")) cr_expect(!strstr(e.msg, "top.ini"), "%s", e.msg);
}

Test(config, include_errors_name_the_file_and_line_at_fault) {
    write_in(include_dir(), "bad.ini", "[train]\n\nsteps = ten\n");
    expect_top_error("include = bad.ini\n", "/bad.ini:3: [train] steps = 'ten'");
    expect_top_error("# a comment\ninclude = missing.ini\n", "top.ini:2: include 'missing.ini': cannot open");
    expect_top_error("include = /dev/zero\n", "top.ini:1: include '/dev/zero': /dev/zero is not a regular file");
    write_in(include_dir(), "loop.ini", "include = loop.ini\n");
    expect_top_error("include = loop.ini\n", "loop.ini:1: include 'loop.ini': more than 8 nested includes");
    expect_top_error("[train]\nsteps = 3\ninclude = x.ini\n", "top.ini:3: unknown key 'include' in [train]");
    expect_top_error("steps = 3\n", "top.ini:1: key 'steps' outside any [section]");
}

// A config in a directory whose path is longer than 512 bytes (six levels of 99 bytes) includes its neighbour: the
// include's path was cut at 511 bytes, so the file was not found.
Test(config, include_from_a_long_directory) {
    char dir[1024], base[1100], top[1100];
    int n = snprintf(dir, sizeof dir, "%s", scratch_dir());
    for (int k = 0; k < 6; k++) {
        n += snprintf(dir + n, sizeof dir - (size_t)n, "/%.99s", "ddddddddddddddddddddddddddddddddddddddddddddddddddddd"
                                                             "ddddddddddddddddddddddddddddddddddddddddddddddd");
        cr_assert_eq(mkdir(dir, 0755), 0, "mkdir %s", dir);
    }
    snprintf(base, sizeof base, "%s/base.ini", dir), snprintf(top, sizeof top, "%s/top.ini", dir);
    FILE *f = fopen(base, "w");
    fputs("[train]\nsteps = 7\n", f), fclose(f);
    f = fopen(top, "w");
    fputs("include = base.ini\n[train]\nlr = 1e-5\n", f), fclose(f);
    Config c;
    Err e = {{0}};
    cr_assert_eq(config_resolve(&c, top, NULL, 0, &e), 0, "%s", e.msg);
    cr_expect_eq(c.train.steps, 7);
}

// A file with this text (len bytes, NULs allowed) fails with exactly "PATH" + tail.
static void expect_file_error_n(const char *text, size_t len, const char *tail) {
    char path[200], want[1024];
    snprintf(path, sizeof path, "%s/exact.ini", scratch_dir());
    FILE *f = fopen(path, "wb");
    fwrite(text, 1, len, f);
    fclose(f);
    Config c;
    Err e = {{0}};
    cr_assert_eq(config_resolve(&c, path, NULL, 0, &e), -1, "accepted: %s", text);
    snprintf(want, sizeof want, "%s%s", path, tail);
    cr_expect_str_eq(e.msg, want);
}

static void expect_file_error(const char *text, const char *tail) { expect_file_error_n(text, strlen(text), tail); }

static void expect_set_error(const char *assignment, const char *want) {
    Config c;
    Err e = {{0}};
    cr_assert_eq(config_resolve(&c, NULL, &assignment, 1, &e), -1, "accepted: %s", assignment);
    cr_expect_str_eq(e.msg, want);
}

// A line break in a string value would end its line in config.ini and in a checkpoint's stored config, which then
// would not read back (a resume failed on the broken line); a file's line holds none, a --set's could.
Test(config, line_breaks_in_a_set_value_are_refused) {
    expect_set_error("eval.data_dir=da\nta", "--set eval.data_dir=da\\nta: [eval] data_dir = 'da\\nta': expected "
                                          "a value on one line (config.ini holds one key per line)");
    expect_set_error("data.template=Q: {question}\r", "--set data.template=Q: {question}\\r: [data] template = 'Q: "
                                                  "{question}\\r': expected a value on one line (config.ini holds "
                                                  "one key per line)");
    Config c;
    Err e = {{0}};
    const char *tab = "data.template=Q:\t{question}";  // a tab keeps the line: it prints and reads back
    cr_expect_eq(config_resolve(&c, NULL, &tab, 1, &e), 0, "%s", e.msg);
}

Test(config, duplicate_key_names_file_both_lines_and_key) {
    expect_file_error("[train]\nlr = 1e-3\nsteps = 2\nlr = 2e-3\n", ":4: duplicate key 'lr' in [train] (first set on line 2)");
    expect_file_error("[train]\nlr = 1\n[model]\nhidden_size = 8\n\n[train]\nlr = 1\n",
                      ":7: duplicate key 'lr' in [train] (first set on line 2)");
}

Test(config, include_and_set_overrides_are_not_duplicates) {
    Config c;
    Err e = {{0}};
    const char *dir = include_dir();
    write_in(dir, "base.ini", "[train]\nlr = 3e-4\n");
    const char *top = write_in(dir, "top.ini", "include = base.ini\ninclude = base.ini\n[train]\nlr = 1e-5\n");
    const char *sets[] = {"train.lr=2e-5", "train.lr=3e-5"};
    cr_assert_eq(config_resolve(&c, top, sets, 2, &e), 0, "%s", e.msg);
    cr_expect_float_eq(c.train.lr, 3e-5, 1e-20);
    write_in(dir, "dup.ini", "[train]\nlr = 3e-4\n\nlr = 3e-4\n");
    expect_top_error("include = dup.ini\n", "/dup.ini:4: duplicate key 'lr' in [train] (first set on line 2)");
}

Test(config, unclosed_section_header_is_named) {
    expect_file_error("[model]\nhidden_size = 32\n[train  \nlr = 1\n", ":3: unclosed section header '[train': expected [section]");
    expect_file_error("[train ; no]\n", ":1: unclosed section header '[train': expected [section] (' ;' starts a comment)");
    expect_file_error("\xEF\xBB\xBF[model\n", ":1: unclosed section header '[model': expected [section]");
}

Test(config, syntax_error_names_its_own_line_not_a_later_one) {
    expect_file_error("[model]\nno equals here\nhiden_size = 3\n", ":2: syntax error: expected [section] or key = value");
}

Test(config, indented_continuation_line_is_an_error) {
    expect_file_error("[train]\nlr = 1e-3\n  steps = 3\n",
                      ":3: indented line continues the value of 'lr' (line 2): expected key = value, not indented");
    Config c;
    Err e = {{0}};
    cr_assert_eq(resolve_text("[train]\n  steps = 3\n[model]\n\thidden_size = 32\n", &c, &e), 0, "%s", e.msg);
    cr_expect_eq(c.train.steps, 3);
    cr_expect_eq(c.model.hidden_size, 32);
}

// 100 bytes of c.
static const char *repeat(char c) {
    static char buf[101];
    memset(buf, c, 100);
    buf[100] = 0;
    return buf;
}

Test(config, long_values_are_cut_in_messages_never_the_expectation) {
    char text[256], want[256];
    snprintf(text, sizeof text, "[train]\nsteps = %s\n", repeat('9'));
    expect_file_error(text, ":2: [train] steps = '9999999999999999999999999999999999999999...': expected an integer in "
                            "[0, 1073741824]");
    char set[512];
    snprintf(set, sizeof set, "data.template=%s%s%s", repeat('t'), repeat('t'), repeat('t'));
    expect_set_error(set, "--set data.template=tttttttttttttttttttttttttttttttttttttttt...: [data] template = "
                          "'tttttttttttttttttttttttttttttttttttttttt...': expected a string of at most 255 bytes");
    snprintf(set, sizeof set, "%s", repeat('x'));
    expect_set_error(set, "--set xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...: expected section.key=value");
    snprintf(set, sizeof set, "%s.k=1", repeat('s'));
    expect_set_error(set, "--set ssssssssssssssssssssssssssssssssssssssss...: expected a section and a key of at most "
                          "63 bytes each");
    snprintf(text, sizeof text, "include = %s\n", repeat('d'));
    snprintf(want, sizeof want, "top.ini:1: include '%.40s...': cannot open", repeat('d'));
    expect_top_error(text, want);
}

Test(config, cut_values_end_on_a_whole_character) {
    char set[256];
    // 39 ASCII bytes then "é" (2 bytes): byte 40 is the middle of "é", so the quote stops before it.
    snprintf(set, sizeof set, "algo.name=%.39s\xC3\xA9%s", repeat('a'), repeat('b'));
    expect_set_error(set, "--set algo.name=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...: [algo] name = "
                          "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...': expected one of "
                          "grpo|dapo|drgrpo|gspo|luspo|grpo_lambda|sspo");
}

Test(config, lines_inih_would_cut_are_errors_but_long_comments_are_fine) {
    char text[1024];
    snprintf(text, sizeof text, "[data]\ntemplate = %s%s\n", repeat('t'), repeat('t'));
    expect_file_error(text, ":2: line longer than 198 bytes: expected at most 198 (give a longer value with --set)");
    static const char nul[] = "[train]\nsteps = 3\0 ; x\n";
    expect_file_error_n(nul, sizeof nul - 1, ":2: NUL byte in the line: expected text");
    Config c;
    Err e = {{0}};
    snprintf(text, sizeof text, "# %s%s%s\n[train]\n  ; %s%s\nsteps = 5\n", repeat('c'), repeat('c'), repeat('c'),
             repeat('c'), repeat('c'));
    cr_assert_eq(resolve_text(text, &c, &e), 0, "%s", e.msg);
    cr_expect_eq(c.train.steps, 5);
}

Test(config, a_directory_is_not_a_config_file) {
    Config c;
    Err e = {{0}};
    cr_assert_eq(config_resolve(&c, "/tmp", NULL, 0, &e), -1);
    cr_expect_str_eq(e.msg, "/tmp: cannot read config file: Is a directory");
}

// config_diff: every changed key once, in table order (config_print's), values as a person reads them.
Test(config, diff_lists_changed_keys_in_table_order) {
    Config a, b;
    Err e = {{0}};
    cr_assert_eq(config_resolve(&a, NULL, NULL, 0, &e), 0, "%s", e.msg);
    ConfigChange *ch = (ConfigChange *)1;
    cr_expect_eq(config_diff(&a, &a, &ch), 0);
    cr_expect_null(ch);
    // One key of each type; the defaults (base/config.c): train.steps 10, train.lr 1e-6, rollout.seed 0,
    // data.shuffle true, algo.name grpo (with its preset beta 0.04; gspo's preset is 0), data.template "{question}".
    const char *sets[] = {"train.steps=200", "train.lr=0.001", "rollout.seed=7", "data.shuffle=false",
                          "algo.name=gspo", "data.template=Q: {question}"};
    cr_assert_eq(config_resolve(&b, NULL, sets, 6, &e), 0, "%s", e.msg);
    int n = config_diff(&a, &b, &ch);
    // gspo also brings eps_low 3e-4 and eps_high 4e-4 (the presets of results/objectives.md §3).
    const char *want[][3] = {
        {"data.template", "'{question}'", "'Q: {question}'"}, {"data.shuffle", "true", "false"}, {"rollout.seed", "0", "7"},
        {"algo.name", "grpo", "gspo"},      {"algo.eps_low", "0.2", "0.0003"}, {"algo.eps_high", "0.2", "0.0004"},
        {"algo.beta", "0.04", "0"},         {"train.steps", "10", "200"},      {"train.lr", "1e-06", "0.001"},
    };
    cr_assert_eq(n, 9, "%d changes", n);
    for (int i = 0; i < n; i++) {
        cr_expect_str_eq(ch[i].key, want[i][0]);
        cr_expect_str_eq(ch[i].from, want[i][1], "%s from", ch[i].key);
        cr_expect_str_eq(ch[i].to, want[i][2], "%s to", ch[i].key);
    }
    free(ch);
    // The reverse direction swaps the values.
    cr_assert_eq(config_diff(&b, &a, &ch), 9);
    cr_expect_str_eq(ch[8].from, "0.001");
    cr_expect_str_eq(ch[8].to, "1e-06");
    free(ch);
}

// A config printed and read back (a checkpoint's stored text) differs from its source in nothing.
Test(config, diff_of_a_printed_config_read_back_is_empty) {
    Config a, b;
    Err e = {{0}};
    const char *sets[] = {"train.lr=3.3e-7", "algo.eps_high=0.1", "rollout.top_p=0.95", "train.seed=123456789012"};
    cr_assert_eq(config_resolve(&a, NULL, sets, 4, &e), 0, "%s", e.msg);
    char *text = config_to_string(&a);
    cr_assert_eq(resolve_text(text, &b, &e), 0, "%s", e.msg);
    free(text);
    ConfigChange *ch;
    cr_expect_eq(config_diff(&a, &b, &ch), 0);
    free(ch);
}

// A resume as train/run.c makes it: the saved run's resolved config written out (config.ini, every key explicit),
// read back, the resume's sets applied and, with config_rederive, the saved run's automatic keys rederived.
static void resume_with(const Config *saved, const char *const *sets, int n, bool (*keep)(const char *), Config *now) {
    Err e = {{0}};
    char *text = config_to_string(saved);
    config_defaults(now);
    cr_assert_eq(config_load_file(now, write_tmp(text), &e), 0, "%s", e.msg);
    free(text);
    for (int i = 0; i < n; i++) cr_assert_eq(config_set(now, sets[i], &e), 0, "%s", e.msg);
    config_rederive(now, saved, sets, n, false, keep);
    cr_assert_eq(config_finalize(now, &e), 0, "%s", e.msg);
}

static Config saved_run(const char *const *sets, int n) {
    Config c;
    Err e = {{0}};
    cr_assert_eq(config_resolve(&c, NULL, sets, n, &e), 0, "%s", e.msg);
    return c;
}

// luspo -> gspo: the keys luspo's presets filled take gspo's (results/objectives.md §3: eps 3e-4 / 4e-4) or the
// defaults where gspo has none (agg seq-mean-token-mean, overlong_factor 1), as a fresh gspo run would.
Test(config, rederive_follows_a_new_algorithm) {
    const char *luspo[] = {"algo.name=luspo"};
    Config saved = saved_run(luspo, 1), now;
    cr_assert_float_eq(saved.algo.eps_low, 2e-3, 1e-18);
    const char *gspo[] = {"algo.name=gspo"};
    resume_with(&saved, gspo, 1, NULL, &now);
    cr_expect_eq(now.algo.name, ALGO_GSPO);
    cr_expect_eq(now.algo.eps_low, 3e-4);
    cr_expect_eq(now.algo.eps_high, 4e-4);
    cr_expect_eq(now.algo.agg, AGG_SEQ_MEAN_TOKEN_MEAN);
    cr_expect_eq(now.reward.overlong_factor, 1.0);
    cr_expect_eq(now.algo.beta, 0.0);
    // Without config_rederive the written-out config keeps luspo's values (the trap this guards against).
    Config kept;
    Err e = {{0}};
    char *text = config_to_string(&saved);
    cr_assert_eq(config_resolve(&kept, write_tmp(text), gspo, 1, &e), 0, "%s", e.msg);
    free(text);
    cr_expect_eq(kept.algo.eps_low, 2e-3);
}

// A key the saved run set by hand (a value other than its preset's) stays; so does one this resume changes in its
// file, and one it names with --set, even to the saved value.
Test(config, rederive_keeps_keys_set_by_hand) {
    const char *luspo[] = {"algo.name=luspo", "algo.eps_low=0.01"};
    Config saved = saved_run(luspo, 2), now;
    const char *gspo[] = {"algo.name=gspo"};
    resume_with(&saved, gspo, 1, NULL, &now);
    cr_expect_eq(now.algo.eps_low, 0.01, "set by hand in the saved run");
    cr_expect_eq(now.algo.eps_high, 4e-4, "left to luspo's preset");
    const char *named[] = {"algo.name=gspo", "algo.eps_high=2.5e-3"};
    resume_with(&saved, named, 2, NULL, &now);
    cr_expect_eq(now.algo.eps_high, 2.5e-3, "named in --set, though equal to the saved value");
    cr_expect_eq(now.algo.agg, AGG_SEQ_MEAN_TOKEN_MEAN);
    // The file changes agg (a set the rederivation is not told of reads as the file's own value).
    Config file;
    Err e = {{0}};
    char *text = config_to_string(&saved);
    config_defaults(&file);
    cr_assert_eq(config_load_file(&file, write_tmp(text), &e), 0, "%s", e.msg);
    free(text);
    cr_assert_eq(config_set(&file, "algo.agg=token-mean", &e), 0, "%s", e.msg);
    cr_assert_eq(config_set(&file, "algo.name=gspo", &e), 0, "%s", e.msg);
    config_rederive(&file, &saved, gspo, 1, false, NULL);
    cr_expect_eq(file.algo.agg, AGG_TOKEN_MEAN, "changed in the file");
    cr_expect_eq(file.reward.overlong_factor, 1.0);
}

// A resume that names its own --config: the file's lines are the user's, so a key it gives stays even at the value the
// saved run's preset gave it; a key it leaves out follows the new algorithm.
Test(config, rederive_keeps_what_a_named_file_gives) {
    const char *luspo[] = {"algo.name=luspo"};
    Config saved = saved_run(luspo, 1), now;
    Err e = {{0}};
    config_defaults(&now);
    const char *path = write_tmp("[algo]\nname = gspo\neps_low = 2e-3\n");
    cr_assert_eq(config_load_file(&now, path, &e), 0, "%s", e.msg);
    config_rederive(&now, &saved, NULL, 0, true, NULL);
    cr_assert_eq(config_finalize(&now, &e), 0, "%s", e.msg);
    cr_expect_eq(now.algo.eps_low, 2e-3, "the named file gives it, luspo's value");
    cr_expect_eq(now.algo.eps_high, 4e-4, "left out of the file: gspo's");
    // The same file as the run's own config.ini (not named): its every key is only the saved run's, so both follow.
    config_defaults(&now);
    cr_assert_eq(config_load_file(&now, path, &e), 0, "%s", e.msg);
    config_rederive(&now, &saved, NULL, 0, false, NULL);
    cr_assert_eq(config_finalize(&now, &e), 0, "%s", e.msg);
    cr_expect_eq(now.algo.eps_low, 3e-4);
}

static bool keep_eps_low(const char *key) { return !strcmp(key, "algo.eps_low"); }

// What keep names stays, without counting as given by hand: a resume that changes nothing records the keys the saved
// run gave, and no more.
Test(config, rederive_leaves_what_keep_names) {
    const char *luspo[] = {"algo.name=luspo", "train.steps=5"};
    Config saved = saved_run(luspo, 2), now;
    const char *gspo[] = {"algo.name=gspo"};
    resume_with(&saved, gspo, 1, keep_eps_low, &now);
    cr_expect_eq(now.algo.eps_low, 2e-3);
    cr_expect_eq(now.algo.eps_high, 4e-4);
    char *given = config_given_keys(&now);
    cr_expect_str_eq(given, "algo.name\ntrain.steps\n");
    free(given);
    resume_with(&saved, NULL, 0, keep_eps_low, &now);
    given = config_given_keys(&now);
    cr_expect_str_eq(given, "algo.name\ntrain.steps\n");
    free(given);
}

// eval.max_new_tokens follows rollout.max_new_tokens unless the saved run set it; DAPO's overlong buffer stays a
// fifth of the limit: 100 / 5 = 20 saved, 10 / 5 = 2 after (20 would exceed the new limit of 10 and be refused).
Test(config, rederive_follows_a_new_generation_limit) {
    const char *plain[] = {"rollout.max_new_tokens=100"};
    Config saved = saved_run(plain, 1), now;
    cr_assert_eq(saved.eval.max_new_tokens, 100);
    const char *shorter[] = {"rollout.max_new_tokens=30"};
    resume_with(&saved, shorter, 1, NULL, &now);
    cr_expect_eq(now.eval.max_new_tokens, 30);
    const char *by_hand[] = {"rollout.max_new_tokens=100", "eval.max_new_tokens=50"};
    saved = saved_run(by_hand, 2);
    resume_with(&saved, shorter, 1, NULL, &now);
    cr_expect_eq(now.eval.max_new_tokens, 50, "set by hand in the saved run");
    const char *dapo[] = {"algo.name=dapo", "rollout.max_new_tokens=100"};
    saved = saved_run(dapo, 2);
    cr_assert_eq(saved.reward.overlong_buffer, 20);
    const char *limit[] = {"rollout.max_new_tokens=10"};
    resume_with(&saved, limit, 1, NULL, &now);
    cr_expect_eq(now.reward.overlong_buffer, 2);
    cr_expect_eq(now.eval.max_new_tokens, 10);
    // A buffer set by hand stays, and the usual check refuses it past the new limit.
    const char *dapo_buffer[] = {"algo.name=dapo", "rollout.max_new_tokens=100", "reward.overlong_buffer=30"};
    saved = saved_run(dapo_buffer, 3);
    char *text = config_to_string(&saved);
    Err e = {{0}};
    config_defaults(&now);
    cr_assert_eq(config_load_file(&now, write_tmp(text), &e), 0, "%s", e.msg);
    free(text);
    cr_assert_eq(config_set(&now, limit[0], &e), 0, "%s", e.msg);
    config_rederive(&now, &saved, limit, 1, false, NULL);
    cr_expect_eq(config_finalize(&now, &e), -1);
    cr_expect(strstr(e.msg, "[reward] overlong_buffer (30) must be <= [rollout] max_new_tokens (10)"), "%s", e.msg);
}

// A chat template that brings its own instruction: a gsm8k run's data.template (verl's instruction, its preset)
// becomes "{question}", as in a fresh run with that template.
Test(config, rederive_follows_a_new_prompt_template) {
    const char *gsm8k[] = {"task.name=gsm8k"};
    Config saved = saved_run(gsm8k, 1), now;
    cr_assert(strstr(saved.data.template_, "Let's think step by step"));
    const char *boxed[] = {"prompt.template=qwen-boxed"};
    resume_with(&saved, boxed, 1, NULL, &now);
    cr_expect_str_eq(now.data.template_, "{question}");
    cr_expect_str_eq(now.reward.format_pattern, "####");
}

// A key the saved run gave by hand keeps its value even when it equals its preset's: a luspo run that wrote
// eps_low = 2e-3 (luspo's own value) resumed as gspo keeps 2e-3, where eps_high, left to luspo's preset, takes gspo's
// 4e-4 (results/objectives.md §3). The resumed run's keys given by hand are the saved run's and this resume's.
Test(config, rederive_keeps_a_key_given_its_preset_value) {
    const char *luspo[] = {"algo.name=luspo", "algo.eps_low=2e-3", "train.steps=5"};
    Config saved = saved_run(luspo, 3), now;
    const char *gspo[] = {"algo.name=gspo", "train.lr=0.01"};
    resume_with(&saved, gspo, 2, NULL, &now);
    cr_expect_eq(now.algo.eps_low, 2e-3, "given by hand in the saved run");
    cr_expect_eq(now.algo.eps_high, 4e-4, "left to luspo's preset");
    char *given = config_given_keys(&now);
    cr_expect_str_eq(given, "algo.name\nalgo.eps_low\ntrain.steps\ntrain.lr\n");
    free(given);
}

// A checkpoint's record of the keys given by hand, written and read back; a name this rlvr does not know is refused
// naming the record, and the config is left as it was.
Test(config, given_keys_round_trip_and_unknown_names) {
    const char *sets[] = {"eval.samples=3", "algo.name=dapo", "model.type=qwen2"};
    Config a = saved_run(sets, 3), b;
    char *given = config_given_keys(&a);
    cr_expect_str_eq(given, "model.type\nalgo.name\neval.samples\n", "table order");
    config_defaults(&b);
    Err e = {{0}};
    cr_assert_eq(config_mark_given(&b, given, "c.h5 /meta given_keys", &e), 0, "%s", e.msg);
    char *again = config_given_keys(&b);
    cr_expect_str_eq(again, given);
    free(again), free(given);
    cr_assert_eq(config_mark_given(&b, "", "x", &e), 0, "%s", e.msg);
    given = config_given_keys(&b);
    cr_expect_str_eq(given, "", "an empty record: nothing given");
    free(given);
    cr_assert_eq(config_mark_given(&b, "algo.name\n", "x", &e), 0, "%s", e.msg);
    const char *bad[] = {"algo.name\nalgo.nope\n", "algo\n", "train.steps\n.steps\n"};
    const char *named[] = {"'algo.nope'", "'algo'", "'.steps'"};
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(config_mark_given(&b, bad[i], "c.h5 /meta given_keys", &e), -1, "accepted: %s", bad[i]);
        cr_expect(strstr(e.msg, "c.h5 /meta given_keys: unknown key ") && strstr(e.msg, named[i]), "%s", e.msg);
    }
    given = config_given_keys(&b);
    cr_expect_str_eq(given, "algo.name\n", "unchanged by a refused record");
    free(given);
}

// Without a record (an older checkpoint), a key counts as given when its value is not the one it would have unset:
// luspo's eps_low 2e-3 is its preset's, so not given (the value by hand is lost, as before the record); train.steps
// 5 is not the default 10, algo.name luspo not grpo; everything else holds its default or automatic value.
Test(config, guess_given_from_the_values) {
    const char *luspo[] = {"algo.name=luspo", "algo.eps_low=2e-3", "train.steps=5", "train.lr=1e-6"};
    Config saved = saved_run(luspo, 4), read;
    char *text = config_to_string(&saved);
    Err e = {{0}};
    cr_assert_eq(resolve_text(text, &read, &e), 0, "%s", e.msg);
    free(text);
    config_guess_given(&read);
    char *given = config_given_keys(&read);
    cr_expect_str_eq(given, "algo.name\ntrain.steps\n");
    free(given);
    const char *gspo[] = {"algo.name=gspo"};
    Config now;
    resume_with(&read, gspo, 1, NULL, &now);
    cr_expect_eq(now.algo.eps_low, 3e-4, "without a record the value by hand follows the new preset");
}

// Stored config text (a checkpoint's) parses as a file does, from memory, and its errors name it with the line.
Test(config, load_text_parses_like_a_file_and_names_the_text) {
    const char *sets[] = {"train.lr=3.3e-7", "algo.name=gspo", "data.template=Q: {question}"};
    Config a = saved_run(sets, 3), b;
    char *text = config_to_string(&a);
    Err e = {{0}};
    cr_assert_eq(config_resolve_text(&b, text, "c.h5 /meta config", NULL, 0, &e), 0, "%s", e.msg);
    free(text);
    ConfigChange *ch;
    cr_expect_eq(config_diff(&a, &b, &ch), 0);
    free(ch);
    cr_assert_eq(config_resolve_text(&b, "", "empty", NULL, 0, &e), 0, "%s", e.msg);
    cr_expect_eq(b.train.steps, 10, "empty text: the defaults");
    const char *lr[] = {"train.lr=0.5"};
    cr_assert_eq(config_resolve_text(&b, "[train]\nsteps = 7\n", "t", lr, 1, &e), 0, "%s", e.msg);
    cr_expect(b.train.steps == 7 && b.train.lr == 0.5);
    const char *bad[][2] = {
        {"[train]\n\nsteps = ten\n", "c.h5 /meta config:3: [train] steps = 'ten': expected an integer in [0, "},
        {"[train]\nold_key = 1\n", "c.h5 /meta config:2: unknown key 'old_key' in [train]"},
        {"[train\nsteps = 1\n", "c.h5 /meta config:1: unclosed section header '[train'"},
        {"[train]\nsteps = 1\nsteps = 2\n", "c.h5 /meta config:3: duplicate key 'steps' in [train] (first set on line 2)"},
        {"[train]\nsteps = 1\n  lr = 2\n", "c.h5 /meta config:3: indented line continues the value of 'steps'"},
        {"x\n", "c.h5 /meta config:1: syntax error: expected [section] or key = value"},
        {"[model]\nnum_attention_heads = 3\n", "c.h5 /meta config: [model] num_attention_heads (3) must be a multiple"},
        // Stored text holds every key; a file it named would be looked for wherever the command runs.
        {"include = base.ini\n[train]\nsteps = 1\n", "c.h5 /meta config:1: include 'base.ini': stored config text is "
                                                     "read whole, without includes"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(config_resolve_text(&b, bad[i][0], "c.h5 /meta config", NULL, 0, &e), -1, "accepted: %s", bad[i][0]);
        cr_expect(strstr(e.msg, bad[i][1]), "'%s' lacks '%s'", e.msg, bad[i][1]);
    }
    // A cross-key check names the whole source however long its path (a checkpoint deep in a cluster's file system).
    char name[600], want[700];
    memset(name, 'd', 500), strcpy(name + 500, "/c.h5 /meta config");
    snprintf(want, sizeof want, "%s: [model] num_attention_heads (3) must be a multiple", name);
    cr_expect_eq(config_resolve_text(&b, "[model]\nnum_attention_heads = 3\n", name, NULL, 0, &e), -1);
    cr_expect(strstr(e.msg, want), "'%s' lacks the whole name", e.msg);
}
