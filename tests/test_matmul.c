// The fixed-order products of src/model/matmul.c and matmul_backward.c. Built into the unit binary at the build's
// MARCH, and again at x86-64-v3 (the 3x4 FMA tiles) and x86-64-v4 (the AVX-512 paired tiles and vectors) so that
// every kernel a MARCH=native build can run is checked on a machine that has it (tests/unit_isa.sh).
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "base/error.h"
#include "base/rng.h"
#include "model/matmul.h"

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

Test(matmul, rows_independent_of_batch) {
    enum { M = 70, N = 150, K = 37 };
    float *x = xmalloc(M * K * 4), *w = xmalloc(N * K * 4), *b = xmalloc(N * 4), *y = xmalloc(M * N * 4), yr[N];
    Rng r = rng_at(9, 0, 0, 0);
    for (int i = 0; i < M * K; i++) x[i] = (float)rng_normal(&r);
    for (int i = 0; i < N * K; i++) w[i] = (float)rng_normal(&r);
    for (int i = 0; i < N; i++) b[i] = (float)rng_normal(&r);
    omp_set_num_threads(3);  // several blocks per thread; single rows below on one thread
    matmul_xwt(x, w, b, y, M, N, K);
    omp_set_num_threads(1);
    for (int i = 0; i < M; i++) {
        matmul_xwt(x + i * K, w, b, yr, 1, N, K);
        cr_assert_eq(memcmp(yr, y + i * N, sizeof yr), 0, "row %d", i);
        double ref = b[5];
        for (int k = 0; k < K; k++) ref += (double)x[i * K + k] * w[5 * K + k];
        cr_assert(fabs(ref - y[i * N + 5]) < 1e-4, "row %d: %g vs %g", i, y[i * N + 5], ref);
        for (int j = 0; j < N; j++)  // the tiles' vectorised lane reduction sums in matmul_dot's order
            cr_assert_eq(y[i * N + j], matmul_dot(x + i * K, w + j * K, K) + b[j], "(%d, %d)", i, j);
    }
    if (__builtin_cpu_supports("avx2")) {  // the baseline kernel gives the same bits as the AVX2 one
        float *y0 = xmalloc(M * N * 4);
        matmul_xwt_isa(x, w, b, y0, M, N, K, 0);
        cr_assert_eq(memcmp(y0, y, M * N * 4), 0);
        free(y0);
    }
    free(x), free(w), free(b), free(y);
}

// A block's rows in every kind of tile at once: octets, pairs and an odd row where the build pairs rows (45 = 32 + 8
// + 2 + 2 + 1), triples, a pair and an odd row where it takes three (32 = 10 x 3 + 2, 13 = 4 x 3 + 1), with a k tail
// and without one (where the tiles add the bias and store as vectors), over K in one pass and K in three chunks
// (matmul.c's K_CHUNK, where the octets park their accumulators between chunks), and a lone octet in the second row
// block (40 = 32 + 8), which runs K in one pass, past K_CHUNK too (16 four-column tiles in the first 64 columns, one
// and two lone columns in the last 6); each output has the bits of matmul_dot, on 1 and 2 threads.
Test(matmul, mixed_tiles_sum_in_dot_order) {
    enum { N = 70 };
    static const int Ks[] = {45, 1701, 48, 1600}, Ms[] = {45, 40};
    for (int q = 0; q < N_OF(Ks) * N_OF(Ms); q++) {
        int K = Ks[q % N_OF(Ks)], M = Ms[q / N_OF(Ks)];
        float *x = xmalloc((size_t)M * K * 4), *w = xmalloc((size_t)N * K * 4), *b = xmalloc(N * 4),
              *y = xmalloc((size_t)M * N * 4);
        Rng r = rng_at(11, 0, 0, (uint64_t)q);
        for (int i = 0; i < M * K; i++) x[i] = (float)rng_normal(&r);
        for (int i = 0; i < N * K; i++) w[i] = (float)rng_normal(&r);
        for (int i = 0; i < N; i++) b[i] = (float)rng_normal(&r);
        for (int threads = 1; threads <= 2; threads++) {
            omp_set_num_threads(threads);
            matmul_xwt(x, w, b, y, M, N, K);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++)
                    cr_assert_eq(y[i * N + j], matmul_dot(x + i * K, w + j * K, K) + b[j],
                                 "(%d, %d), M %d, K %d, %d threads", i, j, M, K, threads);
        }
        omp_set_num_threads(1);
        free(x), free(w), free(b), free(y);
    }
}

