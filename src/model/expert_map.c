#include "model/expert_map.h"

#include <stdlib.h>
#include <string.h>

#include "base/pages.h"

void expert_range(int n_experts, int k, int q, int *begin, int *end) {
    *begin = q * (n_experts / k);
    *end = (q + 1) * (n_experts / k);
}

int expert_owner(int n_experts, int k, int e) { return e / (n_experts / k); }

bool expert_tensor(const ModelTensor *t) { return t->ndim == 3 && strstr(t->name, ".mlp.experts.") != NULL; }

void expert_slice(const ModelTensor *t, int k, int q, size_t *begin, size_t *end) {
    size_t per_expert = t->numel / (size_t)t->shape[0];
    int eb, ee;
    expert_range((int)t->shape[0], k, q, &eb, &ee);
    *begin = (size_t)eb * per_expert;
    *end = (size_t)ee * per_expert;
}

int expert_held_pieces(const Model *m, int k, int q, TensorPiece **out) {
    TensorPiece *p = xmalloc((size_t)(m->n_tensors ? m->n_tensors : 1) * sizeof *p);
    for (int i = 0; i < m->n_tensors; i++) {
        p[i] = (TensorPiece){i, 0, m->tensors[i].numel};
        if (expert_tensor(&m->tensors[i])) expert_slice(&m->tensors[i], k, q, &p[i].begin, &p[i].end);
    }
    *out = p;
    return m->n_tensors;
}

void expert_map_print(FILE *f, const Model *layout, int k, int world) {
    int E = layout->cfg.num_experts;
    if (k <= 1 || !layout->moe) return;
    fprintf(f, "; expert parallelism %d over %d rank(s): %d group(s) of %d consecutive ranks\n", k, world, world / k, k);
    size_t per_place = 0;
    for (int i = 0; i < layout->n_tensors; i++) {
        size_t b, e;
        if (!expert_tensor(&layout->tensors[i])) continue;
        expert_slice(&layout->tensors[i], k, 0, &b, &e);
        per_place += e - b;
    }
    for (int q = 0; q < k; q++) {
        int eb, ee;
        expert_range(E, k, q, &eb, &ee);
        fprintf(f, "; place %d of each group owns experts %d..%d: %zu expert parameters\n", q, eb, ee - 1, per_place);
    }
}

size_t expert_packed_offset(const ExpertParallel *ep, const Model *m, int tensor) {
    size_t off = 0;
    for (int i = 0; i < tensor; i++) {
        size_t b, e;
        if (!expert_tensor(&m->tensors[i])) continue;
        expert_slice(&m->tensors[i], ep->k, ep->q, &b, &e);
        off += e - b;
    }
    return off;
}

int expert_parallel_init(ExpertParallel *ep, const Model *m, int k, bool exact, Err *e) {
    memset(ep, 0, sizeof *ep);
    int world = dist_size();
    if (k > 1 && (!m->moe || m->cfg.num_experts % k))
        return err_set(e, "dist.expert_parallel = %d must divide the model's num_experts (%d)", k, m->cfg.num_experts);
    if (world % k)
        return err_set(e, "dist.expert_parallel = %d must divide the number of ranks (%d)", k, world);
    ep->k = k;
    ep->q = dist_rank() % k;
    ep->n_experts = m->cfg.num_experts;
    if (k > 1) expert_range(ep->n_experts, k, ep->q, &ep->e_begin, &ep->e_end);
    else ep->e_end = ep->n_experts;
    ep->group = dist_group_create(dist_rank() / k);
    if (k > 1) ep->peers = dist_group_create(ep->q);
    ep->packed_n = expert_packed_offset(ep, m, m->n_tensors);
    ep->packed_at = xmalloc((size_t)(m->n_tensors ? m->n_tensors : 1) * sizeof *ep->packed_at);
    for (int i = 0; i < m->n_tensors; i++) ep->packed_at[i] = expert_packed_offset(ep, m, i);
    ep->peer_grads = xcalloc((size_t)k, sizeof *ep->peer_grads);
    for (int s = 0; s < k && k > 1 && exact; s++)
        if (s != ep->q) ep->peer_grads[s] = pages_alloc((ep->packed_n + 1) * sizeof(float));
    return 0;
}

void expert_parallel_free(ExpertParallel *ep) {
    for (int s = 0; ep->peer_grads && s < ep->k; s++) pages_free(ep->peer_grads[s], (ep->packed_n + 1) * sizeof(float));
    free(ep->peer_grads), free(ep->packed_at);
    dist_group_free(ep->group);
    dist_group_free(ep->peers);
    memset(ep, 0, sizeof *ep);
}
