// model/update_ops.c fixed_add per element: ldexp by powers of two, floor and subtraction are exact in double, and
// rint rounds half to even as nearbyint does in the default rounding mode, so every limb has the CPU's bits.
#include "fixed_point.h"
#include "gpu_util.cuh"

#define UNIT_EXP 86
#define LIMB_BITS 42

__global__ void fixed_add_kernel(long long *limbs, const float *g, size_t n, unsigned long long *bad) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float x = g[i];
        if (!isfinite(x) || fabsf(x) >= 0x1p40f) {
            atomicAdd(bad, 1ull);  // a count: the order of the adds does not matter
            continue;
        }
        double y = ldexp(fabs((double)x), UNIT_EXP);
        double hi = floor(ldexp(y, -2 * LIMB_BITS));
        double rest = __dsub_rn(y, ldexp(hi, 2 * LIMB_BITS));
        double mid = floor(ldexp(rest, -LIMB_BITS));
        double lo = rint(__dsub_rn(rest, ldexp(mid, LIMB_BITS)));
        long long sign = x < 0 ? -1 : 1;
        limbs[3 * i] += sign * (long long)hi;
        limbs[3 * i + 1] += sign * (long long)mid;
        limbs[3 * i + 2] += sign * (long long)lo;
    }
}

extern "C" int gpu_fixed_add(int64_t *limbs, const float *g, size_t n, unsigned long long *bad, GpuStream s, Err *e) {
    if (!n) return 0;
    fixed_add_kernel<<<grid_for(n, 256), 256, 0, s>>>(reinterpret_cast<long long *>(limbs), g, n, bad);
    return gpu_launched("fixed_add", e);
}

__global__ void fixed_value_kernel(float *g, const long long *limbs, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        double hi = ldexp(__ll2double_rn(limbs[3 * i]), 2 * LIMB_BITS - UNIT_EXP);
        double mid = ldexp(__ll2double_rn(limbs[3 * i + 1]), LIMB_BITS - UNIT_EXP);
        double lo = ldexp(__ll2double_rn(limbs[3 * i + 2]), -UNIT_EXP);
        g[i] = __double2float_rn(__dadd_rn(__dadd_rn(hi, mid), lo));
    }
}

extern "C" int gpu_fixed_value(float *g, const int64_t *limbs, size_t n, GpuStream s, Err *e) {
    if (!n) return 0;
    fixed_value_kernel<<<grid_for(n, 256), 256, 0, s>>>(g, reinterpret_cast<const long long *>(limbs), n);
    return gpu_launched("fixed_value", e);
}