// The longest inner sum the layer loop may take: the o projection's K = Hq hd = 1024 x 4096 = 2^22 ([model] ranges).
// An octet of rows (AVX-512 builds) sums it in 5462 chunks, whose first index c (k8 / 8) / chunks * 8 passed 2^31
// from c = 4096 in int; every output must keep matmul_dot's bits.
Test(matmul, octets_longest_inner_sum) {
    enum { M = 16, N = 4, K = 1 << 22 };
    float *x = xmalloc((size_t)M * K * 4), *w = xmalloc((size_t)N * K * 4), y[M * N];
    for (size_t i = 0; i < (size_t)M * K; i++) x[i] = (float)(i * 2654435761u % 2001) / 1000 - 1;  // fast, varied
    for (size_t i = 0; i < (size_t)N * K; i++) w[i] = x[(i * 7) % ((size_t)M * K)];
    omp_set_num_threads(2);
    matmul_xwt(x, w, NULL, y, M, N, K);
    omp_set_num_threads(1);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            cr_assert_eq(y[i * N + j], matmul_dot(x + (size_t)i * K, w + (size_t)j * K, K), "(%d, %d)", i, j);
    free(x), free(w);
}

// Three products of one x in one call (matmul_xwt_parts: a layer's q, k and v), with widths that end mid-block (70)
// and in a lone column (129), one with a bias and one without, on rows in every kind of tile (1, 8 and 45): each
// part's outputs have the bits of its own matmul_xwt and of matmul_dot, on 1 and 3 threads, with either kernel, and
// called from inside another parallel region (a team smaller than the product's runs were set for).
Test(matmul, parts_have_each_products_bits) {
    enum { K = 100, P = 3 };
    static const int Ns[P] = {70, 129, 64}, Ms[] = {1, 8, 45};
    for (int q = 0; q < N_OF(Ms); q++) {
        int M = Ms[q];
        float *x = xmalloc((size_t)M * K * 4), *w[P], *b[P], *y[P], *ref[P];
        Rng r = rng_at(15, 0, 0, (uint64_t)q);
        for (int i = 0; i < M * K; i++) x[i] = (float)rng_normal(&r);
        MatmulPart parts[P];
        for (int p = 0; p < P; p++) {
            w[p] = xmalloc((size_t)Ns[p] * K * 4), b[p] = p == 1 ? NULL : xmalloc((size_t)Ns[p] * 4);
            y[p] = xmalloc((size_t)M * Ns[p] * 4), ref[p] = xmalloc((size_t)M * Ns[p] * 4);
            for (int i = 0; i < Ns[p] * K; i++) w[p][i] = (float)rng_normal(&r);
            for (int i = 0; b[p] && i < Ns[p]; i++) b[p][i] = (float)rng_normal(&r);
            parts[p] = (MatmulPart){w[p], b[p], y[p], Ns[p]};
            matmul_xwt(x, w[p], b[p], ref[p], M, Ns[p], K);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < Ns[p]; j++)
                    cr_assert_eq(ref[p][i * Ns[p] + j], matmul_dot(x + i * K, w[p] + j * K, K) + (b[p] ? b[p][j] : 0),
                                 "part %d (%d, %d), M %d", p, i, j, M);
        }
        for (int run = 0; run < 4; run++) {
            int threads = run == 0 ? 1 : 3, avx2 = run != 2 ? __builtin_cpu_supports("avx2") : 0;
            omp_set_num_threads(threads);
            for (int p = 0; p < P; p++) memset(y[p], 0xff, (size_t)M * Ns[p] * 4);  // NaN: every output written
            if (run < 3) {
                matmul_xwt_parts_isa(x, M, K, parts, P, avx2);
            } else {  // inside another parallel region: a team of one, not the three the product asks for
#pragma omp parallel num_threads(2)
#pragma omp single
                matmul_xwt_parts_isa(x, M, K, parts, P, avx2);
            }
            for (int p = 0; p < P; p++)
                cr_assert_eq(memcmp(y[p], ref[p], (size_t)M * Ns[p] * 4), 0, "part %d, M %d, run %d, avx2 %d", p, M,
                             run, avx2);
        }
        omp_set_num_threads(1);
        for (int p = 0; p < P; p++) free(w[p]), free(b[p]), free(y[p]), free(ref[p]);
        free(x);
    }
}

// What matmul_xwt_parts_then's callback sees: every block of outputs once, each already final in every part.
typedef struct {
    const float *const *ref;  // each part's expected outputs
    float *const *y;
    int parts, N;
    int *visits;  // per output
    int stale;    // outputs not yet final when their block was handed over
} ThenLog;

