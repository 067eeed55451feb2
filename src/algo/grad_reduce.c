#include "algo/grad_reduce.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "base/error.h"
#include "base/pages.h"
#include "model/expert_map.h"

void grad_reducer_init(GradReducer *r, size_t n, bool deterministic, const ModelTensor *tensors, int n_tensors) {
    memset(r, 0, sizeof *r);
    r->tensors = tensors;
    r->n_tensors = n_tensors;
    r->bad_tensor = -1;
    r->n = n;
    r->deterministic = deterministic;
    r->grad = pages_alloc(n * sizeof *r->grad);
}

// Every rank keeps the whole sum (no ZeRO 2/3 ownership, no expert ranges), so the gradient buffer ends the update
// resident in full.
static bool keeps_whole_sum(const GradReducer *r) { return !r->map && !r->scheduled && r->n_expert_ranges == 0; }

// An update that needs full-size limbs (more than GRAD_HELD + 1 micro-batches on a rank) keeps them and its held
// buffers for the next update (spare) where every rank keeps the whole sum: mapping them again and faulting in
// their zeroed pages took about 7 s of a deterministic update with four micro-batches at configs/small.ini on a
// 2-core VM (results/cpu-bench.md), zeroing them in place 0.4 s. The memory they keep is what that update's peak
// held already, and the kernel takes it back when it runs short (pages_lazy_release). Elsewhere they are handed back
// as before: with fewer micro-batches the held floats go layer by layer as the last backward fills the next buffer
// (16-17 bytes per parameter at stage 0), and sharded ranks keep what ZeRO saves (results/sharding.md).
static bool pooled(const GradReducer *r) { return keeps_whole_sum(r) && r->limbs; }

static void let_go(const GradReducer *r, void *p, size_t bytes) {
    if (pooled(r)) pages_lazy_release(p, bytes);
    else pages_release(p, bytes);
}

static void release_held(GradReducer *r) {
    for (int k = 0; k < r->n_held; k++) {
        if (pooled(r)) pages_lazy_release(r->held[k], r->n * sizeof(float)), r->spare[r->n_spare++] = r->held[k];
        else pages_free(r->held[k], r->n * sizeof *r->held[k]);
        r->held[k] = NULL;
    }
    r->n_held = 0;
}

// A zeroed float buffer of n elements for a micro-batch's gradient, resident in full where the whole sum is kept.
static float *fresh_grad(GradReducer *r) {
    if (r->n_spare) {
        float *g = r->spare[--r->n_spare];
        memset(g, 0, r->n * sizeof *g);
        return g;
    }
    return keeps_whole_sum(r) ? pages_alloc_huge(r->n * sizeof(float)) : pages_alloc(r->n * sizeof(float));
}

// Zeroed limbs for every element, resident.
static int64_t *fresh_limbs(GradReducer *r) {
    int64_t *l = r->spare_limbs;
    if (!l) return pages_alloc_resident(3 * r->n * sizeof *l);
    r->spare_limbs = NULL;
    memset(l, 0, 3 * r->n * sizeof *l);
    return l;
}

static size_t slices_total(const GradReducer *r);

// Lets go of what only one update needs: the held micro-batch gradients and the full-size limbs.
static void release_update_buffers(GradReducer *r) {
    release_held(r);
    if (pooled(r)) pages_lazy_release(r->limbs, 3 * r->n * sizeof *r->limbs), r->spare_limbs = r->limbs;
    else pages_free(r->limbs, 3 * r->n * sizeof *r->limbs);
    r->limbs = NULL;
    if (r->slice_limbs) pages_free(r->slice_limbs, (3 * slices_total(r) + 1) * sizeof *r->slice_limbs);
    r->slice_limbs = NULL;
}

void grad_reducer_free(GradReducer *r) {
    release_update_buffers(r);
    for (int k = 0; k < r->n_spare; k++) pages_free(r->spare[k], r->n * sizeof *r->spare[k]);
    pages_free(r->spare_limbs, 3 * r->n * sizeof *r->spare_limbs);
    pages_free(r->grad, r->n * sizeof *r->grad);
    free(r->layer_begin), free(r->layer_end), free(r->req);
    memset(r, 0, sizeof *r);
}

