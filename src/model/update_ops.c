#include "model/update_ops.h"

#include <math.h>
#include <string.h>

#include "model/vec_f64.h"

void update_adamw(float *p, float *m, float *v, const float *g, size_t n, const AdamWStep *s) {
    // simd: vector division and square root round as the scalar ones do (IEEE), so the bits stay; the Makefile builds
    // this file with -fno-math-errno, without which sqrt's errno branch keeps the loop scalar.
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        double gi = g[i], pi = p[i] - s->decay * p[i];
        double mi = s->beta1 * m[i] + (1.0 - s->beta1) * gi;
        double vi = s->beta2 * v[i] + (1.0 - s->beta2) * gi * gi;
        m[i] = (float)mi;
        v[i] = (float)vi;
        p[i] = (float)(pi - s->lr * (mi / s->c1) / (sqrt(vi / s->c2) + s->eps));
    }
}

double update_sumsq(const float *g, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return s;
}

void update_scale(float *g, size_t n, double scale) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) g[i] = (float)(g[i] * scale);
}

// Grid: value = hi·2^-2 + mid·2^-44 + lo·2^-86 (limbs of 42 bits, unit 2^-86), and its powers of two. Scaling by
// them is exact here (no result leaves double's normal range), as ldexp is, without ldexp's library call per element.
#define TO_GRID 0x1p86    // 1 / the unit
#define LIMB 0x1p42       // one limb's range
#define TWO_LIMBS 0x1p84  // two limbs' range

bool fixed_add(int64_t limbs[3], float x) {
    if (!isfinite(x) || fabsf(x) >= 0x1p40f) return false;
    // Magnitude and sign apart: scaling by a power of two is exact, and each floor/subtraction below keeps a
    // subset of |x|'s 24 mantissa bits (a negative value split directly would need all 126 bits).
    double y = fabs((double)x) * TO_GRID;
    double hi = floor(y / TWO_LIMBS);
    double rest = y - hi * TWO_LIMBS;
    double mid = floor(rest / LIMB);
    double lo = nearbyint(rest - mid * LIMB);  // below the grid: round half to even
    int64_t sign = x < 0 ? -1 : 1;
    limbs[0] += sign * (int64_t)hi;
    limbs[1] += sign * (int64_t)mid;
    limbs[2] += sign * (int64_t)lo;
    return true;
}

double fixed_value(const int64_t limbs[3]) {
    // Each limb sum stays below 2^53 for up to 2^11 micro-batches, so every term is exact in double.
    return (double)limbs[0] * (TWO_LIMBS / TO_GRID) + (double)limbs[1] * (LIMB / TO_GRID) + (double)limbs[2] / TO_GRID;
}

// fixed_add_n: fixed_add's operations lane by lane. floor, nearbyint and the conversion to int64 add 2^52 instead:
// every value they take lies in [0, 2^42], where that sum's last bit is the units bit (so it rounds to the nearest
// integer, ties to even, as nearbyint does in the default mode) and its low mantissa bits are the integer.
#define TWO52 0x1p52
#define SPAN 4096  // elements per thread's chunk

// f = floor(q) and i = f as an integer, for 0 <= q < 2^52.
static inline __attribute__((always_inline)) void floor_int(const vd *q, vd *f, vl *i) {
    const vd two52 = (vd){0} + TWO52, one = (vd){0} + 1.0;
    vd t = (*q + two52) - two52;           // q rounded to the nearest integer
    *f = t - (vd)((vl)(t > *q) & (vl)one);  // one less where that rounded up
    *i = (vl)(*f + two52) - (vl)two52;
}

// The limbs of VW elements in memory order, h0 m0 l0 h1 m1 l1 ..., as three vectors: each of h and m's lanes picked
// first (lanes VW and up of a shuffle's index are its second vector's), then l's.
static inline __attribute__((always_inline)) void interleave(const vl *h, const vl *m, const vl *l, vl out[3]) {
#ifdef __AVX512F__  // VW 8 (model/vec_f64.h)
    const vl hm[3] = {{0, 8, 0, 1, 9, 0, 2, 10}, {0, 3, 11, 0, 4, 12, 0, 5}, {13, 0, 6, 14, 0, 7, 15, 0}};
    const vl with_l[3] = {{0, 1, 8, 3, 4, 9, 6, 7}, {10, 1, 2, 11, 4, 5, 12, 7}, {0, 13, 2, 3, 14, 5, 6, 15}};
#else
    const vl hm[3] = {{0, 4, 0, 1}, {5, 0, 2, 6}, {0, 3, 7, 0}};
    const vl with_l[3] = {{0, 1, 4, 3}, {0, 5, 2, 3}, {6, 1, 2, 7}};
#endif
    for (int k = 0; k < 3; k++) out[k] = __builtin_shuffle(__builtin_shuffle(*h, *m, hm[k]), *l, with_l[k]);
}

static inline __attribute__((always_inline)) int64_t add_span(int64_t *limbs, const float *g, size_t n) {
    const vd two52 = (vd){0} + TWO52;
    vl bad = {0};
    for (size_t i = 0; i < n; i += VW) {
        size_t m = n - i < VW ? n - i : VW;
        vf x = {0};
        if (m == VW) memcpy(&x, g + i, sizeof x);
        else for (size_t l = 0; l < m; l++) x[l] = g[i + l];  // the tail's other lanes add 0
        vd xd = __builtin_convertvector(x, vd);
        vl neg = (vl)xd >> 63, ax_bits = (vl)xd & 0x7fffffffffffffffLL;
        vl ok = (vd)ax_bits < 0x1p40;  // false for NaN and infinity too
        bad -= ~ok;
        vd y = (vd)(ok & (vl)((vd)ax_bits * TO_GRID)), hi, mid;
        vl h, md, lo;
        vd q = y * (1.0 / TWO_LIMBS);
        floor_int(&q, &hi, &h);
        vd rest = y - hi * TWO_LIMBS;
        q = rest * (1.0 / LIMB);
        floor_int(&q, &mid, &md);
        lo = (vl)((rest - mid * LIMB) + two52) - (vl)two52;
        h = (h ^ neg) - neg, md = (md ^ neg) - neg, lo = (lo ^ neg) - neg;  // the sign on the magnitude's limbs
        int64_t *d = limbs + 3 * i;
        if (m < VW) {
            for (size_t l = 0; l < m; l++) d[3 * l] += h[l], d[3 * l + 1] += md[l], d[3 * l + 2] += lo[l];
            continue;
        }
        vl out[3];
        interleave(&h, &md, &lo, out);
        for (int k = 0; k < 3; k++) {
            vl v;
            memcpy(&v, d + k * VW, sizeof v);
            v += out[k];
            memcpy(d + k * VW, &v, sizeof v);
        }
    }
    int64_t total = 0;
    for (int l = 0; l < VW; l++) total += bad[l];
    return total;
}

__attribute__((target("avx2"))) static int64_t add_span_avx2(int64_t *limbs, const float *g, size_t n) {
    return add_span(limbs, g, n);
}
static int64_t add_span_base(int64_t *limbs, const float *g, size_t n) { return add_span(limbs, g, n); }

int64_t fixed_add_n(int64_t *limbs, const float *g, size_t n) {
    bool avx2 = __builtin_cpu_supports("avx2");
    int64_t bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad) if (n > SPAN)
    for (size_t i = 0; i < n; i += SPAN) {
        size_t m = n - i < SPAN ? n - i : SPAN;
        bad += (avx2 ? add_span_avx2 : add_span_base)(limbs + 3 * i, g + i, m);
    }
    return bad;
}