static void log_block(void *ctx, int i0, int i1, int j0, int j1) {
    ThenLog *t = ctx;
    for (int i = i0; i < i1; i++)
        for (int j = j0; j < j1; j++) {
            __atomic_fetch_add(&t->visits[i * t->N + j], 1, __ATOMIC_RELAXED);
            for (int p = 0; p < t->parts; p++)
                if (memcmp(&t->y[p][i * t->N + j], &t->ref[p][i * t->N + j], 4))
                    __atomic_fetch_add(&t->stale, 1, __ATOMIC_RELAXED);
        }
}

// matmul_xwt_parts_then (a layer's gate and up with SwiGLU after each block): two parts of one width, ending mid-block
// (70) or in a lone column (129), on rows in one and in several row blocks (1, 8, 45, 70): each part's outputs have
// matmul_xwt's bits, and the callback meets every output once, after all its parts are final, on 1 and 3 threads and
// from inside another parallel region.
Test(matmul, parts_then_visit_each_final_block_once) {
    enum { K = 100, P = 2 };
    static const int Ns[] = {70, 129}, Ms[] = {1, 8, 45, 70};
    for (int a = 0; a < N_OF(Ns); a++)
        for (int q = 0; q < N_OF(Ms); q++) {
            int M = Ms[q], N = Ns[a];
            Rng r = rng_at(16, 0, (uint64_t)a, (uint64_t)q);
            float *x = xmalloc((size_t)M * K * 4), *w[P], *y[P], *ref[P];
            for (int i = 0; i < M * K; i++) x[i] = (float)rng_normal(&r);
            MatmulPart parts[P];
            for (int p = 0; p < P; p++) {
                w[p] = xmalloc((size_t)N * K * 4), y[p] = xmalloc((size_t)M * N * 4), ref[p] = xmalloc((size_t)M * N * 4);
                for (int i = 0; i < N * K; i++) w[p][i] = (float)rng_normal(&r);
                parts[p] = (MatmulPart){w[p], NULL, y[p], N};
                matmul_xwt(x, w[p], NULL, ref[p], M, N, K);
            }
            int *visits = xmalloc((size_t)M * N * sizeof *visits);
            for (int run = 0; run < 3; run++) {
                omp_set_num_threads(run == 0 ? 1 : 3);
                for (int p = 0; p < P; p++) memset(y[p], 0xff, (size_t)M * N * 4);
                memset(visits, 0, (size_t)M * N * sizeof *visits);
                ThenLog log = {(const float *const *)ref, y, P, N, visits, 0};
                MatmulThen then = {log_block, &log};
                if (run < 2) {
                    matmul_xwt_parts_then(x, M, K, parts, P, then);
                } else {
#pragma omp parallel num_threads(2)
#pragma omp single
                    matmul_xwt_parts_then(x, M, K, parts, P, then);
                }
                for (int p = 0; p < P; p++)
                    cr_assert_eq(memcmp(y[p], ref[p], (size_t)M * N * 4), 0, "part %d, M %d, N %d, run %d", p, M, N, run);
                for (int i = 0; i < M * N; i++)
                    cr_assert_eq(visits[i], 1, "output %d of %d x %d visited %d times, run %d", i, M, N, visits[i], run);
                cr_assert_eq(log.stale, 0, "%d outputs handed over before they were final, M %d, N %d, run %d",
                             log.stale, M, N, run);
            }
            omp_set_num_threads(1);
            for (int p = 0; p < P; p++) free(w[p]), free(y[p]), free(ref[p]);
            free(x), free(visits);
        }
}

