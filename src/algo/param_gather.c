#include "algo/param_gather.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/dist.h"
#include "base/error.h"
#include "model/device.h"
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

// Groups of a MoE layer's routed experts gathered apart: the largest divisor of E up to PARAM_GATHER_GROUPS.
static int expert_groups(int E) {
    int k = E < PARAM_GATHER_GROUPS ? E : PARAM_GATHER_GROUPS;
    while (k > 1 && E % k) k--;
    return k < 1 ? 1 : k;
}

static int group_unit(const ParamGather *g, int l, int j) {
    return g->model->cfg.num_hidden_layers + 2 + l * g->n_groups + j;
}

static void free_units(ParamGather *g) {
    for (int u = 0; u < g->n_units; u++) free(g->ranges[u]);
    free(g->ranges), free(g->n_ranges), free(g->cycle), free(g->sum_at), free(g->has_groups);
    free(g->layer_begin), free(g->layer_end), free(g->tensor_unit);
    g->layer_begin = g->layer_end = NULL;
    g->tensor_unit = NULL;
    g->ranges = NULL, g->n_ranges = NULL, g->cycle = NULL, g->sum_at = NULL, g->has_groups = NULL;
}

static void add_position(ParamGather *g, int unit, int sum) {
    g->cycle[g->n_cycle] = unit;
    g->sum_at[g->n_cycle++] = sum;
}

// A layer, then (split) its expert groups in order.
static void add_layer(ParamGather *g, int l, int sum) {
    add_position(g, l, sum);
    for (int j = 0; g->has_groups[l] && j < g->n_groups; j++) add_position(g, group_unit(g, l, j), -1);
}

// Units, their ranges and the cycle: with split, each MoE layer's routed experts form n_groups units apart.
static void build_units(ParamGather *g, bool split) {
    free_units(g);
    const Model *m = g->model;
    int L = m->cfg.num_hidden_layers;
    g->n_groups = split && m->moe ? expert_groups(m->cfg.num_experts) : 0;
    g->n_units = L + 2 + L * g->n_groups;
    g->ranges = xcalloc((size_t)g->n_units, sizeof *g->ranges);
    g->n_ranges = xcalloc((size_t)g->n_units, sizeof *g->n_ranges);
    g->has_groups = xcalloc((size_t)(L ? L : 1), sizeof *g->has_groups);
    g->layer_begin = xmalloc((size_t)(L ? L : 1) * sizeof *g->layer_begin);
    g->layer_end = xcalloc((size_t)(L ? L : 1), sizeof *g->layer_end);
    g->tensor_unit = xmalloc((size_t)(m->n_tensors ? m->n_tensors : 1) * sizeof *g->tensor_unit);
    for (int l = 0; l < L; l++) g->layer_begin[l] = SIZE_MAX;
    for (int k = 0; k < m->n_tensors; k++) {
        const ModelTensor *t = &m->tensors[k];
        int u = g->tensor_unit[k] = unit_of(t, L);
        if (u < L) g->layer_begin[u] = t->offset < g->layer_begin[u] ? t->offset : g->layer_begin[u];
        if (u < L) g->layer_end[u] = t->offset + t->numel > g->layer_end[u] ? t->offset + t->numel : g->layer_end[u];
        if (!g->n_groups || u >= L || !expert_tensor(t)) {
            add_range(g, u, t->offset, t->offset + t->numel);
            continue;
        }
        g->has_groups[u] = true;
        for (int j = 0; j < g->n_groups; j++) {
            size_t b, e;
            expert_slice(t, g->n_groups, j, &b, &e);
            add_range(g, group_unit(g, u, j), t->offset + b, t->offset + e);
        }
    }
    const ModelTensor *embed = model_tensor(m, "model.embed_tokens.weight");
    g->tied_head = embed && !model_tensor(m, "lm_head.weight");
    if (g->tied_head) add_range(g, L + 1, embed->offset, embed->offset + embed->numel);
    // Forward: embedding, layers 0..L-1, head; backward: layers L-1..0, entering layer l-1 after layer l's sum.
    g->n_cycle = 0;
    g->cycle = xmalloc((size_t)g->n_units * 2 * sizeof *g->cycle);
    g->sum_at = xmalloc((size_t)g->n_units * 2 * sizeof *g->sum_at);
    add_position(g, L, -1);
    for (int l = 0; l < L; l++) add_layer(g, l, -1);
    add_position(g, L + 1, -1);
    for (int l = L - 1; l >= 0; l--) add_layer(g, l, l + 1 < L ? l + 1 : -1);
}

