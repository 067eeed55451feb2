#include "model/update_ops.h"

#include <math.h>

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
