#include "train/update.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "base/revision.h"
#include "io/checkpoint.h"
#include "model/device.h"

// Each layer's element range from the table ("model.layers.L." names), for the per-layer reduction, which needs the
// layers to follow each other back to back, in order (model/model.c builds them so).
static void reduce_by_layer(Updater *u, bool overlap) {
    const Model *m = u->model;
    int L = m->cfg.num_hidden_layers;
    size_t *begin = xmalloc((size_t)(L ? L : 1) * sizeof *begin), *end = xcalloc((size_t)(L ? L : 1), sizeof *end);
    for (int l = 0; l < L; l++) begin[l] = SIZE_MAX;
    for (int k = 0; k < m->n_tensors; k++) {
        int l;
        if (sscanf(m->tensors[k].name, "model.layers.%d.", &l) != 1 || l < 0 || l >= L) continue;
        const ModelTensor *t = &m->tensors[k];
        if (t->offset < begin[l]) begin[l] = t->offset;
        if (t->offset + t->numel > end[l]) end[l] = t->offset + t->numel;
    }
    bool ok = L > 0;
    for (int l = 0; l < L && ok; l++) ok = begin[l] < end[l] && (l == 0 || begin[l] == end[l - 1]);
    if (ok) grad_reducer_layers(&u->reducer, L, begin, end, overlap);
    free(begin), free(end);
    const ModelTensor *head = model_tensor(m, "lm_head.weight");
    if (!head) head = model_tensor(m, "model.embed_tokens.weight");  // tied
    if (head) grad_reducer_head(&u->reducer, head->offset, head->offset + head->numel);
}

// Zero stage 3: each layer's gradient summed onto its owners at a point of the weight gathers' common schedule
// (the busiest rank's last backward), which every rank reaches in the same order: sums inside a rank's own last
// backward would meet the per-layer gathers of a busier rank in another order.
static void sum_layers_with_gathers(Updater *u) {
    reduce_by_layer(u, false);
    grad_reducer_schedule(&u->reducer);
    param_gather_sum_layers(&u->gather, grad_reducer_sum_layer, &u->reducer);
}

// Expert parallelism: its expert slices' gradients summed only over the ranks that own the same experts, and Adam
// moments (packed) for the pieces this rank updates: at zero stage 0 every non-expert tensor and its slices, at
// stages 1-3 the pieces it owns (algo/shard.h).
static void hold_experts(Updater *u) {
    const Model *m = u->model;
    TensorPiece *slices;
    int n_pieces = expert_held_pieces(m, u->ep.k, u->ep.q, &slices), n_ranges = 0;
    u->expert_ranges = xmalloc(4 * (size_t)(m->n_tensors ? m->n_tensors : 1) * sizeof *u->expert_ranges);
    for (int i = 0; i < n_pieces; i++) {
        const TensorPiece *p = &slices[i];
        const ModelTensor *t = &m->tensors[p->tensor];
        if (!expert_tensor(t)) continue;
        size_t *g = u->expert_ranges + 4 * (size_t)n_ranges++;
        g[0] = t->offset, g[1] = t->offset + t->numel, g[2] = t->offset + p->begin, g[3] = t->offset + p->end;
    }
    grad_reducer_experts(&u->reducer, u->expert_ranges, n_ranges, u->ep.peers);
    if (u->zero_stage > 0) {
        free(slices);
        u->n_held = shard_expert_pieces(m, u->map, dist_size(), u->ep.k, dist_rank(), &u->held);
    } else {
        u->held = slices, u->n_held = n_pieces;
    }
    size_t n = 0;
    for (int i = 0; i < u->n_held; i++) n += u->held[i].end - u->held[i].begin;
    adamw_init_shard(&u->opt, 0, n);
}

