#include "train/device_update.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "model/device.h"

static size_t own_n(const DeviceUpdate *d) { return d->own.end - d->own.begin; }

int device_update_init(DeviceUpdate *d, Model *m, const Shard *map, int zero_stage, bool deterministic,
                       const AdamW *opt, int n_layers, const size_t *layer_begin, const size_t *layer_end, Err *e) {
    *d = (DeviceUpdate){.bad_tensor = -1};
    if (device_on_cpu(m)) return 0;
    if (zero_stage > 2) return err_set(e, "the device update runs zero stages 0-2 (dist.zero_stage = %d)", zero_stage);
    d->m = m, d->map = map, d->zero_stage = zero_stage, d->deterministic = deterministic;
    d->own = zero_stage > 0 ? map[dist_rank()] : (Shard){0, m->n_tensors, 0, m->n_params};
    size_t n = own_n(d);
    d->master = device_grad_alloc(m, n), d->mom = device_grad_alloc(m, n), d->var = device_grad_alloc(m, n);
    device_grad_put(m, d->master, m->params + d->own.begin, n);
    device_grad_put(m, d->mom, opt->m, n);
    device_grad_put(m, d->var, opt->v, n);
    d->n_layers = n_layers;
    d->layer_begin = xmalloc((size_t)(n_layers ? n_layers : 1) * sizeof *d->layer_begin);
    d->layer_end = xmalloc((size_t)(n_layers ? n_layers : 1) * sizeof *d->layer_end);
    if (n_layers) memcpy(d->layer_begin, layer_begin, (size_t)n_layers * sizeof *layer_begin);
    if (n_layers) memcpy(d->layer_end, layer_end, (size_t)n_layers * sizeof *layer_end);
    return 0;
}

// Elements summed over ranks per collective before the whole limbs exist (the bucket's limbs: 24 bytes each).
#define LIMB_CHUNK ((size_t)1 << 22)

static void release_update(DeviceUpdate *d) {
    device_grad_free(d->m, d->grad), d->grad = NULL;
    device_grad_free(d->m, d->held), d->held = NULL;
    device_grad_free(d->m, (float *)d->limbs), d->limbs = NULL;
}

void device_update_free(DeviceUpdate *d) {
    if (!d->m) return;
    release_update(d);
    device_grad_free(d->m, d->master), device_grad_free(d->m, d->mom), device_grad_free(d->m, d->var);
    free(d->layer_begin), free(d->layer_end);
    *d = (DeviceUpdate){.bad_tensor = -1};
}

// A fresh update: the gradient zeroed (backend allocations are zeroed).
static void open_update(DeviceUpdate *d) {
    if (d->open) return;
    release_update(d);
    d->grad = device_grad_alloc(d->m, d->m->n_params);
    d->open = true, d->last = false, d->n_summed = 0, d->bad = 0, d->bad_tensor = -1;
}

float *device_update_micro_begin(DeviceUpdate *d, bool last) {
    open_update(d);
    d->last = last;
    return d->grad;
}

// Deterministic: notes the elements of [b, e) of the gradient dev the grid refused (bad of them): counted, and the
// lowest tensor holding one kept. Only a failing update reads the gradient back to name it.
static void note_bad(DeviceUpdate *d, int64_t bad, const float *dev, size_t b, size_t e) {
    if (!bad) return;
    d->bad += bad;
    float *g = xmalloc((e - b ? e - b : 1) * sizeof *g);
    device_grad_get(d->m, g, dev + b, e - b);
    const Model *m = d->m;
    for (int k = 0; k < m->n_tensors; k++) {
        size_t t0 = m->tensors[k].offset, t1 = t0 + m->tensors[k].numel, lo = t0 > b ? t0 : b, hi = t1 < e ? t1 : e;
        bool found = false;
        for (size_t i = lo; i < hi && !found; i++) found = !isfinite(g[i - b]) || fabsf(g[i - b]) >= 0x1p40f;
        if (!found) continue;
        if (d->bad_tensor < 0 || k < d->bad_tensor) d->bad_tensor = k;
        break;
    }
    free(g);
}

// Deterministic: elements [b, e) of the micro-batch gradient g (n floats) added to limbs l (element b at l[0]),
// range-checked: every micro-batch's element is folded, and so checked, exactly once.
static void fold(DeviceUpdate *d, int64_t *l, const float *g, size_t b, size_t e) {
    if (e > b) note_bad(d, device_fixed_add(d->m, l, g + b, e - b), g, b, e);
}

