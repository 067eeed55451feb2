// float64 vectors of the build's width, exp over them and a tail-safe float load, for model/logprob.c,
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
// bits. Below -708 it returns 0 (libm's exp is subnormal or 0 there, under 1e-307). NaN stays NaN.
static inline __attribute__((always_inline)) void expvd(const vd *in, vd *out) {
    const vd lo = (vd){0} - 708.0, shift = (vd){0} + 6755399441055744.0;  // 1.5 * 2^52: rounds to an integer
    vl under = *in < lo;
    vd x = (vd)((under & (vl)lo) | (~under & (vl)*in));
    vd t = x * 1.4426950408889634 + shift, n = t - shift;
    vd r = x - n * 6.93147180369123816490e-01 - n * 1.90821492927058770002e-10;
    vd p = (vd){0} + 1.0 / 6227020800.0;  // 1/13!, then Horner down to 1/0!
    p = p * r + 1.0 / 479001600.0, p = p * r + 1.0 / 39916800.0, p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0, p = p * r + 1.0 / 40320.0, p = p * r + 1.0 / 5040.0, p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0, p = p * r + 1.0 / 24.0, p = p * r + 1.0 / 6.0, p = p * r + 0.5;
    p = p * r + 1.0, p = p * r + 1.0;
    vl scale = ((vl)t - (vl)shift + 1023) << 52;  // 2^n
    p = p * (vd)scale;
    *out = (vd)(~under & (vl)p);
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

#endif
