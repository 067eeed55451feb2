// Next-token choice: hand-checked top-k/top-p sets, no draw outside the allowed set, and empirical
// frequencies matching softmax(logits / T) by a chi-square test (fixed seeds, so deterministic).
#include <criterion/criterion.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/rng.h"
#include "model/logprob.h"
#include "model/sample_filter.h"

// Tokens sample_filter keeps, as a bit mask.
static unsigned kept(const float *logits, int V, double T, int top_k, double top_p) {
    SampleWork w;
    sample_work_init(&w, V);
    cr_assert_eq(sample_filter(logits, T, top_k, top_p, &w), 0);
    unsigned mask = 0;
    for (int i = 0; i < V; i++)
        if (w.w[i] > 0) mask |= 1u << i;
    sample_work_free(&w);
    return mask;
}

// Probabilities 1/15, 2/15, 4/15, 8/15 at T = 1.
static const float POW2[4] = {0.0f, 0.69314718f, 1.38629436f, 2.07944154f};

Test(sample_filter, hand_checked_allowed_sets) {
    cr_expect_eq(kept(POW2, 4, 1, 0, 1.0), 0xFu);
    cr_expect_eq(kept(POW2, 4, 1, 1, 1.0), 0x8u, "top-k 1 is the argmax");
    cr_expect_eq(kept(POW2, 4, 1, 2, 1.0), 0xCu);
    cr_expect_eq(kept(POW2, 4, 1, 0, 0.5), 0x8u, "8/15 >= 0.5");
    cr_expect_eq(kept(POW2, 4, 1, 0, 0.6), 0xCu, "8/15 < 0.6 <= 12/15");
    cr_expect_eq(kept(POW2, 4, 1, 2, 0.7), 0xCu, "renormalised in top-2: 8/12 < 0.7");
    cr_expect_eq(kept(POW2, 4, 1, 3, 0.55), 0x8u, "renormalised in top-3: 8/14 >= 0.55");
    cr_expect_eq(kept(POW2, 4, 1, 9, 1.0), 0xFu, "top-k above the vocabulary keeps all");
    float ties[4] = {1, 3, 3, 3};
    cr_expect_eq(kept(ties, 4, 1, 2, 1.0), 0x6u, "ties rank by lower id");
}

Test(sample_filter, greedy_is_argmax_lowest_id_on_ties) {
    SampleWork w;
    sample_work_init(&w, 4);
    Rng r = rng_at(0, 0, 0, 0);
    cr_expect_eq(sample_draw(POW2, 0, 0, 1, &r, &w), 3);
    float ties[4] = {1, 3, 3, 0};
    cr_expect_eq(sample_draw(ties, 0, 0, 1, &r, &w), 1);
    float bad[4] = {1, NAN, 0, 0};
    cr_expect_eq(sample_draw(bad, 0, 0, 1, &r, &w), -1);
    cr_expect_eq(sample_draw(bad, 1, 0, 1, &r, &w), -1);
    float inf[4] = {1, INFINITY, 0, 0};
    cr_expect_eq(sample_draw(inf, 0.7, 0, 1, &r, &w), -1);
    sample_work_free(&w);
}

Test(sample_filter, draws_never_leave_the_allowed_set) {
    enum { V = 24, DRAWS = 20000 };
    float logits[V];
    Rng g = rng_at(11, 0, 0, 0);
    for (int i = 0; i < V; i++) logits[i] = (float)rng_normal(&g);
    const struct {
        int k;
        double p;
    } cases[] = {{5, 1.0}, {0, 0.8}, {8, 0.6}, {1, 1.0}, {3, 0.3}};
    SampleWork w;
    sample_work_init(&w, V);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        unsigned allowed = kept(logits, V, 0.8, cases[c].k, cases[c].p), seen = 0;
        if (cases[c].k) cr_expect_leq(__builtin_popcount(allowed), cases[c].k);
        for (int i = 0; i < DRAWS; i++) {
            Rng r = rng_at(3, (uint32_t)c, 0, (uint32_t)i);
            int32_t t = sample_draw(logits, 0.8, cases[c].k, cases[c].p, &r, &w);
            cr_assert(t >= 0 && t < V && (allowed >> t & 1), "case %zu drew %d outside the allowed set", c, t);
            seen |= 1u << t;
        }
        cr_expect_eq(seen, allowed, "case %zu: every allowed token appears in %d draws", c, DRAWS);
    }
    sample_work_free(&w);
}