// Zeroes the gradient buffer for the next backward. Where the whole sum is kept, that backward writes every page:
// zero them in place rather than hand them back and fault them in again (~8% of a step's time on the CPU).
static void zero_grad(GradReducer *r) {
    if (keeps_whole_sum(r)) memset(r->grad, 0, r->n * sizeof *r->grad);
    else pages_zero(r->grad, r->n * sizeof *r->grad);  // no page resident until the backward writes it
}

void grad_reducer_begin(GradReducer *r) {
    release_update_buffers(r);
    zero_grad(r);
    r->n_micro = 0;
    r->pending = false;
    r->posting = false;
    r->n_posted = 0;
    r->settled = false;
    r->overflow = 0;
    r->bad_tensor = -1;
}

// Table index of the first tensor with an element in [a, a + len) of g that the fixed-point grid cannot take (g
// holds the elements from a on), or -1.
static int first_bad_tensor(const GradReducer *r, const float *g, size_t a, size_t len) {
    for (int k = 0; k < r->n_tensors; k++) {
        size_t t0 = r->tensors[k].offset, t1 = t0 + r->tensors[k].numel;
        size_t b = t0 > a ? t0 : a, e = t1 < a + len ? t1 : a + len;
        for (size_t i = b; i < e; i++)
            if (!isfinite(g[i - a]) || fabsf(g[i - a]) >= 0x1p40f) return k;
    }
    return -1;
}

// Notes bad elements of [a, a + len) (g holds them from a on): counted, and the lowest tensor index kept.
static void note_bad(GradReducer *r, int64_t bad, const float *g, size_t a, size_t len) {
    r->overflow += bad;
    if (!bad) return;
    int k = first_bad_tensor(r, g, a, len);
    if (k >= 0 && (r->bad_tensor < 0 || k < r->bad_tensor)) r->bad_tensor = k;
}

// Adds the floats g[0, n) to the limbs (values out of range were counted when their micro-batch ended).
static void fold(int64_t *limbs, const float *g, size_t n) { fixed_add_n(limbs, g, n); }

static void bucket_range(const GradReducer *r, int k, size_t *b, size_t *e);

// ZeRO 2 without expert parallelism: the gradient's pages are handed back at each update's start and, past their
// owner's share, once their bucket is summed, so every backward writes into pages that are not resident. Not at
// stage 3 (scheduled): a layer's bucket is summed only at the next weight gather, so making the layer below resident
// at the hook held two layers at once (+6% peak at 2 ranks, results/sharding.md).
static bool hands_back_pages(const GradReducer *r) { return r->map && !r->scheduled && r->n_expert_ranges == 0; }

// Makes the gradient elements [b, e) resident (base/pages.h pages_populate: the backward adds to them). Where pages
// are handed back, experts' tensors are left out: an expert no token reached is never written, and its pages would
// stay resident until its bucket is summed.
static void populate(GradReducer *r, size_t b, size_t e) {
    if (!hands_back_pages(r)) {
        if (e > b) pages_populate(r->grad + b, (e - b) * sizeof *r->grad);
        return;
    }
    for (int k = 0; k < r->n_tensors; k++) {
        const ModelTensor *t = &r->tensors[k];
        size_t tb = t->offset > b ? t->offset : b, te = t->offset + t->numel < e ? t->offset + t->numel : e;
        if (te > tb && !expert_tensor(t)) pages_populate(r->grad + tb, (te - tb) * sizeof *r->grad);
    }
}

