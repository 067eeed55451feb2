// Fixed-order forward matmul: 8x4 and 2x4 tiles of 16-lane accumulators holding two rows' 8 lanes each (AVX-512,
// on rows packed in pairs), or 3x4 (FMA builds) and 2x4 tiles of 8-lane ones, then 1x4 / 1x1 tiles; cache blocks
// over rows and columns only (never over k), OpenMP over blocks. See matmul.h for the order every output is summed in.
// Decode groups of 5 to 32 rows may read packed copies of the weights instead (matmul_pack_make), the same bits.
// The same kernel is compiled for AVX2 and for the build's baseline (Makefile MARCH): both do the same IEEE
// operations in the same order (separate multiplies and adds, or fused ones when MARCH has FMA, in both), so within
// a build the bits do not depend on which one the CPU runs, nor on the thread count.
#include "model/matmul.h"

#include <limits.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/pages.h"
#include "base/unit_claims.h"

typedef float v8f __attribute__((vector_size(32)));

#define LANES 8
#define ROW_BLOCK 32
#define COL_BLOCK 64
// The longest run of k an octet of rows sums before the next columns' tiles (PAIRED builds), where a block holds more
// than one octet: at K = 2048 (the MLP's down projection) the whole octet, 64 KiB, would not stay in L1, nor the
// block's weight rows, 512 KiB, in a 512 KiB L2 between octets. A lone octet (a decode group of up to 8) runs K in one
// pass: each tile's weight rows are then one stream from memory, not pieces of K_CHUNK floats of rows 4 K floats
// apart, and its down projection took 14-20% less time on a Zen 4 VM (results/cpu-bench-history.md).
#define K_CHUNK 768

// acc += a * b lane by lane: one fused multiply-add when the build targets FMA (MARCH), else a multiply then an
// add. Either way the same for every M, so the order of matmul.h holds within a build.
#if defined(__FMA__) && defined(__AVX__)
#include <immintrin.h>
#define MAC(acc, a, b) ((acc) = (v8f)_mm256_fmadd_ps((__m256)(a), (__m256)(b), (__m256)(acc)))
#else
#define MAC(acc, a, b) ((acc) += (a) * (b))
#endif

// How many tiles ahead the weight rows are prefetched.
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

typedef float v4f __attribute__((vector_size(16)));

// Pairwise lane sums of two accumulators: {a0+a1, a2+a3, b0+b1, b2+b3, a4+a5, a6+a7, b4+b5, b6+b7}.
#define PAIR_SUMS(a, b)                                        \
    (__builtin_shufflevector(a, b, 0, 2, 8, 10, 4, 6, 12, 14) + \
     __builtin_shufflevector(a, b, 1, 3, 9, 11, 5, 7, 13, 15))

// The lane reductions of finish() for four accumulators at once: element c is
// ((a_c0+a_c1)+(a_c2+a_c3))+((a_c4+a_c5)+(a_c6+a_c7)), the same adds in the same order, so the same bits.
static inline __attribute__((always_inline)) v4f reduce4(const v8f *a0, const v8f *a1, const v8f *a2,
                                                         const v8f *a3) {
    v8f s01 = PAIR_SUMS(*a0, *a1), s23 = PAIR_SUMS(*a2, *a3), t = PAIR_SUMS(s01, s23);
    return __builtin_shufflevector(t, t, 0, 1, 2, 3) + __builtin_shufflevector(t, t, 4, 5, 6, 7);
}

// Four outputs of one row (columns j..j+3, weight rows ldw floats apart) from their lane sums: the tail over k in
// order, then the bias.
static inline __attribute__((always_inline)) void store4(v4f s, const float *x, const float *w, size_t ldw,
                                                         const float *bias, float *y, int k8, int K) {
    if (k8 == K) {  // no tail: the bias as one vector add
        if (bias) {
            v4f b;
            memcpy(&b, bias, sizeof b);
            s += b;
        }
        memcpy(y, &s, sizeof s);
        return;
    }
    for (int c = 0; c < 4; c++) {
        float v = s[c];
        for (int k = k8; k < K; k++) v += x[k] * w[c * ldw + k];
        y[c] = bias ? v + bias[c] : v;
    }
}

// The prefetches of the next tile's four weight rows (so the hardware prefetcher is not restarted on every short
// row), shared by the first SHARERS row tiles to meet a column tile: part p of n issues a cache line of each row
// every 16 n floats of its own k, from p/n of the way along the rows. The weight stream then runs all the while the
// tiles' arithmetic does, rather than during the first tile alone with the memory idle during the others: on AVX2,
// decode groups of 8 and 16 rows ran their products 10-40% faster, blocks of 32 rows up to 17%. Sharing them among
// all of a 32-row block's 11 tiles was 4-10% slower than the first tile alone. They fill L2, not L1: a prefetch into
// L1 holds one of L1's few miss buffers for a whole memory latency, which held the stream to about half the read
// bandwidth (Zen 4: a decode step's products for 2-8 rows took 25-42% less time into L2, results/cpu-bench-history.md).
#define SHARERS 3
typedef struct {
    int part, parts;  // parts 0: no prefetches
} Share;
typedef struct {
    const float *at;  // the next lines to fetch, one per weight row
    size_t ldw;
    int k, every;  // at this k of the tile's loop, then every `every` floats
    int rows;      // the tile's weight rows, 4: a field, as with the constant in prefetch_step a decode group of 8
                   // read its products' weights 6-25% slower on a Zen 5 VM (GCC's code differs; not examined further)
} Prefetch;

// A tile's prefetches from its loop's first k, k0 (a multiple of 8), for its `rows` weight rows.
static inline __attribute__((always_inline)) Prefetch prefetch_rows(const float *w, size_t ldw, int K, Share s, int k0,
                                                                    int rows) {
    const float *next = w + (size_t)rows * PREFETCH_TILES * ldw;
    if (!s.parts) return (Prefetch){next, ldw, INT_MAX, 0, rows};
    int every = 16 * s.parts, k = (k0 + every - 1) / every * every;
    return (Prefetch){next + ((s.part * (K / s.parts)) & ~15) + k / s.parts, ldw, k, every, rows};
}

// The same for a tile of four weight rows.
static inline __attribute__((always_inline)) Prefetch prefetch_plan(const float *w, size_t ldw, int K, Share s,
                                                                    int k0) {
    return prefetch_rows(w, ldw, K, s, k0, 4);
}

static inline __attribute__((always_inline)) void prefetch_step(Prefetch *p, int k) {
    if (k != p->k) return;
    for (int r = 0; r < p->rows; r++) __builtin_prefetch(p->at + r * p->ldw, 0, 2);  // locality 2: prefetcht1, into L2
    p->at += 16, p->k += p->every;
}