// Reference allowed set by a full ranking: rank of token i = tokens with a larger weight or an equal weight and
// a lower id; keep the top_k, then the shortest prefix holding top_p of their mass.
static void reference_allowed(const double *w, int V, int top_k, double top_p, bool *allowed) {
    int *by_rank = malloc((size_t)V * sizeof *by_rank);
    for (int i = 0; i < V; i++) {
        int rank = 0;
        for (int j = 0; j < V; j++) rank += w[j] > w[i] || (w[j] == w[i] && j < i);
        by_rank[rank] = i;
    }
    int keep = top_k > 0 && top_k < V ? top_k : V;
    double total = 0, cum = 0;
    for (int r = 0; r < keep; r++) total += w[by_rank[r]];
    int m = keep;
    for (int r = 0; r < keep && top_p < 1; r++) {
        cum += w[by_rank[r]];
        if (cum >= top_p * total * (1 - 1e-12)) {
            m = r + 1;
            break;
        }
    }
    for (int i = 0; i < V; i++) allowed[i] = false;
    for (int r = 0; r < m; r++) allowed[by_rank[r]] = true;
    free(by_rank);
}

Test(sample_filter, candidate_pruning_equals_a_full_ranking) {
    enum { V = 400 };
    float logits[V];
    bool ref[V];
    SampleWork w;
    sample_work_init(&w, V);
    Rng g = rng_at(77, 0, 0, 0);
    for (int trial = 0; trial < 60; trial++) {
        double scale = trial % 3 == 0 ? 0.1 : trial % 3 == 1 ? 3 : 30;  // flat, moderate, very peaked
        for (int i = 0; i < V; i++) logits[i] = (float)(scale * rng_normal(&g));
        int top_k = trial % 4 == 0 ? 0 : (int)rng_below(&g, 50) + 1;
        double top_p = trial % 5 == 0 ? 1.0 : 0.05 + 0.9 * rng_uniform(&g);
        cr_assert_eq(sample_filter(logits, 0.9, 0, 1.0, &w), 0);
        reference_allowed(w.w, V, top_k, top_p, ref);
        cr_assert_eq(sample_filter(logits, 0.9, top_k, top_p, &w), 0);
        for (int i = 0; i < V; i++)
            cr_assert_eq(w.w[i] > 0, ref[i], "trial %d (k %d, p %.3f) token %d w %g ref %d", trial, top_k, top_p, i,
                         w.w[i], ref[i]);
    }
    sample_work_free(&w);
}

// Chi-square statistic of counts against probabilities p (all expected counts >= 5).
static double chi_square(const int *count, const double *p, int V, int n) {
    double x2 = 0;
    for (int i = 0; i < V; i++) {
        double expect = n * p[i];
        cr_assert_geq(expect, 5.0);
        x2 += (count[i] - expect) * (count[i] - expect) / expect;
    }
    return x2;
}

