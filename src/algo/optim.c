#include "algo/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/update_ops.h"

void adamw_init(AdamW *o, size_t n_params) { adamw_init_shard(o, 0, n_params); }

void adamw_init_shard(AdamW *o, size_t begin, size_t end) {
    o->n = end - begin;
    o->begin = begin;
    o->m = xcalloc(o->n ? o->n : 1, sizeof *o->m);
    o->v = xcalloc(o->n ? o->n : 1, sizeof *o->v);
    o->step = 0;
}

void adamw_free(AdamW *o) {
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

AdamWHyper adamw_hyper(const TrainConfig *t) {
    return (AdamWHyper){t->adam_beta1, t->adam_beta2, t->adam_eps, t->weight_decay};
}

bool adamw_decays(const ModelTensor *t) { return t->ndim >= 2; }

AdamWStep adamw_step(const AdamWHyper *h, int64_t step, double lr, const ModelTensor *t) {
    // Loshchilov & Hutter 2019, Algorithm 2 (bias-corrected moments, decoupled decay).
    double c1 = 1.0 - pow(h->beta1, (double)step), c2 = 1.0 - pow(h->beta2, (double)step);
    return (AdamWStep){lr, adamw_decays(t) ? lr * h->weight_decay : 0.0, h->beta1, h->beta2, h->eps, c1, c2};
}

void adamw_update(AdamW *o, float *params, const float *grad, const ModelTensor *tensors, int n_tensors, double lr,
                  const AdamWHyper *h) {
    o->step++;
    for (int k = 0; k < n_tensors; k++) {
        const ModelTensor *t = &tensors[k];
        AdamWStep st = adamw_step(h, o->step, lr, t);
        size_t at = t->offset - o->begin;
        update_adamw(params + t->offset, o->m + at, o->v + at, grad + t->offset, t->numel, &st);
    }
}

double lr_at(int64_t step, int64_t total, double peak, int warmup_steps, Schedule schedule, double min_lr_ratio) {
    if (warmup_steps > 0 && step <= warmup_steps) return peak * (double)step / warmup_steps;
    if (schedule == SCHEDULE_CONSTANT) return peak;
    // Cosine decay (Loshchilov & Hutter 2017, SGDR) from peak after warm-up to peak·min_lr_ratio at `total`.
    int64_t span = total - warmup_steps;
    double progress = span > 0 ? (double)(step - warmup_steps) / (double)span : 1.0;
    if (progress > 1) progress = 1;
    if (progress < 0) progress = 0;
    double floor_lr = peak * min_lr_ratio;
    return floor_lr + (peak - floor_lr) * 0.5 * (1.0 + cos(M_PI * progress));
}

void grad_tensor_sumsq(const float *grad, const ModelTensor *tensors, int k0, int k1, double *sums) {
    // One tensor per thread, each summed in element order: the bits do not depend on the thread count.
#pragma omp parallel for schedule(dynamic)
    for (int k = k0; k < k1; k++) sums[k] = update_sumsq(grad + tensors[k].offset, tensors[k].numel);
}

double grad_norm_of_sums(const double *sums, int n_tensors, int *bad_tensor) {
    double total = 0;
    if (bad_tensor) *bad_tensor = -1;
    for (int k = 0; k < n_tensors; k++) {
        if (!isfinite(sums[k]) && bad_tensor && *bad_tensor < 0) *bad_tensor = k;
        total += sums[k];
    }
    return sqrt(total);
}

double grad_global_norm(const float *grad, const ModelTensor *tensors, int n_tensors, int *bad_tensor) {
    double *sums = xmalloc((size_t)(n_tensors ? n_tensors : 1) * sizeof *sums);
    grad_tensor_sumsq(grad, tensors, 0, n_tensors, sums);
    double norm = grad_norm_of_sums(sums, n_tensors, bad_tensor);
    free(sums);
    return norm;
}

double grad_clip_scale(double norm, double max_norm) {
    // Global-norm clipping (Pascanu et al. 2013): g ← g · max_norm / ‖g‖.
    return max_norm <= 0 || !(norm > max_norm) ? 1.0 : max_norm / norm;
}

double grad_clip(float *grad, size_t n, double norm, double max_norm) {
    double scale = grad_clip_scale(norm, max_norm);
    if (scale != 1.0) update_scale(grad, n, scale);
    return scale;
}
