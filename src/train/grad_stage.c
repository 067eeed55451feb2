#include "train/grad_stage.h"

#include <stdlib.h>

#include "model/device.h"

void grad_stage_init(GradStage *s, Updater *u) {
    *s = (GradStage){.red = &u->reducer, .dev = u->dev.m ? &u->dev : NULL};
    if (s->dev || device_on_cpu(u->model)) return;
    s->m = u->model;
    s->staged = device_grad_alloc(s->m, s->red->n);
    s->fetched = xcalloc((size_t)(s->red->n_layers > 0 ? s->red->n_layers : 1), sizeof *s->fetched);
}

void grad_stage_free(GradStage *s) {
    if (s->m) device_grad_free(s->m, s->staged);
    free(s->fetched);
    *s = (GradStage){0};
}

float *grad_stage_begin(GradStage *s, float *host, bool last) {
    if (s->dev) return device_update_micro_begin(s->dev, last);
    if (last) grad_reducer_micro_last(s->red);
    s->host = host;
    if (!s->m) return host;
    for (int l = 0; l < s->red->n_layers; l++) s->fetched[l] = false;
    device_grad_put(s->m, s->staged, host, s->red->n);
    return s->staged;
}

// Elements [begin, end) of the staged gradient to the host buffer.
static void fetch(const GradStage *s, size_t begin, size_t end) {
    if (end > begin) device_grad_get(s->m, s->host + begin, s->staged + begin, end - begin);
}

void grad_stage_layer_done(void *ctx, int layer) {
    GradStage *s = ctx;
    if (s->dev) return device_update_layer_done(s->dev, layer);
    const GradReducer *r = s->red;
    if (s->m && r->by_layer && layer >= 0 && layer < r->n_layers) {
        fetch(s, r->layer_begin[layer], r->layer_end[layer]);
        s->fetched[layer] = true;
    }
    grad_reducer_layer_done(s->red, layer);
}

void grad_stage_end(GradStage *s) {
    if (s->dev) return device_update_micro_end(s->dev);
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

void grad_stage_settle(GradStage *s) {
    if (s->dev) device_update_settle(s->dev);
    else grad_reducer_settle(s->red);
}