// A fresh gradient buffer, where it will end resident in full, is made resident a layer ahead of the backward: here
// what it writes before its first layer hook (the LM head, which may be the embedding's rows, the final norm, the
// last layer), then at each hook the layer below, and after layer 0 the embedding (grad_reducer_layer_done). So the
// held micro-batch, handed back layer by layer as the last backward sums it, and this one still never coexist in full.
static void populate_first(GradReducer *r) {
    size_t b, e;
    bucket_range(r, r->n_layers + 1, &b, &e);  // after the layers (without layers: everything)
    populate(r, b, e);
    populate(r, r->head_begin, r->head_end);
    if (r->n_layers) bucket_range(r, 0, &b, &e), populate(r, b, e);
}

// Deterministic: moves the previous micro-batch's gradient out of r->grad, into a held float buffer while
// there is room, else (from then on) into full-size limbs.
static void set_aside(GradReducer *r) {
    if (!r->limbs && r->n_held < GRAD_HELD) {  // exact as floats, and 4 bytes per parameter instead of 24
        r->held[r->n_held++] = r->grad;
        bool spare = r->n_spare > 0;  // zeroed in place, resident
        r->grad = fresh_grad(r);
        r->populating = keeps_whole_sum(r) && !spare;
        if (r->populating) populate_first(r);
        r->pending = false;
        return;
    }
    if (!r->limbs) {
        r->limbs = fresh_limbs(r);  // folded into whole at once
        for (int k = 0; k < r->n_held; k++) fold(r->limbs, r->held[k], r->n);
        release_held(r);
    }
    fold(r->limbs, r->grad, r->n);
    zero_grad(r);
    r->pending = false;
}

float *grad_reducer_micro_begin(GradReducer *r) {
    if (r->deterministic && r->pending) set_aside(r);  // fast mode adds to the running sum instead
    // Pages handed back: resident a layer ahead of the backward as well, from the update's first micro-batch on (fast
    // mode) or in each fresh buffer (deterministic).
    if (!r->populating && hands_back_pages(r) && (r->deterministic || r->n_micro == 0))
        r->populating = true, populate_first(r);
    return r->grad;  // deterministic: zero, fresh or handed back by set_aside
}

void grad_reducer_micro_end(GradReducer *r) {
    r->n_micro++;
    r->populating = false;
    if (!r->deterministic || r->posting) return;  // posting: checked as each bucket is folded
    int64_t bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad)
    for (size_t i = 0; i < r->n; i++) bad += !isfinite(r->grad[i]) || fabsf(r->grad[i]) >= 0x1p40f;
    note_bad(r, bad, r->grad, 0, r->n);
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

// Sums `count` values at x (limbs or doubles) over every rank, or over the expert peers; onto the rank (or the
// peer at place) root only when root >= 0.
static void sum_values(const GradReducer *r, void *x, size_t count, bool peers, int root) {
    if (!count) return;
    if (root >= 0 && peers && r->deterministic) dist_group_reduce_sum_i64(r->peers, x, count, root);
    else if (root >= 0 && peers) dist_group_reduce_sum_f64(r->peers, x, count, root);
    else if (root >= 0 && r->deterministic) dist_reduce_sum_i64(x, count, root);
    else if (root >= 0) dist_reduce_sum_f64(x, count, root);
    else if (peers && r->deterministic) dist_group_allreduce_sum_i64(r->peers, x, count);
    else if (peers) dist_group_allreduce_sum_f64(r->peers, x, count);
    else if (r->deterministic) dist_allreduce_sum_i64(x, count);
    else dist_allreduce_sum_f64(x, count);
}

// Expert parallelism with a shard map (zero stage 2): the peer (place among the ranks owning the same experts, that
// is the group) whose rank owns the slice of the expert tensor starting at element t0 (algo/shard.h: the group of
// the tensor's ZeRO owner).
static int expert_root(const GradReducer *r, size_t t0) {
    int q = 0;
    while (q < r->world - 1 && t0 >= r->map[q].end) q++;
    return q / (r->world / dist_group_size(r->peers));
}

