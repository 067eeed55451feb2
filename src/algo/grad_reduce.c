#include "algo/grad_reduce.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "base/error.h"

// Grid: value = hi·2^-2 + mid·2^-44 + lo·2^-86 (limbs of 42 bits, unit 2^-86).
#define UNIT_EXP 86
#define LIMB_BITS 42

bool fixed_add(int64_t limbs[3], float x) {
    if (!isfinite(x) || fabsf(x) >= 0x1p40f) return false;
    // Magnitude and sign apart: ldexp by a power of two is exact, and each floor/subtraction below keeps a
    // subset of |x|'s 24 mantissa bits (a negative value split directly would need all 126 bits).
    double y = ldexp(fabs((double)x), UNIT_EXP);
    double hi = floor(ldexp(y, -2 * LIMB_BITS));
    double rest = y - ldexp(hi, 2 * LIMB_BITS);
    double mid = floor(ldexp(rest, -LIMB_BITS));
    double lo = nearbyint(rest - ldexp(mid, LIMB_BITS));  // below the grid: round half to even
    int64_t sign = x < 0 ? -1 : 1;
    limbs[0] += sign * (int64_t)hi;
    limbs[1] += sign * (int64_t)mid;
    limbs[2] += sign * (int64_t)lo;
    return true;
}

double fixed_value(const int64_t limbs[3]) {
    // Each limb sum stays below 2^53 for up to 2^11 micro-batches, so every term is exact in double.
    return ldexp((double)limbs[0], 2 * LIMB_BITS - UNIT_EXP) + ldexp((double)limbs[1], LIMB_BITS - UNIT_EXP) +
           ldexp((double)limbs[2], -UNIT_EXP);
}

void grad_reducer_init(GradReducer *r, size_t n, bool deterministic, const ModelTensor *tensors, int n_tensors) {
    memset(r, 0, sizeof *r);
    r->tensors = tensors;
    r->n_tensors = n_tensors;
    r->bad_tensor = -1;
    r->n = n;
    r->deterministic = deterministic;
    r->grad = xcalloc(n, sizeof *r->grad);
    if (deterministic) r->limbs = xcalloc(3 * n, sizeof *r->limbs);
    else r->acc = xcalloc(n, sizeof *r->acc);
}

void grad_reducer_free(GradReducer *r) {
    free(r->grad);
    free(r->limbs);
    free(r->acc);
    memset(r, 0, sizeof *r);
}

void grad_reducer_begin(GradReducer *r) {
    memset(r->grad, 0, r->n * sizeof *r->grad);
    if (r->deterministic) memset(r->limbs, 0, 3 * r->n * sizeof *r->limbs);
    else memset(r->acc, 0, r->n * sizeof *r->acc);
    r->overflow = 0;
    r->bad_tensor = -1;
}

// Table index of the first tensor holding a value the fixed-point grid cannot take.
static int first_bad_tensor(const GradReducer *r) {
    for (int k = 0; k < r->n_tensors; k++) {
        const float *g = r->grad + r->tensors[k].offset;
        for (size_t i = 0; i < r->tensors[k].numel; i++)
            if (!isfinite(g[i]) || fabsf(g[i]) >= 0x1p40f) return k;
    }
    return -1;
}

float *grad_reducer_micro_begin(GradReducer *r) {
    memset(r->grad, 0, r->n * sizeof *r->grad);
    return r->grad;
}

void grad_reducer_micro_end(GradReducer *r) {
    if (!r->deterministic) {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < r->n; i++) r->acc[i] += r->grad[i];
        return;
    }
    int64_t bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad)
    for (size_t i = 0; i < r->n; i++) bad += !fixed_add(r->limbs + 3 * i, r->grad[i]);
    r->overflow += bad;
    if (bad && r->bad_tensor < 0) r->bad_tensor = first_bad_tensor(r);
}

bool grad_reducer_finish(GradReducer *r, float *out) {
    if (!r->deterministic) {
        dist_allreduce_sum_f64(r->acc, r->n);
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < r->n; i++) out[i] = (float)r->acc[i];
        return true;
    }
    int64_t bad[2] = {r->overflow, r->bad_tensor >= 0 ? -(int64_t)r->bad_tensor : INT64_MIN};
    dist_allreduce_max_i64(bad + 1, 1);  // the lowest index over ranks
    dist_allreduce_sum_i64(bad, 1);
    r->bad_tensor = bad[1] == INT64_MIN ? -1 : (int)-bad[1];
    dist_allreduce_sum_i64(r->limbs, 3 * r->n);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < r->n; i++) out[i] = (float)fixed_value(r->limbs + 3 * i);
    return bad[0] == 0;
}
