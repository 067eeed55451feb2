#include "train/packing.h"

#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "train/group_exchange.h"

typedef struct {
    int64_t cost, mb, k;
} Unit;

static int by_minibatch_then_cost(const void *a, const void *b) {
    const Unit *x = a, *y = b;
    if (x->mb != y->mb) return (x->mb > y->mb) - (x->mb < y->mb);
    if (x->cost != y->cost) return (x->cost < y->cost) - (x->cost > y->cost);
    return (x->k > y->k) - (x->k < y->k);
}

void packing_lpt(const int64_t *cost, const int64_t *minibatch, int64_t n, int world, int *rank_of) {
    Unit *u = xmalloc((size_t)(n + 1) * sizeof *u);
    for (int64_t k = 0; k < n; k++) u[k] = (Unit){cost[k], minibatch[k], k};
    qsort(u, (size_t)n, sizeof *u, by_minibatch_then_cost);
    int64_t *load = xcalloc((size_t)world, sizeof *load);
    for (int64_t k = 0; k < n; k++) {
        if (k > 0 && u[k].mb != u[k - 1].mb) memset(load, 0, (size_t)world * sizeof *load);
        int best = 0;
        for (int r = 1; r < world; r++)
            if (load[r] < load[best]) best = r;
        load[best] += u[k].cost;
        rank_of[u[k].k] = best;
    }
    free(u), free(load);
}

void train_share_free(TrainShare *s) {
    groups_free(&s->gs);
    free(s->adv), free(s->micro);
    memset(s, 0, sizeof *s);
}

bool packing_skips_equal_groups(const Config *cfg) {
    const ModelConfig *mc = &cfg->model;
    bool moe = mc->type == MODEL_QWEN2_MOE || mc->type == MODEL_QWEN3_MOE;
    return cfg->train.skip_zero_backward && cfg->algo.beta == 0 && cfg->algo.entropy_coef == 0 &&
           (mc->router_aux_loss_coef == 0 || !moe) && cfg->train.ppo_epochs == 1 && cfg->train.n_minibatches == 1 &&
           cfg->dist.expert_parallel == 1;
}

int64_t packing_micro_cost(const int64_t *row, int G, int j0, int j1, bool skipped) {
    if (skipped && row[G + 2]) return 1;
    int64_t cost = 0;
    for (int j = j0; j < G && j < j1; j++) cost += row[1] + row[2 + j];
    return cost;
}

// Every selected group's row (packing.h packing_micro_cost) from all ranks, by position: position, prompt length,
// response lengths, and whether every advantage is 0.
static int64_t *gather_rows(const Groups *gs, const double *adv, int G, size_t *n_groups) {
    size_t W = (size_t)G + 3;
    int64_t *mine = xmalloc(((size_t)gs->n * W + 1) * sizeof *mine);
    for (int i = 0; i < gs->n; i++) {
        int64_t *row = mine + (size_t)i * W;
        row[0] = gs->g[i].pos, row[1] = gs->g[i].prompt_len, row[G + 2] = 1;
        for (int j = 0; j < G; j++) row[2 + j] = gs->g[i].resp[j].n_tokens, row[G + 2] &= adv[(size_t)i * G + j] == 0;
    }
    size_t n;
    int64_t *all = dist_allgatherv_i64(mine, (size_t)gs->n * W, &n, NULL);
    free(mine);
    *n_groups = n / W;
    // Rows arrive in rank order, each rank's ascending: place them by position (positions are 0 .. K-1).
    int64_t *by_pos = xmalloc((n + 1) * sizeof *by_pos);
    for (size_t q = 0; q < *n_groups; q++) memcpy(by_pos + (size_t)all[q * W] * W, all + q * W, W * sizeof *all);
    free(all);
    return by_pos;
}

void packing_share(const Groups *gs, const double *adv, const Config *cfg, TrainShare *out) {
    memset(out, 0, sizeof *out);
    int G = cfg->rollout.n, mb = cfg->train.micro_batch, R = dist_size(), me = dist_rank();
    int64_t n_mb = cfg->train.n_minibatches, K;
    size_t n_groups;
    int64_t *rows = gather_rows(gs, adv, G, &n_groups);
    bool skipped = packing_skips_equal_groups(cfg);
    K = (int64_t)n_groups;
    int per_group = (G + mb - 1) / mb;
    int64_t n = K * per_group, *cost = xmalloc((size_t)(n + 1) * sizeof *cost);
    int64_t *minibatch = xmalloc((size_t)(n + 1) * sizeof *minibatch);
    int *rank_of = xmalloc((size_t)(n + 1) * sizeof *rank_of);
    for (int64_t p = 0, m = 0; p < K; p++) {
        while ((m + 1) * K / n_mb <= p) m++;  // the mini-batch [m K / n_mb, (m + 1) K / n_mb) holding position p
        for (int c = 0; c < per_group; c++) {
            int64_t k = p * per_group + c;
            cost[k] = packing_micro_cost(rows + p * (G + 3), G, c * mb, (c + 1) * mb, skipped), minibatch[k] = m;
        }
    }
    packing_lpt(cost, minibatch, n, R, rank_of);
    uint8_t *dest = xcalloc((size_t)gs->n * R + 1, 1);
    for (int i = 0; i < gs->n; i++)
        for (int c = 0; c < per_group; c++) dest[(size_t)i * R + rank_of[gs->g[i].pos * per_group + c]] = 1;
    out->gs.experts_per_token = gs->experts_per_token, out->gs.n_selected = gs->n_selected;
    group_exchange(gs->g, gs->n, G, gs->experts_per_token, adv, dest, &out->gs, &out->adv);
    out->micro = xmalloc((size_t)(n + 1) * sizeof *out->micro);
    for (int i = 0; i < out->gs.n; i++)  // received in ascending position order
        for (int c = 0; c < per_group; c++)
            if (rank_of[out->gs.g[i].pos * per_group + c] == me)
                out->micro[out->n_micro++] = (MicroRef){i, c * mb, (c + 1) * mb < G ? (c + 1) * mb : G};
    free(rows), free(cost), free(minibatch), free(rank_of), free(dest);
}
