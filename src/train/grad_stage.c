#include "train/grad_stage.h"

#include <stdlib.h>

#include "model/device.h"

void grad_stage_init(GradStage *s, const Model *m, GradReducer *red) {
    *s = (GradStage){.red = red};
    s->dev = device_grad_alloc(m, red->n);
    if (!s->dev) return;  // the CPU backend adds into the reducer's buffer itself
    s->m = m;
    s->fetched = xcalloc((size_t)(red->n_layers > 0 ? red->n_layers : 1), sizeof *s->fetched);
}

void grad_stage_free(GradStage *s) {
    if (s->m) device_grad_free(s->m, s->dev);
    free(s->fetched);
    *s = (GradStage){0};
}

float *grad_stage_begin(GradStage *s, float *host) {
    s->host = host;
    if (!s->m) return host;
    for (int l = 0; l < s->red->n_layers; l++) s->fetched[l] = false;
    device_grad_put(s->m, s->dev, host, s->red->n);
    return s->dev;
}

// Elements [begin, end) of the device gradient to the host buffer.
static void fetch(const GradStage *s, size_t begin, size_t end) {
    if (end > begin) device_grad_get(s->m, s->host + begin, s->dev + begin, end - begin);
}

void grad_stage_layer_done(void *ctx, int layer) {
    GradStage *s = ctx;
    const GradReducer *r = s->red;
    if (s->m && r->by_layer && layer >= 0 && layer < r->n_layers) {
        fetch(s, r->layer_begin[layer], r->layer_end[layer]);
        s->fetched[layer] = true;
    }
    grad_reducer_layer_done(s->red, layer);
}

void grad_stage_end(GradStage *s) {
    if (!s->m) return;
    const GradReducer *r = s->red;
    size_t at = 0;
    // The layers are contiguous and in order (train/update.c reduce_by_layer); the gaps are the rest.
    for (int l = 0; l < r->n_layers; l++) {
        if (!s->fetched[l]) continue;
        fetch(s, at, r->layer_begin[l]);
        at = r->layer_end[l];
    }
    fetch(s, at, r->n);
}