// Non-expert elements [p, stop) of the bucket starting at a: over every rank, or (sharded) onto each one's owner.
static void reduce_plain(const GradReducer *r, char *x, size_t item, size_t width, size_t a, size_t p, size_t stop) {
    if (!r->map) {
        sum_values(r, x + (p - a) * item, (stop - p) * width, false, -1);
        return;
    }
    for (int q = 0; q < r->world; q++) {
        size_t b = r->map[q].begin > p ? r->map[q].begin : p, e = r->map[q].end < stop ? r->map[q].end : stop;
        if (b < e) sum_values(r, x + (b - a) * item, (e - b) * width, false, q);
    }
}

// Expert parallelism: the bucket [a, end) piece by piece, the same world-wide sums on every rank in the same
// order, and this rank's expert slices over its peers (sharded: onto the slice's owner).
static void reduce_bucket_experts(const GradReducer *r, void *x, size_t width, size_t a, size_t end) {
    size_t item = width * (r->deterministic ? sizeof(int64_t) : sizeof(double)), p = a;
    char *base = x;
    for (int i = 0; i <= r->n_expert_ranges && p < end; i++) {
        const size_t *g = r->expert_ranges + 4 * (size_t)i;
        size_t tb = i < r->n_expert_ranges ? g[0] : end, te = i < r->n_expert_ranges ? g[1] : end;
        if (te <= p) continue;
        size_t plain = tb < end ? tb : end;
        if (plain > p) reduce_plain(r, base, item, width, a, p, plain), p = plain;
        if (i == r->n_expert_ranges || p >= end) continue;
        size_t stop = te < end ? te : end, ob = g[2] > p ? g[2] : p, oe = g[3] < stop ? g[3] : stop;
        if (oe > ob) sum_values(r, base + (ob - a) * item, (oe - ob) * width, true, r->map ? expert_root(r, g[0]) : -1);
        p = stop;
    }
}

// Expert parallelism: zeros (whole pages handed back) in the elements of [b, e) whose sum this rank does not hold:
// other places' expert slices, and (sharded) the non-expert elements other ranks own and the slices of tensors
// whose owner is another group.
static void zero_unheld(GradReducer *r, size_t b, size_t e) {
    const Shard *own = r->map ? &r->map[dist_rank()] : NULL;
    size_t p = b;
    for (int i = 0; i <= r->n_expert_ranges && p < e; i++) {
        const size_t *g = r->expert_ranges + 4 * (size_t)i;
        size_t tb = i < r->n_expert_ranges ? g[0] : e, te = i < r->n_expert_ranges ? g[1] : e;
        if (te <= p) continue;
        size_t plain = tb < e ? tb : e;
        if (plain > p && own) {
            size_t hb = own->begin < p ? p : own->begin > plain ? plain : own->begin;
            size_t he = own->end > plain ? plain : own->end < hb ? hb : own->end;
            pages_zero(r->grad + p, (hb - p) * sizeof *r->grad);
            pages_zero(r->grad + he, (plain - he) * sizeof *r->grad);
        }
        p = plain > p ? plain : p;
        if (i == r->n_expert_ranges || p >= e) continue;
        size_t stop = te < e ? te : e, hb = g[2], he = g[3];
        if (own && expert_root(r, g[0]) != dist_group_rank(r->peers)) hb = he = g[2];
        hb = hb < p ? p : hb > stop ? stop : hb;
        he = he > stop ? stop : he < hb ? hb : he;
        pages_zero(r->grad + p, (hb - p) * sizeof *r->grad);
        pages_zero(r->grad + he, (stop - he) * sizeof *r->grad);
        p = stop;
    }
}

static size_t slices_total(const GradReducer *r) {
    size_t n = 0;
    for (int i = 0; i < r->n_expert_ranges; i++) n += r->expert_ranges[4 * i + 3] - r->expert_ranges[4 * i + 2];
    return n;
}

