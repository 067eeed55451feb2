// Forward matrix product with a fixed per-output summation order (src/README.md invariant 2: batch invariance).
// Every output y[i][j] is computed the same way whatever M, the blocking and the thread count: eight float
// lanes over k (lane l sums k = l, l+8, ... in order), lanes reduced as ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)),
// then the remaining k in order, then the bias. So a row's result never depends on the other rows of the batch.
// A lane's step is a multiply then an add, or one fused multiply-add when the build's MARCH has FMA (rlvr
// --version and checkpoints' /meta build_march name it): bits are the same on every CPU that runs one build.
#ifndef RLVR_MATMUL_H
#define RLVR_MATMUL_H

#include <stdbool.h>
#include <stddef.h>

// y[M, N] = x[M, K] · w[N, K]^T (+ bias[N] if non-NULL); w in Hugging Face [out, in] layout.
void matmul_xwt(const float *x, const float *w, const float *bias, float *y, int M, int N, int K);

// matmul_xwt with the kernel chosen by the caller: 0 = the build's baseline, 1 = AVX2 (CPU must have it).
// Both give the same bits; the tests check it.
void matmul_xwt_isa(const float *x, const float *w, const float *bias, float *y, int M, int N, int K, int avx2);

// One of several products of the same x (a layer's q, k and v projections; its gate and up projections):
// y[M, N] = x[M, K] · w[N, K]^T (+ bias[N] if non-NULL).
typedef struct {
    const float *w, *bias;
    float *y;
    int N;
} MatmulPart;
// matmul_xwt for each part, the same bits, in one pass over x: one parallel region instead of one per product, and
// its threads' runs of weight rows continue from one part into the next.
void matmul_xwt_parts(const float *x, int M, int K, const MatmulPart *parts, int n_parts);
void matmul_xwt_parts_isa(const float *x, int M, int K, const MatmulPart *parts, int n_parts, int avx2);

// Work on a block of outputs, rows [i0, i1) and columns [j0, j1) of every part, once all its parts' values are final.
typedef struct {
    void (*fn)(void *ctx, int i0, int i1, int j0, int j1);
    void *ctx;
} MatmulThen;
// matmul_xwt_parts over parts of one width N, the same bits, with each unit of work the same block of every part,
// and then.fn on that block by the thread that computed it, while its outputs are in that thread's caches (a layer's
// SwiGLU on its gate and up blocks).
void matmul_xwt_parts_then(const float *x, int M, int K, const MatmulPart *parts, int n_parts, MatmulThen then);

// Packed copies of weights for decode groups: while a pack is active, a product of MATMUL_PACKED_MIN_ROWS to 32 rows
// (a decode group's octets, the last one completed with zero rows) against one of its weights reads the copy, laid out
// in the order its tiles read it (one stream, in chunks over k whose packed rows stay in L1), instead of four weight
// rows at a time; the same operations in the same order, so the same bits. Only builds whose MARCH has AVX-512 have
// those tiles (matmul_pack_supported); elsewhere matmul_pack_make returns NULL and the products read the weights as
// they are. From 5 rows an octet with its zero rows reads the weights faster than pairs of rows do.
enum { MATMUL_PACKED_MIN_ROWS = 5 };
typedef struct {
    const float *w;  // [N, K]
    int N, K;
} MatmulWeight;
typedef struct MatmulPack MatmulPack;
bool matmul_pack_supported(void);
// Copies the n weights (N K floats each at most) and makes the pack the active one, until matmul_pack_free: the
// weights must not change meanwhile. One pack at a time. NULL: unsupported, or no memory for the copy.
MatmulPack *matmul_pack_make(const MatmulWeight *ws, int n);
// The bytes matmul_pack_make's copy of them takes (their shapes only).
size_t matmul_pack_bytes(const MatmulWeight *ws, int n);
void matmul_pack_free(MatmulPack *p);

// The backward's products in the same fixed order (dist.deterministic: bits independent of CPU and threads), with
// the bits of matmul_xwt on the transposed operands (model/matmul_backward.c).
// y[M, K] = x[M, N] · w[N, K] (added to y when accumulate), summing over N.
void matmul_xw(const float *x, const float *w, float *y, int M, int N, int K, bool accumulate);
// dw[N, K] += dy[T, N]^T · x[T, K], summing over T.
void matmul_xtx_acc(const float *dy, const float *x, float *dw, int T, int N, int K);
// matmul_xw (not accumulating) with x and w given in slices of N, in order: each output's eight lanes are kept
// between slices, so y gets matmul_xw's bits whatever the slices (model/model_head.c's vocabulary slices).
typedef struct XwSlices XwSlices;
XwSlices *matmul_xw_slices_begin(float *y, int M, int N, int K);
// The next n of N: x [M, n] (n floats a row), w [n, K]. n is a multiple of 8 but in the last slice, which writes y,
// frees s and returns NULL.
XwSlices *matmul_xw_slice(XwSlices *s, const float *x, const float *w, int n);

// How far ahead of its loads a stream read front to back (decode's weight rows one at a time, attention's cached keys
// and values) is prefetched into L1. The hardware prefetcher alone held a lone weight row's stream to 0.80 of the read
// test on a Zen 5 VM (1 thread, K = 768 and 2048); 8 KiB (128 cache lines) ahead, 0.95-0.99 (4 KiB: 0.92-0.99, 12 KiB
// as 8; into L2 or non-temporal, the same or less).
#define STREAM_AHEAD_BYTES 8192

// The same product for one output: dot(x, w) over K in the order above.
float matmul_dot(const float *x, const float *w, int K);
// n of them against rows ldw floats apart: y[j] = matmul_dot(x, w + j * ldw, K), the same bits.
void matmul_dots(const float *x, const float *w, size_t ldw, int n, int K, float *y);
// n of them, each with its own x row: y[i ldy] = matmul_dot(x + i ldx, w + i ldw, K), the same bits (ldw 0: one w),
// each w row prefetched STREAM_AHEAD_BYTES ahead as a stream that continues past it.
void matmul_dot_pairs(const float *x, size_t ldx, const float *w, size_t ldw, int n, int K, float *y, size_t ldy);

// Attention's scores of n key rows (ldk floats apart) against Hq query heads of hd floats (q_h at q + h hd), query
// head h against key head h / (Hq / Hk): e[j lde + h] = matmul_dot(q_h, k_j + (h / (Hq / Hk)) hd, hd), the same bits.
void matmul_head_scores(const float *q, int Hq, int Hk, int hd, const float *k, size_t ldk, int n, float *e,
                        size_t lde);

#endif