Test(sample_filter, frequencies_match_softmax_by_chi_square) {
    enum { V = 10, N = 100000 };
    const float logits[V] = {0.5f, -1.0f, 2.0f, 0.0f, 1.2f, -0.3f, 0.9f, -2.0f, 1.5f, 0.1f};
    const double temps[] = {1.0, 0.7};
    SampleWork w;
    sample_work_init(&w, V);
    for (int ti = 0; ti < 2; ti++) {
        double T = temps[ti], p[V], z = 0;
        for (int i = 0; i < V; i++) z += p[i] = exp(logits[i] / T);
        for (int i = 0; i < V; i++) p[i] /= z;
        int count[V] = {0};
        for (int i = 0; i < N; i++) {
            Rng r = rng_at(2024, 1, (uint32_t)ti, (uint32_t)i);
            count[sample_draw(logits, T, 0, 1.0, &r, &w)]++;
        }
        // chi-square(9 df) 0.999 quantile = 27.88: a correct sampler fails this 1 time in 1000 seeds.
        double x2 = chi_square(count, p, V, N);
        cr_expect_lt(x2, 27.88, "T=%g: chi-square %.2f with 9 degrees of freedom", T, x2);
        // A wrong temperature must be detected: frequencies at T are far from softmax(logits) at T=1.3.
        double q[V], zq = 0;
        for (int i = 0; i < V; i++) zq += q[i] = exp(logits[i] / 1.3);
        for (int i = 0; i < V; i++) q[i] /= zq;
        cr_expect_gt(chi_square(count, q, V, N), 100.0, "the test has power against T=1.3");
    }
    sample_work_free(&w);
}

Test(sample_filter, truncated_frequencies_match_renormalised_top_k) {
    enum { N = 60000 };
    SampleWork w;
    sample_work_init(&w, 4);
    int count[4] = {0};
    for (int i = 0; i < N; i++) {
        Rng r = rng_at(9, 0, 0, (uint32_t)i);
        count[sample_draw(POW2, 1.0, 2, 1.0, &r, &w)]++;
    }
    cr_expect_eq(count[0] + count[1], 0);
    double p[2] = {4.0 / 12, 8.0 / 12};
    double x2 = chi_square(count + 2, p, 2, N);
    cr_expect_lt(x2, 10.83, "chi-square %.2f with 1 degree of freedom (0.999 quantile 10.83)", x2);
    sample_work_free(&w);
}

// The weights against libm's exp((l - max) / T) in float64, element by element, for every tail length of the vector
// loop (V = 1 .. 40) and logits spread so that some fall past exp's range: within 2 ulp, and 0 where the exponent is
// below -708 (libm gives under 1e-307 there).
Test(sample_filter, weights_are_libm_exp_within_two_ulp_at_every_position) {
    Rng g = rng_at(5, 0, 0, 0);
    const double temps[] = {0.05, 0.7, 1.0, 1.3};
    for (int V = 1; V <= 40; V++)
        for (int ti = 0; ti < 4; ti++) {
            float logits[40];
            for (int i = 0; i < V; i++) logits[i] = (float)(8 * rng_normal(&g));
            SampleWork w;
            sample_work_init(&w, V);
            cr_assert_eq(sample_filter(logits, temps[ti], 0, 1.0, &w), 0);
            float mx = logits[0];
            for (int i = 1; i < V; i++) mx = logits[i] > mx ? logits[i] : mx;
            for (int i = 0; i < V; i++) {
                double x = ((double)logits[i] - mx) / temps[ti], want = exp(x);
                if (x < -708) cr_expect_eq(w.w[i], 0.0, "V %d T %g i %d: exp(%g)", V, temps[ti], i, x);
                else cr_expect_leq(fabs(w.w[i] - want), 2 * 0x1p-52 * want, "V %d T %g i %d: %.17g against %.17g", V,
                                   temps[ti], i, w.w[i], want);
            }
            sample_work_free(&w);
        }
}

// A NaN or infinite logit anywhere (in the vector loop of finite_max_span or in its tail) makes the filter refuse.
Test(sample_filter, a_non_finite_logit_at_any_position_is_refused) {
    Rng g = rng_at(6, 0, 0, 0);
    const float bad[] = {NAN, INFINITY, -INFINITY};
    for (int V = 1; V <= 40; V++) {
        SampleWork w;
        sample_work_init(&w, V);
        float logits[40];
        for (int i = 0; i < V; i++) logits[i] = (float)(8 * rng_normal(&g));
        cr_assert_eq(sample_filter(logits, 1.0, 0, 1.0, &w), 0, "V %d: all finite", V);
        for (int p = 0; p < V; p++)
            for (int b = 0; b < 3; b++) {
                float keep = logits[p];
                logits[p] = bad[b];
                cr_expect_eq(sample_filter(logits, 1.0, 0, 1.0, &w), -1, "V %d: %g at %d", V, bad[b], p);
                logits[p] = keep;
            }
        sample_work_free(&w);
    }
}

