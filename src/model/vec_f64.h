// float64 vectors of the build's width, exp over them and tail-safe float loads and stores, for model/logprob.c,
// model/swiglu_act.c and model/sample_filter.c. VW lanes: eight (one register) where the build targets AVX-512
// (MARCH), else four (one AVX2 register; wider vectors lower badly there). Every lane does the same IEEE operations in
// the same order on every target (no contraction into fused multiply-adds: -ffp-contract=off), so the results depend
// neither on VW nor on whether a file's AVX2 or baseline code runs.
#ifndef RLVR_MODEL_VEC_F64_H
#define RLVR_MODEL_VEC_F64_H

#include <stddef.h>
#include <string.h>

#ifdef __AVX512F__
enum { VW = 8 };
#else
enum { VW = 4 };
#endif
typedef double vd __attribute__((vector_size(VW * sizeof(double))));
typedef long long vl __attribute__((vector_size(VW * sizeof(long long))));
typedef float vf __attribute__((vector_size(VW * sizeof(float))));

// exp(x) lane by lane for x <= 709, to about 1 ulp: x = n ln2 + r with |r| <= ln2/2 (ln2 in two parts, the first exact
// times any n in range), exp(r) by its Taylor series to degree 13 (truncation below 1e-17), then 2^n from exponent
// bits. Below -708 it returns 0 (libm's exp is subnormal or 0 there, under 1e-307). NaN stays NaN. N vectors at once
// (N <= EXPVD_MAX, a constant where it is called), each step over all N before the next: one vector's chain of some
// 30 dependent operations leaves the core waiting (the draw's 50,257 exps: 86 us on a Zen 4 core one vector at a
// time, 72 four at a time). Each lane's operations are the same whatever N.
enum { EXPVD_MAX = 4 };
static inline __attribute__((always_inline)) void expvd_n(const vd *in, vd *out, int N) {
    const vd lo = (vd){0} - 708.0, shift = (vd){0} + 6755399441055744.0;  // 1.5 * 2^52: rounds to an integer
    static const double inv_fact[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
                                      1.0 / 40320.0,     1.0 / 5040.0,     1.0 / 720.0,     1.0 / 120.0,
                                      1.0 / 24.0,        1.0 / 6.0,        0.5,             1.0,
                                      1.0};  // 1/12! down to 1/0!, after 1/13!
    vl under[EXPVD_MAX];
    vd t[EXPVD_MAX], r[EXPVD_MAX], p[EXPVD_MAX];
#pragma GCC unroll 4
    for (int k = 0; k < N; k++) {
        under[k] = in[k] < lo;
        vd x = (vd)((under[k] & (vl)lo) | (~under[k] & (vl)in[k]));
        t[k] = x * 1.4426950408889634 + shift;
        vd n = t[k] - shift;
        r[k] = x - n * 6.93147180369123816490e-01 - n * 1.90821492927058770002e-10;
        p[k] = (vd){0} + 1.0 / 6227020800.0;  // 1/13!, then Horner down to 1/0!
    }
#pragma GCC unroll 13
    for (int c = 0; c < (int)(sizeof inv_fact / sizeof *inv_fact); c++)
#pragma GCC unroll 4
        for (int k = 0; k < N; k++) p[k] = p[k] * r[k] + inv_fact[c];
#pragma GCC unroll 4
    for (int k = 0; k < N; k++) {
        vl scale = ((vl)t[k] - (vl)shift + 1023) << 52;  // 2^n
        out[k] = (vd)(~under[k] & (vl)(p[k] * (vd)scale));
    }
}

static inline __attribute__((always_inline)) void expvd(const vd *in, vd *out) { expvd_n(in, out, 1); }

// N vectors of VW floats from p (N <= EXPVD_MAX, a constant where it is called), as float64.
static inline __attribute__((always_inline)) void load_vd_n(const float *p, vd *out, int N) {
#pragma GCC unroll 4
    for (int k = 0; k < N; k++) {
        vf f;
        memcpy(&f, p + k * VW, sizeof f);
        out[k] = __builtin_convertvector(f, vd);
    }
}

// VW floats from p; at a span's tail only the n < VW there, the other lanes read as 0.
static inline __attribute__((always_inline)) void load_vf(const float *p, size_t n, vf *v) {
    if (n >= VW) {
        memcpy(v, p, sizeof *v);
        return;
    }
    float a[VW] = {0};
    for (size_t l = 0; l < n; l++) a[l] = p[l];
    memcpy(v, a, sizeof a);
}

// The first n < VW lanes of v to p at a span's tail, else all VW.
static inline __attribute__((always_inline)) void store_vf(float *p, size_t n, const vf *v) {
    if (n >= VW) {
        memcpy(p, v, sizeof *v);
        return;
    }
    for (size_t l = 0; l < n; l++) p[l] = (*v)[l];
}

// sum_i a_i b_i c_i (c NULL: sum_i a_i b_i) over i < D, each product in float64 in that order: lane l of eight sums
// i = l, l + 8, ... in order (a row's tail as lanes that add zeros), then ((l0 + l1) + (l2 + l3)) + ((l4 + l5) +
// (l6 + l7)). Eight chains of adds instead of one, whose D dependent adds took about 1 us at D = 768; the same bits
// whatever VW is.
static inline __attribute__((always_inline)) double sum8_products(const float *a, const float *b, const float *c,
                                                                  int D) {
    enum { L = 8 };
    vd s[L / VW] = {{0}};
    for (int i = 0; i < D; i += L)
        for (int v = 0; v < L / VW && i + v * VW < D; v++) {
            size_t n = (size_t)(D - i - v * VW);
            vf fa, fb, fc;
            load_vf(a + i + v * VW, n, &fa), load_vf(b + i + v * VW, n, &fb);
            vd p = __builtin_convertvector(fa, vd) * __builtin_convertvector(fb, vd);
            if (c) load_vf(c + i + v * VW, n, &fc), p *= __builtin_convertvector(fc, vd);
            s[v] += p;
        }
    double l[L];
    memcpy(l, s, sizeof l);
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

#endif
