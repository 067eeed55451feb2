// The backward's products in matmul.h's fixed order: C[r][c] (+)= sum_i A[r][i] B[i][c], all row-major, with B the
// weight (dx = dy w) or the layer's input (dw += dy^T x, dy read in place as A: A's rows are dy's columns).
// matmul.c gives each output eight lanes, lane l summing i = l, l + 8, ... with one multiply-add each, then adds the
// lanes as ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)), then the i past the last multiple of 8 in order. Here
// lane l is a pass of its own over i = l, l + 8, ... whose accumulators are vectors of consecutive outputs, so an
// output's eight lanes sit in eight vectors and are added by plain vector adds, in the same order. These are matmul.c's
// operations in its order: the bits are matmul_xwt's on the transposed operands (tests/test_matmul.c checks it), on
// any thread count (each output is one thread's), without transposing the weight and without horizontal lane sums.
// A sum over i given in slices of multiples of 8 (matmul_xw_slice: the LM head's vocabulary) keeps every output's
// lanes between slices, so each lane goes on where it stopped: the bits of the whole sum.
#include <omp.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "model/matmul.h"

#define LANES 8
#if defined(__AVX512F__)
#define VW 16  // floats per vector
#define CT 4   // vectors per tile: with RT rows, 24 accumulators of the 32 registers
#include <immintrin.h>
#define MACV(acc, a, b) ((acc) = (vf)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(acc)))
#else
#define VW 8
#define CT 2  // 12 accumulators of AVX2's 16 registers
#if defined(__FMA__) && defined(__AVX__)
#include <immintrin.h>
#define MACV(acc, a, b) ((acc) = (vf)_mm256_fmadd_ps((__m256)(a), (__m256)(b), (__m256)(acc)))
#endif
#endif
#define RT 6  // rows per tile
#ifndef MACV  // matmul.c's MAC: a multiply then an add where the build has no FMA
#define MACV(acc, a, b) ((acc) += (a) * (b))
#endif
// One output's multiply-add, as MACV does it in each lane.
#if defined(__FMA__)
#define MAC1(acc, a, b) ((acc) = __builtin_fmaf((a), (b), (acc)))
#else
#define MAC1(acc, a, b) ((acc) += (a) * (b))
#endif
// Inner chunk: a tile's rows of A (RT x KC floats) stay in L1 over the eight passes, and B's chunk, packed (KC x CT
// vectors, 128 KiB at AVX-512), in L2 over the item's row tiles; the lanes are parked in memory between chunks.
#define KC 512
// Row tiles per work item at most: their parked lanes (12 KiB each at AVX-512) stay in L2.
#define ITEM_TILES 44

typedef float vf __attribute__((vector_size(VW * sizeof(float))));
typedef vf Lanes[LANES][RT][CT];  // one tile's eight lanes of accumulators
#define LOADV(v, p) memcpy(&(v), (p), sizeof(vf))
#define STOREV(p, v) memcpy((p), &(v), sizeof(vf))
#define INLINE static inline __attribute__((always_inline))
// The tile loops have constant bounds in every instance: unrolled, their accumulators live in registers.
#define UNROLLED _Pragma("GCC unroll 8")

// Vectors pass by pointer only (matmul.c's rule: no vector crosses a function boundary).
// A shuffle of lane 0 compiles to one broadcast. Writing the lanes one by one compiled to inserts (x86-64-v2), or
// to two half-width stores that each multiply-add reloaded whole (AVX-512, a store-forwarding stall): 3-7x slower.
typedef int32_t vi __attribute__((vector_size(VW * sizeof(int32_t))));
INLINE void splat(vf *v, float x) { *v = __builtin_shuffle((vf){x}, (vi){0}); }

typedef struct {
    const float *a, *b;  // A [rows, inner] (A[r][i] at a[r lda + i lda_i]) and B [inner, cols], row-major
    float *c;            // C [rows, cols]
    size_t lda, ldb, ldc, lda_i;
    int rows, cols, inner;
    bool accumulate;
    // A slice of a longer inner sum (matmul_xw_slice): every output's lanes kept between slices, zeroed by the first
    // slice (first) and added into C by the last (last). A whole sum: kept NULL, first and last.
    Lanes *kept;                // [row tile][vector column block]
    float (*kept_tail)[LANES];  // [row][column past the last whole vector]
    int kept_blocks;            // vector column blocks a row tile
    bool first, last;
} Product;

