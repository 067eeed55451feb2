// Log-prob and entropy of the temperature-scaled distribution softmax(logits / T), and their backward.
// The one definition used by sampling, scoring and training (src/README.md invariant 2), and the
// CPU twin of the CUDA loss kernels. float64 accumulation, fixed summation order.
#ifndef RLVR_LOGPROB_H
#define RLVR_LOGPROB_H

#include <stdint.h>

// log p(target) and entropy H of softmax(logits / temperature); temperature > 0.
void logprob_entropy(const float *logits, int vocab, double temperature, int32_t target, double *logp, double *entropy);

// logprob_entropy at temperature 1 from e[i] = exp(logits[i] - max_j logits[j]) as model/sample_filter.c's
// weights at temperature 1 hold them: the same terms in the same sums, so the same bits, without a second exp pass.
void logprob_entropy_from_exp(const float *logits, int vocab, const double *e, int32_t target, double *logp,
                              double *entropy);

// What the backward needs of a row's forward (the chunked LM head keeps it per token instead of the logits): the
// largest z = logit / T, log sum_i exp(z_i - max) and the entropy.
#define LOGPROB_STATS 3
// logprob_entropy, also writing the row's stats.
void logprob_entropy_stats(const float *logits, int vocab, double temperature, int32_t target, double *logp,
                           double *entropy, double stats[LOGPROB_STATS]);
// logprob_entropy_backward on columns v0..v0+nv of a row only (logits and dlogits hold those columns), from the
// row's stats: each element gets the bits the whole row's backward gives it.
void logprob_entropy_backward_cols(const float *logits, int v0, int nv, double temperature, int32_t target,
                                   const double stats[LOGPROB_STATS], double dlogp, double dentropy, float *dlogits);

// Adds to dlogits the gradient of (dlogp · logp + dentropy · H) with respect to the logits.
void logprob_entropy_backward(const float *logits, int vocab, double temperature, int32_t target, double dlogp,
                              double dentropy, float *dlogits);

#endif