// Deterministic: a finished micro-batch (not the rank's last) set aside: held as floats while there is room, then
// (from the third on) every micro-batch so far folded into whole limbs.
void device_update_micro_end(DeviceUpdate *d) {
    if (!d->deterministic || d->last) return;  // the last micro-batch is folded bucket by bucket as it is summed
    size_t n = d->m->n_params;
    if (!d->held && !d->limbs) {
        d->held = d->grad;
    } else {
        if (!d->limbs) {
            d->limbs = device_limbs_alloc(d->m, n);
            fold(d, d->limbs, d->held, 0, n);
            device_grad_free(d->m, d->held), d->held = NULL;
        }
        fold(d, d->limbs, d->grad, 0, n);
        device_grad_free(d->m, d->grad);
    }
    d->grad = device_grad_alloc(d->m, n);
}

// Bucket k: layer L-1-k for k < L, then the elements before the first layer and after the last (as the host
// reducer's, algo/grad_reduce.c).
static void bucket_range(const DeviceUpdate *d, int k, size_t *b, size_t *e) {
    int L = d->n_layers;
    if (k < L) *b = d->layer_begin[L - 1 - k], *e = d->layer_end[L - 1 - k];
    else if (k == L) *b = 0, *e = L ? d->layer_begin[0] : 0;
    else *b = L ? d->layer_end[L - 1] : 0, *e = d->m->n_params;
}

// Elements [b, e) of x (width values per element: three limbs, or one float) summed over ranks: on every rank, or
// at stage 2 onto each element's owner. Returns the part [*lo, *hi) this rank holds the sum of.
static void sum_over_ranks(const DeviceUpdate *d, void *x, size_t width, bool limbs, size_t b, size_t e, size_t *lo,
                           size_t *hi) {
    *lo = b, *hi = e;
    int world = dist_size();
    if (world == 1 || e <= b) return;
    size_t item = width * (limbs ? sizeof(int64_t) : sizeof(float));
    if (d->zero_stage < 2) {
        if (limbs) dist_allreduce_sum_device_i64(x, width * (e - b));
        else dist_allreduce_sum_device_f32(x, width * (e - b));
        return;
    }
    *lo = *hi = b;
    for (int q = 0; q < world; q++) {
        size_t qb = d->map[q].begin > b ? d->map[q].begin : b, qe = d->map[q].end < e ? d->map[q].end : e;
        if (qb >= qe) continue;
        char *at = (char *)x + (qb - b) * item;
        if (limbs) dist_reduce_sum_device_i64((int64_t *)at, width * (qe - qb), q);
        else dist_reduce_sum_device_f32((float *)at, width * (qe - qb), q);
        if (q == dist_rank()) *lo = qb, *hi = qe;
    }
}

static void sum_next(DeviceUpdate *d) {
    size_t b, e, lo, hi;
    bucket_range(d, d->n_summed++, &b, &e);
    if (!d->deterministic) {
        sum_over_ranks(d, d->grad + b, 1, false, b, e, &lo, &hi);
        return;
    }
    if (d->limbs) {
        if (d->last) fold(d, d->limbs + 3 * b, d->grad, b, e);
        sum_over_ranks(d, d->limbs + 3 * b, 3, true, b, e, &lo, &hi);
        if (hi > lo) device_fixed_value(d->m, d->grad + lo, d->limbs + 3 * lo, hi - lo);
        return;
    }
    // No whole limbs: the bucket's, chunk by chunk, from the held micro-batch and the last one.
    for (size_t a = b; a < e; a += LIMB_CHUNK) {
        size_t z = e - a < LIMB_CHUNK ? e : a + LIMB_CHUNK;
        int64_t *l = device_limbs_alloc(d->m, z - a);
        if (d->held) fold(d, l, d->held, a, z);
        if (d->last) fold(d, l, d->grad, a, z);
        sum_over_ranks(d, l, 3, true, a, z, &lo, &hi);
        if (hi > lo) device_fixed_value(d->m, d->grad + lo, l + 3 * (lo - a), hi - lo);
        device_grad_free(d->m, (float *)l);
    }
}

void device_update_layer_done(void *ctx, int layer) {
    DeviceUpdate *d = ctx;
    if (d->last && d->n_summed == d->n_layers - 1 - layer) sum_next(d);
}

void device_update_settle(DeviceUpdate *d) {
    open_update(d);  // a rank without micro-batches sums zeros
    while (d->n_summed < d->n_layers + 2) sum_next(d);
    d->last = false;
}

