// Fixed-order forward matmul: 2x4 / 1x4 / 1x1 register tiles of 8-lane accumulators, cache blocks over rows and columns
// only (never over k), OpenMP over blocks. See matmul.h for the order every output is summed in.
// The same kernel is compiled for AVX2 and for the build's baseline (Makefile MARCH): both do the same IEEE
// operations in the same order (separate multiplies and adds, or fused ones when MARCH has FMA, in both), so within
// a build the bits do not depend on which one the CPU runs, nor on the thread count.
#include "model/matmul.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

typedef float v8f __attribute__((vector_size(32)));

#define LANES 8
#define ROW_BLOCK 32
#define COL_BLOCK 64

// acc += a * b lane by lane: one fused multiply-add when the build targets FMA (MARCH), else a multiply then an
// add. Either way the same for every M, so the order of matmul.h holds within a build.
#if defined(__FMA__) && defined(__AVX__)
#include <immintrin.h>
#define MAC(acc, a, b) ((acc) = (v8f)_mm256_fmadd_ps((__m256)(a), (__m256)(b), (__m256)(acc)))
#else
#define MAC(acc, a, b) ((acc) += (a) * (b))
#endif

// Decode (one row) streams 4 weight rows per tile; the next tile's rows are prefetched a cache line per row per
// 16 floats, so the hardware prefetcher is not restarted on every short row.
#ifndef PREFETCH_TILES
#define PREFETCH_TILES 1
#endif

// Vectors pass by pointer only: no 32-byte vector crosses a function boundary (ABI independent of AVX).
#define LOAD8(v, p) memcpy(&(v), (p), sizeof(v8f))

// Lane reduction and tail, shared by every path so all outputs see identical arithmetic.
static inline __attribute__((always_inline)) float finish(const v8f *a, const float *x, const float *w, int k0, int K) {
    const v8f acc = *a;
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (int k = k0; k < K; k++) s += x[k] * w[k];
    return s;
}

static inline __attribute__((always_inline)) float dot(const float *x, const float *w, int K) {
    v8f acc = {0};
    int k8 = K & ~(LANES - 1);
    for (int k = 0; k < k8; k += LANES) {
        v8f xv, wv;
        LOAD8(xv, x + k);
        LOAD8(wv, w + k);
        MAC(acc, xv, wv);
    }
    return finish(&acc, x, w, k8, K);
}

// Output (i, j) from its accumulator: lane reduction, tail over k, bias.
static inline __attribute__((always_inline)) void store(const v8f *acc, const float *x, const float *w,
                                                        const float *bias, float *y, int k8, int K) {
    float s = finish(acc, x, w, k8, K);
    *y = bias ? s + *bias : s;
}

// 2 rows x 4 columns of outputs in named registers (arrays of vectors end up in memory at -O2).
static inline __attribute__((always_inline)) void tile_2x4(const float *restrict x, const float *restrict w,
                                                           const float *bias, float *restrict y, int K, int N) {
    v8f a00 = {0}, a01 = {0}, a02 = {0}, a03 = {0}, a10 = {0}, a11 = {0}, a12 = {0}, a13 = {0};
    const float *x1 = x + K, *w1 = w + K, *w2 = w + 2 * (size_t)K, *w3 = w + 3 * (size_t)K;
    int k8 = K & ~(LANES - 1);
    for (int k = 0; k < k8; k += LANES) {
        v8f p, q, b0, b1, b2, b3;
        LOAD8(p, x + k), LOAD8(q, x1 + k);
        LOAD8(b0, w + k), LOAD8(b1, w1 + k), LOAD8(b2, w2 + k), LOAD8(b3, w3 + k);
        MAC(a00, p, b0), MAC(a01, p, b1), MAC(a02, p, b2), MAC(a03, p, b3);
        MAC(a10, q, b0), MAC(a11, q, b1), MAC(a12, q, b2), MAC(a13, q, b3);
    }
    const float *ws[4] = {w, w1, w2, w3};
    v8f r0[4] = {a00, a01, a02, a03}, r1[4] = {a10, a11, a12, a13};
    for (int c = 0; c < 4; c++) {
        store(&r0[c], x, ws[c], bias ? bias + c : NULL, y + c, k8, K);
        store(&r1[c], x1, ws[c], bias ? bias + c : NULL, y + N + c, k8, K);
    }
}

// 1 row x 4 columns (decode and odd rows).
static inline __attribute__((always_inline)) void tile_1x4(const float *restrict x, const float *restrict w,
                                                           const float *bias, float *restrict y, int K) {
    v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    const float *w1 = w + K, *w2 = w + 2 * (size_t)K, *w3 = w + 3 * (size_t)K;
    const float *next = w + 4 * PREFETCH_TILES * (size_t)K;
    int k8 = K & ~(LANES - 1);
    for (int k = 0; k < k8; k += LANES) {
        v8f p, b0, b1, b2, b3;
        if (!(k & 15))
            for (int r = 0; r < 4; r++) __builtin_prefetch(next + (size_t)r * K + k);
        LOAD8(p, x + k);
        LOAD8(b0, w + k), LOAD8(b1, w1 + k), LOAD8(b2, w2 + k), LOAD8(b3, w3 + k);
        MAC(a0, p, b0), MAC(a1, p, b1), MAC(a2, p, b2), MAC(a3, p, b3);
    }
    const float *ws[4] = {w, w1, w2, w3};
    v8f r[4] = {a0, a1, a2, a3};
    for (int c = 0; c < 4; c++) store(&r[c], x, ws[c], bias ? bias + c : NULL, y + c, k8, K);
}