// Batch 1 up to matmul.c's IN_ORDER_MAX_K, one output at a time in two steps of 8 a loop (K = 45 and 56: an odd
// number of steps, with a k tail and without; 48 and 2048: an even number), and past it, where a whole block of
// columns is read in four quarter streams (two whole blocks, then 22 columns one output at a time), with a k tail and
// without: each output has the bits of matmul_dot, on 1 and 2 threads.
Test(matmul, batch1_rows_sum_in_dot_order) {
    enum { N = 150 };
    static const int Ks[] = {45, 56, 48, 2048, 2101, 2304};
    for (int q = 0; q < N_OF(Ks); q++) {
        int K = Ks[q];
        float *x = xmalloc((size_t)K * 4), *w = xmalloc((size_t)N * K * 4), b[N], y[N];
        Rng r = rng_at(13, 0, 0, (uint64_t)q);
        for (int i = 0; i < K; i++) x[i] = (float)rng_normal(&r);
        for (int i = 0; i < N * K; i++) w[i] = (float)rng_normal(&r);
        for (int i = 0; i < N; i++) b[i] = (float)rng_normal(&r);
        for (int threads = 1; threads <= 2; threads++) {
            omp_set_num_threads(threads);
            matmul_xwt(x, w, b, y, 1, N, K);
            for (int j = 0; j < N; j++)
                cr_assert_eq(y[j], matmul_dot(x, w + (size_t)j * K, K) + b[j], "column %d, K %d, %d threads", j, K,
                             threads);
            double ref = b[77];
            for (int k = 0; k < K; k++) ref += (double)x[k] * w[77 * (size_t)K + k];
            cr_assert(fabs(ref - y[77]) < 1e-3, "K %d: %g vs %g", K, y[77], ref);
        }
        omp_set_num_threads(1);
        free(x), free(w);
    }
}

// The dot products attention takes (matmul_dots: one x against rows of w; matmul_dot_pairs: x and w rows in pairs,
// or one w row for all, ldw 0), with a k tail and without, outputs ldy apart: each the bits of matmul_dot, and near a
// float64 reference.
Test(matmul, dots_sum_in_dot_order) {
    enum { N = 13, LD = 80, LDY = 3 };
    static const int Ks[] = {37, 64};
    float *x = xmalloc(N * LD * 4), *w = xmalloc(N * LD * 4), y[N * LDY];
    Rng r = rng_at(12, 0, 0, 0);
    for (int i = 0; i < N * LD; i++) x[i] = (float)rng_normal(&r), w[i] = (float)rng_normal(&r);
    for (int q = 0; q < N_OF(Ks); q++) {
        int K = Ks[q];
        matmul_dots(x, w, LD, N, K, y);
        for (int i = 0; i < N; i++) cr_assert_eq(y[i], matmul_dot(x, w + i * LD, K), "dots %d, K %d", i, K);
        for (size_t ldw = 0; ldw <= LD; ldw += LD) {
            matmul_dot_pairs(x, LD, w, ldw, N, K, y, LDY);
            for (int i = 0; i < N; i++) {
                const float *xi = x + i * LD, *wi = w + i * ldw;
                double ref = 0;
                for (int k = 0; k < K; k++) ref += (double)xi[k] * wi[k];
                cr_assert_eq(y[i * LDY], matmul_dot(xi, wi, K), "pair %d, K %d, ldw %zu", i, K, ldw);
                cr_assert(fabs(y[i * LDY] - ref) < 1e-4, "pair %d, K %d: %g vs %g", i, K, y[i * LDY], ref);
            }
        }
    }
    free(x), free(w);
}

// Attention's scores (matmul_head_scores): every query head against its key head in every row, each the bits of
// matmul_dot and near a float64 reference, for groups of 1-3 query heads a key head (one at a time) and of 4-8 (four
// at a time, the last four overlapping where the group is not a multiple of 4), with and without a k tail, and heads
// shorter than one vector.
Test(matmul, head_scores_sum_in_dot_order) {
    static const int shapes[][3] = {{12, 12, 64}, {6, 2, 37}, {6, 2, 64}, {8, 2, 40}, {14, 2, 64}, {10, 2, 36},
                                    {16, 2, 24}, {20, 4, 29}, {8, 1, 64}, {8, 2, 5}};
    enum { N = 11, LDE = 21 };
    for (int si = 0; si < N_OF(shapes); si++) {
        int Hq = shapes[si][0], Hk = shapes[si][1], hd = shapes[si][2], group = Hq / Hk;
        size_t ldk = (size_t)Hk * hd + 3;  // rows further apart than their heads
        float *q = xmalloc((size_t)Hq * hd * 4), *k = xmalloc(N * ldk * 4), e[N * LDE];
        Rng r = rng_at(14, 0, (uint64_t)si, 0);
        for (int i = 0; i < Hq * hd; i++) q[i] = (float)rng_normal(&r);
        for (size_t i = 0; i < N * ldk; i++) k[i] = (float)rng_normal(&r);
        for (int i = 0; i < N * LDE; i++) e[i] = NAN;
        matmul_head_scores(q, Hq, Hk, hd, k, ldk, N, e, LDE);
        for (int j = 0; j < N; j++)
            for (int h = 0; h < Hq; h++) {
                const float *qh = q + (size_t)h * hd, *kh = k + j * ldk + (size_t)(h / group) * hd;
                double ref = 0;
                for (int i = 0; i < hd; i++) ref += (double)qh[i] * kh[i];
                float got = e[j * LDE + h];
                cr_assert_eq(got, matmul_dot(qh, kh, hd), "%d/%d heads of %d: key %d, head %d", Hq, Hk, hd, j, h);
                cr_assert(fabs(got - ref) < 1e-4, "%d/%d heads: key %d, head %d: %g vs %g", Hq, Hk, j, h, got, ref);
            }
        for (int j = 0; j < N; j++)
            for (int h = Hq; h < LDE; h++) cr_assert(isnan(e[j * LDE + h]), "%d/%d heads: wrote past the heads", Hq, Hk);
        free(q), free(k);
    }
}

