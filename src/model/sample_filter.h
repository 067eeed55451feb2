// Next-token choice from logits: temperature, top-k, top-p (nucleus), greedy at temperature 0. The CPU backend's
// sampling operation (model/backend.h sample); kernels/sample.cu is its CUDA twin.
#ifndef RLVR_SAMPLE_FILTER_H
#define RLVR_SAMPLE_FILTER_H

#include <stdbool.h>
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

// A draw's settings (rollout.temperature, top_k, top_p) and the temperature of the log-prob and entropy recorded
// with it (the sampling temperature, 1 when greedy).
typedef struct {
    double temperature, top_p, record_temperature;
    int top_k;
} SampleSpec;

// Whether sample_pick leaves in w->w exactly exp(l_i - max_j l_j) for every token, so that the recorded log-prob can
// be taken from them (model/logprob.h logprob_entropy_from_exp): temperature and record temperature 1, no top-k, no
// top-p.
bool sample_weights_are_exps(const SampleSpec *sp, int vocab);

// sample_draw given the stream's uniform: uniform = rng_uniform of the draw's Rng (unused at temperature 0).
int32_t sample_pick(const float *logits, const SampleSpec *sp, double uniform, SampleWork *w);

#endif
