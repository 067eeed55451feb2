// Evaluation statistics: pass@k against exact enumeration and a log-gamma evaluation, majority voting with
// ties, quantiles and the standard error against hand values.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "algo/eval_stats.h"

// C(n, k) exactly for small n.
static unsigned __int128 choose(int n, int k) {
    if (k < 0 || k > n) return 0;
    unsigned __int128 r = 1;
    for (int i = 1; i <= k; i++) r = r * (unsigned)(n - k + i) / (unsigned)i;
    return r;
}

// pass@k by enumerating every k-subset of n samples (c correct) and counting those with a correct one.
static double pass_by_enumeration(int n, int c, int k) {
    long hits = 0, all = 0;
    for (unsigned mask = 0; mask < (1u << n); mask++) {
        if (__builtin_popcount(mask) != k) continue;
        all++;
        hits += (mask & ((1u << c) - 1)) != 0;  // samples 0..c-1 are the correct ones
    }
    return (double)hits / (double)all;
}

Test(eval_stats, pass_at_k_matches_enumeration) {
    for (int n = 1; n <= 12; n++)
        for (int c = 0; c <= n; c++)
            for (int k = 1; k <= n; k++) {
                double want = pass_by_enumeration(n, c, k);
                double exact = 1.0 - (double)choose(n - c, k) / (double)choose(n, k);
                cr_assert(fabs(pass_at_k(n, c, k) - want) <= 1e-15, "n=%d c=%d k=%d: %.17g vs %.17g", n, c, k,
                          pass_at_k(n, c, k), want);
                cr_assert(fabs(exact - want) <= 1e-15);
            }
}

// For n = 1024 the binomials overflow a double; compare with the same ratio in long double log-gamma.
Test(eval_stats, pass_at_k_large_n_against_log_gamma) {
    const int n = 1024;
    for (int c = 0; c <= n; c += 37)
        for (int k = 1; k <= n; k *= 2) {
            long double none = n - c < k ? 0.0L
                                         : expl(lgammal(n - c + 1.0L) - lgammal(n - c - k + 1.0L) - lgammal(n + 1.0L) +
                                                lgammal(n - k + 1.0L));
            double want = (double)(1.0L - none), got = pass_at_k(n, c, k);
            cr_assert(fabs(got - want) <= 1e-12, "c=%d k=%d: %.17g vs %.17g", c, k, got, want);
            cr_assert(got >= 0 && got <= 1);
        }
    cr_expect_eq(pass_at_k(n, 0, 1), 0.0);
    cr_expect_eq(pass_at_k(n, 1, n), 1.0);
    cr_expect(fabs(pass_at_k(n, 512, 1) - 0.5) < 1e-15, "pass@1 is c/n");
}

Test(eval_stats, majority_vote_ties_to_first_occurrence) {
    const char *a[] = {"3", "5", "5", "3", "", NULL, "7"};
    cr_expect_eq(majority_vote(a, 7, NULL, NULL), 0, "3 and 5 tie at two votes: 3 occurs first");
    const char *b[] = {"", "5", "3", "5"};
    cr_expect_eq(majority_vote(b, 4, NULL, NULL), 1);
    const char *c[] = {"", NULL};
    cr_expect_eq(majority_vote(c, 2, NULL, NULL), -1, "no answers, no winner");
    const char *d[] = {NULL, "x"};
    cr_expect_eq(majority_vote(d, 2, NULL, NULL), 1);
}

// Same when equal as numbers written in base 10 or as a/b: the votes of one value in several spellings add up.
static bool same_value(const void *ctx, const char *a, const char *b) {
    (void)ctx;
    double x, y;
    const char *slash_a = strchr(a, '/'), *slash_b = strchr(b, '/');
    x = slash_a ? atof(a) / atof(slash_a + 1) : atof(a);
    y = slash_b ? atof(b) / atof(slash_b + 1) : atof(b);
    return strcmp(a, "bad") && strcmp(b, "bad") && x == y;
}

Test(eval_stats, majority_vote_counts_answers_the_same_as_each_other) {
    // 0.5 in three spellings has 3 votes against 0.4's 2: by text alone 0.4 would win.
    const char *a[] = {"0.4", "1/2", "0.4", "0.5", "2/4"};
    cr_expect_eq(majority_vote(a, 5, NULL, NULL), 0, "by text: 0.4, two votes");
    cr_expect_eq(majority_vote(a, 5, same_value, NULL), 1, "by value: 1/2, the first of three");
    // An answer same() does not hold the same as itself never wins.
    const char *b[] = {"bad", "bad", "7"};
    cr_expect_eq(majority_vote(b, 3, same_value, NULL), 2);
}

Test(eval_stats, quantiles_and_standard_error) {
    double x[] = {10, 1, 4, 3, 2};  // sorted: 1 2 3 4 10
    cr_expect_eq(quantile(x, 5, 0.5), 3.0);
    cr_expect(fabs(quantile(x, 5, 0.9) - 7.6) < 1e-12, "x[3.6] = 4 + 0.6 * 6");
    cr_expect_eq(quantile(x, 5, 0), 1.0);
    cr_expect_eq(quantile(x, 5, 1), 10.0);
    cr_expect_eq(quantile(x, 0, 0.5), 0.0);
    double m, se;
    mean_and_stderr(x, 5, &m, &se);
    cr_expect_eq(m, 4.0);
    cr_expect(fabs(se - sqrt(50.0 / 4 / 5)) < 1e-15, "deviations 6 -3 0 -1 -2: sum of squares 50");
    mean_and_stderr(x, 1, &m, &se);
    cr_expect_eq(se, 0.0);
}
