// `rlvr bench train`: a whole RL step of a config split into sampling, scoring and update (options parsed by
// src/cli/cmd_bench.c).
#ifndef RLVR_BENCH_TRAIN_H
#define RLVR_BENCH_TRAIN_H

#include <stdint.h>

#include "base/error.h"

typedef struct {
    const char *config_path;      // the run's config (resolved by run_open, as rlvr train does)
    const char *const *sets;      // --set overrides
    int n_sets;
    int64_t repeat;               // timed steps after one warm-up step
} BenchTrainOptions;

int bench_train(const BenchTrainOptions *o, Err *e);

#endif
