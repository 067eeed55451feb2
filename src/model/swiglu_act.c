// SwiGLU's element step, act = silu(g) u, and its backward, in vectors of model/vec_f64.h. silu(g) = g / (1 + e^-g) and
// sigmoid(g) = 1 / (1 + e^-g) are taken in float64 (expvd) and rounded to float; the rest is float. Each element's
// operations do not depend on its neighbours, on VW, on the thread count or on whether the AVX2 or baseline code runs,
// so sampling (decode) and training give the same bits.
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "model/model_internal.h"
#include "model/vec_f64.h"

// Elements per chunk, the unit the threads share: 4096, and 1024 below 8192 elements, so that batch-1 decode's 2048 run
// on two threads. On one thread its SwiGLU took 11-12 us a call on a Zen 4 VM whose cores sat on two chiplets (half
// its input came from the other core), 7-8 us split; on one chiplet 5.3-6.1 us against 4.5.
static size_t chunk_of(size_t n) { return n < 8192 ? 1024 : 4096; }

// e^-g for g as float64, N vectors at once (expvd_n): infinity past expvd's range (-g > 709), as libm's exp overflows to
// there.
static inline __attribute__((always_inline)) void exp_neg(const vd *g, vd *e, int N) {
    const vd top = (vd){0} + 709.0;
    vd x[EXPVD_MAX];
    vl over[EXPVD_MAX];
#pragma GCC unroll 4
    for (int k = 0; k < N; k++) {
        x[k] = -g[k];
        over[k] = x[k] > top;
        x[k] = (vd)((over[k] & (vl)top) | (~over[k] & (vl)x[k]));
    }
    expvd_n(x, e, N);
#pragma GCC unroll 4
    for (int k = 0; k < N; k++) e[k] = (vd)((over[k] & (vl)((vd){0} + INFINITY)) | (~over[k] & (vl)e[k]));
}

// A span's operands, for its vector steps.
typedef struct {
    const float *g, *u, *dact;
    float *act, *dg, *du;
} Span;

// The m <= VW elements at i, given g there as float64 and e = e^-g: act = silu(g) u.
static inline __attribute__((always_inline)) void act_vector(const Span *s, size_t i, size_t m, const vd *g,
                                                             const vd *e) {
    vf uf;
    load_vf(s->u + i, m, &uf);
    vf a = __builtin_convertvector(*g / (1.0 + *e), vf) * uf;
    store_vf(s->act + i, m, &a);
}

// The same for the backward: du = dact g s, dg = dact u s (1 + g (1 - s)) with s = sigmoid(g):
// silu'(g) = s (1 + g (1 - s)).
static inline __attribute__((always_inline)) void back_vector(const Span *s, size_t i, size_t m, const vd *g,
                                                              const vd *e) {
    vf gf = __builtin_convertvector(*g, vf), uf, df;  // exact: g came from float
    load_vf(s->u + i, m, &uf), load_vf(s->dact + i, m, &df);
    vf sg = __builtin_convertvector(1.0 / (1.0 + *e), vf);
    vf dui = df * gf * sg, dgi = df * uf * sg * (1.0f + gf * (1.0f - sg));
    store_vf(s->du + i, m, &dui), store_vf(s->dg + i, m, &dgi);
}

// step over elements [0, n) a vector at a time, given g there as float64 and e^-g: EXPVD_MAX vectors' exps a step while they last, so
// that they interleave, then one at a time. Inline, so that step is inlined too.
static inline __attribute__((always_inline)) void exp_neg_span(const Span *s, size_t n,
                                                               void (*step)(const Span *, size_t, size_t, const vd *,
                                                                            const vd *)) {
    enum { N = EXPVD_MAX };
    size_t i = 0;
    for (; i + N * VW <= n; i += N * VW) {
        vd gd[N], e[N];
        load_vd_n(s->g + i, gd, N);
        exp_neg(gd, e, N);
#pragma GCC unroll 4
        for (int k = 0; k < N; k++) step(s, i + k * VW, VW, &gd[k], &e[k]);
    }
    for (; i < n; i += VW) {
        vf gf;
        load_vf(s->g + i, n - i, &gf);
        vd gd = __builtin_convertvector(gf, vd), e;
        exp_neg(&gd, &e, 1);
        step(s, i, n - i, &gd, &e);
    }
}

static inline __attribute__((always_inline)) void act_span(const float *g, const float *u, float *act, size_t n) {
    exp_neg_span(&(Span){.g = g, .u = u, .act = act}, n, act_vector);
}

static inline __attribute__((always_inline)) void back_span(const float *g, const float *u, const float *dact,
                                                            float *dg, float *du, size_t n) {
    exp_neg_span(&(Span){.g = g, .u = u, .dact = dact, .dg = dg, .du = du}, n, back_vector);
}

__attribute__((target("avx2"))) static void act_span_avx2(const float *g, const float *u, float *act, size_t n) {
    act_span(g, u, act, n);
}
static void act_span_base(const float *g, const float *u, float *act, size_t n) { act_span(g, u, act, n); }

__attribute__((target("avx2"))) static void back_span_avx2(const float *g, const float *u, const float *dact, float *dg,
                                                           float *du, size_t n) {
    back_span(g, u, dact, dg, du, n);
}
static void back_span_base(const float *g, const float *u, const float *dact, float *dg, float *du, size_t n) {
    back_span(g, u, dact, dg, du, n);
}

static size_t span(size_t i, size_t n, size_t chunk) { return n - i < chunk ? n - i : chunk; }

void swiglu_act_span(const float *g, const float *u, float *act, size_t n) {
    (__builtin_cpu_supports("avx2") ? act_span_avx2 : act_span_base)(g, u, act, n);
}

void swiglu_act(const float *g, const float *u, float *act, size_t n) {
    size_t chunk = chunk_of(n);
#pragma omp parallel for schedule(static) if (n > chunk)
    for (size_t i = 0; i < n; i += chunk) swiglu_act_span(g + i, u + i, act + i, span(i, n, chunk));
}

void swiglu_act_back(const float *g, const float *u, const float *dact, float *dg, float *du, size_t n) {
    bool avx2 = __builtin_cpu_supports("avx2");
    size_t chunk = chunk_of(n);
#pragma omp parallel for schedule(static) if (n > chunk)
    for (size_t i = 0; i < n; i += chunk)
        (avx2 ? back_span_avx2 : back_span_base)(g + i, u + i, dact + i, dg + i, du + i, span(i, n, chunk));
}
