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
}

// Frees what only one update needs: the held micro-batch gradients and the full-size limbs.
static void release_update_buffers(GradReducer *r) {
    for (int k = 0; k < r->n_held; k++) free(r->held[k]);
    r->n_held = 0;
    free(r->limbs);
    r->limbs = NULL;
    free(r->slice_limbs);
    r->slice_limbs = NULL;
}

void grad_reducer_free(GradReducer *r) {
    release_update_buffers(r);
    free(r->grad);
    free(r->layer_begin), free(r->layer_end), free(r->req);
    memset(r, 0, sizeof *r);
}

void grad_reducer_begin(GradReducer *r) {
    release_update_buffers(r);
    memset(r->grad, 0, r->n * sizeof *r->grad);
    r->n_micro = 0;
    r->pending = false;
    r->posting = false;
    r->n_posted = 0;
    r->settled = false;
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

// Adds the floats g[0, n) to the limbs (values out of range were counted when their micro-batch ended).
static void fold(int64_t *limbs, const float *g, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) fixed_add(limbs + 3 * i, g[i]);
}

// Deterministic: moves the previous micro-batch's gradient out of r->grad, into a held float buffer while
// there is room, else (from then on) into full-size limbs.
static void set_aside(GradReducer *r) {
    if (!r->limbs && r->n_held < GRAD_HELD) {  // exact as floats, and 4 bytes per parameter instead of 24
        r->held[r->n_held++] = r->grad;
        r->grad = xcalloc(r->n, sizeof *r->grad);
        r->pending = false;
        return;
    }
    if (!r->limbs) {
        r->limbs = xcalloc(3 * r->n, sizeof *r->limbs);
        for (int k = 0; k < r->n_held; k++) fold(r->limbs, r->held[k], r->n), free(r->held[k]);
        r->n_held = 0;
    }
    fold(r->limbs, r->grad, r->n);
    r->pending = false;
}

float *grad_reducer_micro_begin(GradReducer *r) {
    if (!r->deterministic) return r->grad;  // fast: the backward adds to the running sum
    if (r->pending) set_aside(r);
    if (r->n_micro > 0) memset(r->grad, 0, r->n * sizeof *r->grad);
    return r->grad;
}

void grad_reducer_micro_end(GradReducer *r) {
    r->n_micro++;
    if (!r->deterministic) return;
    int64_t bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad)
    for (size_t i = 0; i < r->n; i++) bad += !isfinite(r->grad[i]) || fabsf(r->grad[i]) >= 0x1p40f;
    r->overflow += bad;
    if (bad && r->bad_tensor < 0) r->bad_tensor = first_bad_tensor(r);
    r->pending = true;
    if (r->limbs) set_aside(r);  // folded now: the limbs always hold every micro-batch but the held ones
}

void grad_reducer_shard(GradReducer *r, const Shard *map, int world) {
    r->map = map;
    r->world = world;
}

void grad_reducer_experts(GradReducer *r, const size_t *ranges, int n, const struct DistGroup *peers) {
    r->expert_ranges = ranges;
    r->n_expert_ranges = n;
    r->peers = peers;
}

// Sums `count` values at x (limbs or doubles) over every rank, or over the expert peers.
static void sum_values(const GradReducer *r, void *x, size_t count, bool peers) {
    if (!count) return;
    if (peers && r->deterministic) dist_group_allreduce_sum_i64(r->peers, x, count);
    else if (peers) dist_group_allreduce_sum_f64(r->peers, x, count);
    else if (r->deterministic) dist_allreduce_sum_i64(x, count);
    else dist_allreduce_sum_f64(x, count);
}

// Expert parallelism: the bucket [a, end) piece by piece, the same world-wide sums on every rank in the same
// order, and this rank's expert slices over its peers.
static void reduce_bucket_experts(const GradReducer *r, void *x, size_t width, size_t a, size_t end) {
    size_t item = width * (r->deterministic ? sizeof(int64_t) : sizeof(double)), p = a;
    char *base = x;
    for (int i = 0; i <= r->n_expert_ranges && p < end; i++) {
        const size_t *g = r->expert_ranges + 4 * (size_t)i;
        size_t tb = i < r->n_expert_ranges ? g[0] : end, te = i < r->n_expert_ranges ? g[1] : end;
        if (te <= p) continue;
        size_t plain = tb < end ? tb : end;
        if (plain > p) sum_values(r, base + (p - a) * item, (plain - p) * width, false), p = plain;
        if (i == r->n_expert_ranges || p >= end) continue;
        size_t stop = te < end ? te : end, ob = g[2] > p ? g[2] : p, oe = g[3] < stop ? g[3] : stop;
        if (oe > ob) sum_values(r, base + (ob - a) * item, (oe - ob) * width, true);
        p = stop;
    }
}

