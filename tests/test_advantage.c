// Advantages (results/objectives.md §1), GRPO-λ's reward transform (§3) and DAPO dynamic sampling (§4).
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/advantage.h"
#include "base/rng.h"

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

// results/objectives.md §3 GRPO-λ, algo.lambda_count: ceil, floor or round (half up) of λ·n_groups for every
// two-decimal λ and up to 400 groups, against the counts in integers: ceil(p·n / 100), floor(p·n / 100) and
// floor((p·n + 50) / 100). Products a rounding error off an integer or a half (0.29·100 = 28.999999999999996,
// 0.29·50 = 14.499999999999998, 0.07·50 = 3.5000000000000004) count as exactly that.
Test(advantage, grpo_lambda_count_ceil_floor_round) {
    static const LambdaCount how[3] = {LAMBDA_COUNT_CEIL, LAMBDA_COUNT_FLOOR, LAMBDA_COUNT_ROUND};
    int64_t wrong = 0;
    for (int64_t pct = 0; pct <= 100; pct++) {
        char text[8];
        snprintf(text, sizeof text, "%lld.%02lld", (long long)(pct / 100), (long long)(pct % 100));
        double lambda = strtod(text, NULL);  // as the config reads it
        for (int64_t n = 0; n <= 400; n++) {
            int64_t want[3] = {(pct * n + 99) / 100, pct * n / 100, (pct * n + 50) / 100};
            for (int k = 0; k < 3; k++) {
                int64_t got = grpo_lambda_count(how[k], lambda, n);
                if (got != want[k] && wrong++ < 10)
                    cr_expect_eq(got, want[k], "λ = %s, %lld groups, count %d: %lld", text, (long long)n, k,
                                 (long long)got);
            }
        }
    }
    cr_expect_eq(wrong, 0, "%lld wrong counts", (long long)wrong);
    cr_expect_eq(grpo_lambda_count(LAMBDA_COUNT_FLOOR, 0.29, 100), 29, "28.999999999999996 is 29 groups");
    cr_expect_eq(grpo_lambda_count(LAMBDA_COUNT_ROUND, 0.29, 50), 15, "14.499999999999998 is 14.5: half up");
    cr_expect_eq(grpo_lambda_count(LAMBDA_COUNT_ROUND, 0.5, 3), 2, "1.5: half up");
    cr_expect_eq(grpo_lambda_count(LAMBDA_COUNT_FLOOR, 0.56, 34150), 19124);
    cr_expect_eq(grpo_lambda_count(LAMBDA_COUNT_FLOOR, 0.56, 34151), 19124, "19124.56 down");
    cr_expect_eq(grpo_lambda_count(LAMBDA_COUNT_ROUND, 0.56, 34151), 19125, "19124.56 to the nearest");
}

// The same choice in the transform: five groups of 4 ranked 11, 12, 14 (accuracy 0.75), 10 (0.5), 13 (0.25).
// λ = 0.5 (2.5 groups): ceil and round take 3 (11, 12, 14), floor 2 (11, 12). λ = 0.25 (1.25): ceil 2, floor and
// round 1.
Test(advantage, grpo_lambda_count_option_picks_the_groups) {
    const uint8_t correct[20] = {1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1};
    const int64_t length[20] = {4, 8, 1, 1, 2, 4, 6, 9, 5, 5, 9, 6, 7, 3, 3, 3, 9, 3, 5, 9};
    int64_t group[20];
    double reward[20], out[20];
    for (int i = 0; i < 20; i++) group[i] = 10 + i / 4, reward[i] = correct[i];
    static const struct {
        double lambda;
        LambdaCount how;
        int64_t n_eff;
        bool group14;  // whether group 14 (the last of the three at 0.75) is an efficiency group
    } cases[] = {{0.5, LAMBDA_COUNT_CEIL, 3, true},  {0.5, LAMBDA_COUNT_FLOOR, 2, false},
                 {0.5, LAMBDA_COUNT_ROUND, 3, true}, {0.25, LAMBDA_COUNT_CEIL, 2, false},
                 {0.25, LAMBDA_COUNT_FLOOR, 1, false}, {0.25, LAMBDA_COUNT_ROUND, 1, false}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        AdvParams p = params(ADV_STD_UNBIASED);
        p.grpo_lambda = true, p.lambda = cases[k].lambda, p.lambda_count = cases[k].how;
        AdvStats st = {0};
        grpo_lambda_rewards(&p, reward, correct, length, group, 20, out, &st);
        cr_expect_eq(st.n_efficiency_groups, cases[k].n_eff, "case %zu: %lld", k, (long long)st.n_efficiency_groups);
        cr_expect(out[4] < 1, "case %zu: group 11 is always one", k);  // correct lengths 2, 4, 6
        cr_expect_eq(out[17] < 1, cases[k].group14, "case %zu: group 14 (lengths 3, 5, 9): %.17g", k, out[17]);
        cr_expect_eq(out[0], 1.0, "case %zu: group 10 (0.5) is never one", k);
    }
}