static void before_unit(void *ctx, int unit);

void param_gather_init(ParamGather *g, Model *m, const Shard *map, int world, int rank) {
    *g = (ParamGather){.model = m, .map = map, .world = world, .rank = rank, .resident = -1, .resident_group = -1,
                       .whole = true};
    build_units(g, false);
    m->before_unit = before_unit;
    m->before_unit_ctx = g;
    m->units_done = param_gather_stream_end;
}

void param_gather_split_experts(ParamGather *g, bool split) {
    if (g->model) build_units(g, split);
}

void param_gather_free(ParamGather *g) {
    if (!g->model) return;
    g->model->before_unit = NULL;
    g->model->units_done = NULL;
    free_units(g);
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

// A backend with a weight copy of its own (a device, model/device.h) holds the gathered units as windows of that copy,
// filled from the owners' shards in its memory: the host keeps only this rank's weights.
static bool on_device(const ParamGather *g) { return device_own_weights(g->model); }

// Completes a window's buffer buf (elements [first, first + n) of Model.params, elem bytes each) from its owners.
static void fill_window(void *ctx, void *buf, size_t elem, size_t first, size_t n) {
    const ParamGather *g = ctx;
    size_t begin[g->world], end[g->world], last = first + n;
    for (int q = 0; q < g->world; q++) {
        size_t lo = g->map[q].begin, hi = g->map[q].end;
        begin[q] = ((lo < first ? first : lo > last ? last : lo) - first) * elem;
        end[q] = ((hi < first ? first : hi > last ? last : hi) - first) * elem;
    }
    dist_allgather_pieces_bytes(buf, begin, end, device_on_gpu(g->model));
}

static void open_window(const ParamGather *g, size_t a, size_t b) {
    Err e;
    const Shard *own = &g->map[g->rank];
    if (device_window_open(g->model, a, b, own->begin, own->end, fill_window, (void *)g, &e))
        dist_fatal("zero stage 3: %s", e.msg);
}

static void gather_range(const ParamGather *g, size_t a, size_t b) {
    if (on_device(g)) return open_window(g, a, b);
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
    int L = g->model->cfg.num_hidden_layers;
    return g->tensor_unit[i] == u || (u == L + 1 && g->tied_head && g->tensor_unit[i] == L);
}

// A device's window on one piece, filled from its owner: root of group (NULL: of every rank).
typedef struct {
    const ParamGather *g;
    const struct DistGroup *group;
    int root;
} PieceFill;

static void fill_piece(void *ctx, void *buf, size_t elem, size_t first, size_t n) {
    const PieceFill *f = ctx;
    (void)first;
    dist_group_bcast_into(f->group, buf, n * elem, f->root, device_on_gpu(f->g->model));
}

// Piece [b, e) of Model.params from its owner (root of group, or of every rank) into this rank's weights or, on a
// device, into a window of its own.
static void ep_bring(const ParamGather *g, size_t b, size_t e, int owner, const struct DistGroup *group, int root) {
    float *p = g->model->params;
    if (!on_device(g)) {
        if (group) dist_group_bcast(group, p + b, (e - b) * sizeof *p, root);
        else dist_bcast(p + b, (e - b) * sizeof *p, root);
        return;
    }
    PieceFill f = {g, group, root};
    Err err;
    bool mine = owner == g->rank;
    if (device_window_open(g->model, b, e, mine ? b : 0, mine ? e : 0, fill_piece, &f, &err))
        dist_fatal("zero stage 3: %s", err.msg);
}

// Every place's slice of expert tensor i from its owner into one window (filled from the host first: the owners'
// slices are theirs, the rest read as zeros there and are then overwritten).
typedef struct {
    const ParamGather *g;
    int i;
} TensorFill;

static void fill_tensor(void *ctx, void *buf, size_t elem, size_t first, size_t n) {
    const TensorFill *f = ctx;
    (void)n;
    for (int q = 0; q < f->g->ep_k; q++) {
        size_t b, e;
        int owner = ep_piece(f->g, f->i, q, &b, &e);
        char *at = (char *)buf + (b - first) * elem;
        dist_group_bcast_into(NULL, at, (e - b) * elem, owner, device_on_gpu(f->g->model));
    }
}

static void ep_bring_tensor(const ParamGather *g, int i) {
    const ModelTensor *t = &g->model->tensors[i];
    TensorFill f = {g, i};
    Err err;
    size_t b = t->offset, e = t->offset + t->numel;
    if (device_window_open(g->model, b, e, b, e, fill_tensor, &f, &err)) dist_fatal("zero stage 3: %s", err.msg);
}

// Unit u's pieces (every unit: u < 0) from their owners: the non-expert ones to every rank, of the expert tensors
// this place's slices over the peers (all: every place's slice to every rank, in one window per tensor on a device
// whose MoE block reads a layer's experts at once, as the block then runs every expert here).
static void ep_gather(const ParamGather *g, int u) {
    int q_mine = g->rank % g->ep_k;
    bool whole = u < 0 && on_device(g) && device_whole_moe_layers(g->model);
    for (int i = 0; i < g->model->n_tensors; i++) {
        if (u >= 0 && !ep_in_unit(g, i, u)) continue;
        if (whole && expert_tensor(&g->model->tensors[i])) {
            ep_bring_tensor(g, i);
            continue;
        }
        for (int q = 0; q < ep_places(g, i); q++) {
            size_t b, e;
            int owner = ep_piece(g, i, q, &b, &e);
            if (u < 0 || !expert_tensor(&g->model->tensors[i])) ep_bring(g, b, e, owner, NULL, owner);
            else if (q == q_mine) ep_bring(g, b, e, owner, g->ep_peers, owner / g->ep_k);
        }
    }
}

// Unit u's pieces (every unit: u < 0) no longer read: pages, the host's pages of those other ranks own; else a
// device's windows on them closed.
static void ep_drop(const ParamGather *g, int u, bool pages) {
    for (int i = 0; i < g->model->n_tensors; i++) {
        if (u >= 0 && !ep_in_unit(g, i, u)) continue;
        for (int q = 0; q < ep_places(g, i); q++) {
            size_t b, e;
            int owner = ep_piece(g, i, q, &b, &e);
            if (!pages) device_window_close(g->model, b, e);
            else if (owner != g->rank) param_gather_drop_pages(g->model->params, b, e);
        }
    }
}

// Sampling gathers and drops a whole layer (its span, with every expert) at once; training a unit's ranges.
static bool whole_layer(const ParamGather *g, int u) { return g->stream && u < g->model->cfg.num_hidden_layers; }

// Elements [begin, end) no longer read: a device's windows there closed, or on the host the pages others own dropped.
static void drop_span(const ParamGather *g, size_t begin, size_t end) {
    if (on_device(g)) device_window_close(g->model, begin, end);
    else drop_unowned(g, begin, end);
}

static void drop_unit(ParamGather *g, int u) {
    if (u < 0) return;
    if (whole_layer(g, u)) return drop_span(g, g->layer_begin[u], g->layer_end[u]);
    for (int i = 0; i < g->n_ranges[u]; i++) drop_span(g, g->ranges[u][i].begin, g->ranges[u][i].end);
}

static void gather_unit(ParamGather *g, int u) {
    if (whole_layer(g, u)) gather_range(g, g->layer_begin[u], g->layer_end[u]);
    else
        for (int i = 0; i < g->n_ranges[u]; i++) gather_range(g, g->ranges[u][i].begin, g->ranges[u][i].end);
}

static void drop_resident(ParamGather *g) {
    drop_unit(g, g->resident_group);
    drop_unit(g, g->resident);
    g->resident = g->resident_group = -1;
}

// The next unit of the cycle replaces the resident one (an expert group only the resident group: its layer's
// other weights stay); in the plan's last pass, entering the backward of layer l-1 first sums layer l's gradient.
static void step_cycle(ParamGather *g) {
    int64_t i = g->gathers++;
    int pos = (int)(i % g->n_cycle), u = g->cycle[pos];
    if (g->ep_k) {  // expert parallelism: whole units by pieces (no expert groups; sums when the update ends)
        if (g->resident >= 0) ep_drop(g, g->resident, !on_device(g));
        ep_gather(g, u);
        g->resident = u;
        return;
    }
    if (u >= g->model->cfg.num_hidden_layers + 2) {
        drop_unit(g, g->resident_group);
        gather_unit(g, u);
        g->resident_group = u;
        return;
    }
    drop_resident(g);
    if (g->sum_layer && g->planned > 0 && i >= g->planned - g->n_cycle && g->sum_at[pos] >= 0)
        g->sum_layer(g->sum_ctx, g->sum_at[pos]);
    gather_unit(g, u);
    g->resident = u;
}

// Sampling: the next unit of the forward-only cycle (embedding, whole layers, head); at its start the ranks agree
// whether any is still active. Returns false (nothing gathered) when none is.
static bool stream_step(ParamGather *g, bool active) {
    int L = g->model->cfg.num_hidden_layers, k = (int)(g->gathers % (L + 2));
    if (k == 0) {
        int64_t any = active;
        dist_allreduce_max_i64(&any, 1);
        if (!any) return false;
    }
    drop_resident(g);
    g->gathers++;
    g->resident = k == 0 ? L : k <= L ? k - 1 : L + 1;
    gather_unit(g, g->resident);
    return true;
}

static void before_unit(void *ctx, int unit) {
    ParamGather *g = ctx;
    int L = g->model->cfg.num_hidden_layers, u = unit == MODEL_UNIT_EMBED ? L : unit == MODEL_UNIT_HEAD ? L + 1 : unit;
    if (g->whole) return;
    if (unit < MODEL_UNIT_HEAD) {  // a routed expert: its group, when split and not sampling (whole layers then)
        if (g->stream || !g->n_groups) return;
        int E = g->model->cfg.num_experts, idx = model_expert_index(unit);
        u = group_unit(g, idx / E, expert_owner(E, g->n_groups, idx % E));
        while (g->resident_group != u) step_cycle(g);
        return;
    }
    while (g->resident != u) g->stream ? (void)stream_step(g, true) : step_cycle(g);
}

void param_gather_stream(ParamGather *g) {
    if (!g->model || g->whole) return;
    if (g->ep_k) return param_gather_all(g);  // expert parallelism: its pieces follow their own map, gathered once
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
    g->planned = passes * g->n_cycle;
}

// This rank joins the gathers the others still make, up to the plan.
static void finish_plan(ParamGather *g) {
    if (g->gathers > g->planned)
        dist_fatal("zero stage 3: %lld weight gathers on this rank, %lld planned", (long long)g->gathers,
                   (long long)g->planned);
    while (g->gathers < g->planned) step_cycle(g);
    g->gathers = g->planned = 0;
}

// Ends a sampling stream or a plan, with nothing resident.
static void settle(ParamGather *g) {
    if (g->stream) param_gather_stream_end(g);
    g->stream = false;
    finish_plan(g);
    g->resident = g->resident_group = -1;
}

void param_gather_release(ParamGather *g) {
    if (!g->model) return;
    settle(g);
    if (g->ep_k) ep_drop(g, -1, true);
    else drop_unowned(g, 0, g->model->n_params);
    if (on_device(g)) {  // the device's copy: nothing but the windows the gathers open
        device_window_close(g->model, 0, g->model->n_params);
        device_weights_windowed(g->model, true);
    }
    g->whole = false;
}

void param_gather_all(ParamGather *g) {
    if (!g->model || g->whole) return;
    settle(g);
    size_t begin[g->world], end[g->world];
    for (int q = 0; q < g->world; q++) begin[q] = g->map[q].begin, end[q] = g->map[q].end;
    if (g->ep_k) ep_gather(g, -1);
    else if (on_device(g)) open_window(g, 0, g->model->n_params);
    else dist_allgather_pieces_f32(g->model->params, begin, end);
    g->whole = true;
}