// Where the build targets AVX-512 with FMA, rows go in pairs through 16-lane vectors: lanes 0-7 are row 2p's
// eight lanes and 8-15 row 2p+1's, against a weight vector repeated in both halves. Every lane still sums its own
// k = l, l+8, ... in order with one fused multiply-add per step, so the bits are those of the 8-lane tiles, for
// twice the products per instruction. The pairs are packed once per product (pack_pair) so that each step is one
// plain 64-byte load per pair.
#if defined(__AVX512F__) && defined(__FMA__)
#define PAIRED 1
typedef float v16f __attribute__((vector_size(64)));
#define MAC16(acc, a, b) ((acc) = (v16f)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(acc)))
#define LOAD16(v, p) memcpy(&(v), (p), sizeof(v16f))
// Keeps a loaded vector in a register (as PIN does for the 3x4 tiles below): otherwise GCC folds each of tile_8x4's
// row loads into all four of its fused multiply-adds, 16 loads a step instead of 4, and the octets ran at 60-73% of
// the sgemm peak in cache instead of 95-110% (Zen 4).
#define PIN16(v) ({ __asm__("" : "+v"(v)); })
// A weight row's eight floats in both halves.
#define BCAST8(v, p) ((v) = (v16f)_mm512_broadcast_f64x4(_mm256_loadu_pd((const double *)(const void *)(p))))
#define LO8(v) __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7)
#define HI8(v) __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15)

// The lane sums of four columns for the two rows of a pair, through reduce4 as in every other tile.
static inline __attribute__((always_inline)) void store_pair(const v16f *a0, const v16f *a1, const v16f *a2,
                                                             const v16f *a3, const float *x, const float *w,
                                                             const float *bias, float *y, int k8, int K, int N) {
    v8f l0 = LO8(*a0), l1 = LO8(*a1), l2 = LO8(*a2), l3 = LO8(*a3);
    v8f h0 = HI8(*a0), h1 = HI8(*a1), h2 = HI8(*a2), h3 = HI8(*a3);
    store4(reduce4(&l0, &l1, &l2, &l3), x, w, K, bias, y, k8, K);
    store4(reduce4(&h0, &h1, &h2, &h3), x + K, w, K, bias, y + N, k8, K);
}

// PAIR_SUMS in each 8-lane half of two 16-lane accumulators (one in-lane shuffle per operand).
#define PAIR_SUMS16(a, b)                                                                        \
    (__builtin_shufflevector(a, b, 0, 2, 16, 18, 4, 6, 20, 22, 8, 10, 24, 26, 12, 14, 28, 30) + \
     __builtin_shufflevector(a, b, 1, 3, 17, 19, 5, 7, 21, 23, 9, 11, 25, 27, 13, 15, 29, 31))