static size_t slices_total(const GradReducer *r) {
    size_t n = 0;
    for (int i = 0; i < r->n_expert_ranges; i++) n += r->expert_ranges[4 * i + 3] - r->expert_ranges[4 * i + 2];
    return n;
}

void grad_reducer_add_slices(GradReducer *r, const float *packed) {
    if (!r->slice_limbs) r->slice_limbs = xcalloc(3 * slices_total(r) + 1, sizeof *r->slice_limbs);
    size_t at = 0;
    for (int i = 0; i < r->n_expert_ranges; i++) {
        const size_t *g = r->expert_ranges + 4 * (size_t)i;
        int64_t bad = 0;
        for (size_t j = g[2]; j < g[3]; j++, at++) bad += !fixed_add(r->slice_limbs + 3 * at, packed[at]);
        r->overflow += bad;
        for (int k = 0; bad && r->bad_tensor < 0 && k < r->n_tensors; k++)
            if (r->tensors[k].offset == g[0]) r->bad_tensor = k;
    }
}

// The slices' limbs in elements [a, a + len) added to the bucket's limbs l.
static void add_slice_limbs(const GradReducer *r, int64_t *l, size_t a, size_t len) {
    size_t at = 0;
    for (int i = 0; i < r->n_expert_ranges; i++) {
        const size_t *g = r->expert_ranges + 4 * (size_t)i;
        size_t b = g[2] > a ? g[2] : a, e = g[3] < a + len ? g[3] : a + len;
        for (size_t j = b; j < e; j++)
            for (int c = 0; c < 3; c++) l[3 * (j - a) + c] += r->slice_limbs[3 * (at + j - g[2]) + c];
        at += g[3] - g[2];
    }
}

// Expert parallelism: zeros in the expert slices this rank does not own (their sums live on their owners).
static void clear_unowned_experts(GradReducer *r) {
    for (int i = 0; i < r->n_expert_ranges; i++) {
        const size_t *g = r->expert_ranges + 4 * (size_t)i;
        memset(r->grad + g[0], 0, (g[2] - g[0]) * sizeof *r->grad);
        memset(r->grad + g[3], 0, (g[1] - g[3]) * sizeof *r->grad);
    }
}

// Sums elements [a, a + len) over ranks, `width` values per element at x: on every rank, or (sharded) on each
// element's owner only. Returns the part [*lo, *hi) of the bucket that now holds the sum on this rank.
static void reduce_bucket(const GradReducer *r, void *x, size_t width, size_t a, size_t len, size_t *lo, size_t *hi) {
    *lo = a, *hi = a + len;
    if (r->expert_ranges) {
        reduce_bucket_experts(r, x, width, a, a + len);
        return;
    }
    if (!r->map) {
        if (r->deterministic) dist_allreduce_sum_i64(x, width * len);
        else dist_allreduce_sum_f64(x, width * len);
        return;
    }
    *lo = *hi = a;
    for (int q = 0; q < r->world; q++) {
        size_t b = r->map[q].begin > a ? r->map[q].begin : a, e = r->map[q].end < a + len ? r->map[q].end : a + len;
        if (b >= e) continue;
        if (r->deterministic) dist_reduce_sum_i64((int64_t *)x + width * (b - a), width * (e - b), q);
        else dist_reduce_sum_f64((double *)x + width * (b - a), width * (e - b), q);
        if (q == dist_rank()) *lo = b, *hi = e;
    }
}

void grad_reducer_layers(GradReducer *r, int n_layers, const size_t *begin, const size_t *end) {
    r->n_layers = n_layers;
    r->layer_begin = xmalloc((size_t)(n_layers ? n_layers : 1) * sizeof *r->layer_begin);
    r->layer_end = xmalloc((size_t)(n_layers ? n_layers : 1) * sizeof *r->layer_end);
    memcpy(r->layer_begin, begin, (size_t)n_layers * sizeof *begin);
    memcpy(r->layer_end, end, (size_t)n_layers * sizeof *end);
    r->req = xcalloc((size_t)n_layers + 2, sizeof *r->req);
}

