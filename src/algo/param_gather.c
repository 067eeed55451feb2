#include "algo/param_gather.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/dist.h"
#include "base/error.h"
#include "model/expert_map.h"

// Unit of tensor t: its layer, the embedding (L) or the head (L + 1: final norm and LM head).
static int unit_of(const ModelTensor *t, int L) {
    int l;
    if (sscanf(t->name, "model.layers.%d.", &l) == 1 && l >= 0 && l < L) return l;
    return strcmp(t->name, "model.embed_tokens.weight") == 0 ? L : L + 1;
}

static void add_range(ParamGather *g, int u, size_t begin, size_t end) {
    int n = g->n_ranges[u];
    if (n && g->ranges[u][n - 1].end == begin) {
        g->ranges[u][n - 1].end = end;
        return;
    }
    g->ranges[u] = xrealloc(g->ranges[u], (size_t)(n + 1) * sizeof *g->ranges[u]);
    g->ranges[u][g->n_ranges[u]++] = (ParamRange){begin, end};
}

static void before_unit(void *ctx, int unit);

void param_gather_init(ParamGather *g, Model *m, const Shard *map, int world, int rank) {
    int L = m->cfg.num_hidden_layers;
    *g = (ParamGather){.model = m, .map = map, .world = world, .rank = rank, .n_units = L + 2, .resident = -1,
                       .whole = true};
    g->ranges = xcalloc((size_t)g->n_units, sizeof *g->ranges);
    g->n_ranges = xcalloc((size_t)g->n_units, sizeof *g->n_ranges);
    const ModelTensor *embed = model_tensor(m, "model.embed_tokens.weight");
    for (int k = 0; k < m->n_tensors; k++) {
        const ModelTensor *t = &m->tensors[k];
        add_range(g, unit_of(t, L), t->offset, t->offset + t->numel);
    }
    if (embed && !model_tensor(m, "lm_head.weight"))  // tied: the LM head is the embedding
        add_range(g, L + 1, embed->offset, embed->offset + embed->numel);
    m->before_unit = before_unit;
    m->before_unit_ctx = g;
}

void param_gather_free(ParamGather *g) {
    if (!g->model) return;
    g->model->before_unit = NULL;
    for (int u = 0; u < g->n_units; u++) free(g->ranges[u]);
    free(g->ranges), free(g->n_ranges);
    memset(g, 0, sizeof *g);
}

void param_gather_drop_pages(float *x, size_t begin, size_t end) {
    if (end <= begin) return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)(x + begin), b = (uintptr_t)(x + end);
    a = (a + page - 1) / page * page, b = b / page * page;
    if (b > a && madvise((void *)a, b - a, MADV_DONTNEED) != 0) perror("rlvr: madvise");
}

// Drops the part of [begin, end) that other ranks own.
static void drop_unowned(const ParamGather *g, size_t begin, size_t end) {
    const Shard *own = &g->map[g->rank];
    param_gather_drop_pages(g->model->params, begin, end < own->begin ? end : own->begin);
    param_gather_drop_pages(g->model->params, begin > own->end ? begin : own->end, end);
}

static void gather_range(const ParamGather *g, size_t a, size_t b) {
    size_t begin[g->world], end[g->world];
    for (int q = 0; q < g->world; q++) {
        size_t lo = g->map[q].begin, hi = g->map[q].end;
        begin[q] = lo < a ? a : lo > b ? b : lo;
        end[q] = hi < a ? a : hi > b ? b : hi;
    }
    dist_allgather_pieces_f32(g->model->params, begin, end);
}

void param_gather_experts(ParamGather *g, int k, const struct DistGroup *peers) {
    g->ep_k = k;
    g->ep_peers = peers;
}

// Expert parallelism: piece (tensor i, place q)'s elements of Model.params and its owner (non-expert: q = 0, whole).
static int ep_piece(const ParamGather *g, int i, int q, size_t *b, size_t *e) {
    const ModelTensor *t = &g->model->tensors[i];
    *b = 0, *e = t->numel;
    if (expert_tensor(t)) expert_slice(t, g->ep_k, q, b, e);
    *b += t->offset, *e += t->offset;
    return shard_piece_owner(g->model, g->map, g->world, g->ep_k, i, q);
}

static int ep_places(const ParamGather *g, int i) { return expert_tensor(&g->model->tensors[i]) ? g->ep_k : 1; }

