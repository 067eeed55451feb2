// AdamW with decoupled weight decay, the learning-rate schedule, and global-norm gradient clipping
// (src/README.md "One RL step": the gradients summed over ranks, clipped by the global norm, then AdamW).
#ifndef RLVR_OPTIM_H
#define RLVR_OPTIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/error.h"
#include "model/model.h"
#include "model/update_ops.h"

// Optimizer state over the model's contiguous parameter buffer (same offsets as the tensor table), or over the
// elements [begin, begin + n) of it that a rank owns (ZeRO stage >= 1, algo/shard.h).
typedef struct {
    size_t n;        // parameters held
    size_t begin;    // the first one's offset in the parameter buffer (0 unless sharded)
    float *m, *v;    // first and second moments of parameters [begin, begin + n)
    int64_t step;    // updates applied so far (bias correction uses step + 1 for the next update)
} AdamW;

typedef struct {
    double beta1, beta2, eps, weight_decay;
} AdamWHyper;

void adamw_init(AdamW *o, size_t n_params);  // zeroed moments, step 0
void adamw_init_shard(AdamW *o, size_t begin, size_t end);  // the same for parameters [begin, end) only
void adamw_free(AdamW *o);
AdamWHyper adamw_hyper(const TrainConfig *t);

// True for tensors that get weight decay: matrices and embeddings (ndim >= 2), not norms or biases.
bool adamw_decays(const ModelTensor *t);

// One update of every tensor in the table (which must lie in the moments' range) (Loshchilov & Hutter 2019,
// Alg. 2; PyTorch AdamW):
//   p ← p − lr·wd·p;  m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;
//   p ← p − lr · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + ε),   t = step + 1.
// float64 arithmetic per element; the result does not depend on the thread count.
void adamw_update(AdamW *o, float *params, const float *grad, const ModelTensor *tensors, int n_tensors, double lr,
                  const AdamWHyper *h);

// The constants of tensor t's AdamW update number `step` (1-based) at learning rate lr (model/update_ops.h runs it).
AdamWStep adamw_step(const AdamWHyper *h, int64_t step, double lr, const ModelTensor *t);

// Learning rate of RL/SFT step `step` (1-based) of `total`: linear warm-up over warmup_steps
// (peak·step/warmup), then constant or cosine decay from peak to peak·min_lr_ratio at step `total`.
double lr_at(int64_t step, int64_t total, double peak, int warmup_steps, Schedule schedule, double min_lr_ratio);

// Global L2 norm of an (already all-reduced) gradient, accumulated in float64 in table order, each
// tensor in element order, so every rank computes the same bits. When the norm is not finite,
// *bad_tensor is the index of the first tensor whose sum of squares is not finite (else -1).
double grad_global_norm(const float *grad, const ModelTensor *tensors, int n_tensors, int *bad_tensor);
// Its two halves, for a gradient whose tensors live on different ranks (ZeRO stage 2): sums[k] = tensor k's
// sum of squares in element order for k in [k0, k1); then the norm of all n sums, added in table order.
void grad_tensor_sumsq(const float *grad, const ModelTensor *tensors, int k0, int k1, double *sums);
double grad_norm_of_sums(const double *sums, int n_tensors, int *bad_tensor);

// The factor clipping applies for a global norm (1: none; max_norm 0 = no clipping).
double grad_clip_scale(double norm, double max_norm);
// Scales the gradient so its norm is at most max_norm (max_norm 0 = no clipping); returns the factor.
double grad_clip(float *grad, size_t n, double norm, double max_norm);

#endif
