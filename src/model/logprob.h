// Log-prob and entropy of the temperature-scaled distribution softmax(logits / T), and their backward.
// The one definition used by sampling, scoring and training (src/README.md invariant 2), and the
// CPU twin of the CUDA loss kernels. float64 accumulation, fixed summation order.
#ifndef RLVR_LOGPROB_H
#define RLVR_LOGPROB_H

#include <stdint.h>

// log p(target) and entropy H of softmax(logits / temperature); temperature > 0.
void logprob_entropy(const float *logits, int vocab, double temperature, int32_t target, double *logp, double *entropy);

// Adds to dlogits the gradient of (dlogp · logp + dentropy · H) with respect to the logits.
void logprob_entropy_backward(const float *logits, int vocab, double temperature, int32_t target, double dlogp,
                              double dentropy, float *dlogits);

#endif
