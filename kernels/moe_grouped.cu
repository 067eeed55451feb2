// The routed experts' products in one launch each, for rows grouped by expert (gpu_moe_group), with the group
// offsets read on the device: no copy to the host, no synchronisation. Every output goes through matmul_block
// (kernels/matmul_tile.cuh), the steps of gpu_matmul, so each is bit-identical to a gpu_matmul launch on that
// expert's rows alone: a token's result never depends on how many rows the other experts got.
//  - Rows grouped (forward, dx): a block per (tile of an expert's rows, tile of columns). The grid is sized for the
//    worst case (moe_tiles.h); a small kernel lists each expert's first tile, and blocks past the last tile return.
//  - Reduction grouped (dW): the sum runs over an expert's rows, so a block per (expert, output tile); an empty
//    expert's blocks return, leaving its gradient untouched as a skipped launch would.
#include <string.h>

#include "matmul_tile.cuh"
#include "moe_tiles.h"

// Rows per expert, on average, up to which the rows-grouped products take the small tile (decode and group decode);
// both tiles give the same bits.
#define GROUPED_SMALL_AVG 32

static int scratch(void **p, size_t bytes, GpuStream s, Err *e) {
    return gpu_status(cudaMallocAsync(p, bytes ? bytes : 1, s), "scratch allocation", e);
}

// The dynamic shared memory of a kernel above the default 48 KiB, set once per kernel.
template <typename Cfg, typename Kernel>
static cudaError_t smem_once(Kernel kernel, bool *done) {
    if (*done) return cudaSuccess;
    cudaError_t rc = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)Cfg::SMEM);
    if (rc == cudaSuccess) *done = true;
    return rc;
}

__global__ void tile_starts_kernel(const int32_t *offsets, int E, int bm, int32_t *starts) {
    moe_tile_starts(offsets, E, bm, starts);
}

// y rows r0.. of expert e = x rows r0.. of e · w_e^T, w_e = w + e N K.
template <typename Cfg, bool VEC>
__global__ void __launch_bounds__(Cfg::THREADS)
    grouped_rows_kernel(const bf16 *__restrict__ x, const bf16 *__restrict__ w, void *y, int y_bf16,
                        const int32_t *__restrict__ offsets, const int32_t *__restrict__ starts, int E, int N, int K,
                        int accumulate) {
    MoeTile t = moe_tile_at(starts, E, Cfg::BM, blockIdx.x);
    if (t.expert < 0) return;
    int r0 = offsets[t.expert], M = offsets[t.expert + 1] - r0;
    char *ye = (char *)y + (size_t)r0 * N * (y_bf16 ? 2 : 4);
    matmul_block<Cfg, VEC>(x + (size_t)r0 * K, w + (size_t)t.expert * N * K, NULL, ye, y_bf16, M, N, K, accumulate,
                           t.m0, blockIdx.y * Cfg::BN);
}

template <typename Cfg, bool VEC>
static cudaError_t launch_rows(const bf16 *x, const bf16 *w, void *y, int y_bf16, const int32_t *offsets,
                               const int32_t *starts, int E, int64_t tiles, int N, int K, int accumulate,
                               cudaStream_t s) {
    auto kernel = grouped_rows_kernel<Cfg, VEC>;
    static bool smem_set = false;
    cudaError_t rc = smem_once<Cfg>(kernel, &smem_set);
    if (rc != cudaSuccess) return rc;
    dim3 grid((unsigned)tiles, (unsigned)((N + Cfg::BN - 1) / Cfg::BN));
    kernel<<<grid, Cfg::THREADS, Cfg::SMEM, s>>>(x, w, y, y_bf16, offsets, starts, E, N, K, accumulate);
    return cudaGetLastError();
}

template <typename Cfg>
static int grouped_rows(const bf16 *x, const bf16 *w, void *y, int y_bf16, const int32_t *offsets, int E, int n,
                        int N, int K, int accumulate, bool vec, cudaStream_t s, Err *e) {
    int64_t tiles = moe_tiles_max(n, E, Cfg::BM);
    if (tiles > 2147483647 || (N + Cfg::BN - 1) / Cfg::BN > 65535)
        return err_set(e, "gpu_matmul_grouped: n=%d N=%d E=%d out of range", n, N, E);
    int32_t *starts = NULL;
    if (scratch((void **)&starts, (size_t)(E + 1) * sizeof *starts, s, e)) return -1;
    tile_starts_kernel<<<1, 1, 0, s>>>(offsets, E, Cfg::BM, starts);
    cudaError_t rc = cudaGetLastError();
    if (rc == cudaSuccess)
        rc = vec ? launch_rows<Cfg, true>(x, w, y, y_bf16, offsets, starts, E, tiles, N, K, accumulate, s)
                 : launch_rows<Cfg, false>(x, w, y, y_bf16, offsets, starts, E, tiles, N, K, accumulate, s);
    cudaFreeAsync(starts, s);
    return gpu_status(rc, "grouped matmul launch", e);
}

static bool aligned16(const void *p) { return (uintptr_t)p % 16 == 0; }