// The backward's fixed-order products: float64 references, the same bits on 1 and 3 threads, and the bits of the
// forward kernel on operands transposed here (the shapes leave partial row tiles, vectors and lanes of eight).
Test(matmul, backward_products_fixed_order) {
    enum { T = 45, N = 70, K = 37 };
    float *dy = xmalloc(T * N * 4), *w = xmalloc(N * K * 4), *x = xmalloc(T * K * 4);
    float *dx1 = xmalloc(T * K * 4), *dx3 = xmalloc(T * K * 4), *dw1 = xcalloc(N * K, 4), *dw3 = xcalloc(N * K, 4);
    Rng r = rng_at(10, 0, 0, 0);
    for (int i = 0; i < T * N; i++) dy[i] = (float)rng_normal(&r);
    for (int i = 0; i < N * K; i++) w[i] = (float)rng_normal(&r), dw1[i] = dw3[i] = (float)i;
    for (int i = 0; i < T * K; i++) x[i] = (float)rng_normal(&r), dx1[i] = dx3[i] = 1.0f;
    omp_set_num_threads(1);
    matmul_xw(dy, w, dx1, T, N, K, true);
    matmul_xtx_acc(dy, x, dw1, T, N, K);
    omp_set_num_threads(3);
    matmul_xw(dy, w, dx3, T, N, K, true);
    matmul_xtx_acc(dy, x, dw3, T, N, K);
    omp_set_num_threads(1);
    cr_assert_eq(memcmp(dx1, dx3, T * K * 4), 0);
    cr_assert_eq(memcmp(dw1, dw3, N * K * 4), 0);
    for (int i = 0; i < T; i++)
        for (int k = 0; k < K; k++) {
            double ref = 1.0;
            for (int j = 0; j < N; j++) ref += (double)dy[i * N + j] * w[j * K + k];
            cr_assert(fabs(ref - dx1[i * K + k]) < 1e-4, "dx[%d][%d]: %g vs %g", i, k, dx1[i * K + k], ref);
        }
    for (int j = 0; j < N; j++)
        for (int k = 0; k < K; k++) {
            double ref = j * K + k;
            for (int t = 0; t < T; t++) ref += (double)dy[t * N + j] * x[t * K + k];
            cr_assert(fabs(ref - dw1[j * K + k]) < 1e-3, "dw[%d][%d]: %g vs %g", j, k, dw1[j * K + k], ref);
        }
    // Overwrite: the product alone, the bits of matmul_xwt on operands transposed here element by element.
    matmul_xw(dy, w, dx1, T, N, K, false);
    float *wt = xmalloc(N * K * 4), *dyt = xmalloc(T * N * 4), *xt = xmalloc(T * K * 4), *ref = xmalloc(N * K * 4);
    for (int j = 0; j < N; j++)
        for (int k = 0; k < K; k++) wt[k * N + j] = w[j * K + k];
    matmul_xwt(dy, wt, NULL, ref, T, K, N);
    cr_assert_eq(memcmp(ref, dx1, T * K * 4), 0);
    for (int t = 0; t < T; t++) {
        for (int j = 0; j < N; j++) dyt[j * T + t] = dy[t * N + j];
        for (int k = 0; k < K; k++) xt[k * T + t] = x[t * K + k];
    }
    matmul_xwt(dyt, xt, NULL, ref, N, K, T);
    for (int i = 0; i < N * K; i++) dw3[i] = (float)i;
    matmul_xtx_acc(dy, x, dw3, T, N, K);
    for (int i = 0; i < N * K; i++) cr_assert_eq(dw3[i], (float)i + ref[i], "dw[%d]", i);
    free(wt), free(dyt), free(xt), free(ref);
    free(dy), free(w), free(x), free(dx1), free(dx3), free(dw1), free(dw3);
}