// reduce4 for two pairs at once (a: pair p's four column accumulators, then pair p+1's), the same adds in the same
// order without leaving the 16-lane registers: element 4r + c is row 2p + r's column c.
static inline __attribute__((always_inline)) v16f reduce_pairs(const v16f *a) {
    v16f t = PAIR_SUMS16(PAIR_SUMS16(a[0], a[1]), PAIR_SUMS16(a[2], a[3]));
    v16f u = PAIR_SUMS16(PAIR_SUMS16(a[4], a[5]), PAIR_SUMS16(a[6], a[7]));
    return __builtin_shufflevector(t, u, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
           __builtin_shufflevector(t, u, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
}

// Four rows' outputs from reduce_pairs (x rows K floats apart, y rows N), through store4.
static inline __attribute__((always_inline)) void store_rows4(v16f s, const float *x, const float *w,
                                                              const float *bias, float *y, int k8, int K, int N) {
    v4f r0 = __builtin_shufflevector(s, s, 0, 1, 2, 3), r1 = __builtin_shufflevector(s, s, 4, 5, 6, 7);
    v4f r2 = __builtin_shufflevector(s, s, 8, 9, 10, 11), r3 = __builtin_shufflevector(s, s, 12, 13, 14, 15);
    store4(r0, x, w, K, bias, y, k8, K);
    store4(r1, x + K, w, K, bias, y + N, k8, K);
    store4(r2, x + 2 * (size_t)K, w, K, bias, y + 2 * (size_t)N, k8, K);
    store4(r3, x + 3 * (size_t)K, w, K, bias, y + 3 * (size_t)N, k8, K);
}

// One step of an octet's tile: its four packed pairs' eight floats at k (xp, xp1..3) against the weight vectors b0..b3.
#define OCTET_STEP(a, k, b0, b1, b2, b3)                                                                  \
    do {                                                                                                \
        v16f p0, p1, p2, p3;                                                                            \
        LOAD16(p0, xp + 2 * (k)), LOAD16(p1, xp1 + 2 * (k)), LOAD16(p2, xp2 + 2 * (k));                 \
        LOAD16(p3, xp3 + 2 * (k));                                                                      \
        PIN16(p0), PIN16(p1), PIN16(p2), PIN16(p3);                                                     \
        MAC16(a[0], p0, b0), MAC16(a[1], p0, b1), MAC16(a[2], p0, b2), MAC16(a[3], p0, b3);             \
        MAC16(a[4], p1, b0), MAC16(a[5], p1, b1), MAC16(a[6], p1, b2), MAC16(a[7], p1, b3);             \
        MAC16(a[8], p2, b0), MAC16(a[9], p2, b1), MAC16(a[10], p2, b2), MAC16(a[11], p2, b3);           \
        MAC16(a[12], p3, b0), MAC16(a[13], p3, b1), MAC16(a[14], p3, b2), MAC16(a[15], p3, b3);         \
    } while (0)

// An octet tile's accumulators after its k chunk [.., k1): parked in acc, or at k1 = k8 its outputs finished.
static inline __attribute__((always_inline)) void octet_end(const v16f *a, v16f *acc, int k1, const float *x,
                                                            const float *w, const float *bias, float *y, int K,
                                                            int N) {
    int k8 = K & ~(LANES - 1);
    if (k1 < k8) {
        for (int t = 0; t < 16; t++) acc[t] = a[t];
        return;
    }
    store_rows4(reduce_pairs(a), x, w, bias, y, k8, K, N);
    store_rows4(reduce_pairs(a + 8), x + 4 * (size_t)K, w, bias, y + 4 * (size_t)N, k8, K, N);
}

// 8 rows (four packed pairs, 2 k8 floats apart) x 4 columns over k in [k0, k1): 16 accumulators, 24 of the 32
// vector registers. They start at zero when k0 = 0 and else from acc, where the previous k chunk left them; they go
// back to acc unless k1 = k8, where the outputs are finished. Parking them in memory between chunks leaves each lane's
// sequence of fused multiply-adds, and so the bits, as in one pass over k. Six columns a tile (24 accumulators, each
// packed row load serving six) ran a lone octet's products past K_CHUNK 4-10% faster on a Zen 4 VM, but on a Zen 5 VM
// its six weight streams read at 22 GB/s where four read at 28-33 (a group's decode at Qwen2.5-0.5B's shapes 30% slower).
static inline __attribute__((always_inline)) void tile_8x4(const float *restrict xp, const float *restrict x,
                                                           const float *restrict w, const float *bias,
                                                           float *restrict y, int K, int N, Share share, int k0,
                                                           int k1, v16f *acc) {
    v16f a[16];
    for (int t = 0; t < 16; t++) a[t] = k0 ? acc[t] : (v16f){0};
    int k8 = K & ~(LANES - 1);
    const float *xp1 = xp + 2 * (size_t)k8, *xp2 = xp + 4 * (size_t)k8, *xp3 = xp + 6 * (size_t)k8;
    const float *w1 = w + K, *w2 = w + 2 * (size_t)K, *w3 = w + 3 * (size_t)K;
    Prefetch pf = prefetch_plan(w, K, K, share, k0);
    for (int k = k0; k < k1; k += LANES) {
        v16f b0, b1, b2, b3;
        prefetch_step(&pf, k);
        BCAST8(b0, w + k), BCAST8(b1, w1 + k), BCAST8(b2, w2 + k), BCAST8(b3, w3 + k);
        OCTET_STEP(a, k, b0, b1, b2, b3);
    }
    octet_end(a, acc, k1, x, w, bias, y, K, N);
}

// tile_8x4 over k in [k0, k1) with its four weight rows' floats from a packed piece (matmul_pack_make: for each k,
// eight floats of each row in turn), read as the stream it continues, prefetched STREAM_AHEAD_BYTES ahead; the same
// operations, so the same bits. w (row-major) still gives the tail past k8.
static inline __attribute__((always_inline)) void tile_8x4_packed(const float *restrict xp, const float *restrict x,
                                                                  const float *restrict w, const float *restrict piece,
                                                                  const float *bias, float *restrict y, int K, int N,
                                                                  int k0, int k1, v16f *acc) {
    v16f a[16];
    for (int t = 0; t < 16; t++) a[t] = k0 ? acc[t] : (v16f){0};
    int k8 = K & ~(LANES - 1);
    const float *xp1 = xp + 2 * (size_t)k8, *xp2 = xp + 4 * (size_t)k8, *xp3 = xp + 6 * (size_t)k8;
    for (int k = k0; k < k1; k += LANES, piece += 4 * LANES) {
        v16f b0, b1, b2, b3;
        __builtin_prefetch((const char *)piece + STREAM_AHEAD_BYTES, 0, 3);
        __builtin_prefetch((const char *)piece + STREAM_AHEAD_BYTES + 64, 0, 3);
        BCAST8(b0, piece), BCAST8(b1, piece + LANES), BCAST8(b2, piece + 2 * LANES), BCAST8(b3, piece + 3 * LANES);
        OCTET_STEP(a, k, b0, b1, b2, b3);
    }
    octet_end(a, acc, k1, x, w, bias, y, K, N);
}

// One packed pair x 4 columns.
static inline __attribute__((always_inline)) void tile_pair(const float *restrict xp, const float *restrict x,
                                                            const float *restrict w, const float *bias,
                                                            float *restrict y, int K, int N, Share share) {
    v16f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    int k8 = K & ~(LANES - 1);
    const float *w1 = w + K, *w2 = w + 2 * (size_t)K, *w3 = w + 3 * (size_t)K;
    Prefetch pf = prefetch_plan(w, K, K, share, 0);
    for (int k = 0; k < k8; k += LANES) {
        v16f p, b0, b1, b2, b3;
        prefetch_step(&pf, k);
        BCAST8(b0, w + k), BCAST8(b1, w1 + k), BCAST8(b2, w2 + k), BCAST8(b3, w3 + k);
        LOAD16(p, xp + 2 * k);
        MAC16(a0, p, b0), MAC16(a1, p, b1), MAC16(a2, p, b2), MAC16(a3, p, b3);
    }
    store_pair(&a0, &a1, &a2, &a3, x, w, bias, y, k8, K, N);
}
#else
#define PAIRED 0
#endif

// 2 rows x 4 columns.
static inline __attribute__((always_inline)) void tile_2x4(const float *restrict x, const float *restrict w,
                                                           const float *bias, float *restrict y, int K, int N,
                                                           Share share) {
    v8f a00 = {0}, a01 = {0}, a02 = {0}, a03 = {0}, a10 = {0}, a11 = {0}, a12 = {0}, a13 = {0};
    const float *x1 = x + K, *w1 = w + K, *w2 = w + 2 * (size_t)K, *w3 = w + 3 * (size_t)K;
    Prefetch pf = prefetch_plan(w, K, K, share, 0);
    int k8 = K & ~(LANES - 1);
    for (int k = 0; k < k8; k += LANES) {
        v8f p, q, b0, b1, b2, b3;
        prefetch_step(&pf, k);
        LOAD8(p, x + k), LOAD8(q, x1 + k);
        LOAD8(b0, w + k), LOAD8(b1, w1 + k), LOAD8(b2, w2 + k), LOAD8(b3, w3 + k);
        MAC(a00, p, b0), MAC(a01, p, b1), MAC(a02, p, b2), MAC(a03, p, b3);
        MAC(a10, q, b0), MAC(a11, q, b1), MAC(a12, q, b2), MAC(a13, q, b3);
    }
    store4(reduce4(&a00, &a01, &a02, &a03), x, w, K, bias, y, k8, K);
    store4(reduce4(&a10, &a11, &a12, &a13), x1, w, K, bias, y + N, k8, K);
}

// Where the build has FMA but not AVX-512 (16 vector registers), 3 rows x 4 columns: 12 accumulators, the three
// rows' vectors and one weight vector. PIN keeps a loaded vector in a register: without it GCC reads the weights or
// the rows again inside each fused multiply-add, 15-16 loads per 12 of them instead of 7, and the tile runs at the
// 2x4's speed (about 60% of OpenBLAS's sgemm on Zen 3, against 83-98% with it).
#if !PAIRED && defined(__FMA__) && defined(__AVX__)
#define THREE_ROWS 1
#define PIN(v) ({ __asm__("" : "+x"(v)); })
static inline __attribute__((always_inline)) void tile_3x4(const float *restrict x, const float *restrict w,
                                                           const float *bias, float *restrict y, int K, int N,
                                                           Share share) {
    v8f a[12] = {0};  // a[4 r + c]: row r, column c
    int k8 = K & ~(LANES - 1);
    const float *x1 = x + K, *x2 = x + 2 * (size_t)K, *w1 = w + K, *w2 = w + 2 * (size_t)K, *w3 = w + 3 * (size_t)K;
    Prefetch pf = prefetch_plan(w, K, K, share, 0);
    for (int k = 0; k < k8; k += LANES) {
        v8f p, q, r, b;
        prefetch_step(&pf, k);
        LOAD8(p, x + k), LOAD8(q, x1 + k), LOAD8(r, x2 + k);
        PIN(p), PIN(q), PIN(r);
        LOAD8(b, w + k), PIN(b), MAC(a[0], p, b), MAC(a[4], q, b), MAC(a[8], r, b);
        LOAD8(b, w1 + k), PIN(b), MAC(a[1], p, b), MAC(a[5], q, b), MAC(a[9], r, b);
        LOAD8(b, w2 + k), PIN(b), MAC(a[2], p, b), MAC(a[6], q, b), MAC(a[10], r, b);
        LOAD8(b, w3 + k), PIN(b), MAC(a[3], p, b), MAC(a[7], q, b), MAC(a[11], r, b);
    }
    store4(reduce4(&a[0], &a[1], &a[2], &a[3]), x, w, K, bias, y, k8, K);
    store4(reduce4(&a[4], &a[5], &a[6], &a[7]), x1, w, K, bias, y + N, k8, K);
    store4(reduce4(&a[8], &a[9], &a[10], &a[11]), x2, w, K, bias, y + 2 * (size_t)N, k8, K);
}
#else
#define THREE_ROWS 0
#endif

// 1 row x 4 columns (decode and odd rows), weight rows ldw floats apart.
static inline __attribute__((always_inline)) void tile_1x4(const float *restrict x, const float *restrict w,
                                                           size_t ldw, const float *bias, float *restrict y, int K,
                                                           Share share) {
    v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    const float *w1 = w + ldw, *w2 = w + 2 * ldw, *w3 = w + 3 * ldw;
    Prefetch pf = prefetch_plan(w, ldw, K, share, 0);
    int k8 = K & ~(LANES - 1);
    for (int k = 0; k < k8; k += LANES) {
        v8f p, b0, b1, b2, b3;
        prefetch_step(&pf, k);
        LOAD8(p, x + k);
        LOAD8(b0, w + k), LOAD8(b1, w1 + k), LOAD8(b2, w2 + k), LOAD8(b3, w3 + k);
        MAC(a0, p, b0), MAC(a1, p, b1), MAC(a2, p, b2), MAC(a3, p, b3);
    }
    store4(reduce4(&a0, &a1, &a2, &a3), x, w, ldw, bias, y, k8, K);
}

// A single output (edge columns).
static inline __attribute__((always_inline)) void tile_1x1(const float *restrict x, const float *restrict w,
                                                           const float *bias, float *restrict y, int K) {
    float s = dot(x, w, K);
    *y = bias ? s + *bias : s;
}

// Batch-1 decode reads a block's weight rows one output at a time (row_in_order) up to this K, and in four streams
// above it (row_in_quarters). Measured on a Zen 4 VM (1 thread, 2 MiB pages, results/cpu-bench-history.md): one stream
// was 3-5% faster at K = 768 and as fast at 1536-2048, but fell to 23 GB/s at K = 4096 and 19 GB/s at 8960, where four
// streams held 32 GB/s (0.89 of the read test). Likely because four outputs share each load of x, which at that length
// no longer stays in L1 beside the stream (the VM had no counters to show it).
#define IN_ORDER_MAX_K 2048

// dot() over a weight row that continues a stream read front to back: the same multiply-adds in the same order (so the
// same bits), two steps a loop (one prefetch per 64-byte line; a step a loop ran 6-8% slower on that VM).
static inline __attribute__((always_inline)) float dot_streamed(const float *x, const float *w, int K) {
    v8f acc = {0}, xv, wv;
    int k8 = K & ~(LANES - 1), k = 0;
    for (; k + 2 * LANES <= k8; k += 2 * LANES) {
        __builtin_prefetch((const char *)(w + k) + STREAM_AHEAD_BYTES, 0, 3);
        LOAD8(xv, x + k), LOAD8(wv, w + k), MAC(acc, xv, wv);
        LOAD8(xv, x + k + LANES), LOAD8(wv, w + k + LANES), MAC(acc, xv, wv);
    }
    if (k < k8) LOAD8(xv, x + k), LOAD8(wv, w + k), MAC(acc, xv, wv);
    return finish(&acc, x, w, k8, K);
}

// A single row against a whole block's columns, one output at a time, so the block's weights are read front to back
// as one stream; twice as fast as four adjacent rows at once, whose four nearby read points confuse the hardware
// prefetcher (Zen 4 and Zen 5 VMs). Each output takes tile_1x1's operations, the same as tile_1x4's for that output.
static inline __attribute__((always_inline)) void row_in_order(const float *restrict x, const float *restrict w,
                                                               const float *bias, float *restrict y, int j0, int j1,
                                                               int K) {
    for (int j = j0; j < j1; j++) {
        float s = dot_streamed(x, w + (size_t)j * K, K);
        y[j] = bias ? s + bias[j] : s;
    }
}

// A single row against a whole block of COL_BLOCK columns: 1x4 tiles over columns c, c + Q, c + 2Q, c + 3Q (Q a
// quarter of the block), so each tile's four weight rows continue the previous tile's, and the block is read as four
// long streams, each of which the hardware prefetcher follows. Each output takes tile_1x4's operations.
static inline __attribute__((always_inline)) void row_in_quarters(const float *restrict x, const float *restrict w,
                                                                  const float *bias, float *restrict y, int j0, int K) {
    enum { Q = COL_BLOCK / 4 };
    for (int c = j0; c < j0 + Q; c++) {
        float s[4];
        tile_1x4(x, w + (size_t)c * K, (size_t)Q * K, NULL, s, K, (Share){0, 0});
        for (int q = 0; q < 4; q++) y[c + q * Q] = bias ? s[q] + bias[c + q * Q] : s[q];
    }
}

#if PAIRED
// A packed weight's chunks over k (matmul_pack_make): the octets' packed rows for one, 8 KiB, stay in L1 beside the
// weight stream. Unchunked, the stream evicted them (24 KiB at K = 768): in a throwaway test on a Zen 5 VM, a lone
// octet's tiles read packed weights at 0.80 of the read test at K = 768 and 0.62 at K = 3072, chunks of 256 at
// 0.93-0.95 (row-major weights in chunks of 256, at most 0.80: 64 rows read in pieces).
#define PACK_CHUNK 256

// Where tile t's piece of column block j0's chunk at k0 starts in a weight packed by matmul_pack_make.
static inline size_t pack_piece(int j0, int j1, int k8, int k0, int k1, int t) {
    return (size_t)j0 * k8 + (size_t)((j1 - j0) & ~3) * k0 + (size_t)4 * t * (k1 - k0);
}

// The octets of rows [i0, i1) (at most ROW_BLOCK) against the block's whole tiles of columns, their weights from the
// packed copy: chunk by chunk, each octet over every tile of the chunk (the block's one stream; the octets after the
// first find it in L2). A last octet of fewer rows is completed by the zero rows of x and xp (parts_product pads them):
// its tiles store all eight rows into `part`, whose live rows then go to y. Returns i1: no rows left for the other
// tiles.
static inline __attribute__((always_inline)) int octets_packed(const float *x, const float *xp, const float *w,
                                                               const float *wpack, const float *bias, float *y,
                                                               int i0, int i1, int j0, int j1, int N, int K) {
    int k8 = K & ~(LANES - 1), tiles = (j1 - j0) / 4;
    size_t pair = 2 * (size_t)k8;
    v16f acc[ROW_BLOCK / 8][COL_BLOCK / 4][16];
    float part[COL_BLOCK / 4][8][4];  // the last octet's outputs where it has fewer than 8 live rows
    for (int k0 = 0; k0 < k8; k0 += PACK_CHUNK) {
        int k1 = k0 + PACK_CHUNK < k8 ? k0 + PACK_CHUNK : k8;
        for (int r0 = i0; r0 < i1; r0 += 8)
            for (int t = 0, j = j0; t < tiles; t++, j += 4) {
                bool whole = r0 + 8 <= i1;
                tile_8x4_packed(xp + (size_t)r0 / 2 * pair, x + (size_t)r0 * K, w + (size_t)j * K,
                                wpack + pack_piece(j0, j1, k8, k0, k1, t), bias ? bias + j : NULL,
                                whole ? y + (size_t)r0 * N + j : part[t][0], K, whole ? N : 4, k0, k1,
                                acc[(r0 - i0) / 8][t]);
            }
    }
    int r0 = i0 + ((i1 - i0) & ~7);
    for (int t = 0; t < tiles && r0 < i1; t++)
        for (int r = r0; r < i1; r++) memcpy(y + (size_t)r * N + j0 + 4 * t, part[t][r - r0], sizeof part[t][0]);
    return i1;
}
#endif

// Tile t's part of the prefetches where the first `parts` tiles share them.
static inline Share share_of(int t, int parts) { return (Share){t, t < parts ? parts : 0}; }

// One cache block: rows [i0, i1) x columns [j0, j1). The block's first row tiles to meet a tile's four weight rows
// read them from memory (a decode group streams the weights once) and prefetch the next tile's; the others find them
// in cache. Octets of rows (PAIRED builds) run over all the block's columns in turn, one k chunk of at most K_CHUNK
// floats at a time where the block has more than one, so the octet's packed chunk (xp, i0 even; 24 KiB at most)
// stays in L1 and the block's weight rows in L2; the remaining rows take the columns outer.
static inline __attribute__((always_inline)) void block(const float *x, const float *xp, const float *w,
                                                        const float *wpack, const float *bias, float *y, int i0,
                                                        int i1, int j0, int j1, int N, int K) {
    int r0 = i0;
#if PAIRED
    if (wpack) r0 = octets_packed(x, xp, w, wpack, bias, y, i0, i1, j0, j1, N, K);
    int k8 = K & ~(LANES - 1), chunks = k8 > K_CHUNK && i1 - i0 > 8 ? (k8 + K_CHUNK - 1) / K_CHUNK : 1;
    size_t pair = 2 * (size_t)k8;  // floats per packed pair
    v16f acc[COL_BLOCK / 4][16];   // each tile's accumulators between k chunks
    for (; r0 + 8 <= i1; r0 += 8)
        for (int c = 0; c < chunks; c++) {
            // in 64 bits: c (k8 / 8) passes 2^31 from K of about 2^21.7 (the o projection's Hq hd may be 2^22)
            int k0 = (int)((int64_t)c * (k8 / LANES) / chunks * LANES);
            int k1 = (int)((int64_t)(c + 1) * (k8 / LANES) / chunks * LANES), j = j0;
            for (; j + 4 <= j1; j += 4)
                tile_8x4(xp + (size_t)r0 / 2 * pair, x + (size_t)r0 * K, w + (size_t)j * K, bias ? bias + j : NULL,
                         y + (size_t)r0 * N + j, K, N, share_of(0, r0 == i0), k0, k1, acc[(j - j0) / 4]);
        }
#else
    (void)xp, (void)wpack;
#endif
    if (i1 - i0 == 1) {
        if (K > IN_ORDER_MAX_K && j1 - j0 == COL_BLOCK)
            row_in_quarters(x + (size_t)r0 * K, w, bias, y + (size_t)r0 * N, j0, K);
        else
            row_in_order(x + (size_t)r0 * K, w, bias, y + (size_t)r0 * N, j0, j1, K);
        return;
    }
    // The remaining rows go in tiles of ROWS (the last one shorter), which prefetch when no octet came before them.
    enum { ROWS = THREE_ROWS ? 3 : 2 };
    int tiles = (i1 - r0 + ROWS - 1) / ROWS, parts = r0 > i0 ? 0 : tiles < SHARERS ? tiles : SHARERS;
    int j = j0;
    for (; j + 4 <= j1; j += 4) {
        const float *wj = w + (size_t)j * K, *bj = bias ? bias + j : NULL;
        int i = r0, t = 0;
#if PAIRED
        for (; i + 2 <= i1; i += 2, t++)
            tile_pair(xp + (size_t)i / 2 * pair, x + (size_t)i * K, wj, bj, y + (size_t)i * N + j, K, N,
                      share_of(t, parts));
#else
#if THREE_ROWS
        for (; i + 3 <= i1; i += 3, t++)
            tile_3x4(x + (size_t)i * K, wj, bj, y + (size_t)i * N + j, K, N, share_of(t, parts));
#endif
        for (; i + 2 <= i1; i += 2, t++)
            tile_2x4(x + (size_t)i * K, wj, bj, y + (size_t)i * N + j, K, N, share_of(t, parts));
#endif
        if (i < i1) tile_1x4(x + (size_t)i * K, wj, K, bj, y + (size_t)i * N + j, K, share_of(t, parts));
    }
    for (; j < j1; j++)
        for (int i = i0; i < i1; i++)
            tile_1x1(x + (size_t)i * K, w + (size_t)j * K, bias ? bias + j : NULL, y + (size_t)i * N + j, K);
}

__attribute__((target("avx2"))) static void block_avx2(const float *x, const float *xp, const float *w,
                                                       const float *wpack, const float *bias, float *y, int i0,
                                                       int i1, int j0, int j1, int N, int K) {
    block(x, xp, w, wpack, bias, y, i0, i1, j0, j1, N, K);
}

static void block_base(const float *x, const float *xp, const float *w, const float *wpack, const float *bias,
                       float *y, int i0, int i1, int j0, int j1, int N, int K) {
    block(x, xp, w, wpack, bias, y, i0, i1, j0, j1, N, K);
}

__attribute__((target("avx2"))) static float dot_avx2(const float *x, const float *w, int K) { return dot(x, w, K); }
static float dot_base(const float *x, const float *w, int K) { return dot(x, w, K); }

// y[j] = dot(x, w + j ldw) for j < n, four at a time.
static inline __attribute__((always_inline)) void dots(const float *x, const float *w, size_t ldw, int n, int K,
                                                       float *y) {
    int j = 0;
    for (; j + 4 <= n; j += 4) tile_1x4(x, w + j * ldw, ldw, NULL, y + j, K, (Share){0, 0});
    for (; j < n; j++) y[j] = dot(x, w + j * ldw, K);
}

__attribute__((target("avx2"))) static void dots_avx2(const float *x, const float *w, size_t ldw, int n, int K,
                                                      float *y) {
    dots(x, w, ldw, n, K, y);
}
static void dots_base(const float *x, const float *w, size_t ldw, int n, int K, float *y) { dots(x, w, ldw, n, K, y); }

// y[i ldy] = dot(x + i ldx, w + i ldw) for i < n, one at a time: where the w rows follow each other (a cached key row's
// heads, and the next key's after them) they are then read in address order, one stream, prefetched as batch 1's
// weights are (decode's attention read its caches at 0.86 of the read test on a Zen 5 VM, 0.75 without, a group of 8
// at configs/small.ini's shapes). Four at a time, reading four places of the row at once, attention read its caches
// 18-28% slower on a Zen 4 VM.
static inline __attribute__((always_inline)) void dot_pairs(const float *x, size_t ldx, const float *w, size_t ldw,
                                                            int n, int K, float *y, size_t ldy) {
    for (int i = 0; i < n; i++) y[i * ldy] = dot_streamed(x + i * ldx, w + i * ldw, K);
}

// Attention's scores for groups of 4 or more query heads a key head, key by key: the group four at a time against
// the key head's row, through tile_1x4 with the key as its x and the four query heads as its weight rows (products
// commute, so each score has dot()'s bits), the last four overlapping the previous ones where the group is not a
// multiple of 4 (an output computed twice has the same bits).
static inline __attribute__((always_inline)) void group_scores(const float *q, int Hq, int Hk, int hd, const float *k,
                                                               size_t ldk, int n, float *e, size_t lde) {
    int group = Hq / Hk, last = group - 4;
    for (int j = 0; j < n; j++)
        for (int c = 0; c < Hk; c++) {
            const float *kc = k + (size_t)j * ldk + (size_t)c * hd, *qc = q + (size_t)c * group * hd;
            float *ec = e + (size_t)j * lde + (size_t)c * group;
            for (int g = 0; g < last; g += 4)
                tile_1x4(kc, qc + (size_t)g * hd, (size_t)hd, NULL, ec + g, hd, (Share){0, 0});
            tile_1x4(kc, qc + (size_t)last * hd, (size_t)hd, NULL, ec + last, hd, (Share){0, 0});
        }
}

__attribute__((target("avx2"))) static void group_scores_avx2(const float *q, int Hq, int Hk, int hd, const float *k,
                                                               size_t ldk, int n, float *e, size_t lde) {
    group_scores(q, Hq, Hk, hd, k, ldk, n, e, lde);
}
static void group_scores_base(const float *q, int Hq, int Hk, int hd, const float *k, size_t ldk, int n, float *e,
                              size_t lde) {
    group_scores(q, Hq, Hk, hd, k, ldk, n, e, lde);
}

__attribute__((target("avx2"))) static void dot_pairs_avx2(const float *x, size_t ldx, const float *w, size_t ldw,
                                                           int n, int K, float *y, size_t ldy) {
    dot_pairs(x, ldx, w, ldw, n, K, y, ldy);
}
static void dot_pairs_base(const float *x, size_t ldx, const float *w, size_t ldw, int n, int K, float *y,
                           size_t ldy) {
    dot_pairs(x, ldx, w, ldw, n, K, y, ldy);
}

void matmul_dot_pairs(const float *x, size_t ldx, const float *w, size_t ldw, int n, int K, float *y, size_t ldy) {
    (__builtin_cpu_supports("avx2") ? dot_pairs_avx2 : dot_pairs_base)(x, ldx, w, ldw, n, K, y, ldy);
}

// Groups of 4 or more query heads a key head four at a time (on a Zen 4 VM, 14 / 2 heads' attention took 7-14% less
// time, 16 / 4 10-16% and 32 / 8 12%: results/cpu-bench-history.md); smaller ones one head at a time, through dot_pairs
// per key row, whose heads then follow each other in address order (inlined into one loop over the keys, 12 / 12 heads
// ran 9% slower in L2).
void matmul_head_scores(const float *q, int Hq, int Hk, int hd, const float *k, size_t ldk, int n, float *e,
                        size_t lde) {
    int group = Hq / Hk;
    if (group >= 4) {
        (__builtin_cpu_supports("avx2") ? group_scores_avx2 : group_scores_base)(q, Hq, Hk, hd, k, ldk, n, e, lde);
        return;
    }
    for (int j = 0; j < n; j++) {
        const float *kj = k + (size_t)j * ldk;
        float *ej = e + (size_t)j * lde;
        if (group == 1) matmul_dot_pairs(q, (size_t)hd, kj, (size_t)hd, Hq, hd, ej, 1);
        else
            for (int c = 0; c < Hk; c++)
                matmul_dot_pairs(q + (size_t)c * group * hd, (size_t)hd, kj + (size_t)c * hd, 0, group, hd,
                                 ej + c * group, 1);
    }
}

void matmul_dots(const float *x, const float *w, size_t ldw, int n, int K, float *y) {
    (__builtin_cpu_supports("avx2") ? dots_avx2 : dots_base)(x, w, ldw, n, K, y);
}

float matmul_dot(const float *x, const float *w, int K) {
    return __builtin_cpu_supports("avx2") ? dot_avx2(x, w, K) : dot_base(x, w, K);
}

void matmul_xwt(const float *x, const float *w, const float *bias, float *y, int M, int N, int K) {
    matmul_xwt_isa(x, w, bias, y, M, N, K, __builtin_cpu_supports("avx2"));
}

// x's rows 2p and 2p + 1, eight floats of each in turn: xp[p] holds x[2p][0..7], x[2p+1][0..7], x[2p][8..15], ...
// up to K rounded down to 8 (the tail is read from x).
static void pack_pair(const float *x, int K, int p, float *xp) {
    int k8 = K & ~(LANES - 1);
    for (int k = 0; k < k8; k += LANES) {
        float *d = xp + ((size_t)p * k8 + (size_t)k) * 2;
        memcpy(d, x + (size_t)(2 * p) * K + k, LANES * sizeof *d);
        memcpy(d + LANES, x + (size_t)(2 * p + 1) * K + k, LANES * sizeof *d);
    }
}

// Decode's small operands change cores every product: x was written by whichever thread ran the operation before,
// and y is read next by the thread that runs the one after. Where the two cores sit on two chiplets, each cache line
// between them takes a trip through the memory fabric (a round trip of about 330 ns on a Zen 4 VM, 60 ns within one),
// and a loop's loads fetch only a few lines at a time; prefetching the whole operand at once overlaps those trips.
#define HANDOVER_MAX_FLOATS 16384

static void prefetch_handover(const float *p, size_t n) {
    if (n > HANDOVER_MAX_FLOATS) return;
    for (size_t i = 0; i < n; i += 16) __builtin_prefetch(p + i, 0, 2);
}

// ---- Packed copies of weights for decode groups (matmul_pack_make) ----

typedef struct {
    const float *w, *packed;
    int N, K;
} Packed;

struct MatmulPack {
    float *buf;    // pages of its own (pages_map_apart), for the one generation it serves
    size_t bytes;
    Packed *list;  // sorted by w
    int n;
};

static const MatmulPack *active_pack;  // the one matmul_pack_make registered, until matmul_pack_free

static int by_w(const void *a, const void *b) {
    const float *x = ((const Packed *)a)->w, *y = ((const Packed *)b)->w;
    return (x > y) - (x < y);
}

// The packed copy of w [N, K] where the active pack holds one of that shape, else NULL.
static const float *pack_of(const float *w, int N, int K) {
    const MatmulPack *p = active_pack;
    if (!p) return NULL;
    const Packed *f = bsearch(&(Packed){.w = w}, p->list, (size_t)p->n, sizeof *p->list, by_w);
    return f && f->N == N && f->K == K ? f->packed : NULL;
}

bool matmul_pack_supported(void) { return PAIRED; }

#if PAIRED
// w [N, K] in the order octets_packed reads it: column block by column block, in each chunk by chunk over k < k8, in
// each the block's whole tiles of four columns in turn, each tile's piece step by step over k, eight floats of each
// of its rows in turn. N k8 floats at most; the edge columns and the tail past k8 stay in w alone.
static void pack_weight(const float *w, int N, int K, float *out) {
    int k8 = K & ~(LANES - 1), blocks = (N + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < blocks; b++) {
        int j0 = b * COL_BLOCK, j1 = j0 + COL_BLOCK < N ? j0 + COL_BLOCK : N;
        for (int k0 = 0; k0 < k8; k0 += PACK_CHUNK) {
            int k1 = k0 + PACK_CHUNK < k8 ? k0 + PACK_CHUNK : k8;
            for (int t = 0; t < (j1 - j0) / 4; t++) {
                float *q = out + pack_piece(j0, j1, k8, k0, k1, t);
                for (int k = k0; k < k1; k += LANES)
                    for (int r = 0; r < 4; r++, q += LANES)
                        memcpy(q, w + (size_t)(j0 + 4 * t + r) * K + k, LANES * sizeof *q);
            }
        }
    }
}
#endif

size_t matmul_pack_bytes(const MatmulWeight *ws, int n) {
    size_t floats = 0;
    for (int i = 0; i < n; i++) floats += (size_t)ws[i].N * (size_t)(ws[i].K & ~(LANES - 1));
    return floats * sizeof(float);
}

MatmulPack *matmul_pack_make(const MatmulWeight *ws, int n) {
    if (!PAIRED || n <= 0) return NULL;
    if (active_pack) {  // a caller's bug: one pack at a time
        fprintf(stderr, "rlvr: matmul_pack_make: a pack is already active\n");
        abort();
    }
    MatmulPack *p = xcalloc(1, sizeof *p);
    p->list = xmalloc((size_t)n * sizeof *p->list);
    p->bytes = matmul_pack_bytes(ws, n) + 1;
    p->buf = pages_map_apart(p->bytes);
    if (!p->buf) {  // no room for the copy: the products read the weights as they are
        free(p->list), free(p);
        return NULL;
    }
#if PAIRED
    for (size_t i = 0, at = 0; i < (size_t)n; at += (size_t)ws[i].N * (size_t)(ws[i].K & ~(LANES - 1)), i++) {
        pack_weight(ws[i].w, ws[i].N, ws[i].K, p->buf + at);
        p->list[p->n++] = (Packed){ws[i].w, p->buf + at, ws[i].N, ws[i].K};
    }
#endif
    qsort(p->list, (size_t)p->n, sizeof *p->list, by_w);
    active_pack = p;
    return p;
}

void matmul_pack_free(MatmulPack *p) {
    if (!p) return;
    if (active_pack == p) active_pack = NULL;
    pages_free(p->buf, p->bytes), free(p->list), free(p);
}

// Block b of a product over several parts: its part, and its row and column block within it.
static const MatmulPart *part_block(const MatmulPart *parts, int row_blocks, long b, int *rb, int *cb) {
    for (;; parts++) {
        long blocks = (long)row_blocks * ((parts->N + COL_BLOCK - 1) / COL_BLOCK);
        if (b < blocks) {
            *rb = (int)(b % row_blocks), *cb = (int)(b / row_blocks);
            return parts;
        }
        b -= blocks;
    }
}

// matmul_xwt_parts, or with `then` (parts of one width) matmul_xwt_parts_then.
static void parts_product(const float *x, int M, int K, const MatmulPart *parts, int n_parts, const MatmulThen *then,
                          int avx2) {
    int row_blocks = (M + ROW_BLOCK - 1) / ROW_BLOCK;
    long n_blocks = 0;
    double macs = 0;
    for (int p = 0; p < n_parts; p++)
        n_blocks += (long)row_blocks * ((parts[p].N + COL_BLOCK - 1) / COL_BLOCK), macs += (double)M * parts[p].N * K;
    if (then) n_blocks /= n_parts;  // a unit: the same block of every part
    int k8 = K & ~(LANES - 1), pairs = PAIRED && k8 ? M / 2 : 0;  // the paired tiles' rows, packed by the threads
    // The weights' packed copies, for a decode group of MATMUL_PACKED_MIN_ROWS to ROW_BLOCK rows. Its last octet is
    // completed with zero rows (x_pad), whose outputs no one keeps: at these few rows the product waits on the weight
    // stream, not on the multiply-adds, and each live row's sums are the same whatever rows are beside it.
    const float *wpack[n_parts];
    bool padded = false;
    for (int p = 0; p < n_parts; p++) {
        wpack[p] = pairs && M >= MATMUL_PACKED_MIN_ROWS && M <= ROW_BLOCK ? pack_of(parts[p].w, parts[p].N, K) : NULL;
        padded |= wpack[p] && M % 8;
    }
    float *x_pad = NULL;
    if (padded) {
        int rows = (M + 7) & ~7;
        x_pad = xmalloc((size_t)rows * K * sizeof *x_pad);
        memcpy(x_pad, x, (size_t)M * K * sizeof *x_pad);
        memset(x_pad + (size_t)M * K, 0, (size_t)(rows - M) * K * sizeof *x_pad);
        x = x_pad, pairs = rows / 2;
    }
    size_t packed = (size_t)pairs * 2 * (size_t)k8;
    // Decode's packed rows (64 KiB or less): each thread packs every pair into a buffer of its own, in its own cache.
    // Packed once, half by each thread, each read the other's half: on two chiplets those lines crossed between the
    // cores twice a product (8 rows x 512 x 768 from L2: 42 us against 36, results/cpu-bench-history.md).
    bool own_pack = packed <= HANDOVER_MAX_FLOATS;
    float *shared_xp = pairs && !own_pack ? xmalloc(packed * sizeof *shared_xp) : NULL;
    // The runs are set before the threads start, for the team the region should get, so no thread waits for
    // another before its first block (a barrier costs 1 us where the cores sit on two chiplets).
    bool parallel = n_blocks > 1 && macs > 1e5;
    int team = parallel ? omp_get_max_threads() : 1;
    UnitRun runs[team];
    for (int t = 0; t < team; t++) unit_run_init(runs, t, team, (uint32_t)n_blocks);  // < 2^32 blocks: 32 TiB out
#pragma omp parallel if (parallel)
    {
        // Column-major block order, part after part (with `then`, a unit is the same block of each part in turn):
        // consecutive blocks share a slice of w, the larger operand in decode. Each thread takes one contiguous run of
        // blocks, so in decode it reads its own part of the weights as one stream: handed out in turn (dynamic), they
        // read 12-17% slower on 2 threads where a Zen 4 VM gave them 55-69 GB/s (results/cpu-bench-history.md). A
        // thread done with its run takes blocks from the back of the others'.
        int me = omp_get_thread_num(), nt = omp_get_num_threads();
        if (nt != team) {  // a smaller team than asked for (inside another parallel region, say): its own runs
            unit_run_init(runs, me, nt, (uint32_t)n_blocks);
#pragma omp barrier
        }
        // The rows this thread reads from x: all of them where it packs every pair, else those not packed in pairs.
        size_t first_row = own_pack ? 0 : 2 * (size_t)pairs;
        prefetch_handover(x + first_row * K, ((size_t)M - first_row) * K);
        float *xp = shared_xp;
        if (pairs && own_pack) {
            xp = xmalloc(packed * sizeof *xp);
            for (int p = 0; p < pairs; p++) pack_pair(x, K, p, xp);
        }
        if (!own_pack) {
#pragma omp for schedule(static)  // its closing barrier: every pair packed before any block reads them
            for (int p = 0; p < pairs; p++) pack_pair(x, K, p, xp);
        }
        for (long b; (b = unit_claim(runs, me, nt)) >= 0;) {
            // Unit b: block b of one part, or with `then` block b (row block fastest) of every part.
            int rb = (int)(b % row_blocks), cb = (int)(b / row_blocks), n = n_parts;
            const MatmulPart *pt = parts;
            if (!then) pt = part_block(parts, row_blocks, b, &rb, &cb), n = 1;
            int i0 = rb * ROW_BLOCK, j0 = cb * COL_BLOCK;
            int i1 = i0 + ROW_BLOCK < M ? i0 + ROW_BLOCK : M, j1 = j0 + COL_BLOCK < pt->N ? j0 + COL_BLOCK : pt->N;
            for (int p = 0; p < n; p++)
                (avx2 ? block_avx2 : block_base)(x, xp, pt[p].w, wpack[pt - parts + p], pt[p].bias, pt[p].y, i0, i1,
                                                 j0, j1, pt[p].N, K);
            if (then) then->fn(then->ctx, i0, i1, j0, j1);
        }
        if (xp != shared_xp) free(xp);
    }
    // The outputs, for the operation after the product; not with `then`, whose own outputs that operation reads.
    for (int p = 0; p < n_parts && !then; p++) prefetch_handover(parts[p].y, (size_t)M * parts[p].N);
    free(shared_xp), free(x_pad);
}

void matmul_xwt_parts_isa(const float *x, int M, int K, const MatmulPart *parts, int n_parts, int avx2) {
    parts_product(x, M, K, parts, n_parts, NULL, avx2);
}

void matmul_xwt_parts(const float *x, int M, int K, const MatmulPart *parts, int n_parts) {
    matmul_xwt_parts_isa(x, M, K, parts, n_parts, __builtin_cpu_supports("avx2"));
}

void matmul_xwt_parts_then(const float *x, int M, int K, const MatmulPart *parts, int n_parts, MatmulThen then) {
    for (int p = 1; p < n_parts; p++)
        if (parts[p].N != parts[0].N) {  // a caller's bug
            fprintf(stderr, "rlvr: matmul_xwt_parts_then: part %d has %d columns, part 0 %d\n", p, parts[p].N,
                    parts[0].N);
            abort();
        }
    parts_product(x, M, K, parts, n_parts, &then, __builtin_cpu_supports("avx2"));
}

void matmul_xwt_isa(const float *x, const float *w, const float *bias, float *y, int M, int N, int K, int avx2) {
    matmul_xwt_parts_isa(x, M, K, &(MatmulPart){w, bias, y, N}, 1, avx2);
}
