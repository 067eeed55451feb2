#include "model/backend_staged.h"

#include <stdlib.h>
#include <string.h>

#include "model/backend.h"

typedef struct {
    float *weights;  // the copy of Model.params the operations read (NULL before the first load_params)
    size_t n;
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

// The MoE block's CPU code reads the weights through Model.params: here it reads the backend's own copy, which an
// optimizer step on backend memory (model/backend.h adamw) updates while the host's stays as it was.
static void staged_moe(const Backend *be, const Model *m, int l, const void *x, LayerActs *a, int T, void *y) {
    Model view = *m;
    view.params = ((Mirror *)be->state)->weights;
    backend_cpu()->moe(be, &view, l, x, a, T, y);
}

static void staged_moe_back(const Backend *be, const Model *m, int l, const ModelActs *A, const LayerActs *a,
                            const void *dy, double aux_weight, float *grads, void *da2) {
    Model view = *m;
    view.params = ((Mirror *)be->state)->weights;
    backend_cpu()->moe_back(be, &view, l, A, a, dy, aux_weight, grads, da2);
}

Backend *backend_staged_create(void) {
    Backend *be = xmalloc(sizeof *be);
    *be = *backend_cpu();
    be->name = "staged";
    be->state = xcalloc(1, sizeof(Mirror));
    be->param = staged_param;
    be->load_params = staged_load_params;
    be->moe = staged_moe;
    be->moe_back = staged_moe_back;
    return be;
}

void backend_staged_destroy(Backend *be) {
    if (!be) return;
    Mirror *w = be->state;
    free(w->weights), free(w);
    free(be);
}
