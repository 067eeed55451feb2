// The deterministic mode's fixed-point conversion (model/update_ops.c fixed_add, used by algo/grad_reduce.c) on the
// device: each float gradient element added to its three int64 limbs (hi, mid, lo; unit 2^-86), with the same double
// operations, so the limbs are bit-identical to the CPU's and integer sums over ranks (NCCL int64) give the CPU's
// bits.
#ifndef RLVR_FIXED_POINT_H
#define RLVR_FIXED_POINT_H

#include <stddef.h>
#include <stdint.h>

#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

// limbs[3 i .. 3 i + 2] += fixed(g[i]) for i < n; an element that is not finite or has |g| >= 2^40 is left out and
// counted: *bad (device, one int64, added to) receives their number.
int gpu_fixed_add(int64_t *limbs, const float *g, size_t n, unsigned long long *bad, GpuStream s, Err *e);

// g[i] = (float)value(limbs[3 i .. 3 i + 2]) for i < n: algo/grad_reduce.c fixed_value (model/update_ops.c), the same
// double operations (each limb exact in double, added hi + mid, then + lo, rounded once to float).
int gpu_fixed_value(float *g, const int64_t *limbs, size_t n, GpuStream s, Err *e);

#ifdef __cplusplus
}
#endif

#endif
