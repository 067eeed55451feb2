// Run-directory logs: metrics.jsonl and eval.jsonl (one JSON object per line), log.txt, and the
// one-line console progress display. Rank 0 only; the values passed in are already global.
#ifndef RLVR_METRICS_H
#define RLVR_METRICS_H

#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

typedef struct {
    FILE *metrics, *eval, *log;
    FILE *console;  // progress line target (stderr), NULL = quiet
} Metrics;

// Opens RUN_DIR/{metrics,eval}.jsonl and log.txt (appended to). resume_step < 0 (a fresh run) starts the
// JSONL files empty; resume_step >= 0 keeps them but drops records whose "step" is greater (written after
// the checkpoint being resumed).
int metrics_open(Metrics *mt, const char *run_dir, int64_t resume_step, FILE *console, Err *e);
void metrics_close(Metrics *mt);

// Appends obj as one line (and flushes). obj stays owned by the caller.
int metrics_write(Metrics *mt, const cJSON *obj, Err *e);
int metrics_write_eval(Metrics *mt, const cJSON *obj, Err *e);

// A timestamped line in log.txt, echoed to the console.
void metrics_log(Metrics *mt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// What the console progress line shows.
typedef struct {
    int64_t step, total;
    double reward, accuracy, length, clip_frac, tokens_per_s;
    double elapsed_s;  // since the run (or resume) began, for the ETA
    int64_t steps_done;  // steps timed in elapsed_s
} Progress;

// "step 12/200 | reward 0.41 | acc 38.0% | len 57.3 | clip 1.2% | 1234 tok/s | ETA 3m12s" into buf.
void metrics_progress_line(const Progress *p, char *buf, size_t len);
void metrics_progress(Metrics *mt, const Progress *p);

// Drops the records with "step" > max_step from a JSONL file (no-op when the file does not exist).
int metrics_truncate_after(const char *path, int64_t max_step, Err *e);

#endif