// algo.lambda_ties = random, the documented key: Philox at (rollout.seed; step, group id, 2^32 - 1), its first two
// words as one 64-bit number, lower first. Written out here from results/objectives.md §3 GRPO-λ.
static uint64_t documented_tie_key(uint64_t seed, int64_t step, int64_t id) {
    uint32_t ctr[4] = {(uint32_t)step, (uint32_t)id, UINT32_MAX, 0}, key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t out[4];
    philox4x32_10(ctr, key, out);
    return (uint64_t)out[0] << 32 | out[1];
}

// Eight groups of 4 (ids out of order): 13 and 66 all correct; 40, 72, 5 and 27 half correct; 41 and 90 none. Each
// correct response has its own length, so a group is an efficiency group iff its correct rewards drop below 1.
enum { TIE_GROUPS = 8, TIE_N = 32 };
static const int64_t TIE_IDS[TIE_GROUPS] = {40, 41, 13, 72, 5, 66, 90, 27};
static const int TIE_CORRECT[TIE_GROUPS] = {2, 0, 4, 2, 2, 4, 0, 2};

static void tie_batch(uint8_t *correct, int64_t *length, int64_t *group, double *reward) {
    for (int i = 0; i < TIE_N; i++) {
        int g = i / 4, j = i % 4;
        group[i] = TIE_IDS[g], correct[i] = j < TIE_CORRECT[g], length[i] = 3 + 2 * j + g, reward[i] = correct[i];
    }
}

// Which of the eight groups (TIE_IDS order) are efficiency groups: a bit each.
static unsigned efficiency_set(const AdvParams *p, const int64_t *order) {
    uint8_t correct[TIE_N], c[TIE_N];
    int64_t length[TIE_N], group[TIE_N], l[TIE_N], gr[TIE_N];
    double reward[TIE_N], r[TIE_N], out[TIE_N];
    tie_batch(correct, length, group, reward);
    for (int i = 0; i < TIE_N; i++) {
        int64_t k = order ? order[i] : i;
        c[i] = correct[k], l[i] = length[k], gr[i] = group[k], r[i] = reward[k];
    }
    AdvStats st = {0};
    grpo_lambda_rewards(p, r, c, l, gr, TIE_N, out, &st);
    unsigned set = 0;
    for (int i = 0; i < TIE_N; i++)
        for (int g = 0; g < TIE_GROUPS; g++)
            if (gr[i] == TIE_IDS[g] && c[i] && out[i] < 1) set |= 1u << g;
    return set;
}

