// Log-prob and entropy of softmax(logits / T) in float64 with index-order sums (src/README.md invariant 2).
#include "model/logprob.h"

#include <math.h>

// z = logits / T: max = max_i z_i, S = sum_i exp(z_i - max) and W = sum_i exp(z_i - max) (z_i - max), both summed
// in index order in one pass (one exp per token of the vocabulary).
static void softmax_stats(const float *logits, int vocab, double temperature, double *max, double *sum,
                          double *weighted) {
    double m = -INFINITY;
    for (int i = 0; i < vocab; i++) {
        double z = logits[i] / temperature;
        if (z > m) m = z;
    }
    double s = 0, w = 0;
    for (int i = 0; i < vocab; i++) {
        double d = logits[i] / temperature - m, p = exp(d);
        s += p;
        w += p * d;
    }
    *max = m, *sum = s, *weighted = w;
}

// log p_t = z_t - logsumexp(z); H = -sum_i p_i log p_i = log S - sum_i p_i (z_i - max).
static void from_stats(const float *logits, double temperature, int32_t target, double m, double s, double w,
                       double *logp, double *entropy) {
    double log_s = log(s);
    *logp = logits[target] / temperature - m - log_s;
    *entropy = log_s - w / s;
}

void logprob_entropy(const float *logits, int vocab, double temperature, int32_t target, double *logp,
                     double *entropy) {
    double m, s, w;
    softmax_stats(logits, vocab, temperature, &m, &s, &w);
    from_stats(logits, temperature, target, m, s, w, logp, entropy);
}

void logprob_entropy_stats(const float *logits, int vocab, double temperature, int32_t target, double *logp,
                           double *entropy, double stats[LOGPROB_STATS]) {
    double m, s, w;
    softmax_stats(logits, vocab, temperature, &m, &s, &w);
    from_stats(logits, temperature, target, m, s, w, logp, entropy);
    stats[0] = m, stats[1] = log(s), stats[2] = *entropy;
}

// d log p_t / dz_i = [i = t] - p_i;  dH / dz_i = -p_i (log p_i + H);  dz_i / dlogit_i = 1 / T.
void logprob_entropy_backward_cols(const float *logits, int v0, int nv, double temperature, int32_t target,
                                   const double stats[LOGPROB_STATS], double dlogp, double dentropy, float *dlogits) {
    double m = stats[0], log_s = stats[1], entropy = stats[2];
    for (int j = 0; j < nv; j++) {
        double log_p = logits[j] / temperature - m - log_s, p = exp(log_p);
        double g = dlogp * ((v0 + j == target) - p) - dentropy * p * (log_p + entropy);
        dlogits[j] += (float)(g / temperature);
    }
}

void logprob_entropy_backward(const float *logits, int vocab, double temperature, int32_t target, double dlogp,
                              double dentropy, float *dlogits) {
    double logp, entropy, stats[LOGPROB_STATS];
    logprob_entropy_stats(logits, vocab, temperature, target, &logp, &entropy, stats);
    logprob_entropy_backward_cols(logits, 0, vocab, temperature, target, stats, dlogp, dentropy, dlogits);
}
