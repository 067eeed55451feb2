#include "algo/eval_stats.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

double pass_at_k(int64_t n, int64_t c, int64_t k) {
    if (n - c < k) return 1.0;
    double none = 1.0;  // C(n−c, k)/C(n, k): the chance that k draws without replacement miss every correct one
    for (int64_t i = n - c + 1; i <= n; i++) none *= 1.0 - (double)k / (double)i;
    return 1.0 - none;
}

typedef bool (*SameAnswer)(const void *ctx, const char *a, const char *b);

static bool same_text(const void *ctx, const char *a, const char *b) { return (void)ctx, !strcmp(a, b); }

static bool same_answer(SameAnswer same, const void *ctx, const char *a, const char *b) {
    return a && a[0] && b && b[0] && same(ctx, a, b);
}

int majority_vote(const char *const *answers, int n, SameAnswer same, const void *ctx) {
    if (!same) same = same_text;
    int best = -1, best_count = 0;
    for (int i = 0; i < n; i++) {
        bool counted = !same_answer(same, ctx, answers[i], answers[i]);  // no answer: never a candidate
        // Counted at the first answer it is the same as.
        for (int j = 0; j < i && !counted; j++) counted = same_answer(same, ctx, answers[i], answers[j]);
        if (counted) continue;
        int count = 1;
        for (int j = i + 1; j < n; j++) count += same_answer(same, ctx, answers[i], answers[j]);
        if (count > best_count) best = i, best_count = count;  // strict: a tie keeps the earlier answer
    }
    return best;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double quantile(const double *x, int64_t n, double p) {
    if (n == 0) return 0;
    double *s = xmalloc((size_t)n * sizeof *s);
    memcpy(s, x, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, by_value);
    double at = (double)(n - 1) * p, lo = floor(at);
    int64_t i = (int64_t)lo, j = i + 1 < n ? i + 1 : i;
    double q = s[i] + (at - lo) * (s[j] - s[i]);
    free(s);
    return q;
}

void mean_and_stderr(const double *x, int64_t n, double *mean, double *stderr_out) {
    double sum = 0, ss = 0;
    for (int64_t i = 0; i < n; i++) sum += x[i];
    double m = n > 0 ? sum / (double)n : 0;
    for (int64_t i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    *mean = m;
    *stderr_out = n > 1 ? sqrt(ss / (double)(n - 1) / (double)n) : 0;
}
