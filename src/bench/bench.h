// Benchmarks behind `rlvr bench NAME`: each prints one JSON line per measurement (src/README.md "Conventions").
// src/cli/cmd_bench.c parses the command line into the options structs; nothing here reads argv.
#ifndef RLVR_BENCH_H
#define RLVR_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "base/error.h"

// Model forward and forward+backward throughput (src/bench/bench_model.c).
#define BENCH_MAX_THREAD_COUNTS 8
typedef struct {
    const Config *config;     // the model (random init)
    const char *config_name;  // for the JSON lines
    int64_t seqs, seq_len;    // sequences of random tokens per forward
    int64_t prompt_len;       // leading tokens of each sequence without a target, as a prompt in an RL step
    int64_t repeat;           // timed passes per phase (after one warm-up)
    bool fixed_order_backward;  // the backward of dist.deterministic (Model.fixed_order_backward)
    int64_t threads[BENCH_MAX_THREAD_COUNTS];  // CPU thread counts timed in turn; n_threads = 0: the current one
    int n_threads;
    bool ops;  // a line per operation of the layer loop in the forward+backward passes (bench/op_profile.h)
} BenchModelOptions;

int bench_model(const BenchModelOptions *o, Err *e);

#endif