int updater_init(Updater *u, Model *m, const Config *cfg, const char *config_text, Err *e) {
    *u = (Updater){.model = m, .hyper = adamw_hyper(&cfg->train), .clip = cfg->train.grad_clip,
                   .config_text = config_text};
    u->zero_stage = cfg->dist.zero_stage;
    TRY(expert_parallel_init(&u->ep, m, cfg->dist.expert_parallel, cfg->dist.deterministic, e));
    int world = dist_size();
    u->map = xmalloc((size_t)world * sizeof *u->map);
    shard_map(m->tensors, m->n_tensors, world, u->map);
    u->own = u->zero_stage > 0 ? u->map[dist_rank()] : (Shard){0, m->n_tensors, 0, m->n_params};
    grad_reducer_init(&u->reducer, m->n_params, cfg->dist.deterministic, m->tensors, m->n_tensors);
    if (u->ep.k > 1) hold_experts(u);
    else adamw_init_shard(&u->opt, u->own.begin, u->own.end);
    if (u->zero_stage >= 2) grad_reducer_shard(&u->reducer, u->map, world);
    if (u->zero_stage == 3) param_gather_init(&u->gather, m, u->map, world, dist_rank());
    // Expert groups are gathered in the forward's order, and again in the backward's: a layer recomputed inside the
    // backward would ask for its groups a third time, so with train.recompute a layer's experts stay in its unit.
    if (u->zero_stage == 3 && u->ep.k == 1 && !cfg->train.recompute) param_gather_split_experts(&u->gather, true);
    if (u->zero_stage == 3 && u->ep.k > 1) param_gather_experts(&u->gather, u->ep.k, u->ep.peers);
    // The reducer sums the whole gradient when the update ends instead of layer by layer during the last backward
    // under expert parallelism (a rank's last micro-batch is not its last contribution, ep_step.h).
    if (u->ep.k == 1 && u->zero_stage < 3) reduce_by_layer(u, cfg->dist.overlap);
    if (u->ep.k == 1 && u->zero_stage == 3) sum_layers_with_gathers(u);
    return 0;
}

int updater_attach_device(Updater *u, Err *e) {
    Model *m = u->model;
    // A backend whose MoE block reads a layer's experts at once (the CUDA one's grouped products) gets whole layers.
    if (u->zero_stage == 3 && u->ep.k == 1 && device_whole_moe_layers(m)) param_gather_split_experts(&u->gather, false);
    // Zero stage 3 and expert parallelism keep the host's reducers and optimizer (train/grad_stage.h stages the
    // gradient to them): their sums follow the weight gathers and the expert exchange.
    if (device_on_cpu(m) || u->ep.k > 1 || u->zero_stage == 3) return 0;
    const GradReducer *r = &u->reducer;
    TRY(device_update_init(&u->dev, m, u->map, u->zero_stage, r->deterministic, &u->opt, r->n_layers, r->layer_begin,
                           r->layer_end, e));
    bool deterministic = r->deterministic;
    grad_reducer_free(&u->reducer);
    grad_reducer_init(&u->reducer, 0, deterministic, m->tensors, m->n_tensors);
    return 0;
}

void updater_detach_device(Updater *u) { device_update_free(&u->dev); }

void updater_sync_host(Updater *u) { device_update_sync_host(&u->dev, &u->opt); }

void updater_free(Updater *u) {
    param_gather_free(&u->gather);
    adamw_free(&u->opt);
    grad_reducer_free(&u->reducer);
    expert_parallel_free(&u->ep);
    free(u->held), free(u->expert_ranges);
    free(u->map);
}

// Every rank's owned elements of x (n floats) copied to all ranks, owner by owner.
static void gather_owned(const Updater *u, float *x) {
    for (int q = 0; q < dist_size(); q++)
        dist_bcast(x + u->map[q].begin, (u->map[q].end - u->map[q].begin) * sizeof *x, q);
}

