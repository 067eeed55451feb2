#include "train/ep_step.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "base/pages.h"
#include "model/device.h"

// The other places' experts: not read by the training forward and backward, so their pages go back to the
// kernel until the update hands every expert out again (updater_apply).
static void drop_other_experts(Model *m, const ExpertParallel *ep) {
    for (int i = 0; i < m->n_tensors; i++) {
        const ModelTensor *t = &m->tensors[i];
        for (int q = 0; q < ep->k && expert_tensor(t); q++) {
            size_t b, e;
            expert_slice(t, ep->k, q, &b, &e);
            if (q != ep->q) param_gather_drop_pages(m->params, t->offset + b, t->offset + e);
        }
    }
}

// On a backend of its own, the other places' rows add their expert gradients into its memory (model/moe_ep.c):
// one zeroed buffer per place that keeps them apart on the host.
static void peer_buffers(Model *m, ExpertParallel *ep) {
    if (!device_own_weights(m)) return;
    ep->peer_dev = xcalloc((size_t)ep->k, sizeof *ep->peer_dev);
    for (int s = 0; s < ep->k; s++)
        if (ep->peer_grads[s]) ep->peer_dev[s] = device_grad_alloc(m, ep->packed_n);
}

int ep_begin(Model *m, Updater *u, int n_local) {
    if (u->ep.k <= 1) return n_local;
    drop_other_experts(m, &u->ep);
    peer_buffers(m, &u->ep);
    int64_t rounds = n_local;
    dist_group_allreduce_max_i64(u->ep.group, &rounds, 1);
    m->ep = &u->ep;
    return (int)rounds;
}

void ep_end(Model *m) {
    ExpertParallel *ep = m->ep;
    for (int s = 0; ep && ep->peer_dev && s < ep->k; s++) device_grad_free(m, ep->peer_dev[s]);
    if (ep) free(ep->peer_dev), ep->peer_dev = NULL;
    m->ep = NULL;
}

int ep_idle_round(Model *m, Updater *u, GradStage *stage, Err *e) {
    int64_t none = 0;
    ModelActs *acts;
    TRY(model_forward(m, 0, &none, NULL, NULL, NULL, NULL, &acts, e));
    // No token of this rank's: only the group's rows pass through, their expert gradients going to peer_grads
    // (deterministic) or to the running sum (fast mode: reducer.grad is that sum), through the backend's memory.
    int rc = model_backward(m, acts, NULL, 0, grad_stage_begin(stage, u->reducer.grad, false), e);
    grad_stage_end(stage);
    model_acts_free(acts);
    return rc;
}

static bool all_zero(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (x[i] != 0.0f) return false;
    return true;
}

// Place s's micro-batch's gradients of this rank's experts, as that micro-batch's part of the exact sum.
static void add_peer(Updater *u, int s) {
    ExpertParallel *ep = &u->ep;
    float *p = ep->peer_grads[s];
    if (p && ep->peer_dev) device_grad_get(u->model, p, ep->peer_dev[s], ep->packed_n);
    if (!p || all_zero(p, ep->packed_n)) return;  // fast mode (added already), or none of its rows came here
    grad_reducer_add_slices(&u->reducer, p);
    pages_zero(p, ep->packed_n * sizeof *p);  // resident again only while a round writes it
    if (ep->peer_dev) device_grad_put(u->model, ep->peer_dev[s], p, ep->packed_n);  // zero again
}

void ep_round_end(Updater *u, int rc, const Err *e) {
    if (u->ep.k <= 1) return;
    if (rc) dist_fatal("%s (expert parallelism: the rank's group cannot finish the update without it)", e->msg);
    for (int s = 0; s < u->ep.k; s++)
        if (s != u->ep.q) add_peer(u, s);
}
