// SwiGLU's element step (model/swiglu_act.c) against the scalar float64 formulas with libm's exp, element by element:
// the vector exp is within about 1 ulp of libm's in float64, so after rounding to float the bits agree. And the MLP's
// first half in one pass (model/model_layers.c gate_up_act) against its products and SwiGLU taken apart.
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/rng.h"
#include "model/matmul.h"
#include "model/model_internal.h"

static float silu_ref(float g) { return (float)(g / (1.0 + exp(-(double)g))); }
static float sigmoid_ref(float g) { return (float)(1.0 / (1.0 + exp(-(double)g))); }

// Equal bits, or both NaN.
static bool same(float a, float b) { return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0; }

// n values: normals at scales 0.1 to 300 (past exp's range at both ends), then the edge cases.
static float *inputs(size_t n, uint64_t seed) {
    static const float edge[] = {0.0f,      -0.0f,     INFINITY, -INFINITY, NAN,     1e-40f,   -1e-40f,
                                 FLT_MAX,   -FLT_MAX,  708.9f,   -708.9f,   709.1f,  -709.1f,  745.2f,
                                 -745.2f,   88.7f,     -88.7f,   103.9f,    -103.9f, 17.0f,    -17.0f};
    float *x = xmalloc(n * sizeof *x);
    Rng r = rng_at(seed, 0, 0, 0);
    for (size_t i = 0; i < n; i++) x[i] = (float)(rng_normal(&r) * (i % 4 == 0 ? 0.1 : i % 4 == 1 ? 3 : i % 4 == 2 ? 30 : 300));
    for (size_t i = 0; i < sizeof edge / sizeof edge[0] && i < n; i++) x[n - 1 - i] = edge[i];
    return x;
}

Test(swiglu_act, forward_matches_scalar_formula) {
    // Several threads' chunks of either size (decode's smaller ones below 8192 elements) and a tail shorter than a
    // vector.
    static const size_t sizes[] = {200003, 2053};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t N = sizes[k];
        float *g = inputs(N, 1), *u = inputs(N, 2), *act = xmalloc(N * sizeof *act);
        for (int threads = 1; threads <= 2; threads++) {
            omp_set_num_threads(threads);
            memset(act, 0xff, N * sizeof *act);
            swiglu_act(g, u, act, N);
            for (size_t i = 0; i < N; i++) {
                float want = silu_ref(g[i]) * u[i];
                cr_assert(same(act[i], want), "element %zu of %zu, %d threads: silu(%a) * %a = %a, want %a", i, N,
                          threads, g[i], u[i], act[i], want);
            }
        }
        free(g), free(u), free(act);
    }
    omp_set_num_threads(1);
}

Test(swiglu_act, backward_matches_scalar_formula) {
    enum { N = 100005 };
    float *g = inputs(N, 3), *u = inputs(N, 4), *dact = inputs(N, 5);
    float *dg = xmalloc(N * sizeof *dg), *du = xmalloc(N * sizeof *du);
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        swiglu_act_back(g, u, dact, dg, du, N);
        for (size_t i = 0; i < N; i++) {
            float s = sigmoid_ref(g[i]);
            float want_du = dact[i] * g[i] * s, want_dg = dact[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
            cr_assert(same(du[i], want_du) && same(dg[i], want_dg), "element %zu (g %a), %d threads: du %a want %a, "
                      "dg %a want %a", i, g[i], threads, du[i], want_du, dg[i], want_dg);
        }
    }
    omp_set_num_threads(1);
    free(g), free(u), free(dact), free(dg), free(du);
}

// The elements past the last whole vector are written, and nothing past n.
Test(swiglu_act, short_spans_write_exactly_n) {
    float g[11], u[11], act[12];
    for (int i = 0; i < 11; i++) g[i] = (float)(i - 5), u[i] = 0.5f;
    for (size_t n = 0; n <= 11; n++) {
        for (int i = 0; i < 12; i++) act[i] = -7.0f;
        swiglu_act(g, u, act, n);
        for (size_t i = 0; i < n; i++) cr_assert(same(act[i], silu_ref(g[i]) * u[i]), "n %zu, element %zu", n, i);
        for (size_t i = n; i < 12; i++) cr_assert_eq(act[i], -7.0f, "n %zu: element %zu written", n, i);
    }
}

// The MLP's first half in one pass (gate_up_act: SwiGLU on each block of g and u right after the thread computed it)
// gives the bits of the two products (matmul_xwt) and then swiglu_act, at widths that end mid-block, on rows in one
// and in several row blocks, on 1 and 3 threads.
Test(swiglu_act, gate_up_act_has_the_separate_passes_bits) {
    enum { D = 40 };
    static const int Fs[] = {70, 129}, Ts[] = {1, 8, 45};
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 3; b++) {
            int F = Fs[a], T = Ts[b];
            size_t n = (size_t)T * F;
            float *x = inputs((size_t)T * D, 6), *wg = inputs((size_t)F * D, 7), *wu = inputs((size_t)F * D, 8);
            for (size_t i = 0; i < (size_t)T * D; i++) x[i] = isfinite(x[i]) ? x[i] / 300 : 0.5f;  // finite products
            for (size_t i = 0; i < (size_t)F * D; i++) {
                wg[i] = isfinite(wg[i]) ? wg[i] / 30 : -0.25f;
                wu[i] = isfinite(wu[i]) ? wu[i] / 30 : 0.75f;
            }
            float *g = xmalloc(n * sizeof *g), *u = xmalloc(n * sizeof *u), *act = xmalloc(n * sizeof *act);
            float *want_g = xmalloc(n * sizeof *g), *want_u = xmalloc(n * sizeof *u), *want = xmalloc(n * sizeof *act);
            matmul_xwt(x, wg, NULL, want_g, T, F, D), matmul_xwt(x, wu, NULL, want_u, T, F, D);
            swiglu_act(want_g, want_u, want, n);
            for (int threads = 1; threads <= 3; threads += 2) {
                omp_set_num_threads(threads);
                memset(act, 0xff, n * sizeof *act);
                gate_up_act(x, wg, wu, T, D, F, g, u, act);
                cr_assert(!memcmp(g, want_g, n * sizeof *g) && !memcmp(u, want_u, n * sizeof *u) &&
                              !memcmp(act, want, n * sizeof *act),
                          "T %d, F %d, %d threads: g, u or act differ from the separate passes'", T, F, threads);
            }
            free(x), free(wg), free(wu), free(g), free(u), free(act), free(want_g), free(want_u), free(want);
        }
    omp_set_num_threads(1);
}
