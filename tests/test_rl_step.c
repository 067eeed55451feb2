// The RL step's advantage inputs (train/rl_step.c rl_step_advantages): what each selected response hands to
// results/objectives.md §1 and to GRPO-λ's reward transform (§3).
#include <criterion/criterion.h>
#include <math.h>

#include "base/config.h"
#include "train/rl_step.h"

// One group of four correct responses of 10, 20, 30 and 64 generated tokens; the last hit the length limit and the
// overlong filter masks it. GRPO-λ (λ = α = 0.2) makes the one group an efficiency group.
Test(rl_step, grpo_lambda_counts_a_masked_response_at_its_generated_length) {
    Config c;
    Err e = {{0}};
    const char *sets[] = {"algo.name=grpo_lambda", "rollout.n=4", "rollout.max_new_tokens=64",
                          "reward.overlong_filter=true"};
    cr_assert_eq(config_resolve(&c, NULL, sets, 4, &e), 0, "%s", e.msg);
    const int n_tokens[4] = {10, 20, 30, 64};
    Response resp[4];
    RewardResult rr[4];
    for (int j = 0; j < 4; j++) {
        resp[j] = (Response){.sample_index = j, .n_tokens = n_tokens[j], .finish = j == 3 ? FINISH_LENGTH : FINISH_EOS};
        rr[j] = (RewardResult){.correct = true, .loss_masked = j == 3, .r_acc = 1, .total = 1};
    }
    Group g = {.cand = 0, .resp = resp, .rr = rr};
    Groups gs = {.g = &g, .n = 1, .n_selected = 1};
    double adv[4];
    AdvStats st;
    cr_assert_eq(rl_step_advantages(&gs, &c, 0, adv, &st, &e), 0, "%s", e.msg);

    // By hand: lengths 10, 20, 30, 64; mean 31; unbiased std; R = 1 - 0.2 sigmoid((L - mean) / std).
    double mean = 31, var = (21.0 * 21 + 11.0 * 11 + 1.0 * 1 + 33.0 * 33) / 3, sd = sqrt(var), r[4], rm = 0;
    for (int j = 0; j < 4; j++) r[j] = 1 - 0.2 / (1 + exp(-(n_tokens[j] - mean) / sd)), rm += r[j] / 4;
    double rv = 0;
    for (int j = 0; j < 4; j++) rv += (r[j] - rm) * (r[j] - rm) / 3;
    cr_expect_eq(st.n_efficiency_groups, 1);
    cr_expect(fabs(st.efficiency_reward_mean - rm) < 1e-15, "%.17g vs %.17g", st.efficiency_reward_mean, rm);
    for (int j = 0; j < 4; j++)
        cr_expect(fabs(adv[j] - (r[j] - rm) / (sqrt(rv) + 1e-6)) < 1e-12, "response %d: %.17g", j, adv[j]);
    // The longest response has the lowest reward, masked or not.
    cr_expect_lt(adv[3], adv[2]);
}
