// Rewards: hand values of results/objectives.md §4 (accuracy 0/1 and ±1, format, overlong edges, filtering).
#include <criterion/criterion.h>
#include <string.h>

#include "task/reward.h"

static Task *arith(void) {
    Config c;
    Err e = {{0}};
    cr_assert_eq(config_resolve(&c, NULL, NULL, 0, &e), 0, "%s", e.msg);
    Task *t = task_create(&c, &e);
    cr_assert(t, "%s", e.msg);
    return t;
}

static RewardConfig base(void) {
    Config c;
    Err e = {{0}};
    config_resolve(&c, NULL, NULL, 0, &e);
    RewardConfig rc = c.reward;
    rc.format_reward = 0.5;
    rc.overlong_buffer = 0;
    rc.overlong_factor = 1.0;
    return rc;
}

static RewardResult compute(const RewardConfig *rc, const Task *t, const char *response, int len, bool truncated,
                            int max_new) {
    RewardResult r;
    Err e = {{0}};
    cr_assert_eq(reward_compute(rc, t, "12", response, len, truncated, max_new, &r, &e), 0, "%s", e.msg);
    cr_expect_float_eq(r.total, r.r_acc + r.r_format + r.r_overlong, 1e-15);
    return r;
}

Test(reward, accuracy_and_format) {
    Task *t = arith();
    RewardConfig rc = base();
    RewardResult r = compute(&rc, t, "Answer: 12", 10, false, 64);
    cr_expect(r.correct && r.format_ok);
    cr_expect_str_eq(r.extracted, "12");
    cr_expect_float_eq(r.total, 1.5, 1e-15);
    r = compute(&rc, t, "Answer: 13", 10, false, 64);
    cr_expect(!r.correct && r.format_ok);
    cr_expect_float_eq(r.total, 0.5, 1e-15);
    r = compute(&rc, t, "12", 2, false, 64);
    cr_expect(!r.correct && !r.format_ok);
    cr_expect_float_eq(r.total, 0.0, 1e-15);
    rc.accuracy = ACC_PM1;
    r = compute(&rc, t, "Answer: 13", 10, false, 64);
    cr_expect_float_eq(r.r_acc, -1.0, 1e-15);
    cr_expect_float_eq(r.total, -0.5, 1e-15);
    r = compute(&rc, t, "Answer: 12", 10, false, 64);
    cr_expect_float_eq(r.total, 1.5, 1e-15);
    rc.format_reward = 0;
    r = compute(&rc, t, "Answer: 12", 10, false, 64);
    cr_expect(r.format_ok, "format_ok reports the match even without a format reward");
    cr_expect_float_eq(r.total, 1.0, 1e-15);
    task_free(t);
}

Test(reward, format_pattern_is_pcre2) {
    Task *t = arith();
    RewardConfig rc = base();
    snprintf(rc.format_pattern, sizeof rc.format_pattern, "^(?:[0-9+*=-]+\\n)*Answer: -?[0-9]+$");
    cr_expect(compute(&rc, t, "7+5=12\nAnswer: 12", 17, false, 64).format_ok);
    cr_expect(!compute(&rc, t, "hmm\nAnswer: 12", 14, false, 64).format_ok);
    rc.format_pattern[0] = 0;
    RewardResult r = compute(&rc, t, "Answer: 12", 10, false, 64);
    cr_expect(!r.format_ok && r.r_format == 0, "an empty pattern disables the format reward");
    snprintf(rc.format_pattern, sizeof rc.format_pattern, "(unclosed");
    Err e = {{0}};
    cr_expect_eq(reward_check_config(&rc, &e), -1);
    cr_expect(strstr(e.msg, "[reward] format_pattern '(unclosed': invalid PCRE2 pattern"), "%s", e.msg);
    cr_expect_eq(reward_compute(&rc, t, "12", "Answer: 12", 10, false, 64, &r, &e), -1);
    task_free(t);
}

// results/objectives.md §4 with L_max = 100, L_buf = 20, f = 1: zero up to 80 tokens, then linear to -1 at 100.
Test(reward, overlong_hand_values) {
    Task *t = arith();
    RewardConfig rc = base();
    rc.format_reward = 0;
    rc.overlong_buffer = 20;
    const struct {
        int len;
        double r;
    } cases[] = {{0, 0}, {79, 0}, {80, 0}, {81, -0.05}, {90, -0.5}, {99, -0.95}, {100, -1.0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        RewardResult r = compute(&rc, t, "Answer: 12", cases[i].len, false, 100);
        cr_expect_float_eq(r.r_overlong, cases[i].r, 1e-12, "|y| = %d: %.17g", cases[i].len, r.r_overlong);
        cr_expect_float_eq(r.total, 1.0 + cases[i].r, 1e-12);
    }
    rc.overlong_factor = 0.3;  // LUSPO
    cr_expect_float_eq(compute(&rc, t, "Answer: 12", 90, false, 100).r_overlong, -0.15, 1e-12);
    rc.overlong_buffer = 100;  // the whole generation is the buffer: L_max - L_buf = 0
    cr_expect_float_eq(compute(&rc, t, "Answer: 12", 50, false, 100).r_overlong, -0.15, 1e-12);
    rc.overlong_buffer = 0;
    cr_expect_float_eq(compute(&rc, t, "Answer: 12", 100, true, 100).r_overlong, 0.0, 1e-15);
    task_free(t);
}

// A buffer longer than the limit the response was sampled under has no §4 value (L_max - L_buf < 0 would punish
// every response): refused by name, as the config check refuses it for rollout.max_new_tokens.
Test(reward, overlong_buffer_past_the_limit_is_refused) {
    Task *t = arith();
    RewardConfig rc = base();
    rc.overlong_buffer = 20;
    RewardResult r;
    Err e = {{0}};
    cr_expect_eq(reward_compute(&rc, t, "12", "Answer: 12", 5, false, 19, &r, &e), -1);
    cr_expect(strstr(e.msg, "[reward] overlong_buffer (20) must be <= the generation limit L_max (19)"), "%s", e.msg);
    cr_expect_eq(reward_compute(&rc, t, "12", "Answer: 12", 5, false, 20, &r, &e), 0, "L_buf = L_max: %s", e.msg);
    task_free(t);
}

Test(reward, overlong_filter_masks_only_truncated) {
    Task *t = arith();
    RewardConfig rc = base();
    cr_expect(!compute(&rc, t, "Answer: 12", 64, true, 64).loss_masked, "filter off");
    rc.overlong_filter = true;
    cr_expect(compute(&rc, t, "Answer: 1", 64, true, 64).loss_masked);
    cr_expect(!compute(&rc, t, "Answer: 12", 64, false, 64).loss_masked);
    task_free(t);
}

Test(reward, math_task_uses_math_verifier) {
    Config c;
    Err e = {{0}};
    const char *sets[] = {"task.name=math"};
    cr_assert_eq(config_resolve(&c, NULL, sets, 1, &e), 0, "%s", e.msg);
    Task *t = task_create(&c, &e);
    cr_assert(t, "%s", e.msg);
    c.reward.format_reward = 0.5;
    RewardResult r;
    cr_assert_eq(reward_compute(&c.reward, t, "\\frac{1}{2}", "so \\boxed{0.5}", 6, false, 64, &r, &e), 0, "%s", e.msg);
    cr_expect(r.correct && r.format_ok, "math preset format is \\boxed{");
    cr_expect_float_eq(r.total, 1.5, 1e-15);
    task_free(t);
}
