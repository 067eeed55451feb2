#include "train/grad_stage.h"

void grad_stage_init(GradStage *s, Updater *u) { *s = (GradStage){&u->reducer, u->dev.m ? &u->dev : NULL}; }

float *grad_stage_begin(GradStage *s, float *host, bool last) {
    if (s->dev) return device_update_micro_begin(s->dev, last);
    if (last) grad_reducer_micro_last(s->red);
    return host;
}

void grad_stage_layer_done(void *ctx, int layer) {
    GradStage *s = ctx;
    if (s->dev) device_update_layer_done(s->dev, layer);
    else grad_reducer_layer_done(s->red, layer);
}

void grad_stage_end(GradStage *s) {
    if (s->dev) device_update_micro_end(s->dev);
}

void grad_stage_settle(GradStage *s) {
    if (s->dev) device_update_settle(s->dev);
    else grad_reducer_settle(s->red);
}