// Writes the reduced gradient (grad, on the host) of a fresh run's first update as the /model tensors of FILE (so
// `rlvr ckpt diff` compares the gradients of runs on different rank counts).
static void dump_gradient(const Updater *u, float *grad) {
    const char *path = getenv("RLVR_TEST_DUMP_GRAD");
    if (u->zero_stage >= 2) gather_owned(u, grad);  // every rank calls it: a collective
    if (!dist_is_root()) return;
    Model view = *u->model;
    view.params = grad;
    CheckpointMeta meta = {"gradient", u->config_text, rlvr_revision(), dist_size(), NULL};
    Err e;
    if (checkpoint_save(path, &view, NULL, NULL, &meta, &e)) fprintf(stderr, "rlvr: %s\n", e.msg);
}

// Expert parallelism: AdamW on the pieces this rank holds, each clipped and updated through a view of its packed
// moments (clipping and AdamW are elementwise, so the bits are those of one update of the whole table).
static void update_held(Updater *u, float *grad, double norm, double lr) {
    size_t at = 0;
    for (int i = 0; i < u->n_held; i++) {
        const TensorPiece *p = &u->held[i];
        ModelTensor piece = u->model->tensors[p->tensor];
        piece.offset += p->begin;
        piece.numel = p->end - p->begin;
        grad_clip(grad + piece.offset, piece.numel, norm, u->clip);
        AdamW view = {.n = piece.numel, .begin = piece.offset, .m = u->opt.m + at, .v = u->opt.v + at,
                      .step = u->opt.step};
        adamw_update(&view, u->model->params, grad, &piece, 1, lr, &u->hyper);
        at += piece.numel;
    }
    u->opt.step++;
}

// Expert parallelism at zero stage 1-2: every owned piece's new weights from its owner to every rank (all hold
// every weight for sampling).
static void bcast_pieces(const Updater *u) {
    const Model *m = u->model;
    for (int i = 0; i < m->n_tensors; i++) {
        const ModelTensor *t = &m->tensors[i];
        for (int q = 0; q < (expert_tensor(t) ? u->ep.k : 1); q++) {
            size_t b = 0, e = t->numel;
            if (expert_tensor(t)) expert_slice(t, u->ep.k, q, &b, &e);
            int owner = shard_piece_owner(m, u->map, dist_size(), u->ep.k, i, q);
            dist_bcast(m->params + t->offset + b, (e - b) * sizeof(float), owner);
        }
    }
}

// Expert parallelism: each place's updated experts to the rest of its group, so every rank samples with all of
// them (README.md "Expert parallelism": the rollout needs no all-to-all).
static void gather_experts(const Updater *u) {
    const Model *m = u->model;
    for (int i = 0; i < m->n_tensors; i++) {
        if (!expert_tensor(&m->tensors[i])) continue;
        for (int q = 0; q < u->ep.k; q++) {
            size_t b, e;
            expert_slice(&m->tensors[i], u->ep.k, q, &b, &e);
            dist_group_bcast(u->ep.group, m->params + m->tensors[i].offset + b, (e - b) * sizeof(float), q);
        }
    }
}

static void dump_first_gradient(Updater *u) {
    if (!getenv("RLVR_TEST_DUMP_GRAD") || u->opt.step != 0) return;
    if (!u->dev.m) return dump_gradient(u, u->reducer.grad);
    float *grad = xcalloc(u->model->n_params ? u->model->n_params : 1, sizeof *grad);
    device_update_grad_get(&u->dev, grad);
    dump_gradient(u, grad);
    free(grad);
}

static void poison_gradient(Updater *u) {
    const char *name = getenv("RLVR_TEST_POISON_GRAD");
    const ModelTensor *x = name ? model_tensor(u->model, name) : NULL;
    if (x && u->dev.m) device_update_grad_set(&u->dev, x->offset, NAN);
    else if (x) u->reducer.grad[x->offset] = NAN;
}

static const char *tensor_name(const Updater *u, int i) { return i >= 0 ? u->model->tensors[i].name : "?"; }