void grad_reducer_add_slices(GradReducer *r, const float *packed) {
    if (!r->slice_limbs) r->slice_limbs = pages_alloc((3 * slices_total(r) + 1) * sizeof *r->slice_limbs);
    size_t at = 0;
    for (int i = 0; i < r->n_expert_ranges; i++) {
        const size_t *g = r->expert_ranges + 4 * (size_t)i;
        int64_t bad = 0;
        for (size_t j = g[2]; j < g[3]; j++, at++)  // zeros add nothing: an expert without rows stays unwritten
            if (packed[at] != 0.0f) bad += !fixed_add(r->slice_limbs + 3 * at, packed[at]);
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

// Deterministic: sums [a, a + len) of every micro-batch of the update (held floats, limbs, r->grad) over ranks
// and writes the sum over r->grad where this rank holds it. tmp: room for the limbs of GRAD_BUCKET elements.
static void reduce_fixed(GradReducer *r, size_t a, size_t len, int64_t *tmp) {
    int64_t *l = r->limbs ? r->limbs + 3 * a : tmp;
    if (!r->limbs) memset(tmp, 0, 3 * len * sizeof *tmp);
    for (int k = 0; k < r->n_held; k++) fold(l, r->held[k] + a, len);
    if (r->pending) fold(l, r->grad + a, len);
    if (r->posting) note_bad(r, fixed_add_n(l, r->grad + a, len), r->grad + a, a, len);  // not yet range-checked
    if (r->slice_limbs) add_slice_limbs(r, l, a, len);
    size_t lo, hi;
    reduce_bucket(r, l, 3, a, len, &lo, &hi);
#pragma omp parallel for schedule(static)
    for (size_t i = lo; i < hi; i++) r->grad[i] = (float)fixed_value(l + 3 * (i - a));
}

// Fast: the same in float64 (the sum of r->grad over ranks, rounded once to float32).
static void reduce_float(GradReducer *r, size_t a, size_t len, double *tmp) {
    for (size_t i = 0; i < len; i++) tmp[i] = r->grad[a + i];
    size_t lo, hi;
    reduce_bucket(r, tmp, 1, a, len, &lo, &hi);
    for (size_t i = lo; i < hi; i++) r->grad[i] = (float)tmp[i - a];
}

// Sharded: hands back the whole pages of the gradient elements in [b, e) that other ranks own (expert parallelism:
// zero_unheld instead).
static void release_others(GradReducer *r, size_t b, size_t e) {
    if (!r->map || r->world < 2 || r->expert_ranges) return;
    const Shard *own = &r->map[dist_rank()];
    size_t own_b = own->begin < b ? b : own->begin > e ? e : own->begin;
    size_t own_e = own->end > e ? e : own->end < own_b ? own_b : own->end;
    pages_release(r->grad + b, (own_b - b) * sizeof *r->grad);
    pages_release(r->grad + own_e, (e - own_e) * sizeof *r->grad);
}

// Sums elements [b, e) over ranks, GRAD_BUCKET at a time, then hands back what they no longer need: the held
// floats and limbs of the range, and (sharded) the gradient elements other ranks own.
static void reduce_range(GradReducer *r, size_t b, size_t e) {
    if (!r->deterministic && dist_size() == 1) return;
    size_t cap = e - b < GRAD_BUCKET ? e - b : GRAD_BUCKET;
    void *tmp = xmalloc((cap ? cap : 1) * (r->deterministic ? 3 * sizeof(int64_t) : sizeof(double)));
    for (size_t a = b; a < e; a += GRAD_BUCKET) {
        size_t len = e - a < GRAD_BUCKET ? e - a : GRAD_BUCKET;
        if (r->deterministic) reduce_fixed(r, a, len, tmp);
        else reduce_float(r, a, len, tmp);
        if (r->expert_ranges) zero_unheld(r, a, a + len);  // what the bucket's sum wrote where this rank holds nothing
    }
    free(tmp);
    for (int k = 0; k < r->n_held; k++) let_go(r, r->held[k] + b, (e - b) * sizeof(float));
    if (r->limbs) let_go(r, r->limbs + 3 * b, 3 * (e - b) * sizeof *r->limbs);
    release_others(r, b, e);
}

void grad_reducer_layers(GradReducer *r, int n_layers, const size_t *begin, const size_t *end, bool overlap) {
    r->n_layers = n_layers;
    r->layer_begin = xmalloc((size_t)(n_layers ? n_layers : 1) * sizeof *r->layer_begin);
    r->layer_end = xmalloc((size_t)(n_layers ? n_layers : 1) * sizeof *r->layer_end);
    memcpy(r->layer_begin, begin, (size_t)n_layers * sizeof *begin);
    memcpy(r->layer_end, end, (size_t)n_layers * sizeof *end);
    bool several = dist_size() > 1;
    if (overlap && !r->deterministic && !r->map && several) r->req = xcalloc((size_t)n_layers + 2, sizeof *r->req);
    r->by_layer = r->deterministic || r->req || (r->map && several);
}

void grad_reducer_micro_last(GradReducer *r) { r->posting = r->by_layer; }

// Bucket k: layer L-1-k for k < L, then the elements before the first layer and after the last.
static void bucket_range(const GradReducer *r, int k, size_t *b, size_t *e) {
    int L = r->n_layers;
    if (k < L) *b = r->layer_begin[L - 1 - k], *e = r->layer_end[L - 1 - k];
    else if (k == L) *b = 0, *e = L ? r->layer_begin[0] : 0;
    else *b = L ? r->layer_end[L - 1] : 0, *e = r->n;
}

// Starts (overlapped) or sums (blocking) the next bucket.
static void post_next(GradReducer *r) {
    size_t b, e;
    bucket_range(r, r->n_posted, &b, &e);
    if (r->req) {
        // Open MPI's non-blocking sum keeps a temporary copy of its buffer until it is waited for: a layer's worth
        // each, so the whole gradient again if every layer stayed in flight.
        int k = r->n_posted - GRAD_IN_FLIGHT;
        if (k >= 0) dist_wait(r->req[k]), r->req[k] = NULL;
        r->req[r->n_posted] = dist_iallreduce_sum_f32(r->grad + b, e - b);
    } else {
        reduce_range(r, b, e);
    }
    r->n_posted++;
}

void grad_reducer_layer_done(void *ctx, int layer) {
    GradReducer *r = ctx;
    if (!r->scheduled && r->posting && r->n_posted == r->n_layers - 1 - layer) post_next(r);
    if (!r->populating || layer < 0 || layer >= r->n_layers) return;
    // After the held layer was handed back: the layer below, or the embedding and what else precedes the layers.
    populate(r, layer ? r->layer_begin[layer - 1] : 0, layer ? r->layer_end[layer - 1] : r->layer_begin[0]);
}

void grad_reducer_head(GradReducer *r, size_t begin, size_t end) {
    r->head_begin = begin;
    r->head_end = end;
}

void grad_reducer_schedule(GradReducer *r) { r->scheduled = true; }

void grad_reducer_sum_layer(void *ctx, int layer) {
    GradReducer *r = ctx;
    while (r->n_posted < r->n_layers && r->n_posted <= r->n_layers - 1 - layer) post_next(r);
}

void grad_reducer_settle(GradReducer *r) {
    if (r->settled) return;
    while (r->n_posted < r->n_layers + 2) post_next(r);
    for (int k = 0; r->req && k < r->n_posted; k++) dist_wait(r->req[k]), r->req[k] = NULL;
    release_others(r, 0, r->n);  // the pages that straddle two buckets
    r->posting = false;
    r->pending = false;
    r->settled = true;
    if (r->expert_ranges) zero_unheld(r, 0, r->n);
}

bool grad_reducer_finish(GradReducer *r) {
    grad_reducer_settle(r);
    if (!r->deterministic) return true;
    int64_t bad[2] = {r->overflow, r->bad_tensor >= 0 ? -(int64_t)r->bad_tensor : INT64_MIN};
    dist_allreduce_max_i64(bad + 1, 1);  // the lowest index over ranks
    dist_allreduce_sum_i64(bad, 1);
    r->bad_tensor = bad[1] == INT64_MIN ? -1 : (int)-bad[1];
    release_update_buffers(r);
    return bad[0] == 0;
}
