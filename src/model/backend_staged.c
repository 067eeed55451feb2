#include "model/backend_staged.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pages.h"
#include "model/backend.h"

typedef struct {
    size_t begin, end;
} Span;

typedef struct {
    float *weights;  // the copy of Model.params the operations read (NULL before the first load_params)
    size_t n;
    size_t act_down_max, act_down_all;  // activation elements a device backend would copy to the host
    // ZeRO stage 3 (Backend.windowed): weights is a pages buffer in which only the open windows are resident, and
    // param() refuses an offset outside them, as a device's copy of only those windows would.
    bool windowed;
    Span *open;
    int n_open;
} Mirror;

static int window_at(const Mirror *w, size_t off) {
    for (int i = 0; i < w->n_open; i++)
        if (off >= w->open[i].begin && off < w->open[i].end) return i;
    return -1;
}

static const void *staged_param(const Backend *be, const Model *m, size_t off) {
    (void)m;
    const Mirror *w = be->state;
    if (off == SIZE_MAX) return NULL;
    if (w->windowed && window_at(w, off) < 0) {
        fprintf(stderr, "rlvr: staged backend: parameter offset %zu read outside the open weight windows\n", off);
        abort();
    }
    return w->weights + off;
}

static int staged_load_params(const Backend *be, const Model *m, Err *e) {
    (void)e;
    Mirror *w = be->state;
    if (w->windowed) return 0;  // the windows are filled as they open
    if (w->n != m->n_params) free(w->weights), w->weights = xmalloc(m->n_params * sizeof *w->weights), w->n = m->n_params;
    memcpy(w->weights, m->params, m->n_params * sizeof *w->weights);
    return 0;
}

// Downloads of activations (to_host, OUT views) are counted: a device backend would copy each to the host.
static void count_down(const Backend *be, size_t n, BufType t) {
    Mirror *w = be->state;
    if (t != BUF_ACT) return;
    if (n > w->act_down_max) w->act_down_max = n;
    w->act_down_all += n;
}

static void staged_to_host(const Backend *be, void *host, const void *src, size_t n, BufType t) {
    count_down(be, n, t);
    backend_cpu()->to_host(be, host, src, n, t);
}

static void staged_view_end(const Backend *be, void *view, void *host, size_t n, BufType t, ViewDir dir) {
    if (dir & VIEW_OUT) count_down(be, n, t);
    backend_cpu()->view_end(be, view, host, n, t, dir);
}

static void free_weights(Mirror *w) {
    if (w->windowed) pages_free(w->weights, w->n * sizeof *w->weights);
    else free(w->weights);
    w->weights = NULL, w->n = 0, w->n_open = 0;
}

static void staged_windowed(const Backend *be, const Model *m, bool on) {
    Mirror *w = be->state;
    if (on == w->windowed) return;
    free_weights(w);
    w->windowed = on;
    if (on) w->weights = pages_alloc(m->n_params * sizeof *w->weights), w->n = m->n_params;
}

static int staged_window_open(const Backend *be, const Model *m, size_t begin, size_t end, size_t own_begin,
                              size_t own_end,
                              void (*fill)(void *ctx, void *buf, size_t elem_bytes, size_t first, size_t n),
                              void *ctx, Err *e) {
    Mirror *w = be->state;
    if (!w->windowed) return err_set(e, "staged backend: a weight window opened outside windowed mode");
    for (int i = 0; i < w->n_open; i++)
        if (begin < w->open[i].end && w->open[i].begin < end)
            return err_set(e, "staged backend: weight window [%zu, %zu) overlaps the open [%zu, %zu)", begin, end,
                           w->open[i].begin, w->open[i].end);
    size_t a = own_begin > begin ? own_begin : begin, b = own_end < end ? own_end : end;
    if (b > a) memcpy(w->weights + a, m->params + a, (b - a) * sizeof *w->weights);
    fill(ctx, w->weights + begin, sizeof *w->weights, begin, end - begin);
    w->open = xrealloc(w->open, (size_t)(w->n_open + 1) * sizeof *w->open);
    w->open[w->n_open++] = (Span){begin, end};
    return 0;
}

static void staged_window_close(const Backend *be, const Model *m, size_t begin, size_t end) {
    (void)m;
    Mirror *w = be->state;
    for (int i = 0; i < w->n_open;) {
        Span s = w->open[i];
        if (s.begin < begin || s.end > end) {
            i++;
            continue;
        }
        pages_release(w->weights + s.begin, (s.end - s.begin) * sizeof *w->weights);
        w->open[i] = w->open[--w->n_open];
    }
}

