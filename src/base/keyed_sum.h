// Sums over ranks that do not depend on how the summed rows are spread over ranks: every rank's rows are gathered,
// ordered by their global key and summed in that order, so the result has the same bits for any number of ranks
// (src/README.md invariant 1). For the logged loss metrics, whose rows are micro-batches fixed by global index.
#ifndef RLVR_KEYED_SUM_H
#define RLVR_KEYED_SUM_H

#include <stdint.h>

// Collective. out[c] = Σ rows[i·width + c] over every rank's n rows, in increasing key order; keys are unique
// over all ranks. Every rank gets the same out (zeros when no rank has rows).
void keyed_sum_f64(const int64_t *keys, const double *rows, int n, int width, double *out);

#endif
