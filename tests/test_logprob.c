// Log-prob/entropy against a direct float64 formula; backward by central differences.
#include <criterion/criterion.h>
#include <math.h>

#include "base/rng.h"
#include "model/logprob.h"

static void random_logits(float *x, int n, uint64_t seed, double scale) {
    Rng r = rng_at(seed, 0, 0, 0);
    for (int i = 0; i < n; i++) x[i] = (float)(scale * rng_normal(&r));
}

// Direct definition: p_i = exp(z_i) / sum_j exp(z_j), H = -sum p_i log p_i (small logits, no shift needed).
static void direct(const float *x, int n, double t, int target, double *logp, double *h) {
    double z = 0;
    for (int i = 0; i < n; i++) z += exp(x[i] / t);
    *h = 0;
    for (int i = 0; i < n; i++) {
        double p = exp(x[i] / t) / z;
        *h -= p * log(p);
    }
    *logp = x[target] / t - log(z);
}

Test(logprob, matches_direct_formula) {
    float x[37];
    random_logits(x, 37, 1, 2.0);
    for (double t = 0.5; t <= 2.0; t += 0.75) {
        double lp, h, lp0, h0;
        logprob_entropy(x, 37, t, 5, &lp, &h);
        direct(x, 37, t, 5, &lp0, &h0);
        cr_expect(fabs(lp - lp0) < 1e-12, "T=%g logp %.17g vs %.17g", t, lp, lp0);
        cr_expect(fabs(h - h0) < 1e-12, "T=%g entropy %.17g vs %.17g", t, h, h0);
    }
}

Test(logprob, uniform_and_large_logits) {
    float x[8] = {3, 3, 3, 3, 3, 3, 3, 3};
    double lp, h;
    logprob_entropy(x, 8, 1.0, 2, &lp, &h);
    cr_expect(fabs(lp + log(8.0)) < 1e-15 && fabs(h - log(8.0)) < 1e-15);
    float y[3] = {1000, 0, -1000};  // overflow-safe: p ~ (1, e^-1000, 0)
    logprob_entropy(y, 3, 1.0, 0, &lp, &h);
    cr_expect(lp == 0 && h >= 0 && h < 1e-300 + 1e-12, "lp %g h %g", lp, h);
}

Test(logprob, backward_finite_differences) {
    enum { N = 23 };
    float x[N];
    random_logits(x, N, 7, 1.5);
    const double t = 0.8, dlp = 0.7, dh = -1.3;
    float g[N] = {0};
    logprob_entropy_backward(x, N, t, 4, dlp, dh, g);
    for (int i = 0; i < N; i++) {
        // Central difference in float64 of the direct formula, perturbing one logit (step representable in float).
        const float eps = 1.0f / 256;
        float xp[N], xm[N];
        for (int j = 0; j < N; j++) xp[j] = xm[j] = x[j];
        xp[i] += eps;
        xm[i] -= eps;
        double lp1, h1, lp2, h2;
        direct(xp, N, t, 4, &lp1, &h1);
        direct(xm, N, t, 4, &lp2, &h2);
        double fd = (dlp * (lp1 - lp2) + dh * (h1 - h2)) / (double)(xp[i] - xm[i]);
        cr_expect(fabs(fd - g[i]) < 1e-4 * (1 + fabs(fd)), "logit %d: analytic %.9g vs fd %.9g", i, g[i], fd);
    }
}

Test(logprob, backward_accumulates) {
    float x[5] = {0.1f, -0.2f, 0.3f, 0.0f, 1.0f}, g[5] = {1, 1, 1, 1, 1}, g0[5] = {0};
    logprob_entropy_backward(x, 5, 1.0, 1, 1.0, 0.5, g0);
    logprob_entropy_backward(x, 5, 1.0, 1, 1.0, 0.5, g);
    for (int i = 0; i < 5; i++) cr_expect(g[i] == 1 + g0[i]);
}

