// The deterministic mode's fixed-point conversion (algo/grad_reduce.c fixed_add) on the device: each float gradient
// element added to its three int64 limbs (hi, mid, lo; unit 2^-86), with the same double operations, so the limbs
// are bit-identical to the CPU's and integer sums over ranks (NCCL int64) give the CPU's bits.
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

#ifdef __cplusplus
}
#endif

#endif
