// `rlvr bench loss` (options parsed by src/cli/cmd_bench.c).
#ifndef RLVR_BENCH_LOSS_H
#define RLVR_BENCH_LOSS_H

#include <stdint.h>

#include "base/error.h"

typedef struct {
    int64_t tokens, vocab;  // the [T, V] logits
    int64_t repeat;         // timed passes
} BenchLossOptions;

int bench_loss(const BenchLossOptions *o, Err *e);

#endif
