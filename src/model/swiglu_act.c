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

static inline __attribute__((always_inline)) void store_vf(float *p, size_t n, const vf *v) {
    if (n >= VW) {
        memcpy(p, v, sizeof *v);
        return;
    }
    for (size_t l = 0; l < n; l++) p[l] = (*v)[l];
}

// EXPVD_MAX vectors a step while they last, so that their exps interleave; then one at a time.
static inline __attribute__((always_inline)) void act_span(const float *g, const float *u, float *act, size_t n) {
    enum { N = EXPVD_MAX };
    size_t i = 0;
    for (; i + N * VW <= n; i += N * VW) {
        vd gd[N], e[N];
        load_vd_n(g + i, gd, N);
        exp_neg(gd, e, N);
#pragma GCC unroll 4
        for (int k = 0; k < N; k++) {
            vf uf;
            memcpy(&uf, u + i + k * VW, sizeof uf);
            vf a = __builtin_convertvector(gd[k] / (1.0 + e[k]), vf) * uf;
            memcpy(act + i + k * VW, &a, sizeof a);
        }
    }
    for (; i < n; i += VW) {
        vf gf, uf;
        load_vf(g + i, n - i, &gf), load_vf(u + i, n - i, &uf);
        vd gd = __builtin_convertvector(gf, vd), e;
        exp_neg(&gd, &e, 1);
        vf a = __builtin_convertvector(gd / (1.0 + e), vf) * uf;
        store_vf(act + i, n - i, &a);
    }
}

// du = dact g s, dg = dact u s (1 + g (1 - s)) with s = sigmoid(g): silu'(g) = s (1 + g (1 - s)), for the m <= VW
// elements at i, given e = e^-g.
static inline __attribute__((always_inline)) void back_vector(const float *g, const float *u, const float *dact,
                                                              float *dg, float *du, size_t m, const vd *e) {
    vf gf, uf, df;
    load_vf(g, m, &gf), load_vf(u, m, &uf), load_vf(dact, m, &df);
    vf s = __builtin_convertvector(1.0 / (1.0 + *e), vf);
    vf dui = df * gf * s, dgi = df * uf * s * (1.0f + gf * (1.0f - s));
    store_vf(du, m, &dui), store_vf(dg, m, &dgi);
}

// EXPVD_MAX vectors a step while they last, as act_span; then one at a time.
static inline __attribute__((always_inline)) void back_span(const float *g, const float *u, const float *dact,
                                                            float *dg, float *du, size_t n) {
    enum { N = EXPVD_MAX };
    size_t i = 0;
    for (; i + N * VW <= n; i += N * VW) {
        vd gd[N], e[N];
        load_vd_n(g + i, gd, N);
        exp_neg(gd, e, N);
#pragma GCC unroll 4
        for (int k = 0; k < N; k++)
            back_vector(g + i + k * VW, u + i + k * VW, dact + i + k * VW, dg + i + k * VW, du + i + k * VW, VW, &e[k]);
    }
    for (; i < n; i += VW) {
        vf gf;
        load_vf(g + i, n - i, &gf);
        vd gd = __builtin_convertvector(gf, vd), e;
        exp_neg(&gd, &e, 1);
        back_vector(g + i, u + i, dact + i, dg + i, du + i, n - i, &e);
    }
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

void swiglu_act(const float *g, const float *u, float *act, size_t n) {
    bool avx2 = __builtin_cpu_supports("avx2");
    size_t chunk = chunk_of(n);
#pragma omp parallel for schedule(static) if (n > chunk)
    for (size_t i = 0; i < n; i += chunk)
        (avx2 ? act_span_avx2 : act_span_base)(g + i, u + i, act + i, span(i, n, chunk));
}

void swiglu_act_back(const float *g, const float *u, const float *dact, float *dg, float *du, size_t n) {
    bool avx2 = __builtin_cpu_supports("avx2");
    size_t chunk = chunk_of(n);
#pragma omp parallel for schedule(static) if (n > chunk)
    for (size_t i = 0; i < n; i += chunk)
        (avx2 ? back_span_avx2 : back_span_base)(g + i, u + i, dact + i, dg + i, du + i, span(i, n, chunk));
}