// Lane pass over q < n8: row i0 + 8q of A (nr rows from r0) times packed row q of B (bp, its rows bstride floats
// apart: nv vectors from v0), continuing the sums in acc[r][v0 + v].
INLINE void lane_pass(const Product *p, int nr, int nv, int r0, int i0, int n8, const float *bp, int bstride,
                      vf acc[RT][CT], int v0) {
    vf s[RT][CT];
    UNROLLED for (int r = 0; r < nr; r++) UNROLLED for (int v = 0; v < nv; v++) s[r][v] = acc[r][v0 + v];
    const float *a = p->a + (size_t)r0 * p->lda + (size_t)i0 * p->lda_i;
    for (int q = 0; q < n8; q++) {
        vf bv[CT];
        UNROLLED for (int v = 0; v < nv; v++) LOADV(bv[v], bp + (size_t)q * bstride + (v0 + v) * VW);
        UNROLLED for (int r = 0; r < nr; r++) {
            vf av;
            splat(&av, a[r * p->lda + LANES * q * p->lda_i]);
            UNROLLED for (int v = 0; v < nv; v++) MACV(s[r][v], av, bv[v]);
        }
    }
    UNROLLED for (int r = 0; r < nr; r++) UNROLLED for (int v = 0; v < nv; v++) acc[r][v0 + v] = s[r][v];
}

// The eight passes over a chunk of 8 n8 rows of i from i0, B's chunk packed lane by lane (pack_chunk), for nr rows
// (a constant in each instance) x nv vectors: CT at once, fewer one at a time.
INLINE void tile_chunk(const Product *p, int nr, int nv, int r0, int i0, int n8, const float *bp, Lanes lanes) {
    for (int l = 0; l < LANES; l++) {
        const float *bl = bp + (size_t)l * n8 * nv * VW;
        if (nv == CT)
            lane_pass(p, nr, CT, r0, i0 + l, n8, bl, CT * VW, lanes[l], 0);
        else
            for (int v = 0; v < nv; v++) lane_pass(p, nr, 1, r0, i0 + l, n8, bl, nv * VW, lanes[l], v);
    }
}

INLINE void tile_chunk_rows(const Product *p, int nr, int nv, int r0, int i0, int n8, const float *bp, Lanes lanes) {
    _Static_assert(RT == 6, "one case per row count");
    switch (nr) {
    case 1: tile_chunk(p, 1, nv, r0, i0, n8, bp, lanes); break;
    case 2: tile_chunk(p, 2, nv, r0, i0, n8, bp, lanes); break;
    case 3: tile_chunk(p, 3, nv, r0, i0, n8, bp, lanes); break;
    case 4: tile_chunk(p, 4, nv, r0, i0, n8, bp, lanes); break;
    case 5: tile_chunk(p, 5, nv, r0, i0, n8, bp, lanes); break;
    default: tile_chunk(p, 6, nv, r0, i0, n8, bp, lanes); break;
    }
}

// B's rows i0 + l + 8q (q < n8), nv vectors from column c0, copied lane by lane: each pass then reads its rows in
// one stream, and the copy serves every row tile of the item.
INLINE void pack_chunk(const Product *p, int i0, int n8, int c0, int nv, float *bp) {
    for (int l = 0; l < LANES; l++)
        for (int q = 0; q < n8; q++) {
            const float *src = p->b + (size_t)(i0 + l + LANES * q) * p->ldb + c0;
            float *dst = bp + ((size_t)l * n8 + q) * nv * VW;
            for (int v = 0; v < nv; v++) {  // by vectors: a memcpy of nv vectors compiled to a loop of 8-byte moves
                vf x;
                LOADV(x, src + v * VW);
                STOREV(dst + v * VW, x);
            }
        }
}

// The tile's lanes added in matmul.c's order, then the rest of i in order, then into C.
INLINE void tile_finish(const Product *p, int nr, int nv, int r0, int c0, Lanes lanes) {
    int i8 = p->inner & ~(LANES - 1);
    for (int r = 0; r < nr; r++)
        for (int v = 0; v < nv; v++) {
            vf s = ((lanes[0][r][v] + lanes[1][r][v]) + (lanes[2][r][v] + lanes[3][r][v])) +
                   ((lanes[4][r][v] + lanes[5][r][v]) + (lanes[6][r][v] + lanes[7][r][v]));
            for (int i = i8; i < p->inner; i++) {
                vf b;
                LOADV(b, p->b + (size_t)i * p->ldb + c0 + v * VW);
                s += p->a[(size_t)(r0 + r) * p->lda + (size_t)i * p->lda_i] * b;
            }
            float *c = p->c + (size_t)(r0 + r) * p->ldc + c0 + v * VW;
            if (p->accumulate) {
                vf old;
                LOADV(old, c);
                s = old + s;
            }
            STOREV(c, s);
        }
}

