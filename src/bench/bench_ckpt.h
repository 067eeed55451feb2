// `rlvr bench ckpt`: checkpoint write and read time on every rank count, parallel against rank 0 alone, next to
// the file bandwidth of the directory's disk (JSON lines; results/checkpoint-io.md).
#ifndef RLVR_BENCH_CKPT_H
#define RLVR_BENCH_CKPT_H

#include <stdint.h>

#include "base/config.h"
#include "base/error.h"

typedef struct {
    const Config *config;     // the model (random init)
    const char *config_name;  // for the JSON lines
    const char *dir;          // where the files go (removed afterwards)
    int64_t rounds;           // interleaved rounds; each line reports the median
} BenchCkptOptions;

// Collective: every rank calls it.
int bench_ckpt(const BenchCkptOptions *o, Err *e);

#endif
