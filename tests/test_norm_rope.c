// RMSNorm and RoPE rows (model/model_layers.c) against formulas written out here: RMSNorm's sum of squares (eight
// float64 lanes) against a long double sum; the residual add and norm against its steps one by one; and RoPE, whose
// threads keep the last position's cos/sin across calls, against the HF float32 expressions computed afresh for every
// row, through calls that change each part of what the kept values depend on (theta, head_dim, direction, position)
// in turn.
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "base/error.h"
#include "base/rng.h"
#include "model/model_internal.h"

static float *normals(size_t n, double scale, uint64_t seed) {
    float *x = xmalloc(n * sizeof *x);
    Rng r = rng_at(seed, 0, 0, 0);
    for (size_t i = 0; i < n; i++) x[i] = (float)(rng_normal(&r) * scale);
    return x;
}

// |a - b| in units of the last place of b (floats of one binade apart count as such).
static double ulps(float a, float b) { return fabs((double)a - b) / (nextafterf(fabsf(b), INFINITY) - fabsf(b)); }

Test(norm_rope, rms_norm_matches_long_double_sums) {
    static const int widths[] = {1, 7, 8, 13, 64, 100, 768};  // tails of every length, one vector, whole rows
    enum { T = 5 };
    for (size_t k = 0; k < sizeof widths / sizeof *widths; k++) {
        int D = widths[k];
        float *x = normals((size_t)T * D, k % 2 ? 30 : 0.01, 10 + k), *w = normals((size_t)D, 1, 20 + k);
        float *y = xmalloc((size_t)T * D * sizeof *y), inv[T];
        rms_norm_rows(x, w, y, inv, T, D, 1e-6);
        for (int t = 0; t < T; t++) {
            long double ss = 0;
            for (int i = 0; i < D; i++) ss += (long double)x[t * D + i] * x[t * D + i];
            double r = (double)(1.0L / sqrtl(ss / D + 1e-6L));
            cr_assert(ulps(inv[t], (float)r) <= 1, "D %d row %d: inv %a, want %a", D, t, inv[t], (float)r);
            for (int i = 0; i < D; i++) {
                float want = w[i] * (float)(x[t * D + i] * r);
                cr_assert(ulps(y[t * D + i], want) <= 1, "D %d row %d element %d: %a, want %a", D, t, i,
                          y[t * D + i], want);
            }
        }
        free(x), free(w), free(y);
    }
}

// residual_norm_rows against its three steps written out here: x + y element by element (one float add, so the same
// bits), keep = that sum, and rms_norm_rows of it; at widths with every tail length and row counts on each side of
// the threshold at which the rows go to several threads; and without y (x unchanged). add_floats alike.
Test(norm_rope, residual_norm_adds_keeps_and_normalises) {
    static const int widths[] = {1, 7, 9, 15, 100, 768, 1001};
    static const int rows[] = {1, 3, 9};  // 9 x 768 and 9 x 1001 run on several threads
    omp_set_num_threads(2);
    for (size_t k = 0; k < sizeof widths / sizeof *widths; k++)
        for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
            int D = widths[k], T = rows[r];
            size_t n = (size_t)T * D;
            uint64_t seed = 100 + 10 * k + r;
            float *x = normals(n, 3, seed), *y = normals(n, 0.5, seed + 1), *w = normals((size_t)D, 1, seed + 2);
            float *sum = xmalloc(n * sizeof *sum), *keep = xmalloc(n * sizeof *keep), *out = xmalloc(n * sizeof *out);
            float *want = xmalloc(n * sizeof *want), inv[9], want_inv[9];
            for (size_t i = 0; i < n; i++) sum[i] = x[i] + y[i];
            rms_norm_rows(sum, w, want, want_inv, T, D, 1e-6);
            for (int with_y = 1; with_y >= 0; with_y--) {  // without y, x starts as x + y
                float *xs = xmalloc(n * sizeof *xs);
                memcpy(xs, with_y ? x : sum, n * sizeof *xs);
                residual_norm_rows(xs, with_y ? y : NULL, keep, w, out, inv, T, D, 1e-6);
                const char *what = memcmp(xs, sum, n * sizeof *xs)         ? "x differs from x + y"
                                   : memcmp(keep, sum, n * sizeof *keep)       ? "keep differs from x + y"
                                   : memcmp(out, want, n * sizeof *out)        ? "out differs from rms_norm_rows"
                                   : memcmp(inv, want_inv, T * sizeof *inv)    ? "inv differs from rms_norm_rows"
                                                                               : NULL;
                cr_assert(!what, "D %d, T %d, %s: %s", D, T, with_y ? "with y" : "without y", what);
                free(xs);
            }
            float *a = normals(n, 1, seed + 3);
            memcpy(sum, a, n * sizeof *sum);
            add_floats(a, y, n);
            for (size_t i = 0; i < n; i++)
                cr_assert(memcmp(&a[i], &(float){sum[i] + y[i]}, sizeof(float)) == 0, "add_floats: n %zu, i %zu", n, i);
            free(x), free(y), free(w), free(sum), free(keep), free(out), free(want), free(a);
        }
}