extern "C" int gpu_matmul_grouped(const Bf16 *x, const Bf16 *w, void *y, GpuDtype ydtype, const int32_t *offsets,
                                  int E, int n, int N, int K, int accumulate, GpuStream s, Err *e) {
    if (n < 0 || E < 1 || N < 1 || K < 1)
        return err_set(e, "gpu_matmul_grouped: shape n=%d N=%d K=%d E=%d out of range", n, N, K, E);
    if (accumulate && ydtype != GPU_F32) return err_set(e, "gpu_matmul_grouped: accumulate needs an fp32 output");
    if (!n) return 0;
    // Every expert's rows and weights start a multiple of K elements in: aligned when the bases are and K % 8 == 0.
    bool vec = K % 8 == 0 && aligned16(x) && aligned16(w);
    int yb = ydtype == GPU_BF16;
    if ((int64_t)n <= (int64_t)GROUPED_SMALL_AVG * E)
        return grouped_rows<Small>(dev(x), dev(w), y, yb, offsets, E, n, N, K, accumulate, vec, s, e);
    return grouped_rows<Large>(dev(x), dev(w), y, yb, offsets, E, n, N, K, accumulate, vec, s, e);
}

// dw_e [M, N] += a_e [M, k_e] · b_e [N, k_e]^T, the k_e = n_e rows of expert e, a_e = a + M r0 and b_e = b + N r0
// (each expert's rows transposed into a block of its own, as gpu_matmul_xtx_acc transposes them).
template <typename Cfg>
__global__ void __launch_bounds__(Cfg::THREADS)
    grouped_reduce_kernel(const bf16 *__restrict__ a, const bf16 *__restrict__ b, float *dw,
                          const int32_t *__restrict__ offsets, int M, int N) {
    int x = blockIdx.z, r0 = offsets[x], k = offsets[x + 1] - r0;
    if (!k) return;
    const bf16 *ae = a + (size_t)M * r0, *be = b + (size_t)N * r0;
    float *dwe = dw + (size_t)x * M * N;
    int m0 = blockIdx.y * Cfg::BM, n0 = blockIdx.x * Cfg::BN;
    // As gpu_matmul decides for a launch on these operands alone; both loads give the same tile.
    if (k % 8 == 0 && (uintptr_t)ae % 16 == 0 && (uintptr_t)be % 16 == 0)
        matmul_block<Cfg, true>(ae, be, NULL, dwe, 0, M, N, k, 1, m0, n0);
    else
        matmul_block<Cfg, false>(ae, be, NULL, dwe, 0, M, N, k, 1, m0, n0);
}

template <typename Cfg>
static cudaError_t launch_reduce(const bf16 *a, const bf16 *b, float *dw, const int32_t *offsets, int E, int M, int N,
                                 cudaStream_t s) {
    auto kernel = grouped_reduce_kernel<Cfg>;
    static bool smem_set = false;
    cudaError_t rc = smem_once<Cfg>(kernel, &smem_set);
    if (rc != cudaSuccess) return rc;
    dim3 grid((unsigned)((N + Cfg::BN - 1) / Cfg::BN), (unsigned)((M + Cfg::BM - 1) / Cfg::BM), (unsigned)E);
    kernel<<<grid, Cfg::THREADS, Cfg::SMEM, s>>>(a, b, dw, offsets, M, N);
    return cudaGetLastError();
}

// dst = each expert's rows of src [n, C] transposed into a block [C, n_e] of its own at C * offsets[e] (32 x 32
// tiles; a tile's rows may belong to several experts).
__global__ void group_transpose_kernel(const bf16 *src, const int32_t *offsets, int E, int n, int C, bf16 *dst) {
    __shared__ bf16 tile[32][33];
    __shared__ int row0[32], rows[32];
    int c0 = blockIdx.x * 32, r0 = blockIdx.y * 32;
    if (threadIdx.y == 0 && r0 + (int)threadIdx.x < n) {
        int r = r0 + threadIdx.x, x = moe_interval_of(offsets, E, r);
        row0[threadIdx.x] = offsets[x];
        rows[threadIdx.x] = r < offsets[x + 1] ? offsets[x + 1] - offsets[x] : 0;  // 0: past offsets[E], not written
    }
    for (int r = threadIdx.y; r < 32; r += blockDim.y)
        if (r0 + r < n && c0 + (int)threadIdx.x < C)
            tile[r][threadIdx.x] = src[(size_t)(r0 + r) * C + c0 + threadIdx.x];
    __syncthreads();
    int r = threadIdx.x;
    if (r0 + r >= n || !rows[r]) return;
    for (int c = threadIdx.y; c < 32; c += blockDim.y)
        if (c0 + c < C)
            dst[(size_t)C * row0[r] + (size_t)(c0 + c) * rows[r] + (r0 + r - row0[r])] = tile[r][c];
}

