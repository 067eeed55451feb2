// The tile machinery of the batch-invariant bf16 matrix product (kernels/matmul.cu gpu_matmul, and the grouped
// expert products of kernels/moe_grouped.cu): every output (i, j) of y = x · w^T (+ bias) is acc = 0, then one
// 16x16x16 bf16 mma step per k0 = 0, 16, 32, ... in order (the k tail zero-filled), then + bias, then the store,
// whatever tile computes it. Operands stream through shared memory with cp.async in STAGES buffers.
#ifndef RLVR_MATMUL_TILE_CUH
#define RLVR_MATMUL_TILE_CUH

#include <mma.h>

#include "gpu_util.cuh"

using namespace nvcuda;

#define MMA 16

// 16-byte asynchronous copy global -> shared; src_bytes 0 fills zeros (rows or k beyond the matrix).
__device__ __forceinline__ void cp_async16(void *smem, const void *gmem, int src_bytes) {
    unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Block tile BM x BN, k tile BK, warp tile WM x WN, STAGES shared-memory buffers.
template <int BM_, int BN_, int BK_, int WM_, int WN_, int STAGES_>
struct Tiles {
    static constexpr int BM = BM_, BN = BN_, BK = BK_, WM = WM_, WN = WN_, STAGES = STAGES_;
    static constexpr int LD = BK + 8;  // padded row (bf16): 16-byte aligned, fewer bank conflicts
    static constexpr int WARPS = (BM / WM) * (BN / WN), THREADS = WARPS * 32;
    static constexpr int STAGE_ELEMS = (BM + BN) * LD;
    static constexpr size_t SMEM = (size_t)STAGES * STAGE_ELEMS * sizeof(bf16) > (size_t)WARPS * 256 * sizeof(float)
                                       ? (size_t)STAGES * STAGE_ELEMS * sizeof(bf16)
                                       : (size_t)WARPS * 256 * sizeof(float);
};
// Chosen by tests/gpu_bench_tiles.cu's sweep on an H200 (results/gpu.md): the fastest of its shapes at each end.
typedef Tiles<128, 128, 32, 64, 64, 4> Large;  // 4 warps of 64x64
typedef Tiles<16, 64, 128, 16, 16, 4> Small;   // 4 warps, deep k tile: more weight bytes in flight

// Rows r0.. of a [rows, K] matrix, k columns k0..k0+BK, into a [ROWS][LD] shared tile; zeros outside the matrix.
// VEC: 16-byte copies (K % 8 == 0 and aligned pointers), else element by element. Loading only moves values,
// so both paths give the same tile.
template <int ROWS, int BK, int LD, int THREADS, bool VEC>
__device__ __forceinline__ void load_tile(bf16 *dst, const bf16 *src, int rows, int K, int r0, int k0) {
    if constexpr (VEC) {
        constexpr int CHUNKS = ROWS * BK / 8;
        for (int c = threadIdx.x; c < CHUNKS; c += THREADS) {
            int r = c / (BK / 8), kc = (c % (BK / 8)) * 8;
            int gr = r0 + r, gk = k0 + kc;
            bool in = gr < rows && gk < K;
            cp_async16(dst + r * LD + kc, in ? src + (size_t)gr * K + gk : src, in ? 16 : 0);
        }
    } else {
        for (int c = threadIdx.x; c < ROWS * BK; c += THREADS) {
            int r = c / BK, kc = c % BK, gr = r0 + r, gk = k0 + kc;
            dst[r * LD + kc] = gr < rows && gk < K ? src[(size_t)gr * K + gk] : __float2bfloat16(0.f);
        }
    }
}

// One block's BM x BN tile of y at rows m0.., columns n0.. (every kernel that multiplies calls this: the order of
// the sums is defined once).
template <typename Cfg, bool VEC>
__device__ __forceinline__ void matmul_block(const bf16 *__restrict__ x, const bf16 *__restrict__ w,
                                             const float *__restrict__ bias, void *y, int y_bf16, int M, int N, int K,
                                             int accumulate, int m0, int n0) {
    constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, LD = Cfg::LD, ST = Cfg::STAGES;
    constexpr int FM = Cfg::WM / MMA, FN = Cfg::WN / MMA, WARPS_N = BN / Cfg::WN;
    extern __shared__ __align__(128) unsigned char smem_raw[];
    bf16 *smem = reinterpret_cast<bf16 *>(smem_raw);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int wm = (warp / WARPS_N) * Cfg::WM, wn = (warp % WARPS_N) * Cfg::WN;

    wmma::fragment<wmma::accumulator, MMA, MMA, MMA, float> acc[FM][FN];
#pragma unroll
    for (int i = 0; i < FM; i++)
#pragma unroll
        for (int j = 0; j < FN; j++) wmma::fill_fragment(acc[i][j], 0.f);

    const int KT = (K + BK - 1) / BK;
    auto stage_a = [&](int s) { return smem + s * Cfg::STAGE_ELEMS; };
    auto stage_b = [&](int s) { return smem + s * Cfg::STAGE_ELEMS + BM * LD; };
    auto load = [&](int s, int kt) {
        load_tile<BM, BK, LD, Cfg::THREADS, VEC>(stage_a(s), x, M, K, m0, kt * BK);
        load_tile<BN, BK, LD, Cfg::THREADS, VEC>(stage_b(s), w, N, K, n0, kt * BK);
    };
#pragma unroll
    for (int s = 0; s < ST - 1; s++) {
        if (s < KT) load(s, s);
        cp_async_commit();
    }
    for (int kt = 0; kt < KT; kt++) {
        cp_async_wait<ST - 2>();
        __syncthreads();  // tile kt is visible, and every warp is done with tile kt - 1's buffer
        int next = kt + ST - 1;
        if (next < KT) load(next % ST, next);
        cp_async_commit();
        const bf16 *a = stage_a(kt % ST), *b = stage_b(kt % ST);
#pragma unroll
        for (int kk = 0; kk < BK; kk += MMA) {
            wmma::fragment<wmma::matrix_a, MMA, MMA, MMA, bf16, wmma::row_major> fa[FM];
            wmma::fragment<wmma::matrix_b, MMA, MMA, MMA, bf16, wmma::col_major> fb[FN];
#pragma unroll
            for (int i = 0; i < FM; i++) wmma::load_matrix_sync(fa[i], a + (wm + i * MMA) * LD + kk, LD);
#pragma unroll
            for (int j = 0; j < FN; j++) wmma::load_matrix_sync(fb[j], b + (wn + j * MMA) * LD + kk, LD);
#pragma unroll
            for (int i = 0; i < FM; i++)
#pragma unroll
                for (int j = 0; j < FN; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
    }
    cp_async_wait<0>();
    __syncthreads();  // the operand buffers become each warp's 16x16 output scratch
    float *scratch = reinterpret_cast<float *>(smem_raw) + warp * 256;
#pragma unroll
    for (int i = 0; i < FM; i++)
#pragma unroll
        for (int j = 0; j < FN; j++) {
            wmma::store_matrix_sync(scratch, acc[i][j], MMA, wmma::mem_row_major);
            __syncwarp();
            for (int el = lane; el < 256; el += 32) {
                int gm = m0 + wm + i * MMA + el / MMA, gn = n0 + wn + j * MMA + el % MMA;
                if (gm >= M || gn >= N) continue;
                float v = scratch[el];
                if (bias) v = __fadd_rn(v, bias[gn]);
                size_t o = (size_t)gm * N + gn;
                if (y_bf16) reinterpret_cast<bf16 *>(y)[o] = __float2bfloat16(v);
                else {
                    float *yf = reinterpret_cast<float *>(y);
                    yf[o] = accumulate ? __fadd_rn(yf[o], v) : v;
                }
            }
            __syncwarp();
        }
}

#endif