// The same bits at shapes that take every path of matmul_backward.c: several chunks of the inner sum (lanes parked
// between them), several row groups and column groups, tiles of fewer rows and vectors, and columns past the last
// vector; on 1 and 3 threads, against matmul_xwt on operands transposed here.
Test(matmul, backward_products_blocked) {
    enum { T = 301, N = 1100, K = 150 };
    float *dy = xmalloc(T * N * 4), *w = xmalloc(N * K * 4), *x = xmalloc(T * K * 4), *dx = xmalloc(T * K * 4);
    float *dw = xmalloc(N * K * 4), *wt = xmalloc(N * K * 4), *dyt = xmalloc(T * N * 4), *xt = xmalloc(T * K * 4);
    float *ref = xmalloc(N * K * 4);
    Rng r = rng_at(12, 0, 0, 0);
    for (int i = 0; i < T * N; i++) dy[i] = (float)rng_normal(&r);
    for (int i = 0; i < N * K; i++) w[i] = (float)rng_normal(&r);
    for (int i = 0; i < T * K; i++) x[i] = (float)rng_normal(&r);
    for (int j = 0; j < N; j++)
        for (int k = 0; k < K; k++) wt[k * N + j] = w[j * K + k];
    for (int t = 0; t < T; t++) {
        for (int j = 0; j < N; j++) dyt[j * T + t] = dy[t * N + j];
        for (int k = 0; k < K; k++) xt[k * T + t] = x[t * K + k];
    }
    for (int threads = 1; threads <= 3; threads += 2) {
        omp_set_num_threads(threads);
        matmul_xw(dy, w, dx, T, N, K, false);
        matmul_xwt(dy, wt, NULL, ref, T, K, N);
        cr_assert_eq(memcmp(ref, dx, T * K * 4), 0, "dx, %d threads", threads);
        for (int i = 0; i < N * K; i++) dw[i] = 0.5f * (float)(i % 7);
        matmul_xtx_acc(dy, x, dw, T, N, K);
        matmul_xwt(dyt, xt, NULL, ref, N, K, T);
        for (int i = 0; i < N * K; i++)
            cr_assert_eq(dw[i], 0.5f * (float)(i % 7) + ref[i], "dw[%d], %d threads", i, threads);
    }
    omp_set_num_threads(1);
    free(dy), free(w), free(x), free(dx), free(dw), free(wt), free(dyt), free(xt), free(ref);
}

// An inner sum of 2^22 (the largest vocabulary [model] vocab_size takes, the LM head's input gradient): its 8192
// chunks start past 2^31 / (2^22 / 8) = 4096, where chunk k's first index k (i8 / 8) / chunks * 8 overflowed an int.
Test(matmul, backward_product_longest_inner_sum) {
    enum { N = 1 << 22, K = 16 };  // K: whole vectors at every VW, so the chunked path runs
    float *dy = xmalloc((size_t)N * 4), *w = xmalloc((size_t)N * K * 4), *wt = xmalloc((size_t)N * K * 4);
    float got[K], want[K];
    for (size_t i = 0; i < (size_t)N * K; i++) w[i] = (float)(i * 2654435761u % 2001) / 1000 - 1;  // fast, varied
    for (size_t i = 0; i < N; i++) dy[i] = w[i * K + i % K];
    for (size_t j = 0; j < N; j++)
        for (int k = 0; k < K; k++) wt[(size_t)k * N + j] = w[j * K + k];
    omp_set_num_threads(2);
    matmul_xw(dy, w, got, 1, N, K, false);
    matmul_xwt(dy, wt, NULL, want, 1, K, N);
    omp_set_num_threads(1);
    cr_assert_eq(memcmp(want, got, sizeof got), 0);
    free(dy), free(w), free(wt);
}