// Global norm of the reduced gradient: each tensor's sum of squares by a rank that holds it whole, added in
// table order, so the bits are the same for every zero stage and rank count.
// Expert parallelism: an expert tensor's sum of squares is one running sum in element order, continued place by
// place through the group (each owner adds its slice): the bits of grad_tensor_sumsq over the whole tensor.
// to[i] = from[i] continued over this rank's slice of each expert tensor i it holds, in element order.
static void continue_expert_sums(const Updater *u, const float *grad, const double *from, double *to) {
    for (int i = 0; i < u->n_held; i++) {
        const TensorPiece *p = &u->held[i];
        const ModelTensor *t = &u->model->tensors[p->tensor];
        if (!expert_tensor(t)) continue;
        double s = from[p->tensor];
        for (size_t j = p->begin; j < p->end; j++) s += (double)grad[t->offset + j] * grad[t->offset + j];
        to[p->tensor] = s;
    }
}

static void expert_sumsq(const Updater *u, const float *grad, double *sums) {
    for (int q = 0; q < u->ep.k; q++) {
        if (q == u->ep.q) continue_expert_sums(u, grad, sums, sums);
        dist_group_bcast(u->ep.group, sums, (size_t)u->model->n_tensors * sizeof *sums, q);
    }
}

// Expert parallelism at zero stage 1-3: a non-expert tensor's sum of squares by its owner; an expert tensor's one
// running sum continued place by place through the owners of its slices. Each step is a world-wide sum in which one
// rank gives a tensor's value and the others zero (x + 0 = x, exactly).
static void owned_sumsq(const Updater *u, const float *grad, double *sums) {
    const Model *m = u->model;
    size_t n = (size_t)(m->n_tensors ? m->n_tensors : 1);
    for (int i = 0; i < u->n_held; i++)
        if (!expert_tensor(&m->tensors[u->held[i].tensor]))
            grad_tensor_sumsq(grad, m->tensors, u->held[i].tensor, u->held[i].tensor + 1, sums);
    dist_allreduce_sum_f64(sums, (size_t)m->n_tensors);
    double *next = xmalloc(n * sizeof *next);
    for (int q = 0; q < u->ep.k; q++) {
        memset(next, 0, n * sizeof *next);
        if (q == u->ep.q) continue_expert_sums(u, grad, sums, next);
        dist_allreduce_sum_f64(next, (size_t)m->n_tensors);
        for (int i = 0; i < m->n_tensors; i++)
            if (expert_tensor(&m->tensors[i])) sums[i] = next[i];
    }
    free(next);
}

static double global_norm(const Updater *u, const float *grad, int *bad_tensor) {
    const Model *m = u->model;
    if (u->ep.k > 1 && u->zero_stage > 0) {
        double *sums = xcalloc((size_t)(m->n_tensors ? m->n_tensors : 1), sizeof *sums);
        owned_sumsq(u, grad, sums);
        double norm = grad_norm_of_sums(sums, m->n_tensors, bad_tensor);
        free(sums);
        return norm;
    }
    if (u->ep.k > 1) {
        double *sums = xcalloc((size_t)(m->n_tensors ? m->n_tensors : 1), sizeof *sums);
        expert_sumsq(u, grad, sums);
        for (int k = 0; k < m->n_tensors; k++)
            if (!expert_tensor(&m->tensors[k])) grad_tensor_sumsq(grad, m->tensors, k, k + 1, sums);
        double norm = grad_norm_of_sums(sums, m->n_tensors, bad_tensor);
        free(sums);
        return norm;
    }
    if (u->zero_stage < 2) return grad_global_norm(grad, m->tensors, m->n_tensors, bad_tensor);
    double *sums = xcalloc((size_t)(m->n_tensors ? m->n_tensors : 1), sizeof *sums);
    grad_tensor_sumsq(grad, m->tensors, u->own.tensor_begin, u->own.tensor_end, sums);
    dist_allreduce_sum_f64(sums, (size_t)m->n_tensors);  // one owner per tensor: x + 0 = x, exactly
    double norm = grad_norm_of_sums(sums, m->n_tensors, bad_tensor);
    free(sums);
    return norm;
}

