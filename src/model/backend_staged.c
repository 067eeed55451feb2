#include "model/backend_staged.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/backend.h"

typedef struct {
    float *weights;  // the copy of Model.params the operations read (NULL before the first load_params)
    size_t n;
    size_t act_down_max, act_down_all;  // activation elements a device backend would copy to the host
} Mirror;

static const void *staged_param(const Backend *be, const Model *m, size_t off) {
    (void)m;
    const Mirror *w = be->state;
    return off == SIZE_MAX ? NULL : w->weights + off;
}

static int staged_load_params(const Backend *be, const Model *m, Err *e) {
    (void)e;
    Mirror *w = be->state;
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

Backend *backend_staged_create(void) {
    Backend *be = xmalloc(sizeof *be);
    *be = *backend_cpu();
    be->name = "staged";
    be->state = xcalloc(1, sizeof(Mirror));
    be->param = staged_param;
    be->load_params = staged_load_params;
    be->to_host = staged_to_host;
    be->view_end = staged_view_end;
    return be;
}

void backend_staged_destroy(Backend *be) {
    if (!be) return;
    Mirror *w = be->state;
    if (getenv("RLVR_TEST_STAGED_DOWNLOADS"))
        fprintf(stderr, "staged backend: activation downloads: largest %zu elements, %zu in all\n", w->act_down_max,
                w->act_down_all);
    free(w->weights), free(w);
    free(be);
}