void grad_reducer_micro_last(GradReducer *r) { r->posting = r->req != NULL; }

// Bucket k: layer L-1-k for k < L, then the elements before the first layer and after the last.
static void bucket_range(const GradReducer *r, int k, size_t *b, size_t *e) {
    int L = r->n_layers;
    if (k < L) *b = r->layer_begin[L - 1 - k], *e = r->layer_end[L - 1 - k];
    else if (k == L) *b = 0, *e = L ? r->layer_begin[0] : 0;
    else *b = L ? r->layer_end[L - 1] : 0, *e = r->n;
}

static void post_next(GradReducer *r) {
    size_t b, e;
    bucket_range(r, r->n_posted, &b, &e);
    r->req[r->n_posted++] = dist_iallreduce_sum_f32(r->grad + b, e - b);
}

void grad_reducer_layer_done(void *ctx, int layer) {
    GradReducer *r = ctx;
    if (r->posting && r->n_posted == r->n_layers - 1 - layer) post_next(r);
}

void grad_reducer_settle(GradReducer *r) {
    if (!r->req || r->settled) return;
    while (r->n_posted < r->n_layers + 2) post_next(r);
    for (int k = 0; k < r->n_posted; k++) dist_wait(r->req[k]), r->req[k] = NULL;
    r->posting = false;
    r->settled = true;
}

static bool finish_fast(GradReducer *r) {
    if (r->req) return grad_reducer_settle(r), true;
    if (dist_size() == 1) return true;
    size_t cap = r->n < GRAD_BUCKET ? r->n : GRAD_BUCKET, lo, hi;
    double *sum = xmalloc((cap ? cap : 1) * sizeof *sum);
    for (size_t a = 0; a < r->n; a += GRAD_BUCKET) {
        size_t len = r->n - a < GRAD_BUCKET ? r->n - a : GRAD_BUCKET;
        for (size_t i = 0; i < len; i++) sum[i] = r->grad[a + i];
        reduce_bucket(r, sum, 1, a, len, &lo, &hi);
        for (size_t i = lo; i < hi; i++) r->grad[i] = (float)sum[i - a];
    }
    free(sum);
    clear_unowned_experts(r);
    return true;
}

bool grad_reducer_finish(GradReducer *r) {
    if (!r->deterministic) return finish_fast(r);
    int64_t bad[2] = {r->overflow, r->bad_tensor >= 0 ? -(int64_t)r->bad_tensor : INT64_MIN};
    dist_allreduce_max_i64(bad + 1, 1);  // the lowest index over ranks
    dist_allreduce_sum_i64(bad, 1);
    r->bad_tensor = bad[1] == INT64_MIN ? -1 : (int)-bad[1];
    int64_t *tmp = r->limbs ? NULL : xcalloc(3 * (r->n < GRAD_BUCKET ? r->n : GRAD_BUCKET) + 1, sizeof *tmp);
    // Bucket by bucket, the same collectives on every rank whether it holds floats or limbs; each bucket of
    // r->grad is read (when pending) before the sum overwrites it.
    for (size_t a = 0; a < r->n; a += GRAD_BUCKET) {
        size_t len = r->n - a < GRAD_BUCKET ? r->n - a : GRAD_BUCKET;
        int64_t *l = r->limbs ? r->limbs + 3 * a : tmp;
        if (!r->limbs) memset(tmp, 0, 3 * len * sizeof *tmp);
        for (int k = 0; k < r->n_held; k++) fold(l, r->held[k] + a, len);
        if (r->pending) fold(l, r->grad + a, len);
        if (r->slice_limbs) add_slice_limbs(r, l, a, len);
        size_t lo, hi;
        reduce_bucket(r, l, 3, a, len, &lo, &hi);
#pragma omp parallel for schedule(static)
        for (size_t i = lo; i < hi; i++) r->grad[i] = (float)fixed_value(l + 3 * (i - a));
    }
    r->pending = false;
    free(tmp);
    release_update_buffers(r);
    clear_unowned_experts(r);
    return bad[0] == 0;
}
