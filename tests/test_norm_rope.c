// RMSNorm and RoPE rows (model/model_layers.c) against formulas written out here: RMSNorm's sum of squares (eight
// float64 lanes) against a long double sum, and RoPE, whose threads keep the last position's cos/sin across calls,
// against the HF float32 expressions computed afresh for every row, through calls that change each part of what the
// kept values depend on (theta, head_dim, direction, position) in turn.
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
