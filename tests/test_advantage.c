// Advantages (results/objectives.md §1), GRPO-λ's reward transform (§3) and DAPO dynamic sampling (§4).
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "algo/advantage.h"

static AdvParams params(AdvStd std) { return (AdvParams){.std = std, .eps_std = 1e-6, .lambda = 0.2, .alpha = 0.2}; }

Test(advantage, hand_case_and_std_options) {
    const double reward[4] = {1, 0, 1, 0};
    const int64_t group[4] = {5, 5, 9, 9};
    double adv[4];
    AdvStats st;
    AdvParams p = params(ADV_STD_UNBIASED);
    adv_compute(&p, reward, group, 4, adv, &st);
    // results/objectives.md §6: ±0.70710578 (unbiased std √0.5 + 1e-6).
    cr_expect(fabs(adv[0] - 0.5 / (sqrt(0.5) + 1e-6)) < 1e-15);
    cr_expect(fabs(adv[0] - 0.70710578) < 1e-8);
    cr_expect_eq(adv[1], -adv[0]);
    p.std = ADV_STD_BIASED;
    adv_compute(&p, reward, group, 4, adv, &st);
    cr_expect(fabs(adv[0] - 0.5 / (0.5 + 1e-6)) < 1e-15);
    p.std = ADV_STD_NONE;
    adv_compute(&p, reward, group, 4, adv, &st);
    cr_expect_eq(adv[0], 0.5);
    cr_expect_eq(adv[3], -0.5);
    cr_expect_eq(st.n_groups, 2);
    cr_expect_eq(st.reward_mean, 0.5);
}

Test(advantage, equal_reward_groups_get_zero_and_count_in_frac_zero_std) {
    // Group 3 is split (members not contiguous), group 1 has equal rewards 0.7.
    const double reward[6] = {0.7, 1, 0.7, 0.7, 0, 0.5};
    const int64_t group[6] = {1, 3, 1, 1, 3, 3};
    double adv[6];
    AdvStats st;
    AdvParams p = params(ADV_STD_UNBIASED);
    adv_compute(&p, reward, group, 6, adv, &st);
    cr_expect(adv[0] == 0 && adv[2] == 0 && adv[3] == 0);
    cr_expect(fabs(adv[1] - 0.5 / (0.5 + 1e-6)) < 1e-15, "%.17g", adv[1]);  // mean 0.5, unbiased std 0.5
    cr_expect_eq(st.n_zero_std_groups, 1);
    cr_expect_eq(st.n_groups, 2);
}

// The distributed pipeline on 1, 2 and 3 ranks against these functions: tests/mpi_advantage.c (it_advantage.sh).
Test(advantage, distributed_grpo_lambda_needs_correct_flags_and_lengths) {
    const double reward[4] = {1, 0, 0, 0};
    const int64_t group[4] = {0, 0, 1, 1};
    double adv[4], used[4];
    AdvStats st;
    Err e = {{0}};
    AdvParams p = params(ADV_STD_UNBIASED);
    p.grpo_lambda = true;
    cr_expect_eq(adv_compute_dist(&p, reward, NULL, NULL, group, 4, used, adv, &st, &e), -1);
    cr_expect(strstr(e.msg, "GRPO-λ advantages need per-sequence correct flags and lengths"), "%s", e.msg);
}

