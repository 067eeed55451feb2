// What `rlvr eval` writes and reads back: one eval.jsonl record per benchmark, and the Markdown table of
// several runs' records side by side (benchmarks as columns, as the papers lay them out).
#ifndef RLVR_REPORT_H
#define RLVR_REPORT_H

#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>

#include "base/config.h"
#include "base/error.h"
#include "eval/evaluate.h"

// Where a result came from.
typedef struct {
    const char *benchmark, *file;  // name and JSONL path
    const char *checkpoint;        // path of the evaluated checkpoint
    int64_t step;                  // its training step
    const char *revision;          // rlvr revision that evaluated it
} EvalSource;

// The eval.jsonl record: source, sampling settings (rollout.*), and every number of r (pass@k as "pass@k").
cJSON *eval_record(const EvalSource *src, const RolloutConfig *rc, const EvalResult *r);

// A Markdown table with one row per run directory (its name) and, per benchmark, avg@K ± standard error, then
// the mean over benchmarks and the mean response length. The last record of each benchmark in
// RUN_DIR/eval.jsonl counts; records without "benchmark" (training's held-out ones) are skipped. Benchmarks
// are the union over the runs, in order of first appearance.
int eval_table(const char *const *run_dirs, int n_runs, FILE *out, Err *e);

#endif