// The tile's rows of C, read by tile_finish when accumulating: fetched while the passes run (C is dw, out of cache).
INLINE void prefetch_c(const Product *p, int nr, int nv, int r0, int c0) {
    for (int r = 0; r < nr; r++)
        for (int v = 0; v < nv; v++) __builtin_prefetch(p->c + (size_t)(r0 + r) * p->ldc + c0 + v * VW, 1);
}

// One output in the same order: the columns past the last whole vector.
INLINE void one_output(const Product *p, int r, int col) {
    int whole = p->cols / VW * VW;  // the first such column
    float own[LANES], *lane = p->kept_tail ? p->kept_tail[(size_t)r * (p->cols - whole) + (col - whole)] : own;
    if (p->first) memset(lane, 0, sizeof own);
    int i8 = p->inner & ~(LANES - 1);
    const float *a = p->a + (size_t)r * p->lda, *b = p->b + col;
    for (int i = 0; i < i8; i++) MAC1(lane[i % LANES], a[(size_t)i * p->lda_i], b[(size_t)i * p->ldb]);
    if (!p->last) return;
    float s = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    for (int i = i8; i < p->inner; i++) s += a[(size_t)i * p->lda_i] * b[(size_t)i * p->ldb];
    float *c = p->c + (size_t)r * p->ldc + col;
    *c = p->accumulate ? *c + s : s;
}

// Rows [r0, r1) x columns [c0, c1), CT vectors of columns at a time, chunk by chunk over i, each row tile's lanes
// parked in park[tile] between chunks (one tile's room serves all when there is a single chunk); bp: room for a
// packed chunk.
INLINE void item(const Product *p, int r0, int r1, int c0, int c1, Lanes *park, float *bp) {
    int i8 = p->inner & ~(LANES - 1), chunks = i8 > KC ? (i8 + KC - 1) / KC : 1, whole = c0 + (c1 - c0) / VW * VW;
    for (int cb = c0; cb < whole; cb += CT * VW) {
        int nv = (whole - cb) / VW < CT ? (whole - cb) / VW : CT;
        for (int k = 0; k < chunks; k++) {
            // in 64 bits: k (i8 / 8) passes 2^31 from an inner sum of about 2^21.5 (a vocabulary of 3M)
            int i0 = (int)((int64_t)k * (i8 / LANES) / chunks * LANES);
            int n8 = (int)(((int64_t)(k + 1) * (i8 / LANES) / chunks * LANES - i0) / LANES);
            pack_chunk(p, i0, n8, cb, nv, bp);
            for (int r = r0; r < r1; r += RT) {
                int nr = r1 - r < RT ? r1 - r : RT;
                vf(*lanes)[RT][CT] = p->kept ? p->kept[(size_t)(r / RT) * p->kept_blocks + cb / (CT * VW)]
                                             : park[chunks > 1 ? (r - r0) / RT : 0];
                bool finish = k == chunks - 1 && p->last;
                if (k == 0 && p->first) memset(lanes, 0, sizeof(Lanes));
                if (finish && p->accumulate) prefetch_c(p, nr, nv, r, cb);
                tile_chunk_rows(p, nr, nv, r, i0, n8, bp, lanes);
                if (finish) tile_finish(p, nr, nv, r, cb, lanes);
            }
        }
    }
    for (int col = whole; col < c1; col++)
        for (int r = r0; r < r1; r++) one_output(p, r, col);
}

// The same operations compiled for AVX2 and for the build's baseline (matmul.c's reasoning: the same bits).
__attribute__((target("avx2"))) static void item_avx2(const Product *p, int r0, int r1, int c0, int c1, Lanes *park,
                                                      float *bp) {
    item(p, r0, r1, c0, c1, park, bp);
}
static void item_base(const Product *p, int r0, int r1, int c0, int c1, Lanes *park, float *bp) {
    item(p, r0, r1, c0, c1, park, bp);
}

// n bytes aligned for vectors, from *raw (to free).
static void *aligned(size_t n, char **raw) {
    *raw = xmalloc(n + 63);
    return (void *)(((uintptr_t)*raw + 63) & ~(uintptr_t)63);
}