// matmul_xw given N in slices (the LM head's vocabulary slices): the bits of one whole product, for slices of 8 and
// of more than a chunk of the inner sum (1100 = 8 + 528 + 560 + 4), rows past the last whole tile and columns past
// the last vector, on 1 and 3 threads; and for a single slice.
Test(matmul, backward_product_in_slices) {
    enum { T = 301, N = 1100, K = 150 };
    static const int SLICES[] = {8, 528, 560, 4};
    float *dy = xmalloc(T * N * 4), *w = xmalloc(N * K * 4), *want = xmalloc(T * K * 4), *got = xmalloc(T * K * 4);
    float *piece = xmalloc(T * N * 4);
    Rng r = rng_at(13, 0, 0, 0);
    for (int i = 0; i < T * N; i++) dy[i] = (float)rng_normal(&r);
    for (int i = 0; i < N * K; i++) w[i] = (float)rng_normal(&r);
    for (int threads = 1; threads <= 3; threads += 2) {
        omp_set_num_threads(threads);
        matmul_xw(dy, w, want, T, N, K, false);
        for (int i = 0; i < T * K; i++) got[i] = NAN;
        XwSlices *s = matmul_xw_slices_begin(got, T, N, K);
        for (int c = 0, n0 = 0; c < 4; n0 += SLICES[c++]) {
            for (int t = 0; t < T; t++) memcpy(piece + (size_t)t * SLICES[c], dy + (size_t)t * N + n0, SLICES[c] * 4);
            s = matmul_xw_slice(s, piece, w + (size_t)n0 * K, SLICES[c]);
            cr_assert_eq(s == NULL, c == 3, "slice %d: the sum ends with the last slice only", c);
        }
        cr_assert_eq(memcmp(want, got, T * K * 4), 0, "in slices, %d threads", threads);
        for (int i = 0; i < T * K; i++) got[i] = NAN;
        cr_assert_null(matmul_xw_slice(matmul_xw_slices_begin(got, T, N, K), dy, w, N));
        cr_assert_eq(memcmp(want, got, T * K * 4), 0, "one slice, %d threads", threads);
    }
    omp_set_num_threads(1);
    free(dy), free(w), free(want), free(got), free(piece);
}

// Random shapes cut at random multiples of 8 (single rows and columns, fewer than 8 in all, tails of 1-7), on 2
// threads: always the bits of one matmul_xw.
Test(matmul, backward_product_in_random_slices) {
    Rng r = rng_at(14, 0, 0, 0);
    omp_set_num_threads(2);
    for (int c = 0; c < 40; c++) {
        int M = 1 + (int)rng_below(&r, 40), N = 1 + (int)rng_below(&r, 300), K = 1 + (int)rng_below(&r, 70);
        float *x = xmalloc((size_t)M * N * 4), *w = xmalloc((size_t)N * K * 4), *piece = xmalloc((size_t)M * N * 4);
        float *want = xmalloc((size_t)M * K * 4), *got = xmalloc((size_t)M * K * 4);
        for (int i = 0; i < M * N; i++) x[i] = (float)rng_normal(&r);
        for (int i = 0; i < N * K; i++) w[i] = (float)rng_normal(&r);
        matmul_xw(x, w, want, M, N, K, false);
        XwSlices *s = matmul_xw_slices_begin(got, M, N, K);
        int slices = 0;
        for (int n0 = 0; n0 < N; slices++) {
            int n = 8 * (1 + (int)rng_below(&r, 6));
            if (n0 + n >= N) n = N - n0;
            for (int i = 0; i < M; i++) memcpy(piece + (size_t)i * n, x + (size_t)i * N + n0, (size_t)n * 4);
            s = matmul_xw_slice(s, piece, w + (size_t)n0 * K, n);
            n0 += n;
        }
        cr_assert_null(s, "case %d: the sum ended", c);
        cr_assert_eq(memcmp(want, got, (size_t)M * K * 4), 0, "case %d: M %d N %d K %d in %d slices", c, M, N, K,
                     slices);
        free(x), free(w), free(piece), free(want), free(got);
    }
    omp_set_num_threads(1);
}

// A decode group's products from packed weights (matmul_pack_make): each weight is packed, then changed where the
// copy holds it (whole tiles of four columns, k below K rounded down to 8). With the pack active, a product of whole
// groups of 5 to 32 rows (as one product, as parts, and with a callback; a last octet of fewer rows completed with zero
// rows whose outputs go nowhere: the rows past M untouched, the callback never given them) still gives the original
// weights' bits, so it read the copy; 3, 4 or 40 rows give the changed weights' bits. Shapes: edge columns, a last column block of 7 tiles, K
// past one chunk of 256 with a tail, K below 8 (nothing to pack).
static void last_row(void *ctx, int i0, int i1, int j0, int j1) {
    int *most = ctx;
    (void)i0, (void)j0, (void)j1;
#pragma omp critical
    *most = i1 > *most ? i1 : *most;
}

