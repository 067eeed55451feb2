// Gradient reduction over micro-batches and ranks (src/README.md invariant 1; results/objectives.md §2: summed,
// never averaged). Two modes:
//  fast           micro-batch gradients accumulate in a float64 buffer, then one float64 all-reduce (SUM);
//                 the result depends on the reduction order in the last bits (results/objectives.md: float64
//                 accumulation, so splits agree to ~1e-7 relative).
//  deterministic  (dist.deterministic) every micro-batch gradient is converted exactly to a fixed-point
//                 integer on a fixed grid (three int64 limbs of 42 bits: unit 2^-86, |g| < 2^40) and summed
//                 as integers, locally and with dist_allreduce_sum_i64. Integer addition is associative, so
//                 the sum has the same bits for any order and any number of ranks, provided micro-batches
//                 are fixed by global index. Values below 2^-86 round to the grid (deterministically).
#ifndef RLVR_GRAD_REDUCE_H
#define RLVR_GRAD_REDUCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

typedef struct {
    size_t n;
    bool deterministic;
    float *grad;      // the current micro-batch's gradient (the backward adds into it)
    double *acc;      // fast: [n] float64 accumulator
    int64_t *limbs;   // deterministic: [3 * n] fixed-point accumulator (hi, mid, lo per element)
    int64_t overflow; // deterministic: elements that were non-finite or out of range
    const ModelTensor *tensors;  // table naming the offending tensor (may be NULL)
    int n_tensors;
    int bad_tensor;   // after finish: lowest table index with an element out of range on any rank, or -1
} GradReducer;

void grad_reducer_init(GradReducer *r, size_t n, bool deterministic, const ModelTensor *tensors, int n_tensors);
void grad_reducer_free(GradReducer *r);

// Starts a mini-batch: zeroes the accumulators.
void grad_reducer_begin(GradReducer *r);
// The zeroed buffer the next micro-batch's backward ADDS into.
float *grad_reducer_micro_begin(GradReducer *r);
// Folds the micro-batch gradient into the accumulator.
void grad_reducer_micro_end(GradReducer *r);
// Sums over ranks and writes the total into out (n floats; may be r->grad). Returns false when an
// element was non-finite or out of the fixed-point range on some rank (deterministic mode; r->bad_tensor
// then names it); fast mode
// leaves non-finite values in out for the norm check to find.
bool grad_reducer_finish(GradReducer *r, float *out);

// The fixed-point codec (exposed for the tests): adds x to the three limbs / converts limbs back.
bool fixed_add(int64_t limbs[3], float x);
double fixed_value(const int64_t limbs[3]);

#endif