// GRPO-λ: accuracy ranking with ties by group id, ceil(λ·n_groups), degenerate groups keep 0/1.
Test(advantage, grpo_lambda_selection_ties_and_fraction) {
    // Five groups of 4 (ids 10..14): accuracies 0.5, 0.75, 0.75, 0.25, 0.75.
    const uint8_t correct[20] = {1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1};
    const int64_t length[20] = {4, 8, 1, 1, 2, 4, 6, 9, 5, 5, 9, 5, 7, 3, 3, 3, 9, 3, 5, 9};
    int64_t group[20];
    double reward[20], out[20];
    for (int i = 0; i < 20; i++) group[i] = 10 + i / 4, reward[i] = correct[i];
    AdvParams p = params(ADV_STD_UNBIASED);
    p.grpo_lambda = true;
    AdvStats st = {0};
    // λ = 0.2: ceil(1.0) = 1 group; ties among 11, 12, 14 (0.75) → the lowest id, 11.
    grpo_lambda_rewards(&p, reward, correct, length, group, 20, out, &st);
    cr_expect_eq(st.n_efficiency_groups, 1);
    double mu = 4, sd = 2;  // group 11 correct lengths 2, 4, 6
    cr_expect(fabs(out[4] - (1 - 0.2 / (1 + exp(-(2 - mu) / sd)))) < 1e-15);
    cr_expect(fabs(out[5] - 0.9) < 1e-15);  // length at the mean: 1 - α/2
    cr_expect(fabs(out[6] - (1 - 0.2 / (1 + exp(-1.0)))) < 1e-15);
    cr_expect_eq(out[7], 0);
    for (int i = 0; i < 20; i++)
        if (group[i] != 11) cr_expect_eq(out[i], reward[i], "group %lld changed", (long long)group[i]);
    cr_expect(fabs(st.efficiency_reward_mean - (out[4] + out[5] + out[6]) / 4) < 1e-15);
    // λ = 0.5: ceil(2.5) = 3 groups: 11, 12, 14 (all 0.75); 10 (0.5) is not one.
    p.lambda = 0.5;
    grpo_lambda_rewards(&p, reward, correct, length, group, 20, out, &st);
    cr_expect_eq(st.n_efficiency_groups, 3);
    cr_expect(out[8] == 1 && out[9] == 1 && out[11] == 1);  // group 12: correct lengths 5, 5, 5, σ_c = 0
    cr_expect_neq(out[17], 1.0);
    cr_expect(out[17] < 1 && out[17] > 0.8);  // group 14: lengths 3, 5, 9 differ
    cr_expect_eq(out[0], 1.0);                // group 10 untouched
    // λ = 0.28 on 25 groups: 0.28·25 = 7.000000000000001 in floating point must still give 7.
    int64_t g25[25], l25[25];
    uint8_t c25[25];
    double r25[25], o25[25];
    for (int i = 0; i < 25; i++) g25[i] = i, l25[i] = i, c25[i] = 1, r25[i] = 1;
    p.lambda = 0.28;
    grpo_lambda_rewards(&p, r25, c25, l25, g25, 25, o25, &st);
    cr_expect_eq(st.n_efficiency_groups, 7);
    // Only one correct response: the group keeps 0/1.
    const uint8_t one[2] = {1, 0};
    const int64_t len2[2] = {3, 7}, g2[2] = {0, 0};
    const double r2[2] = {1, 0};
    p.lambda = 1;
    grpo_lambda_rewards(&p, r2, one, len2, g2, 2, out, &st);
    cr_expect(out[0] == 1 && out[1] == 0 && st.n_efficiency_groups == 1);
}

// The ends of GRPO-λ's fraction: λ = 0 picks no group (every reward kept), λ = 1 every group; and a group of one
// response has advantage 0 under each std option (its unbiased std, 0 / 0, is not used).
Test(advantage, grpo_lambda_fraction_ends_and_a_group_of_one) {
    const uint8_t correct[6] = {1, 1, 0, 1, 1, 1};
    const int64_t length[6] = {2, 6, 5, 3, 5, 9}, group[6] = {0, 0, 0, 1, 1, 1};
    double reward[6], out[6];
    for (int i = 0; i < 6; i++) reward[i] = correct[i];
    AdvParams p = params(ADV_STD_UNBIASED);
    p.grpo_lambda = true, p.lambda = 0;
    AdvStats st = {0};
    grpo_lambda_rewards(&p, reward, correct, length, group, 6, out, &st);
    cr_expect(st.n_efficiency_groups == 0 && st.efficiency_reward_mean == 0);
    for (int i = 0; i < 6; i++) cr_expect_eq(out[i], reward[i], "response %d changed at λ = 0", i);
    p.lambda = 1;
    grpo_lambda_rewards(&p, reward, correct, length, group, 6, out, &st);
    cr_expect_eq(st.n_efficiency_groups, 2);
    // Group 0: correct lengths 2, 6 (μ 4, unbiased σ 2√2); group 1: 3, 5, 9 (μ 17/3, σ from the n - 1 sum).
    double s0 = 2 * sqrt(2.0), m1 = 17.0 / 3;
    double s1 = sqrt(((3 - m1) * (3 - m1) + (5 - m1) * (5 - m1) + (9 - m1) * (9 - m1)) / 2);
    cr_expect(fabs(out[0] - (1 - 0.2 / (1 + exp(-(2 - 4) / s0)))) < 1e-15, "%.17g", out[0]);
    cr_expect(fabs(out[1] - (1 - 0.2 / (1 + exp(-(6 - 4) / s0)))) < 1e-15, "%.17g", out[1]);
    cr_expect_eq(out[2], 0);
    cr_expect(fabs(out[5] - (1 - 0.2 / (1 + exp(-(9 - m1) / s1)))) < 1e-15, "%.17g", out[5]);
    const double one_reward[3] = {0.25, 1, 0};
    const int64_t one_group[3] = {7, 8, 8};
    double adv[3];
    for (AdvStd std = ADV_STD_UNBIASED; std <= ADV_STD_NONE; std++) {
        p = params(std);
        adv_compute(&p, one_reward, one_group, 3, adv, &st);
        cr_expect(adv[0] == 0 && isfinite(adv[1]) && adv[1] == -adv[2], "std option %d: %g %g %g", std, adv[0],
                  adv[1], adv[2]);
    }
}