// At T = 1 the weights leave out the division (exact there): doubling the logits and T gives the same quotients, so
// the dividing path must give the same bits, in the vector loop and in every tail.
Test(sample_filter, unit_temperature_weights_same_bits_as_dividing) {
    Rng g = rng_at(7, 0, 0, 0);
    for (int V = 1; V <= 300; V += V < 40 ? 1 : 37) {
        float *x = malloc((size_t)V * sizeof *x), *x2 = malloc((size_t)V * sizeof *x2);
        for (int i = 0; i < V; i++) x[i] = (float)(6 * rng_normal(&g)), x2[i] = 2 * x[i];
        SampleWork w, w2;
        sample_work_init(&w, V), sample_work_init(&w2, V);
        cr_assert_eq(sample_filter(x, 1.0, 0, 1.0, &w), 0);
        cr_assert_eq(sample_filter(x2, 2.0, 0, 1.0, &w2), 0);
        for (int i = 0; i < V; i++) cr_expect(w.w[i] == w2.w[i], "V %d i %d: %a vs %a", V, i, w.w[i], w2.w[i]);
        sample_work_free(&w), sample_work_free(&w2), free(x), free(x2);
    }
}

// The log-prob and entropy that sampling records from its weights (temperature 1, no top-k or top-p) carry the bits
// of logprob_entropy's own pass, for every row tail, wide and narrow logits, ties, signed zeros and an all-equal row.
Test(sample_filter, log_prob_from_the_weights_same_bits_as_its_own_pass) {
    Rng g = rng_at(8, 0, 0, 0);
    const double scales[] = {0.0, 1e-3, 3.0, 40.0};
    for (int V = 1; V <= 1100; V += V < 40 ? 1 : 53)
        for (int si = 0; si < 4; si++) {
            float *x = malloc((size_t)V * sizeof *x);
            for (int i = 0; i < V; i++) x[i] = (float)(scales[si] * rng_normal(&g));
            for (int i = 0; i < V; i += 7) x[i] = i % 2 ? -0.0f : x[V - 1];  // signed zeros and ties
            SampleWork w;
            sample_work_init(&w, V);
            cr_assert_eq(sample_filter(x, 1.0, 0, 1.0, &w), 0);
            for (int t = 0; t < V; t += 1 + V / 5) {
                double lp, h, lp0, h0;
                logprob_entropy_from_exp(x, V, w.w, t, &lp, &h);
                logprob_entropy(x, V, 1.0, t, &lp0, &h0);
                cr_expect(lp == lp0 && h == h0 && signbit(lp) == signbit(lp0),
                          "V %d scale %g target %d: logp %a vs %a, entropy %a vs %a", V, scales[si], t, lp, lp0, h, h0);
            }
            sample_work_free(&w);
            free(x);
        }
}

// Which settings leave the softmax's exps in the weights.
Test(sample_filter, weights_are_exps_only_at_unit_temperature_without_truncation) {
    enum { V = 100 };
    SampleSpec plain = {.temperature = 1, .top_p = 1, .record_temperature = 1, .top_k = 0};
    cr_expect(sample_weights_are_exps(&plain, V));
    SampleSpec s = plain;
    s.top_k = V;  // keeps every token
    cr_expect(sample_weights_are_exps(&s, V));
    s.top_k = V - 1;
    cr_expect(!sample_weights_are_exps(&s, V));
    s = plain, s.top_p = 0.95;
    cr_expect(!sample_weights_are_exps(&s, V));
    s = plain, s.temperature = 0.7, s.record_temperature = 0.7;
    cr_expect(!sample_weights_are_exps(&s, V));
    s = plain, s.temperature = 0, s.record_temperature = 1;  // greedy: no weights at all
    cr_expect(!sample_weights_are_exps(&s, V));
}
