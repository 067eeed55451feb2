#include "train/update.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/dist.h"
#include "base/revision.h"
#include "io/checkpoint.h"

void updater_init(Updater *u, Model *m, const Config *cfg, const char *config_text) {
    *u = (Updater){.model = m, .hyper = adamw_hyper(&cfg->train), .clip = cfg->train.grad_clip,
                   .config_text = config_text};
    adamw_init(&u->opt, m->n_params);
    grad_reducer_init(&u->reducer, m->n_params, cfg->dist.deterministic, m->tensors, m->n_tensors);
    u->grad = xcalloc(m->n_params, sizeof *u->grad);
}

void updater_free(Updater *u) {
    adamw_free(&u->opt);
    grad_reducer_free(&u->reducer);
    free(u->grad);
}

// Writes the reduced gradient of a fresh run's first update as the /model tensors of FILE (so `rlvr ckpt
// diff` compares the gradients of runs on different rank counts).
static void dump_first_gradient(const Updater *u) {
    const char *path = getenv("RLVR_TEST_DUMP_GRAD");
    if (!path || u->opt.step != 0 || !dist_is_root()) return;
    Model view = *u->model;
    view.params = u->grad;
    CheckpointMeta meta = {"gradient", u->config_text, rlvr_revision(), dist_size()};
    Err e;
    if (checkpoint_save(path, &view, NULL, NULL, &meta, &e)) fprintf(stderr, "rlvr: %s\n", e.msg);
}

static void poison_gradient(Updater *u) {
    const char *name = getenv("RLVR_TEST_POISON_GRAD");
    const ModelTensor *x = name ? model_tensor(u->model, name) : NULL;
    if (x) u->grad[x->offset] = NAN;
}

static const char *tensor_name(const Updater *u, int i) { return i >= 0 ? u->model->tensors[i].name : "?"; }

void updater_apply(Updater *u, double loss_sum, double lr, UpdateStats *s) {
    bool in_range = grad_reducer_finish(&u->reducer, u->grad);
    poison_gradient(u);
    dump_first_gradient(u);
    dist_allreduce_sum_f64(&loss_sum, 1);
    int bad_tensor;
    const Model *m = u->model;
    double norm = grad_global_norm(u->grad, m->tensors, m->n_tensors, &bad_tensor);
    s->lr = lr;
    if (!isfinite(loss_sum)) snprintf(s->bad, sizeof s->bad, "loss (%g)", loss_sum);
    else if (!in_range) snprintf(s->bad, sizeof s->bad, "gradient in %s", tensor_name(u, u->reducer.bad_tensor));
    else if (!isfinite(norm)) snprintf(s->bad, sizeof s->bad, "gradient in %s", tensor_name(u, bad_tensor));
    else {
        grad_clip(u->grad, m->n_params, norm, u->clip);
        adamw_update(&u->opt, m->params, u->grad, m->tensors, m->n_tensors, lr, &u->hyper);
        s->updates++;
        s->grad_norm = norm;
        return;
    }
    s->skipped++;  // the weights and moments stay as they were
}
