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

Backend *backend_staged_create(void) {
    Backend *be = xmalloc(sizeof *be);
    *be = *backend_cpu();
    be->name = "staged";
    be->state = xcalloc(1, sizeof(Mirror));
    be->param = staged_param;
    be->load_params = staged_load_params;
    return be;
}

void backend_staged_destroy(Backend *be) {
    if (!be) return;
    Mirror *w = be->state;
    free(w->weights), free(w);
    free(be);
}