// The MoE block reads the weights of m (moe.c): here those of the backend's own copy.
static const Model *on_copy(const Backend *be, const Model *m, Model *copy) {
    *copy = *m;
    copy->params = ((const Mirror *)be->state)->weights;
    return copy;
}

// Elements [off, off + n) of the weights, when any, inside one open window: else an abort naming them.
static void require_open(const Mirror *w, size_t off, size_t n) {
    if (off == SIZE_MAX || !n) return;
    int i = window_at(w, off);
    if (i >= 0 && off + n <= w->open[i].end) return;
    fprintf(stderr, "rlvr: staged backend: MoE weights [%zu, %zu) read outside one open weight window\n", off, off + n);
    abort();
}

// As a device's grouped products do (Backend.whole_moe_layers), the block reads all of layer l's MoE weights (its
// tensors model.layers.l.mlp.*): at zero stage 3 each must lie in an open window (under expert parallelism each
// owner holds its own).
static void require_layer(const Backend *be, const Model *m, int l) {
    const Mirror *w = be->state;
    if (!w->windowed || m->ep) return;
    char prefix[64];
    int len = snprintf(prefix, sizeof prefix, "model.layers.%d.mlp.", l);
    for (int i = 0; i < m->n_tensors; i++) {
        const ModelTensor *t = &m->tensors[i];
        if (!strncmp(t->name, prefix, (size_t)len)) require_open(w, t->offset, t->numel);
    }
}

static void staged_moe(const Backend *be, const Model *m, int l, const void *x, LayerActs *a, int T, void *y) {
    Model c;
    require_layer(be, m, l);
    backend_cpu()->moe(be, on_copy(be, m, &c), l, x, a, T, y);
}

static void staged_moe_back(const Backend *be, const Model *m, int l, const ModelActs *A, const LayerActs *a,
                            const void *dy, double aux_weight, float *grads, void *da2) {
    Model c;
    require_layer(be, m, l);
    backend_cpu()->moe_back(be, on_copy(be, m, &c), l, A, a, dy, aux_weight, grads, da2);
}

static void staged_ep_expert(const Backend *be, const Model *m, const LayerOffsets *o, int e, const void *x, int n,
                             void *out) {
    Model c;
    backend_cpu()->ep_expert(be, on_copy(be, m, &c), o, e, x, n, out);
}

static void staged_ep_expert_back(const Backend *be, const Model *m, const LayerOffsets *o, int e, const void *x,
                                  const void *gy, int n, float *dgate, float *dup, float *ddown, void *dx) {
    Model c;
    backend_cpu()->ep_expert_back(be, on_copy(be, m, &c), o, e, x, gy, n, dgate, dup, ddown, dx);
}

// Poisoned (every byte 0xff: NaN as a float or double, -1 as an integer), as a device's unzeroed memory may hold
// anything: a read before the first write shows in the results it_device.sh compares with the CPU's. The CPU
// backend allocates them, since this table keeps its free.
static void *staged_alloc_uninit(const Backend *be, size_t n, BufType t) {
    size_t bytes = (n + 1) * (t == BUF_F64 || t == BUF_I64 ? 8 : 4);
    void *p = backend_cpu()->alloc_uninit(be, n, t);
    if (p) memset(p, 0xff, bytes);
    return p;
}

Backend *backend_staged_create(void) {
    Backend *be = xmalloc(sizeof *be);
    *be = *backend_cpu();
    be->name = "staged";
    be->whole_moe_layers = true;  // its MoE block checks the layer's weights as a device's reads them
    be->state = xcalloc(1, sizeof(Mirror));
    be->alloc_uninit = staged_alloc_uninit;
    be->param = staged_param;
    be->load_params = staged_load_params;
    be->to_host = staged_to_host;
    be->view_end = staged_view_end;
    be->moe = staged_moe;
    be->moe_back = staged_moe_back;
    be->windowed = staged_windowed;
    be->window_open = staged_window_open;
    be->window_close = staged_window_close;
    be->ep_expert = staged_ep_expert;
    be->ep_expert_back = staged_ep_expert_back;
    be->matmul_dx_slice = NULL;  // as the CUDA backend has none: the LM head's two-pass backward (model/model_head.c)
    return be;
}

void backend_staged_destroy(Backend *be) {
    if (!be) return;
    Mirror *w = be->state;
    if (getenv("RLVR_TEST_STAGED_DOWNLOADS"))
        fprintf(stderr, "staged backend: activation downloads: largest %zu elements, %zu in all\n", w->act_down_max,
                w->act_down_all);
    free_weights(w);
    free(w->open), free(w);
    free(be);
}
