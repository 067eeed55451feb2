// The global gradient norm's per-tensor sums and clipping on the device (model/update_ops.c update_sumsq and
// update_scale, called by algo/optim.c): the same double operations in the same order, so the norm and the clipped
// gradient have the CPU's bits whatever the number of ranks (src/README.md invariant 1).
#ifndef RLVR_GRAD_NORM_H
#define RLVR_GRAD_NORM_H

#include <stddef.h>

#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

// sums[k] = Σ g[begin[k] + i]², i = 0 .. len[k]-1, in float64 and element order (begin, len, sums: device arrays of
// n_ranges). One thread per range walks it in order: exact order over speed (a tensor of 10^8 elements takes a
// fraction of a second).
int gpu_sumsq_ranges(const float *g, const size_t *begin, const size_t *len, int n_ranges, double *sums, GpuStream s,
                     Err *e);
// g[i] = (float)((double)g[i] * scale) for i < n.
int gpu_scale(float *g, size_t n, double scale, GpuStream s, Err *e);

#ifdef __cplusplus
}
#endif

#endif
