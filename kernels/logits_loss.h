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
// the gradient of Σ_t dlogp[t]·logp[t] + dentropy[t]·H[t] (dentropy may be NULL), using pass 1's lse, entropy
// (zeros in rows whose dlogp and dentropy are both 0).
int cuda_logits_backward(const void *logits, LogitsDtype dtype, int64_t T, int64_t V, const int32_t *targets,
                         double temperature, const double *lse, const double *entropy, const double *dlogp,
                         const double *dentropy, void *dlogits, LogitsDtype out_dtype, Err *e);

// The chunked LM head (src/model/model_head.c through src/model/backend_cuda.c; CPU twin: model/logprob.h
// logprob_entropy_stats and logprob_entropy_backward_cols). Pass 1 on a chunk of rows [T, V]: as cuda_logits_forward
// (entropy may be NULL), each row's statistics kept in stats [T, 3] = (lse, H, 0) in place of the logits.
int cuda_head_forward(const void *logits, LogitsDtype dtype, int64_t T, int64_t V, const int32_t *targets,
                      double temperature, double *logp, double *entropy, double *stats, Err *e);
// Pass 2 on columns v0..v0+nv of T rows from pass 1's stats: logits [T, nv] hold those columns and dlogits [T, nv]
// receives their part of cuda_logits_backward's row (written; zeros in rows whose dlogp and dentropy are both 0).
// All pointers are device pointers; dentropy may be NULL.
int cuda_head_backward(const void *logits, LogitsDtype dtype, int64_t T, int64_t v0, int64_t nv, const int32_t *targets,
                       double temperature, const double *stats, const double *dlogp, const double *dentropy,
                       void *dlogits, LogitsDtype out_dtype, Err *e);

// Fills n device values of dtype with reproducible pseudo-random N(0, scale²)-like values (benchmarks).
int cuda_fill_random(void *x, LogitsDtype dtype, int64_t n, uint64_t seed, float scale, Err *e);

#ifdef __cplusplus
}
#endif

#endif
