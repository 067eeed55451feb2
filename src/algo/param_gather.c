#include "algo/param_gather.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/dist.h"
#include "base/error.h"

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
    m->units_done = param_gather_stream_end;
}

void param_gather_free(ParamGather *g) {
    if (!g->model) return;
    g->model->before_unit = NULL;
    g->model->units_done = NULL;
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

// Unit at position i of the cycle: embedding, layers 0..L-1, head, layers L-1..0.
static int cycle_unit(const ParamGather *g, int64_t i) {
    int L = g->n_units - 2;
    int k = (int)(i % (2 * L + 2));
    return k == 0 ? L : k <= L ? k - 1 : k == L + 1 ? L + 1 : 2 * L + 1 - k;
}

static void drop_resident(ParamGather *g) {
    if (g->resident >= 0)
        for (int i = 0; i < g->n_ranges[g->resident]; i++)
            drop_unowned(g, g->ranges[g->resident][i].begin, g->ranges[g->resident][i].end);
    g->resident = -1;
}

static void gather_unit(ParamGather *g, int u) {
    for (int i = 0; i < g->n_ranges[u]; i++) gather_range(g, g->ranges[u][i].begin, g->ranges[u][i].end);
    g->resident = u;
}

// The next unit of the cycle replaces the resident one; in the plan's last pass, leaving the backward of layer
// l >= 1 first sums its gradient.
static void step_cycle(ParamGather *g) {
    drop_resident(g);
    int L = g->n_units - 2;
    int64_t i = g->gathers++, k = i % (2 * L + 2);
    if (g->sum_layer && g->planned > 0 && i >= g->planned - (2 * L + 2) && k >= L + 3)
        g->sum_layer(g->sum_ctx, (int)(2 * L + 2 - k));
    gather_unit(g, cycle_unit(g, i));
}

// Sampling: the next unit of the forward-only cycle; at its start the ranks agree whether any is still active.
// Returns false (nothing gathered) when none is.
static bool stream_step(ParamGather *g, bool active) {
    int L = g->n_units - 2, k = (int)(g->gathers % (L + 2));
    if (k == 0) {
        int64_t any = active;
        dist_allreduce_max_i64(&any, 1);
        if (!any) return false;
    }
    drop_resident(g);
    g->gathers++;
    gather_unit(g, k == 0 ? L : k <= L ? k - 1 : L + 1);
    return true;
}

static void before_unit(void *ctx, int unit) {
    ParamGather *g = ctx;
    int L = g->n_units - 2, u = unit == MODEL_UNIT_EMBED ? L : unit == MODEL_UNIT_HEAD ? L + 1 : unit;
    if (g->whole) return;
    while (g->resident != u) g->stream ? stream_step(g, true) : step_cycle(g);
}

void param_gather_stream(ParamGather *g) {
    if (!g->model || g->whole) return;
    g->stream = true;
    g->gathers = 0;
}

void param_gather_stream_end(void *ctx) {
    ParamGather *g = ctx;
    if (!g->stream) return;
    while (stream_step(g, false)) {}
    drop_resident(g);
    g->gathers = 0;
}

void param_gather_sum_layers(ParamGather *g, void (*sum_layer)(void *ctx, int layer), void *ctx) {
    g->sum_layer = sum_layer;
    g->sum_ctx = ctx;
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
    if (g->stream) param_gather_stream_end(g);
    g->stream = false;
    finish_plan(g);
    drop_unowned(g, 0, g->model->n_params);
    g->resident = -1;
    g->whole = false;
}

void param_gather_all(ParamGather *g) {
    if (!g->model || g->whole) return;
    if (g->stream) param_gather_stream_end(g);
    g->stream = false;
    finish_plan(g);
    size_t begin[g->world], end[g->world];
    for (int q = 0; q < g->world; q++) begin[q] = g->map[q].begin, end[q] = g->map[q].end;
    dist_allgather_pieces_f32(g->model->params, begin, end);
    g->whole = true;
    g->resident = -1;
}