Test(matmul, packed_weights_for_octets) {
    enum { P = 3, MAX_M = 40 };
    static const int Ns[P] = {70, 157, 64}, Ks[] = {5, 64, 600, 777}, Ms[] = {8, 16, 24, 32, 5, 7, 9, 13, 31, 3, 4, MAX_M};
    if (!matmul_pack_supported()) {
        cr_assert_null(matmul_pack_make(&(MatmulWeight){NULL, 4, 8}, 1));
        cr_skip_test("this build's MARCH has no AVX-512: no paired tiles, nothing packed");
    }
    for (int ki = 0; ki < N_OF(Ks); ki++) {
        int K = Ks[ki], k8 = K & ~7;
        float *w[P], *w2[P], *b = xmalloc(157 * 4), *x = xmalloc((size_t)MAX_M * K * 4);
        Rng r = rng_at(31, 0, 0, (uint64_t)K);
        MatmulWeight ws[P];
        for (int i = 0; i < 157; i++) b[i] = (float)rng_normal(&r);
        for (int i = 0; i < MAX_M * K; i++) x[i] = (float)rng_normal(&r);
        for (int p = 0; p < P; p++) {
            w[p] = xmalloc((size_t)Ns[p] * K * 4), w2[p] = xmalloc((size_t)Ns[p] * K * 4);
            for (int i = 0; i < Ns[p] * K; i++) w[p][i] = w2[p][i] = (float)rng_normal(&r);
            for (int j = 0; j < (Ns[p] & ~3); j++)
                for (int k = 0; k < k8; k++) w2[p][(size_t)j * K + k] *= 2;
            ws[p] = (MatmulWeight){w[p], Ns[p], K};
        }
        float *before[P][N_OF(Ms)], *after[P][N_OF(Ms)];  // each product of w and of the changed w, no pack
        for (int p = 0; p < P; p++)
            for (int q = 0; q < N_OF(Ms); q++) {
                before[p][q] = xmalloc((size_t)Ms[q] * Ns[p] * 4), after[p][q] = xmalloc((size_t)Ms[q] * Ns[p] * 4);
                matmul_xwt(x, w[p], p ? NULL : b, before[p][q], Ms[q], Ns[p], K);
                matmul_xwt(x, w2[p], p ? NULL : b, after[p][q], Ms[q], Ns[p], K);
            }
        MatmulPack *pack = matmul_pack_make(ws, P);
        cr_assert_not_null(pack);
        for (int p = 0; p < P; p++) memcpy(w[p], w2[p], (size_t)Ns[p] * K * 4);
        for (int q = 0; q < N_OF(Ms); q++) {
            int M = Ms[q];
            bool reads_copy = M >= 5 && M <= 32 && k8 > 0;
            float *y[P];
            MatmulPart parts[P];
            for (int p = 0; p < P; p++) {
                y[p] = xmalloc((size_t)(M + 8) * Ns[p] * 4);  // 8 rows past M that must stay untouched
                parts[p] = (MatmulPart){w[p], p ? NULL : b, y[p], Ns[p]};
            }
            for (int run = 0; run < 4; run++) {
                omp_set_num_threads(run == 1 ? 3 : 1);
                for (int p = 0; p < P; p++) memset(y[p], 0xff, (size_t)(M + 8) * Ns[p] * 4);  // NaN: every output written
                int most = 0;
                if (run < 2) matmul_xwt_parts(x, M, K, parts, P);
                for (int p = 0; p < P && run == 2; p++) matmul_xwt(x, w[p], p ? NULL : b, y[p], M, Ns[p], K);
                for (int p = 0; p < P && run == 3; p++)
                    matmul_xwt_parts_then(x, M, K, parts + p, 1, (MatmulThen){last_row, &most});
                cr_assert_eq(most, run == 3 ? M : 0, "K %d M %d: the callback's rows end at %d", K, M, most);
                for (int p = 0; p < P; p++) {
                    cr_assert_eq(memcmp(y[p], (reads_copy ? before : after)[p][q], (size_t)M * Ns[p] * 4), 0,
                                 "K %d M %d part %d run %d", K, M, p, run);
                    const unsigned char *past = (const unsigned char *)(y[p] + (size_t)M * Ns[p]);
                    for (size_t i = 0; i < (size_t)8 * Ns[p] * 4; i++)
                        cr_assert_eq(past[i], 0xff, "K %d M %d part %d: a row past M written", K, M, p);
                }
            }
            for (int p = 0; p < P; p++) free(y[p]);
        }
        omp_set_num_threads(1);
        matmul_pack_free(pack);
        for (int p = 0; p < P; p++) {
            free(w[p]), free(w2[p]);
            for (int q = 0; q < N_OF(Ms); q++) free(before[p][q]), free(after[p][q]);
        }
        free(b), free(x);
    }
}
