// Helpers shared by the kernels of ops.h: bf16 views, launch-status checks, grid sizes.
#ifndef RLVR_GPU_UTIL_CUH
#define RLVR_GPU_UTIL_CUH

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "ops.h"

typedef __nv_bfloat16 bf16;

static inline const bf16 *dev(const Bf16 *p) { return reinterpret_cast<const bf16 *>(p); }
static inline bf16 *dev(Bf16 *p) { return reinterpret_cast<bf16 *>(p); }

// The status of the last launch (or call) as a message naming the operation.
static inline int gpu_status(cudaError_t rc, const char *what, Err *e) {
    if (rc == cudaSuccess) return 0;
    return err_set(e, "CUDA %s: %s", what, cudaGetErrorString(rc));
}
static inline int gpu_launched(const char *what, Err *e) { return gpu_status(cudaGetLastError(), what, e); }

// Blocks of `threads` covering n items, capped (grid-stride loops cover the rest).
static inline unsigned grid_for(size_t n, int threads) {
    size_t b = (n + (size_t)threads - 1) / (size_t)threads;
    return (unsigned)(b < 1 ? 1 : b > 65535 * 16 ? 65535 * 16 : b);
}

// Sum over a warp in a fixed butterfly order: the same bits on every call with the same lane values.
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

#endif