Test(advantage, grpo_lambda_random_ties_reorder_ties_only) {
    AdvParams p = params(ADV_STD_UNBIASED);
    p.grpo_lambda = true, p.lambda = 0.5;  // 4 groups: 13, 66 and two of the four at 0.5
    const unsigned full = 1u << 2 | 1u << 5, halves = 1u << 0 | 1u << 3 | 1u << 4 | 1u << 7;
    cr_expect_eq(efficiency_set(&p, NULL), full | 1u << 4 | 1u << 7, "index: the lowest ids at 0.5, 5 and 27");
    p.lambda_ties = LAMBDA_TIES_RANDOM, p.seed = 1234;
    int64_t reversed[TIE_N];
    for (int i = 0; i < TIE_N; i++) reversed[i] = TIE_N - 1 - i;
    unsigned seen[64];
    int distinct = 0;
    for (int64_t step = 0; step < 64; step++) {
        p.step = step;
        unsigned set = efficiency_set(&p, NULL);
        // Expected: the two halves with the lowest documented keys.
        unsigned want = full;
        for (int a = 0; a < TIE_GROUPS; a++) {
            if (!(halves >> a & 1)) continue;
            int lower = 0;
            for (int b = 0; b < TIE_GROUPS; b++)
                lower += (halves >> b & 1) && documented_tie_key(p.seed, step, TIE_IDS[b]) <
                                                  documented_tie_key(p.seed, step, TIE_IDS[a]);
            if (lower < 2) want |= 1u << a;
        }
        cr_expect_eq(set, want, "step %lld: groups %#x, expected %#x", (long long)step, set, want);
        cr_expect_eq(set & full, full, "step %lld: the all-correct groups stay first", (long long)step);
        cr_expect_eq(efficiency_set(&p, NULL), set, "step %lld: the same on a second call", (long long)step);
        cr_expect_eq(efficiency_set(&p, reversed), set, "step %lld: the same in any batch order", (long long)step);
        int known = 0;
        for (int k = 0; k < distinct; k++) known |= seen[k] == set;
        if (!known) seen[distinct++] = set;
    }
    cr_expect_geq(distinct, 3, "the tie order changes from step to step: %d different choices in 64 steps", distinct);
    // λ = 0.125: one group, always one of the two all-correct ones, never a group at 0.5.
    p.lambda = 0.125;
    for (int64_t step = 0; step < 16; step++) {
        p.step = step;
        unsigned set = efficiency_set(&p, NULL);
        cr_expect(set == 1u << 2 || set == 1u << 5, "step %lld: %#x", (long long)step, set);
    }
}

// algo.lambda_few_correct (λ = 1, α = 0.2; rewards with a 0.5 format bonus): group 0 has one correct response,
// group 1 equal correct lengths (σ_c = 0), group 2 none, group 3 two correct of lengths 2 and 6. keep: groups 0-2
// keep their rewards; center: each correct response gets 1 - α·σ(0) = 0.9 and a wrong one 0. Group 3 is the same
// under both.
Test(advantage, grpo_lambda_few_correct_keep_or_center) {
    const uint8_t correct[12] = {1, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0};
    const int64_t length[12] = {3, 7, 5, 5, 5, 2, 4, 6, 2, 6, 9, 1}, group[12] = {0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 3, 3};
    double reward[12], keep[12], center[12];
    for (int i = 0; i < 12; i++) reward[i] = correct[i] + 0.5 * (i % 2);
    AdvParams p = params(ADV_STD_UNBIASED);
    p.grpo_lambda = true, p.lambda = 1;
    AdvStats st = {0};
    grpo_lambda_rewards(&p, reward, correct, length, group, 12, keep, &st);
    for (int i = 0; i < 8; i++) cr_expect_eq(keep[i], reward[i], "keep: response %d changed", i);
    p.lambda_few_correct = LAMBDA_FEW_CENTER;
    grpo_lambda_rewards(&p, reward, correct, length, group, 12, center, &st);
    for (int i = 0; i < 8; i++)
        cr_expect(fabs(center[i] - (correct[i] ? 0.9 : 0)) < 1e-15, "center: response %d: %.17g", i, center[i]);
    for (int i = 8; i < 12; i++) cr_expect_eq(center[i], keep[i], "response %d of a group with σ_c > 0", i);
    cr_expect(fabs(center[8] - (1 - 0.2 / (1 + exp(2 / (2 * sqrt(2.0)))))) < 1e-15, "%.17g", center[8]);
    double mean = (0.9 * 4 + center[8] + center[9]) / 12;
    cr_expect(st.n_efficiency_groups == 4 && fabs(st.efficiency_reward_mean - mean) < 1e-15, "%.17g",
              st.efficiency_reward_mean);
    // λ = 0.25: only group 1 (accuracy 3/4) is an efficiency group; group 0 (1/2) keeps its rewards under center too.
    p.lambda = 0.25;
    grpo_lambda_rewards(&p, reward, correct, length, group, 12, center, &st);
    cr_expect_eq(st.n_efficiency_groups, 1);
    cr_expect(center[0] == reward[0] && center[1] == reward[1], "%g %g", center[0], center[1]);
    cr_expect(fabs(center[2] - 0.9) < 1e-15 && center[5] == 0, "%.17g %.17g", center[2], center[5]);
}