Test(advantage, dynamic_sampling_is_deterministic_and_global) {
    const double reward[8] = {1, 1, 0, 1, 0, 0, 1, 0};
    const int64_t group[8] = {0, 0, 1, 1, 2, 2, 3, 3};
    uint8_t keep[4], take[4];
    cr_expect_eq(dynamic_sampling_keep(reward, group, 8, keep), 2);
    cr_expect(!keep[0] && keep[1] && !keep[2] && keep[3]);
    cr_expect_eq(dynamic_sampling_take(keep, 4, 1, take), 1);
    cr_expect(!take[0] && take[1] && !take[2] && !take[3]);  // lowest kept index first
    cr_expect_eq(dynamic_sampling_take(keep, 4, 5, take), 2);  // runs out: the trainer samples more
}

// results/objectives.md §3 GRPO-λ: ceil(λ·n_groups) of the decimal λ. On large batches λ·n rounds up by an ulp that
// is larger than a fixed 1e-12 (0.56·34150 = 19124.000000000004): still no fraction of a group. The expected counts
// are ceil(pct·n / 100) in integers; the last case has a true fraction (0.56·34151 = 19124.56) and rounds up.
Test(advantage, grpo_lambda_ceil_of_large_batches) {
    static const struct {
        const char *lambda;
        int64_t pct, n;
    } cases[] = {{"0.56", 56, 34150}, {"0.55", 55, 40980}, {"0.81", 81, 34200}, {"0.28", 28, 68275},
                 {"0.14", 14, 136550}, {"0.28", 28, 25}, {"0.56", 56, 34151}};
    enum { MAX_N = 136551 };
    int64_t *group = malloc(MAX_N * sizeof *group), *length = malloc(MAX_N * sizeof *length);
    uint8_t *correct = malloc(MAX_N);
    double *reward = malloc(MAX_N * sizeof *reward), *out = malloc(MAX_N * sizeof *out);
    for (int64_t i = 0; i < MAX_N; i++) group[i] = i, length[i] = 1 + i % 7, correct[i] = 1, reward[i] = 1;
    AdvParams p = params(ADV_STD_UNBIASED);
    p.grpo_lambda = true;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        p.lambda = strtod(cases[k].lambda, NULL);  // as the config reads it
        AdvStats st = {0};
        grpo_lambda_rewards(&p, reward, correct, length, group, cases[k].n, out, &st);
        int64_t expect = (cases[k].pct * cases[k].n + 99) / 100;
        cr_expect_eq(st.n_efficiency_groups, expect, "λ = %s, %lld groups: %lld efficiency groups, expected %lld",
                     cases[k].lambda, (long long)cases[k].n, (long long)st.n_efficiency_groups, (long long)expect);
    }
    free(group), free(length), free(correct), free(reward), free(out);
}
