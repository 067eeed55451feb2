// Statistics of an evaluation over K samples per prompt: the unbiased pass@k estimator, majority voting,
// quantiles and the standard error of a mean over prompts (results/objectives.md §5).
#ifndef RLVR_EVAL_STATS_H
#define RLVR_EVAL_STATS_H

#include <stdbool.h>
#include <stdint.h>

// Unbiased pass@k for n samples of which c are correct (Chen et al. 2021): 1 − C(n−c, k)/C(n, k), computed as
// 1 − Π_{i=n−c+1..n} (1 − k/i), which never overflows. 1 when n − c < k; requires 1 <= k <= n, 0 <= c <= n.
double pass_at_k(int64_t n, int64_t c, int64_t k);

// The sample whose answer wins a majority vote among n answers (NULL or "" is no answer and never wins): the
// answer that the most answers count as the same as, ties to the one that occurs first. same(ctx, a, b) says when
// two answers count as one (NULL: equal text); an answer same() does not count as itself never wins. -1 when no
// sample has an answer.
int majority_vote(const char *const *answers, int n, bool (*same)(const void *ctx, const char *a, const char *b),
                  const void *ctx);

// The p-quantile (0 <= p <= 1) of x[0..n), linear between order statistics (x[(n−1)p]); 0 for n = 0.
double quantile(const double *x, int64_t n, double p);

// Mean of x[0..n) and its standard error s/√n (s the sample standard deviation; 0 for n < 2).
void mean_and_stderr(const double *x, int64_t n, double *mean, double *stderr_out);

#endif
