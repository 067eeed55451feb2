// Every default of the objectives (results/objectives.md §3 and its table) as `algo.name` alone resolves it:
// ratio level, clip widths, aggregation, β, advantages' std, L_c, the log-ratio cap, GRPO-λ's λ, α and readings,
// SSPO's clamp and delimiters, and the reward terms of §4 each recipe turns on. The values are written out from the
// specification, not read from src/base/config.c's PRESETS.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "algo/advantage.h"
#include "algo/loss.h"

typedef struct {
    const char *name;
    RatioLevel level;
    double eps_low, eps_high;
    AggMode agg;
    double beta;
    AdvStd std;
    bool dynamic_sampling;
    AccuracyReward accuracy;
    int overlong_buffer;  // at rollout.max_new_tokens = 20480
    double overlong_factor;
} Row;

static const Row ROWS[] = {
    {"grpo", RATIO_TOKEN, 0.2, 0.2, AGG_SEQ_MEAN_TOKEN_MEAN, 0.04, ADV_STD_UNBIASED, false, ACC_BINARY, 0, 1},
    {"dapo", RATIO_TOKEN, 0.2, 0.28, AGG_TOKEN_MEAN, 0, ADV_STD_UNBIASED, true, ACC_PM1, 4096, 1},
    {"drgrpo", RATIO_TOKEN, 0.2, 0.2, AGG_SEQ_MEAN_TOKEN_SUM_NORM, 0, ADV_STD_NONE, false, ACC_BINARY, 0, 1},
    {"gspo", RATIO_SEQUENCE, 3e-4, 4e-4, AGG_SEQ_MEAN_TOKEN_MEAN, 0, ADV_STD_UNBIASED, false, ACC_BINARY, 0, 1},
    {"luspo", RATIO_SEQUENCE, 2e-3, 2.5e-3, AGG_SEQ_MEAN_TOKEN_SUM, 0, ADV_STD_UNBIASED, false, ACC_BINARY, 0, 0.3},
    {"grpo_lambda", RATIO_TOKEN, 0.2, 0.2, AGG_SEQ_MEAN_TOKEN_MEAN, 0, ADV_STD_UNBIASED, false, ACC_BINARY, 0, 1},
    {"sspo", RATIO_SEGMENT, 0.2, 0.2, AGG_SEQ_MEAN_TOKEN_MEAN, 0, ADV_STD_UNBIASED, false, ACC_BINARY, 0, 1},
};

Test(algo_defaults, each_algorithm_alone_gives_the_specified_defaults) {
    for (size_t k = 0; k < sizeof ROWS / sizeof ROWS[0]; k++) {
        const Row *r = &ROWS[k];
        char name[64];
        snprintf(name, sizeof name, "algo.name=%s", r->name);
        const char *sets[] = {name, "rollout.max_new_tokens=20480"};
        Config c;
        Err e = {{0}};
        cr_assert_eq(config_resolve(&c, NULL, sets, 2, &e), 0, "%s: %s", r->name, e.msg);
        LossParams lp = loss_params(&c);
        AdvParams ap = adv_params(&c);
        cr_expect_eq(lp.level, r->level, "%s: ratio level", r->name);
        cr_expect_eq(lp.eps_low, r->eps_low, "%s: eps_low %g", r->name, lp.eps_low);
        cr_expect_eq(lp.eps_high, r->eps_high, "%s: eps_high %g", r->name, lp.eps_high);
        cr_expect_eq(lp.agg, r->agg, "%s: agg %d", r->name, (int)lp.agg);
        cr_expect_eq(lp.beta, r->beta, "%s: beta %g", r->name, lp.beta);
        cr_expect_eq(lp.entropy_coef, 0, "%s: no entropy bonus", r->name);
        cr_expect_eq(lp.l_c, 20480, "%s: L_c = the generation limit", r->name);
        cr_expect_eq(lp.log_ratio_clamp, 10, "%s: log s_i capped at 10", r->name);
        cr_expect_eq(ap.std, r->std, "%s: adv.std", r->name);
        cr_expect_eq(ap.eps_std, 1e-6, "%s: eps_std", r->name);
        cr_expect_eq(ap.grpo_lambda, !strcmp(r->name, "grpo_lambda"), "%s: GRPO-λ transform", r->name);
        cr_expect_eq(c.algo.dynamic_sampling, r->dynamic_sampling, "%s: dynamic sampling", r->name);
        cr_expect_eq(c.reward.accuracy, r->accuracy, "%s: reward.accuracy", r->name);
        cr_expect_eq(c.reward.overlong_buffer, r->overlong_buffer, "%s: L_buf %d", r->name, c.reward.overlong_buffer);
        cr_expect_eq(c.reward.overlong_factor, r->overlong_factor, "%s: f %g", r->name, c.reward.overlong_factor);
        cr_expect_eq(c.reward.format_reward, 0, "%s: no format bonus unless a recipe sets one", r->name);
        cr_expect(!c.reward.overlong_filter, "%s: no overlong filter by default", r->name);
        // GRPO-λ's λ = α = 0.2; SSPO's c_min 0.5, c_max 2 and the ASCII delimiters , . ; : ! ? newline.
        cr_expect(ap.lambda == 0.2 && ap.alpha == 0.2, "%s: λ %g α %g", r->name, ap.lambda, ap.alpha);
        // GRPO-λ's readings: ceil(λ·n_groups), ties by group index, a degenerate group keeps its rewards; the tie key's
        // seed is rollout.seed (default 0), and adv_params leaves the step to its caller.
        cr_expect(ap.lambda_count == LAMBDA_COUNT_CEIL && ap.lambda_ties == LAMBDA_TIES_INDEX &&
                      ap.lambda_few_correct == LAMBDA_FEW_KEEP,
                  "%s: GRPO-λ readings %d %d %d", r->name, (int)ap.lambda_count, (int)ap.lambda_ties,
                  (int)ap.lambda_few_correct);
        cr_expect(ap.seed == 0 && ap.step == 0, "%s: seed %llu step %lld", r->name, (unsigned long long)ap.seed,
                  (long long)ap.step);
        cr_expect(lp.sspo_c_min == 0.5 && lp.sspo_c_max == 2.0, "%s: c_min %g c_max %g", r->name, lp.sspo_c_min,
                  lp.sspo_c_max);
        cr_expect_str_eq(c.algo.sspo_delimiters, ",.;:!?\\n", "%s: delimiters", r->name);
    }
}
