// `rlvr bench sample`: decoding throughput against the memory-bandwidth limit (JSON lines).
#ifndef RLVR_BENCH_SAMPLE_H
#define RLVR_BENCH_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "base/error.h"

typedef struct {
    const Config *config;         // the model (random init) and [rollout] settings
    const char *config_name;      // for the JSON lines
    int64_t new_tokens, prompt_len;
    int64_t repeat;  // rounds of the two cases, the first case alternating
    int64_t group;   // responses of the second case, decoded at once (the first is batch 1)
    bool ops;  // a line per operation of the decode steps after each case's (bench/op_profile.h)
} BenchSampleOptions;

int bench_sample(const BenchSampleOptions *o, Err *e);

#endif
