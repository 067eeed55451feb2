// Batch-invariant bf16 matrix product on tensor cores: y = x · w^T (+ bias), fp32 accumulation, no split-K.
// Every output (i, j) is computed by the same steps whatever M, N and the tile it falls in: acc = 0, then one
// 16x16x16 bf16 mma step per k0 = 0, 16, 32, ... in order (the k tail zero-filled), then + bias, then the store.
// Two tile shapes share that order: a small one for few rows (decode, where the weights' read is the cost) and a
// large one; the tile only decides which outputs a block computes, never how (tests/gpu_check.c proves row i's
// bits equal for M = 1, 7, 256, 4096). Operands stream through shared memory with cp.async in STAGES buffers.
#include "matmul_tile.cuh"

template <typename Cfg, bool VEC>
__global__ void __launch_bounds__(Cfg::THREADS) matmul_kernel(const bf16 *__restrict__ x, const bf16 *__restrict__ w,
                                                               const float *__restrict__ bias, void *y, int y_bf16,
                                                               int M, int N, int K, int accumulate) {
    matmul_block<Cfg, VEC>(x, w, bias, y, y_bf16, M, N, K, accumulate, blockIdx.y * Cfg::BM, blockIdx.x * Cfg::BN);
}

template <typename Cfg, bool VEC>
static cudaError_t launch(const bf16 *x, const bf16 *w, const float *bias, void *y, int y_bf16, int M, int N, int K,
                          int accumulate, cudaStream_t s) {
    auto kernel = matmul_kernel<Cfg, VEC>;
    static bool smem_set = false;  // once per kernel (the attribute is per device; rlvr uses one device per rank)
    if (!smem_set) {
        cudaError_t rc = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)Cfg::SMEM);
        if (rc != cudaSuccess) return rc;
        smem_set = true;
    }
    dim3 grid((unsigned)((N + Cfg::BN - 1) / Cfg::BN), (unsigned)((M + Cfg::BM - 1) / Cfg::BM));
    kernel<<<grid, Cfg::THREADS, Cfg::SMEM, s>>>(x, w, bias, y, y_bf16, M, N, K, accumulate);
    return cudaGetLastError();
}

// Rows per block of the small tile: up to this many rows take it (decode and small batches).
#define SMALL_M 16

extern "C" int gpu_matmul(const Bf16 *x, const Bf16 *w, const float *bias, void *y, GpuDtype ydtype, int M, int N,
                          int K, int accumulate, GpuStream s, Err *e) {
    if (M < 0 || N < 1 || K < 1 || (int64_t)M > (int64_t)65535 * Large::BM)
        return err_set(e, "gpu_matmul: shape M=%d N=%d K=%d out of range", M, N, K);
    if (accumulate && ydtype != GPU_F32) return err_set(e, "gpu_matmul: accumulate needs an fp32 output");
    if (!M) return 0;
    bool vec = K % 8 == 0 && ((uintptr_t)x | (uintptr_t)w) % 16 == 0;
    int yb = ydtype == GPU_BF16;
    cudaError_t rc;
    if (M <= SMALL_M)
        rc = vec ? launch<Small, true>(dev(x), dev(w), bias, y, yb, M, N, K, accumulate, s)
                 : launch<Small, false>(dev(x), dev(w), bias, y, yb, M, N, K, accumulate, s);
    else
        rc = vec ? launch<Large, true>(dev(x), dev(w), bias, y, yb, M, N, K, accumulate, s)
                 : launch<Large, false>(dev(x), dev(w), bias, y, yb, M, N, K, accumulate, s);
    return gpu_status(rc, "matmul launch", e);
}

// 32 x 32 tiles through shared memory (one padding column against bank conflicts).
__global__ void transpose_kernel(const bf16 *src, bf16 *dst, int R, int C) {
    __shared__ bf16 tile[32][33];
    int c0 = blockIdx.x * 32, r0 = blockIdx.y * 32;
    for (int r = threadIdx.y; r < 32; r += blockDim.y)
        if (r0 + r < R && c0 + (int)threadIdx.x < C) tile[r][threadIdx.x] = src[(size_t)(r0 + r) * C + c0 + threadIdx.x];
    __syncthreads();
    for (int c = threadIdx.y; c < 32; c += blockDim.y)
        if (c0 + c < C && r0 + (int)threadIdx.x < R) dst[(size_t)(c0 + c) * R + r0 + threadIdx.x] = tile[threadIdx.x][c];
}

extern "C" int gpu_transpose(const Bf16 *src, Bf16 *dst, int R, int C, GpuStream s, Err *e) {
    if (R < 0 || C < 0 || R / 32 >= 65535 || C / 32 >= 2147483647)
        return err_set(e, "gpu_transpose: shape [%d, %d] out of range", R, C);
    if (!R || !C) return 0;
    transpose_kernel<<<dim3((unsigned)((C + 31) / 32), (unsigned)((R + 31) / 32)), dim3(32, 8), 0, s>>>(dev(src), dev(dst),
                                                                                                     R, C);
    return gpu_launched("transpose", e);
}

static int scratch(void **p, size_t bytes, GpuStream s, Err *e) {
    return gpu_status(cudaMallocAsync(p, bytes ? bytes : 1, s), "scratch allocation", e);
}

extern "C" int gpu_matmul_xw(const Bf16 *x, const Bf16 *w, float *y, int M, int N, int K, int accumulate, GpuStream s,
                             Err *e) {
    void *wt = NULL;
    if (scratch(&wt, (size_t)N * K * sizeof(Bf16), s, e)) return -1;
    int rc = gpu_transpose(w, (Bf16 *)wt, N, K, s, e);
    if (!rc) rc = gpu_matmul(x, (const Bf16 *)wt, NULL, y, GPU_F32, M, K, N, accumulate, s, e);
    cudaFreeAsync(wt, s);
    return rc;
}

extern "C" int gpu_matmul_xtx_acc(const Bf16 *dy, const Bf16 *x, float *dw, int T, int N, int K, GpuStream s, Err *e) {
    void *buf = NULL;
    if (scratch(&buf, ((size_t)N + K) * T * sizeof(Bf16), s, e)) return -1;
    Bf16 *dyt = (Bf16 *)buf, *xt = dyt + (size_t)N * T;
    int rc = gpu_transpose(dy, dyt, T, N, s, e);
    if (!rc) rc = gpu_transpose(x, xt, T, K, s, e);
    if (!rc && T > 0) rc = gpu_matmul(dyt, xt, NULL, dw, GPU_F32, N, K, T, 1, s, e);
    cudaFreeAsync(buf, s);
    return rc;
}

// One thread per column: db[j] += dy[t, j] for t in order.
__global__ void bias_grad_kernel(const float *dy, int T, int N, float *db) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= N) return;
    float acc = db[j];
    for (int t = 0; t < T; t++) acc = __fadd_rn(acc, dy[(size_t)t * N + j]);
    db[j] = acc;
}

extern "C" int gpu_bias_grad(const float *dy, int T, int N, float *db, GpuStream s, Err *e) {
    if (T < 0 || N < 1) return err_set(e, "gpu_bias_grad: shape [%d, %d] out of range", T, N);
    if (!T) return 0;
    bias_grad_kernel<<<(N + 127) / 128, 128, 0, s>>>(dy, T, N, db);
    return gpu_launched("bias gradient", e);
}
