// Config: defaults, presets, overrides, round trip, and the one-line errors for bad input.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/config.h"

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

static const char *write_tmp(const char *text) {
    char name[32];
    snprintf(name, sizeof name, "rlvr-cfg-%d.ini", getpid());
    return write_in("/tmp", name, text);
}

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

Test(config, algorithm_presets_follow_algorithms_md) {
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
    cr_assert_eq(resolve_text("[rollout]\ntop_p = 1.5\n", &c, &e), -1);
    cr_expect(strstr(e.msg, "expected a number in [1e-09, 1]"), "%s", e.msg);
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

Test(config, cross_key_validation) {
    Config c;
    Err e = {{0}};
    cr_assert_eq(resolve_text("[model]\nnum_attention_heads = 4\nnum_key_value_heads = 3\n", &c, &e), -1);
    cr_expect(strstr(e.msg, "multiple of num_key_value_heads"), "%s", e.msg);
    cr_assert_eq(resolve_text("[model]\ntype = qwen3_moe\n", &c, &e), -1);
    cr_expect(strstr(e.msg, "needs num_experts >= 1"), "%s", e.msg);
    cr_assert_eq(resolve_text("[task]\ndigits_min = 5\ndigits_max = 2\n", &c, &e), -1);
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

static char *include_dir(void) {
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/rlvr-inc-%d", getpid());
    mkdir(dir, 0755);
    return dir;
}

Test(config, include_loads_base_relative_to_file_then_overrides) {
    Config c;
    Err e = {{0}};
    char *dir = include_dir();
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
