// model/update_ops.c update_sumsq and update_scale with _rn intrinsics, so nothing is fused (the CPU is built with
// -ffp-contract=off): the same bits.
#include "grad_norm.h"
#include "gpu_util.cuh"

__global__ void sumsq_kernel(const float *g, const size_t *begin, const size_t *len, int n_ranges, double *sums) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= n_ranges) return;
    const float *x = g + begin[k];
    double s = 0;
    for (size_t i = 0; i < len[k]; i++) {
        double v = x[i];
        s = __dadd_rn(s, __dmul_rn(v, v));
    }
    sums[k] = s;
}

extern "C" int gpu_sumsq_ranges(const float *g, const size_t *begin, const size_t *len, int n_ranges, double *sums,
                                GpuStream s, Err *e) {
    if (n_ranges <= 0) return 0;
    sumsq_kernel<<<(n_ranges + 63) / 64, 64, 0, s>>>(g, begin, len, n_ranges, sums);
    return gpu_launched("sumsq_ranges", e);
}

__global__ void scale_kernel(float *g, size_t n, double scale) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        g[i] = __double2float_rn(__dmul_rn((double)g[i], scale));
}

extern "C" int gpu_scale(float *g, size_t n, double scale, GpuStream s, Err *e) {
    if (!n) return 0;
    scale_kernel<<<grid_for(n, 256), 256, 0, s>>>(g, n, scale);
    return gpu_launched("scale", e);
}