// Whether tensor i is read as part of unit u (the tied LM head is the embedding).
static bool ep_in_unit(const ParamGather *g, int i, int u) {
    int L = g->n_units - 2;
    const ModelTensor *t = &g->model->tensors[i];
    if (unit_of(t, L) == u) return true;
    return u == L + 1 && strcmp(t->name, "model.embed_tokens.weight") == 0 && !model_tensor(g->model, "lm_head.weight");
}

// Unit u's pieces (every unit: u < 0) from their owners: the non-expert ones to every rank, of the expert tensors
// this place's slices over the peers (all: every place's slice to every rank).
static void ep_gather(const ParamGather *g, int u) {
    float *p = g->model->params;
    int q_mine = g->rank % g->ep_k;
    for (int i = 0; i < g->model->n_tensors; i++) {
        if (u >= 0 && !ep_in_unit(g, i, u)) continue;
        for (int q = 0; q < ep_places(g, i); q++) {
            size_t b, e;
            int owner = ep_piece(g, i, q, &b, &e);
            if (u < 0 || !expert_tensor(&g->model->tensors[i])) dist_bcast(p + b, (e - b) * sizeof *p, owner);
            else if (q == q_mine) dist_group_bcast(g->ep_peers, p + b, (e - b) * sizeof *p, owner / g->ep_k);
        }
    }
}

// Gives back the pages of unit u's pieces (every unit: u < 0) that other ranks own.
static void ep_drop(const ParamGather *g, int u) {
    for (int i = 0; i < g->model->n_tensors; i++) {
        if (u >= 0 && !ep_in_unit(g, i, u)) continue;
        for (int q = 0; q < ep_places(g, i); q++) {
            size_t b, e;
            if (ep_piece(g, i, q, &b, &e) != g->rank) param_gather_drop_pages(g->model->params, b, e);
        }
    }
}

// Unit at position i of the cycle: embedding, layers 0..L-1, head, layers L-1..0.
static int cycle_unit(const ParamGather *g, int64_t i) {
    int L = g->n_units - 2;
    int k = (int)(i % (2 * L + 2));
    return k == 0 ? L : k <= L ? k - 1 : k == L + 1 ? L + 1 : 2 * L + 1 - k;
}

// The next unit of the cycle replaces the resident one.
static void step_cycle(ParamGather *g) {
    if (g->ep_k) {
        if (g->resident >= 0) ep_drop(g, g->resident);
        g->resident = cycle_unit(g, g->gathers++);
        ep_gather(g, g->resident);
        return;
    }
    if (g->resident >= 0)
        for (int i = 0; i < g->n_ranges[g->resident]; i++)
            drop_unowned(g, g->ranges[g->resident][i].begin, g->ranges[g->resident][i].end);
    int u = cycle_unit(g, g->gathers++);
    for (int i = 0; i < g->n_ranges[u]; i++) gather_range(g, g->ranges[u][i].begin, g->ranges[u][i].end);
    g->resident = u;
}

static void before_unit(void *ctx, int unit) {
    ParamGather *g = ctx;
    int L = g->n_units - 2, u = unit == MODEL_UNIT_EMBED ? L : unit == MODEL_UNIT_HEAD ? L + 1 : unit;
    if (g->whole) return;
    while (g->resident != u) step_cycle(g);
}

void param_gather_plan(ParamGather *g, int64_t passes) {
    if (!g->model) return;
    dist_allreduce_max_i64(&passes, 1);
    g->planned = passes * (2 * (g->n_units - 2) + 2);
}

// This rank joins the gathers the others still make, up to the plan.
static void finish_plan(ParamGather *g) {
    if (g->gathers > g->planned)
        dist_fatal("zero stage 3: %lld weight gathers on this rank, %lld planned", (long long)g->gathers,
                   (long long)g->planned);
    while (g->gathers < g->planned) step_cycle(g);
    g->gathers = g->planned = 0;
}

void param_gather_release(ParamGather *g) {
    if (!g->model) return;
    finish_plan(g);
    if (g->ep_k) ep_drop(g, -1);
    else drop_unowned(g, 0, g->model->n_params);
    g->resident = -1;
    g->whole = false;
}

void param_gather_all(ParamGather *g) {
    if (!g->model || g->whole) return;
    finish_plan(g);
    size_t begin[g->world], end[g->world];
    for (int q = 0; q < g->world; q++) begin[q] = g->map[q].begin, end[q] = g->map[q].end;
    if (g->ep_k) ep_gather(g, -1);
    else dist_allgather_pieces_f32(g->model->params, begin, end);
    g->whole = true;
    g->resident = -1;
}