bool device_update_finish(DeviceUpdate *d) {
    device_update_settle(d);
    d->open = false;
    if (!d->deterministic) return true;
    int64_t bad[2] = {d->bad, d->bad_tensor >= 0 ? -(int64_t)d->bad_tensor : INT64_MIN};
    dist_allreduce_max_i64(bad + 1, 1);  // the lowest index over ranks
    dist_allreduce_sum_i64(bad, 1);
    d->bad_tensor = bad[1] == INT64_MIN ? -1 : (int)-bad[1];
    return bad[0] == 0;
}

// Each tensor's sum of squares by a rank that holds it whole (stage 2: its owner; the others add zeros, exactly),
// added in table order (algo/optim.h grad_norm_of_sums): the host's bits for every stage and rank count.
double device_update_norm(const DeviceUpdate *d, int *bad_tensor) {
    const Model *m = d->m;
    bool sharded = d->zero_stage == 2;
    int n = m->n_tensors, k0 = sharded ? d->own.tensor_begin : 0, k1 = sharded ? d->own.tensor_end : n;
    double *sums = xcalloc((size_t)(n ? n : 1), sizeof *sums);
    size_t *begin = xmalloc((size_t)(n ? n : 1) * sizeof *begin), *len = xmalloc((size_t)(n ? n : 1) * sizeof *len);
    for (int k = k0; k < k1; k++) begin[k - k0] = m->tensors[k].offset, len[k - k0] = m->tensors[k].numel;
    device_sumsq(m, d->grad, begin, len, k1 - k0, sums + k0);
    if (sharded) dist_allreduce_sum_f64(sums, (size_t)n);
    double norm = grad_norm_of_sums(sums, n, bad_tensor);
    free(sums), free(begin), free(len);
    return norm;
}

// Stages 1-2: every owner's new weights (the backend's copy, and its fp32 copies) to every rank.
static void broadcast_weights(const DeviceUpdate *d) {
    const Model *m = d->m;
    for (int q = 0; q < dist_size(); q++) {
        const Shard *s = &d->map[q];
        if (s->end > s->begin)
            dist_bcast_device(device_weights_at(m, s->begin), (s->end - s->begin) * device_weight_bytes(m), q);
        for (int k = s->tensor_begin; k < s->tensor_end; k++) {
            float *f = device_weights_f32_at(m, m->tensors[k].offset);
            if (f) dist_bcast_device(f, m->tensors[k].numel * sizeof *f, q);
        }
    }
}

void device_update_step(DeviceUpdate *d, double norm, double max_norm, double lr, const AdamWHyper *h, AdamW *opt) {
    const Model *m = d->m;
    double scale = grad_clip_scale(norm, max_norm);
    if (scale != 1.0) device_scale(m, d->grad + d->own.begin, own_n(d), scale);
    opt->step++;
    for (int k = d->own.tensor_begin; k < d->own.tensor_end; k++) {
        const ModelTensor *t = &m->tensors[k];
        AdamWStep st = adamw_step(h, opt->step, lr, t);
        size_t at = t->offset - d->own.begin;
        device_adamw(m, t->offset, d->master + at, d->mom + at, d->var + at, d->grad + t->offset, t->numel, &st);
    }
    if (d->zero_stage > 0) broadcast_weights(d);
    d->host_stale = true;
}

void device_update_sync_host(DeviceUpdate *d, AdamW *opt) {
    if (!d->m || !d->host_stale) return;
    size_t n = own_n(d);
    device_grad_get(d->m, d->m->params + d->own.begin, d->master, n);
    device_grad_get(d->m, opt->m, d->mom, n);
    device_grad_get(d->m, opt->v, d->var, n);
    for (int q = 0; d->zero_stage > 0 && q < dist_size(); q++)
        dist_bcast(d->m->params + d->map[q].begin, (d->map[q].end - d->map[q].begin) * sizeof(float), q);
    d->host_stale = false;
}

void device_update_grad_get(const DeviceUpdate *d, float *host) {
    size_t b = d->zero_stage == 2 ? d->own.begin : 0, e = d->zero_stage == 2 ? d->own.end : d->m->n_params;
    device_grad_get(d->m, host + b, d->grad + b, e - b);
}

void device_update_grad_set(DeviceUpdate *d, size_t i, float x) { device_grad_put(d->m, d->grad + i, &x, 1); }
