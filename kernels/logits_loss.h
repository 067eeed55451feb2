// CUDA hot loss path over [T, V] logits (fp32 or bf16): per-token log-prob of the target and entropy of
// softmax(logits / T) in one read (pass 1), and dL/dlogits in a second read + one write (pass 2).
// Plain C interface; CPU twin: src/model/logprob.h. Never materialises a [T, V] probability tensor.
#ifndef RLVR_LOGITS_LOSS_H
#define RLVR_LOGITS_LOSS_H

#include <stdint.h>

#include "base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { LOGITS_F32 = 0, LOGITS_BF16 = 1 } LogitsDtype;

// Number of usable CUDA devices (0 when built without CUDA or when none is present).
int cuda_device_count(void);
// Name of device 0 into buf ("" if none).
void cuda_device_name(char *buf, int len);

// Pass 1. Device pointers: logits [T, V], targets [T]; outputs logp, entropy, lse [T] (float64).
int cuda_logits_forward(const void *logits, LogitsDtype dtype, int64_t T, int64_t V, const int32_t *targets,
                        double temperature, double *logp, double *entropy, double *lse, Err *e);

// Pass 2. dlogits [T, V] of dtype out_dtype (may alias logits when the dtypes match: in-place) receives
// the gradient of Σ_t dlogp[t]·logp[t] + dentropy[t]·H[t] (dentropy may be NULL), using pass 1's lse, entropy.
int cuda_logits_backward(const void *logits, LogitsDtype dtype, int64_t T, int64_t V, const int32_t *targets,
                         double temperature, const double *lse, const double *entropy, const double *dlogp,
                         const double *dentropy, void *dlogits, LogitsDtype out_dtype, Err *e);

// Fills n device values of dtype with reproducible pseudo-random N(0, scale²)-like values (benchmarks).
int cuda_fill_random(void *x, LogitsDtype dtype, int64_t n, uint64_t seed, float scale, Err *e);

#ifdef __cplusplus
}
#endif

#endif