// Rows of every length 1..19 and 1000 (the eight-lane sums' tails) against the direct formula in long double.
Test(logprob, every_row_tail_against_long_double) {
    static float x[1000];
    random_logits(x, 1000, 3, 4.0);
    for (int k = 1; k <= 20; k++) {
        int n = k < 20 ? k : 1000;
        long double z = 0, hh = 0;
        for (int i = 0; i < n; i++) z += expl((long double)x[i] / 0.7L);
        for (int i = 0; i < n; i++) {
            long double p = expl((long double)x[i] / 0.7L) / z;
            hh -= p * logl(p);
        }
        double lp, h;
        logprob_entropy(x, n, 0.7, n / 2, &lp, &h);
        double lp0 = (double)((long double)x[n / 2] / 0.7L - logl(z));
        cr_expect(fabs(lp - lp0) < 1e-13 * (1 + fabs(lp0)), "n %d: logp %.17g vs %.17g", n, lp, lp0);
        cr_expect(fabs(h - (double)hh) < 1e-13 * (1 + fabs((double)hh)), "n %d: entropy %.17g vs %.17Lg", n, h, hh);
    }
}

// exp's accuracy over its range: on the row {0, x}, S = 1 + e^x rounds as the implementation's float64 sum does and
// H = log S - x e^x / S; below x = -37, S is 1 and H = -x e^x, so H's relative error is exp's.
Test(logprob, exp_accurate_over_its_range) {
    for (double x = -700; x <= 0; x += 0.731) {
        float row[2] = {0, (float)x};
        long double xf = row[1], e = expl(xf), s = (double)(1 + e);
        long double ref = logl(s) - e * xf / s;
        double lp, h;
        logprob_entropy(row, 2, 1.0, 0, &lp, &h);
        cr_assert(fabsl((long double)h - ref) <= 4e-16L * ref + 1e-300L, "x %g: entropy %.17g vs %.17Lg", x, h, ref);
    }
}

// The row's max (stats[0]) is the largest logit / T, taken once: the same value as the largest of the per-logit
// quotients, over rows of every tail length with ties and NaNs (passed over) and temperatures whose division rounds.
Test(logprob, max_is_largest_quotient) {
    static float x[300];
    const double temps[] = {1.0, 0.7, 1.3, 3e-3};
    for (int n = 1; n <= 300; n += n < 40 ? 1 : 37)
        for (int ti = 0; ti < 4; ti++) {
            random_logits(x, n, (uint64_t)(n * 4 + ti), 3.0);
            for (int i = 0; i < n; i += 5) x[i] = (i % 10) ? x[0] : NAN;  // ties with x[0], and NaNs
            double t = temps[ti], want = -INFINITY, lp, h, stats[LOGPROB_STATS];
            for (int i = 0; i < n; i++)
                if (x[i] / t > want) want = x[i] / t;
            logprob_entropy_stats(x, n, t, n - 1, &lp, &h, stats);
            cr_expect(stats[0] == want, "n %d T %g: max %.17g, want %.17g", n, t, stats[0], want);
        }
}

// T = 1 leaves out the division by T; the general path divides. Doubling the logits and T gives the same quotients
// exactly, so both paths must give the same bits: log-prob and entropy, and the gradient (which has a 1/T factor).
Test(logprob, unit_temperature_same_bits_as_dividing) {
    enum { N = 1001 };
    static float x[N], x2[N], g[N], g2[N];
    random_logits(x, N, 11, 4.0);
    for (int i = 0; i < N; i++) x2[i] = 2 * x[i];
    double lp, h, lp2, h2;
    logprob_entropy(x, N, 1.0, 17, &lp, &h);
    logprob_entropy(x2, N, 2.0, 17, &lp2, &h2);
    cr_expect(lp == lp2 && h == h2, "logp %a vs %a, entropy %a vs %a", lp, lp2, h, h2);
    logprob_entropy_backward(x, N, 1.0, 17, 0.7, -1.3, g);
    logprob_entropy_backward(x2, N, 2.0, 17, 0.7, -1.3, g2);
    for (int i = 0; i < N; i++) cr_expect(g[i] == 2 * g2[i], "logit %d: %a vs 2 x %a", i, g[i], g2[i]);
}
