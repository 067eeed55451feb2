// Fixed-order forward matmul: 2x4 register tiles of 4-lane accumulators, cache blocks over rows and columns
// only (never over k), OpenMP over blocks. See matmul.h for the order every output is summed in.
#include "matmul.h"

#include <string.h>

typedef float v4f __attribute__((vector_size(16)));

#define ROW_BLOCK 32
#define COL_BLOCK 64

static inline v4f load4(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

// Lane reduction and tail, shared by every path so all outputs see identical arithmetic.
static inline float finish(v4f acc, const float *x, const float *w, int k0, int K) {
    float s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (int k = k0; k < K; k++) s += x[k] * w[k];
    return s;
}

float matmul_dot(const float *x, const float *w, int K) {
    v4f acc = {0, 0, 0, 0};
    int k4 = K & ~3;
    for (int k = 0; k < k4; k += 4) acc += load4(x + k) * load4(w + k);
    return finish(acc, x, w, k4, K);
}

// R x C outputs (R <= 2, C <= 4; constants after inlining) at rows x[0..R), columns w[0..C).
static inline __attribute__((always_inline)) void tile(const float *restrict x, const float *restrict w,
                                                       const float *bias, float *restrict y, int R, int C, int K,
                                                       int N) {
    v4f acc[2][4] = {{{0}}};
    int k4 = K & ~3;
    for (int k = 0; k < k4; k += 4) {
        v4f xv[2], wv[4];
        for (int r = 0; r < R; r++) xv[r] = load4(x + (size_t)r * K + k);
        for (int c = 0; c < C; c++) wv[c] = load4(w + (size_t)c * K + k);
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) acc[r][c] += xv[r] * wv[c];
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            float s = finish(acc[r][c], x + (size_t)r * K, w + (size_t)c * K, k4, K);
            y[(size_t)r * N + c] = bias ? s + bias[c] : s;
        }
}

// One cache block: rows [i0, i1) x columns [j0, j1).
static void block(const float *x, const float *w, const float *bias, float *y, int i0, int i1, int j0, int j1, int N,
                  int K) {
    int i = i0;
    for (; i + 2 <= i1; i += 2) {
        int j = j0;
        for (; j + 4 <= j1; j += 4)
            tile(x + (size_t)i * K, w + (size_t)j * K, bias ? bias + j : NULL, y + (size_t)i * N + j, 2, 4, K, N);
        for (; j < j1; j++)
            tile(x + (size_t)i * K, w + (size_t)j * K, bias ? bias + j : NULL, y + (size_t)i * N + j, 2, 1, K, N);
    }
    for (; i < i1; i++) {
        int j = j0;
        for (; j + 4 <= j1; j += 4)
            tile(x + (size_t)i * K, w + (size_t)j * K, bias ? bias + j : NULL, y + (size_t)i * N + j, 1, 4, K, N);
        for (; j < j1; j++)
            tile(x + (size_t)i * K, w + (size_t)j * K, bias ? bias + j : NULL, y + (size_t)i * N + j, 1, 1, K, N);
    }
}

void matmul_xwt(const float *x, const float *w, const float *bias, float *y, int M, int N, int K) {
    int row_blocks = (M + ROW_BLOCK - 1) / ROW_BLOCK, col_blocks = (N + COL_BLOCK - 1) / COL_BLOCK;
    long n_blocks = (long)row_blocks * col_blocks;
    // Column-major block order: consecutive blocks share a slice of w, the larger operand in decode.
#pragma omp parallel for schedule(static) if (n_blocks > 1 && (double)M * N * K > 1e5)
    for (long b = 0; b < n_blocks; b++) {
        int rb = (int)(b % row_blocks), cb = (int)(b / row_blocks);
        int i0 = rb * ROW_BLOCK, j0 = cb * COL_BLOCK;
        int i1 = i0 + ROW_BLOCK < M ? i0 + ROW_BLOCK : M, j1 = j0 + COL_BLOCK < N ? j0 + COL_BLOCK : N;
        block(x, w, bias, y, i0, i1, j0, j1, N, K);
    }
}