static void apply(Updater *u, double loss_sum, double lr, UpdateStats *s) {
    bool in_range = grad_reducer_finish(&u->reducer);
    float *grad = u->reducer.grad;
    poison_gradient(u);
    dump_first_gradient(u);
    dist_allreduce_sum_f64(&loss_sum, 1);
    int bad_tensor;
    Model *m = u->model;
    double norm = global_norm(u, grad, &bad_tensor);
    s->lr = lr;
    if (!isfinite(loss_sum)) snprintf(s->bad, sizeof s->bad, "loss (%g)", loss_sum);
    else if (!in_range) snprintf(s->bad, sizeof s->bad, "gradient in %s", tensor_name(u, u->reducer.bad_tensor));
    else if (!isfinite(norm)) snprintf(s->bad, sizeof s->bad, "gradient in %s", tensor_name(u, bad_tensor));
    else {
        const Shard *o = &u->own;
        if (u->ep.k > 1) {
            update_held(u, grad, norm, lr);
        } else {
            grad_clip(grad + o->begin, o->end - o->begin, norm, u->clip);
            adamw_update(&u->opt, m->params, grad, m->tensors + o->tensor_begin, o->tensor_end - o->tensor_begin, lr,
                         &u->hyper);
        }
        // Each owner updated its run of the weights; at stage 3 the next gathers read them.
        if (u->ep.k == 1 && (u->zero_stage == 1 || u->zero_stage == 2)) gather_owned(u, m->params);
        s->updates++;
        s->grad_norm = norm;
        return;
    }
    s->skipped++;  // the weights and moments stay as they were
}

// A device backend's update (train/device_update.h): the same checks and order as apply, in backend memory.
static void apply_on_device(Updater *u, double loss_sum, double lr, UpdateStats *s) {
    DeviceUpdate *d = &u->dev;
    bool in_range = device_update_finish(d);
    poison_gradient(u);
    dump_first_gradient(u);
    dist_allreduce_sum_f64(&loss_sum, 1);
    int bad_tensor;
    double norm = device_update_norm(d, &bad_tensor);
    s->lr = lr;
    if (!isfinite(loss_sum)) snprintf(s->bad, sizeof s->bad, "loss (%g)", loss_sum);
    else if (!in_range) snprintf(s->bad, sizeof s->bad, "gradient in %s", tensor_name(u, d->bad_tensor));
    else if (!isfinite(norm)) snprintf(s->bad, sizeof s->bad, "gradient in %s", tensor_name(u, bad_tensor));
    else {
        device_update_step(d, norm, u->clip, lr, &u->hyper, &u->opt);
        s->updates++;
        s->grad_norm = norm;
        return;
    }
    s->skipped++;  // the weights and moments stay as they were
}

void updater_apply(Updater *u, double loss_sum, double lr, UpdateStats *s) {
    if (u->dev.m) return apply_on_device(u, loss_sum, lr, s);
    int updates = s->updates;
    apply(u, loss_sum, lr, s);
    // Expert parallelism: every owned piece to the ranks that dropped it (train/ep_step.h), updated or skipped.
    if (u->ep.k > 1 && (u->zero_stage == 1 || u->zero_stage == 2)) bcast_pieces(u);
    else if (u->ep.k > 1 && u->zero_stage == 0) gather_experts(u);
    Model *m = u->model;
    Err e;
    // The backend's copy of the weights follows them (a device backend's mirror; the CPU's is the weights).
    if (s->updates > updates && device_load_weights(m, &e)) dist_fatal("after the update: %s", e.msg);
    // Zero stage 3: nothing reads the gradient before the next update's backward (which starts from zeros), so
    // sampling runs without its pages.
    if (u->zero_stage == 3) param_gather_drop_pages(u->reducer.grad, 0, u->reducer.n);
}