// Row t of x [T, H, hd] rotated by position pos[t] with the HF float32 expressions (inv_freq and the angle in
// float, cos and sin in double rounded to float), computed afresh.
static void rope_reference(float *x, const int *pos, int T, int H, int hd, double theta, int inverse) {
    int half = hd / 2;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < half; i++) {
            float inv_freq = (float)(1.0 / pow(theta, (double)(2 * i) / hd)), angle = (float)pos[t] * inv_freq;
            float c = (float)cos((double)angle), s = (float)sin((double)angle);
            if (inverse) s = -s;
            for (int h = 0; h < H; h++) {
                float *r = x + ((size_t)t * H + h) * hd, a = r[i], b = r[i + half];
                r[i] = a * c - b * s, r[i + half] = b * c + a * s;
            }
        }
}

Test(norm_rope, rope_keeps_no_stale_angles) {
    typedef struct {
        double theta;
        int hd, inverse, T, H, pos[8];  // row t at pos[t % 8]
    } Call;
    // Each call changes one thing the kept cos/sin depend on; the 72 x 8 x 128 rows run on several threads.
    static const Call calls[] = {
        {1e4, 64, 0, 1, 4, {5}},  {1e4, 64, 0, 1, 4, {5}},  // the same position again: kept values
        {1e4, 64, 0, 1, 4, {6}},  {1e6, 64, 0, 1, 4, {6}},  // a new position, then a new theta
        {1e6, 32, 0, 1, 4, {6}},  {1e6, 32, 1, 1, 4, {6}},  // a new head_dim, then the inverse
        {1e6, 32, 0, 1, 4, {6}},  {1e6, 128, 0, 8, 4, {0, 0, 3, 3, 3, 9, 0, 9}},  // rows at mixed positions
        {1e6, 128, 1, 72, 8, {9, 9, 9, 9, 2, 2, 9, 9}}, {1e4, 64, 0, 2, 4, {6, 6}},
    };
    for (int threads = 1; threads <= 3; threads++) {
        omp_set_num_threads(threads);
        for (size_t k = 0; k < sizeof calls / sizeof *calls; k++) {
            const Call *c = &calls[k];
            int pos[72];
            for (int t = 0; t < c->T; t++) pos[t] = c->pos[t % 8];
            size_t n = (size_t)c->T * c->H * c->hd;
            float *got = normals(n, 2, 100 + k), *want = xmalloc(n * sizeof *want);
            memcpy(want, got, n * sizeof *want);
            rope_rows(got, pos, c->T, c->H, c->hd, c->theta, c->inverse);
            rope_reference(want, pos, c->T, c->H, c->hd, c->theta, c->inverse);
            for (size_t i = 0; i < n; i++)
                cr_assert(memcmp(&got[i], &want[i], sizeof *got) == 0, "%d threads, call %zu, element %zu: %a, want %a",
                          threads, k, i, got[i], want[i]);
            free(got), free(want);
        }
    }
    omp_set_num_threads(1);
}