// Work items: groups of up to ITEM_TILES row tiles x groups of column blocks, as few column groups as give each
// thread about four items (a row group's slice of A is then read once per column group). Where the row groups are
// few, their number is a multiple of the threads: 9 equal items on 2 threads would leave one idle for a ninth.
static void product(const Product *p) {
    if (p->rows <= 0 || p->cols <= 0) return;
    int threads = omp_get_max_threads(), row_tiles = (p->rows + RT - 1) / RT;
    int row_groups = (row_tiles + ITEM_TILES - 1) / ITEM_TILES;
    if (row_groups < 8 * threads) row_groups = (row_groups + threads - 1) / threads * threads;
    if (row_groups > row_tiles) row_groups = row_tiles;
    int tiles = (row_tiles + row_groups - 1) / row_groups;
    row_groups = (row_tiles + tiles - 1) / tiles;
    int col_blocks = (p->cols + CT * VW - 1) / (CT * VW), col_groups = (4 * threads + row_groups - 1) / row_groups;
    if (col_groups > col_blocks) col_groups = col_blocks;
    if (col_groups < 1) col_groups = 1;
    long n_items = (long)row_groups * col_groups;
    void (*run)(const Product *, int, int, int, int, Lanes *, float *) =
        __builtin_cpu_supports("avx2") ? item_avx2 : item_base;
#pragma omp parallel if (n_items > 1 && (double)p->rows * p->cols * p->inner > 1e5)
    {
        char *raw_park, *raw_bp;
        Lanes *park = aligned((size_t)tiles * sizeof(Lanes), &raw_park);
        float *bp = aligned((size_t)(KC + LANES) * CT * VW * sizeof(float), &raw_bp);
#pragma omp for schedule(dynamic)
        for (long it = 0; it < n_items; it++) {
            int g = (int)(it / col_groups), h = (int)(it % col_groups);
            int r0 = g * tiles * RT, r1 = r0 + tiles * RT < p->rows ? r0 + tiles * RT : p->rows;
            int c0 = h * col_blocks / col_groups * CT * VW, c1 = (h + 1) * col_blocks / col_groups * CT * VW;
            run(p, r0, r1, c0, c1 < p->cols ? c1 : p->cols, park, bp);
        }
        free(raw_park), free(raw_bp);
    }
}

void matmul_xw(const float *x, const float *w, float *y, int M, int N, int K, bool accumulate) {
    // y[m][k] (+)= sum_n x[m][n] w[n][k]
    product(&(Product){x, w, y, (size_t)N, (size_t)K, (size_t)K, 1, M, K, N, accumulate, .first = true, .last = true});
}

void matmul_xtx_acc(const float *dy, const float *x, float *dw, int T, int N, int K) {
    // dw[n][k] += sum_t dy^T[n][t] x[t][k]: A = dy^T read in place, a tile's rows side by side in each row of dy
    // (a copy transposed first read 6-22% slower at a training step's shapes and took dy's size again)
    product(&(Product){dy, x, dw, 1, (size_t)K, (size_t)K, (size_t)N, N, K, T, true, .first = true, .last = true});
}

struct XwSlices {
    float *y;
    int M, N, K, done;  // done: how much of N the slices so far covered
    int blocks;         // vector column blocks a row tile
    Lanes *kept;        // Product.kept
    float (*kept_tail)[LANES];
    char *raw;          // kept's allocation
};

XwSlices *matmul_xw_slices_begin(float *y, int M, int N, int K) {
    XwSlices *s = xmalloc(sizeof *s);
    int vectors = K / VW, tail = K - vectors * VW;
    *s = (XwSlices){.y = y, .M = M, .N = N, .K = K, .blocks = (vectors + CT - 1) / CT};
    s->kept = aligned((size_t)((M + RT - 1) / RT) * s->blocks * sizeof(Lanes) + 1, &s->raw);
    s->kept_tail = xmalloc((size_t)M * tail * sizeof *s->kept_tail + 1);
    return s;
}

XwSlices *matmul_xw_slice(XwSlices *s, const float *x, const float *w, int n) {
    if (n <= 0 || s->done + n > s->N || (s->done + n < s->N && n % LANES)) {  // a caller's bug: lanes would shift
        fprintf(stderr, "rlvr: matmul_xw_slice: a slice of %d after %d of %d, expected a multiple of %d but the last\n",
                n, s->done, s->N, LANES);
        abort();
    }
    bool last = s->done + n == s->N;
    product(&(Product){x, w, s->y, (size_t)n, (size_t)s->K, (size_t)s->K, 1, s->M, s->K, n, false, s->kept,
                       s->kept_tail, s->blocks, s->done == 0, last});
    s->done += n;
    if (!last) return s;
    free(s->raw), free(s->kept_tail), free(s);
    return NULL;
}
