// Next-token choice from logits: temperature, top-k, top-p (nucleus), greedy at temperature 0.
#ifndef RLVR_SAMPLE_FILTER_H
#define RLVR_SAMPLE_FILTER_H

#include <stdint.h>

#include "base/rng.h"

// Scratch weights for one vocabulary size (one per concurrently drawing thread).
typedef struct {
    int vocab;
    double *w;
} SampleWork;

void sample_work_init(SampleWork *w, int vocab);
void sample_work_free(SampleWork *w);

// Fills w->w with the unnormalised sampling weights exp((l_i - max) / T) of the tokens top-k and top-p keep
// and 0 for the others (temperature > 0; top_k 0 = all; top_p 1 = all). Top-k then top-p on the renormalised
// remainder, as Hugging Face's processors do; ties rank by lower id. Returns -1 when a logit is not finite.
int sample_filter(const float *logits, double temperature, int top_k, double top_p, SampleWork *w);

// The next token: argmax (lowest id on ties) at temperature 0, else one draw from rng over sample_filter's
// weights. Returns -1 when a logit is not finite.
int32_t sample_draw(const float *logits, double temperature, int top_k, double top_p, Rng *rng, SampleWork *w);

#endif