static int group_transpose(const bf16 *src, const int32_t *offsets, int E, int n, int C, bf16 *dst, cudaStream_t s,
                           Err *e) {
    if ((n + 31) / 32 > 65535) return err_set(e, "gpu_matmul_grouped_xtx_acc: n=%d rows out of range", n);
    group_transpose_kernel<<<dim3((unsigned)((C + 31) / 32), (unsigned)((n + 31) / 32)), dim3(32, 8), 0, s>>>(
        src, offsets, E, n, C, dst);
    return gpu_launched("grouped transpose", e);
}

extern "C" int gpu_matmul_grouped_xtx_acc(const Bf16 *dy, const Bf16 *x, const int32_t *offsets, int E, int n, int N,
                                          int K, float *dw, GpuStream s, Err *e) {
    if (n < 0 || E < 1 || E > 65535 || N < 1 || K < 1 || (int64_t)N > (int64_t)65535 * Large::BM)
        return err_set(e, "gpu_matmul_grouped_xtx_acc: shape n=%d N=%d K=%d E=%d out of range", n, N, K, E);
    if (!n) return 0;
    bf16 *buf = NULL;
    if (scratch((void **)&buf, ((size_t)N + K) * n * sizeof *buf, s, e)) return -1;
    bf16 *dyt = buf, *xt = buf + (size_t)N * n;
    int rc = group_transpose(dev(dy), offsets, E, n, N, dyt, s, e);
    if (!rc) rc = group_transpose(dev(x), offsets, E, n, K, xt, s, e);
    if (!rc) {
        // gpu_matmul's choice for an [N, K] output: the small tile for up to 16 rows.
        cudaError_t st = N <= 16 ? launch_reduce<Small>(dyt, xt, dw, offsets, E, N, K, s)
                                 : launch_reduce<Large>(dyt, xt, dw, offsets, E, N, K, s);
        rc = gpu_status(st, "grouped dW launch", e);
    }
    cudaFreeAsync(buf, s);
    return rc;
}

// dst[e] = src[e]^T for the E matrices [R, C] of src (experts without rows skipped: their products do not run).
__global__ void expert_transpose_kernel(const bf16 *src, const int32_t *offsets, int R, int C, bf16 *dst) {
    __shared__ bf16 tile[32][33];
    int x = blockIdx.z;
    if (offsets[x + 1] == offsets[x]) return;
    const bf16 *s = src + (size_t)x * R * C;
    bf16 *d = dst + (size_t)x * R * C;
    int c0 = blockIdx.x * 32, r0 = blockIdx.y * 32;
    for (int r = threadIdx.y; r < 32; r += blockDim.y)
        if (r0 + r < R && c0 + (int)threadIdx.x < C) tile[r][threadIdx.x] = s[(size_t)(r0 + r) * C + c0 + threadIdx.x];
    __syncthreads();
    for (int c = threadIdx.y; c < 32; c += blockDim.y)
        if (c0 + c < C && r0 + (int)threadIdx.x < R) d[(size_t)(c0 + c) * R + r0 + threadIdx.x] = tile[threadIdx.x][c];
}

extern "C" int gpu_matmul_grouped_xw(const Bf16 *x, const Bf16 *w, float *y, const int32_t *offsets, int E, int n,
                                     int N, int K, int accumulate, GpuStream s, Err *e) {
    if (n < 0 || E < 1 || E > 65535 || N < 1 || K < 1 || (N + 31) / 32 > 65535)
        return err_set(e, "gpu_matmul_grouped_xw: shape n=%d N=%d K=%d E=%d out of range", n, N, K, E);
    if (!n) return 0;
    Bf16 *wt = NULL;
    if (scratch((void **)&wt, (size_t)E * N * K * sizeof *wt, s, e)) return -1;
    expert_transpose_kernel<<<dim3((unsigned)((K + 31) / 32), (unsigned)((N + 31) / 32), (unsigned)E), dim3(32, 8), 0,
                              s>>>(dev(w), offsets, N, K, dev(wt));
    int rc = gpu_launched("expert weight transpose", e);
    if (!rc) rc = gpu_matmul_grouped(x, wt, y, GPU_F32, offsets, E, n, K, N, accumulate, s, e);
    cudaFreeAsync(wt, s);
    return rc;
}

// Host values as kernel arguments, a chunk per launch: the launch copies them, so nothing waits for the device.
#define ARG_VALUES 256
typedef struct {
    double v[ARG_VALUES];
} ArgValues;

__global__ void write_f64_kernel(ArgValues a, int n, double *dst) {
    if ((int)threadIdx.x < n) dst[threadIdx.x] = a.v[threadIdx.x];
}

extern "C" int gpu_write_f64(double *dst, const double *host, int n, GpuStream s, Err *e) {
    if (n < 0) return err_set(e, "gpu_write_f64: n=%d out of range", n);
    for (int i0 = 0; i0 < n; i0 += ARG_VALUES) {
        ArgValues a;
        int k = n - i0 < ARG_VALUES ? n - i0 : ARG_VALUES;
        memcpy(a.v, host + i0, (size_t)k * sizeof *host);
        write_f64_kernel<<<1, ARG_VALUES, 0, s>>>(a, k, dst + i0);
        if (gpu_launched("write f64", e)) return -1;
    }
    return 0;
}
