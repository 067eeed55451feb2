// The optimizer step's elementwise arithmetic on host memory, one definition for everything that runs it: algo/optim.c
// (AdamW, the norm's sums of squares, clipping), algo/grad_reduce.c (the deterministic mode's fixed-point codec) and
// the host backends' update operations (model/backend.h "device update", model/backend_cpu.c). Their device twins are
// kernels/adamw.cu and kernels/fixed_point.cu, checked against these by tests/gpu_check_fixed.c and gpu_check_ops.c.
// model/ holds them because the backends (model/) run them and may not call algo/.
#ifndef RLVR_UPDATE_OPS_H
#define RLVR_UPDATE_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// AdamW's constants for one tensor's update (algo/optim.h adamw_update): decay = lr·weight_decay (0 for tensors
// without decay), c1 = 1 − β1^t, c2 = 1 − β2^t.
typedef struct {
    double lr, decay, beta1, beta2, eps, c1, c2;
} AdamWStep;

// p, m, v over n elements, float64 per element (Loshchilov & Hutter 2019, Alg. 2; results/objectives.md §2 sums
// the gradient, never averages it):
//   p ← p − decay·p;  m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;
//   p ← p − lr · (m / c1) / (sqrt(v / c2) + ε).
// The bits do not depend on the thread count.
void update_adamw(float *p, float *m, float *v, const float *g, size_t n, const AdamWStep *s);

// Σ g[i]² in float64, in element order (the global norm's per-tensor term: the same bits on every rank).
double update_sumsq(const float *g, size_t n);

// g[i] ← (float)(g[i] · scale) (global-norm clipping).
void update_scale(float *g, size_t n, double scale);

// The fixed-point grid of the deterministic gradient sums (algo/grad_reduce.h): three int64 limbs of 42 bits per
// element, unit 2^-86, |x| < 2^40. fixed_add adds x exactly to the limbs (false, nothing added: not finite or out of
// range); fixed_value converts limbs back (exact while each limb sum stays below 2^53).
bool fixed_add(int64_t limbs[3], float x);
double fixed_value(const int64_t limbs[3]);
// fixed_add of g[i] to limbs[3i .. 3i + 2] for i < n, in vectors and threads, with fixed_add's bits; returns how
// many elements it left out.
int64_t fixed_add_n(int64_t *limbs, const float *g, size_t n);

#endif