// A single output (edge columns).
static inline __attribute__((always_inline)) void tile_1x1(const float *restrict x, const float *restrict w,
                                                           const float *bias, float *restrict y, int K) {
    float s = dot(x, w, K);
    *y = bias ? s + *bias : s;
}

// One cache block: rows [i0, i1) x columns [j0, j1).
static inline __attribute__((always_inline)) void block(const float *x, const float *w, const float *bias, float *y,
                                                        int i0, int i1, int j0, int j1, int N, int K) {
    int i = i0;
    for (; i + 2 <= i1; i += 2) {
        int j = j0;
        for (; j + 4 <= j1; j += 4)
            tile_2x4(x + (size_t)i * K, w + (size_t)j * K, bias ? bias + j : NULL, y + (size_t)i * N + j, K, N);
        for (; j < j1; j++)
            for (int r = 0; r < 2; r++)
                tile_1x1(x + (size_t)(i + r) * K, w + (size_t)j * K, bias ? bias + j : NULL,
                         y + (size_t)(i + r) * N + j, K);
    }
    for (; i < i1; i++) {
        int j = j0;
        for (; j + 4 <= j1; j += 4)
            tile_1x4(x + (size_t)i * K, w + (size_t)j * K, bias ? bias + j : NULL, y + (size_t)i * N + j, K);
        for (; j < j1; j++)
            tile_1x1(x + (size_t)i * K, w + (size_t)j * K, bias ? bias + j : NULL, y + (size_t)i * N + j, K);
    }
}

__attribute__((target("avx2"))) static void block_avx2(const float *x, const float *w, const float *bias, float *y,
                                                       int i0, int i1, int j0, int j1, int N, int K) {
    block(x, w, bias, y, i0, i1, j0, j1, N, K);
}

static void block_base(const float *x, const float *w, const float *bias, float *y, int i0, int i1, int j0, int j1,
                       int N, int K) {
    block(x, w, bias, y, i0, i1, j0, j1, N, K);
}

__attribute__((target("avx2"))) static float dot_avx2(const float *x, const float *w, int K) { return dot(x, w, K); }
static float dot_base(const float *x, const float *w, int K) { return dot(x, w, K); }

float matmul_dot(const float *x, const float *w, int K) {
    return __builtin_cpu_supports("avx2") ? dot_avx2(x, w, K) : dot_base(x, w, K);
}

void matmul_xwt(const float *x, const float *w, const float *bias, float *y, int M, int N, int K) {
    matmul_xwt_isa(x, w, bias, y, M, N, K, __builtin_cpu_supports("avx2"));
}

void matmul_xwt_isa(const float *x, const float *w, const float *bias, float *y, int M, int N, int K, int avx2) {
    int row_blocks = (M + ROW_BLOCK - 1) / ROW_BLOCK, col_blocks = (N + COL_BLOCK - 1) / COL_BLOCK;
    long n_blocks = (long)row_blocks * col_blocks;
    // Column-major block order: consecutive blocks share a slice of w, the larger operand in decode.
#pragma omp parallel for schedule(static) if (n_blocks > 1 && (double)M * N * K > 1e5)
    for (long b = 0; b < n_blocks; b++) {
        int rb = (int)(b % row_blocks), cb = (int)(b / row_blocks);
        int i0 = rb * ROW_BLOCK, j0 = cb * COL_BLOCK;
        int i1 = i0 + ROW_BLOCK < M ? i0 + ROW_BLOCK : M, j1 = j0 + COL_BLOCK < N ? j0 + COL_BLOCK : N;
        (avx2 ? block_avx2 : block_base)(x, w, bias, y, i0, i1, j0, j1, N, K);
    }
}

// dst[C, R] = src[R, C]^T in 32 x 32 tiles.
static void transpose(const float *src, float *dst, int R, int C) {
    enum { B = 32 };
    int rb = (R + B - 1) / B, cb = (C + B - 1) / B;
#pragma omp parallel for schedule(static) if ((double)R * C > 1e5)
    for (long b = 0; b < (long)rb * cb; b++) {
        int r0 = (int)(b / cb) * B, c0 = (int)(b % cb) * B;
        int r1 = r0 + B < R ? r0 + B : R, c1 = c0 + B < C ? c0 + B : C;
        for (int r = r0; r < r1; r++)
            for (int c = c0; c < c1; c++) dst[(size_t)c * R + r] = src[(size_t)r * C + c];
    }
}

// y[i] (+)= t[i]: one add per element, so the bits do not depend on the thread count.
static void add_or_copy(float *y, const float *t, size_t n, bool accumulate) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) y[i] = accumulate ? y[i] + t[i] : t[i];
}

void matmul_xw(const float *x, const float *w, float *y, int M, int N, int K, bool accumulate) {
    float *wt = xmalloc((size_t)N * K * sizeof *wt + 1), *t = xmalloc((size_t)M * K * sizeof *t + 1);
    transpose(w, wt, N, K);
    matmul_xwt(x, wt, NULL, t, M, K, N);
    add_or_copy(y, t, (size_t)M * K, accumulate);
    free(wt), free(t);
}

void matmul_xtx_acc(const float *dy, const float *x, float *dw, int T, int N, int K) {
    float *dyt = xmalloc((size_t)N * T * sizeof *dyt + 1), *xt = xmalloc((size_t)K * T * sizeof *xt + 1),
          *t = xmalloc((size_t)N * K * sizeof *t + 1);
    transpose(dy, dyt, T, N);
    transpose(x, xt, T, K);
    matmul_xwt(dyt, xt, NULL, t, N, K, T);
    add_or_copy(dw, t, (size_t)N * K, true);
    free(dyt), free(xt), free(t);
}
