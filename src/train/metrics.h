// What a run records (rank 0 only; every value is already global): one StepMetrics per step in
// metrics.jsonl, one EvalMetrics per evaluation in eval.jsonl, log.txt, and the one-line console progress.
// This file alone turns them into JSON; results/objectives.md §5 defines the RL metrics.
#ifndef RLVR_METRICS_H
#define RLVR_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "algo/advantage.h"
#include "algo/loss.h"
#include "base/error.h"
#include "eval/report.h"
#include "train/update.h"

typedef enum { STEP_SFT, STEP_RL } StepKind;

// Rollouts of the step's selected groups (RL).
typedef struct {
    double sequences, accuracy, format_rate, truncation_rate, masked_rate;
    double length_mean, length_min, length_max;  // response tokens
    int gen_batches;                             // generation batches sampled (DAPO dynamic sampling: > 1)
    int64_t groups_selected;
    double time_sampling_s, time_scoring_s, tokens_per_s_rollout;
} RolloutMetrics;

// A per-rank quantity's spread over the ranks: largest and smallest value and the (lowest) ranks that had them.
typedef struct {
    double max, min;
    int max_rank, min_rank;
} RankSpread;

// Where each rank's time went in an RL step, so that imbalance is visible: busy time sampling, scoring and
// training (the last without the waits), time waiting for the other ranks at the collectives that close
// each generation batch and each mini-batch, and the groups each rank sampled.
typedef struct {
    int world;  // ranks
    RankSpread sampling_s, scoring_s, training_s, waiting_s, groups_sampled;
} RankTimes;

typedef struct {
    StepKind kind;
    int64_t step;
    RolloutMetrics rollout;  // RL
    RankTimes ranks;         // RL
    AdvStats adv;            // RL
    bool grpo_lambda;        // RL: adv's GRPO-λ fields are recorded
    LossSummary loss;        // RL: every field, loss and pg_loss per update; SFT: loss (cross-entropy), tokens
    double token_accuracy;   // SFT: share of response tokens with p > 1/2
    double time_training_s, tokens_per_s_train;
    UpdateStats update;
    double step_time_s;
} StepMetrics;

// Held-out evaluation: greedy and sampled accuracy and mean response length.
typedef struct {
    int64_t step, prompts;
    int samples_per_prompt;
    double greedy_accuracy, greedy_length_mean, sampled_accuracy, sampled_length_mean;
} EvalMetrics;

typedef struct {
    FILE *metrics, *eval, *log;
    FILE *console;  // progress line target (stderr), NULL = quiet
} Metrics;

// Opens RUN_DIR/{metrics,eval}.jsonl and log.txt (appended to). resume_step < 0 (a fresh run) starts the
// JSONL files empty; resume_step >= 0 keeps them but drops records whose "step" is greater (written after
// the checkpoint being resumed).
int metrics_open(Metrics *mt, const char *run_dir, int64_t resume_step, FILE *console, Err *e);
void metrics_close(Metrics *mt);

// Appends one line (and flushes).
int metrics_write_step(Metrics *mt, const StepMetrics *m, Err *e);
int metrics_write_eval(Metrics *mt, const EvalMetrics *m, Err *e);
// A benchmark's record (eval/report.h, as rlvr eval writes it) in eval.jsonl.
int metrics_write_benchmark(Metrics *mt, const EvalSource *src, const RolloutConfig *rc, const EvalResult *r, Err *e);

// A timestamped line in log.txt, echoed to the console.
void metrics_log(Metrics *mt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// The console progress line of a step, into buf:
//   RL:  "step 12/200 | reward 0.41 | acc 38.0% | len 57.3 | clip 1.2% | 1234 tok/s | ETA 3m12s"
//        on several ranks followed by the longest wait of a rank: " | wait 0.42s"
//   SFT: "step 12/600 | loss 0.8123 | token acc 71.0% | 1234 tok/s | ETA 1m02s"
// elapsed_s is the time the run's first steps_done steps took, for the ETA.
void metrics_progress_line(const StepMetrics *m, int64_t total, double elapsed_s, int64_t steps_done, char *buf,
                           size_t len);
// The same line to the console and log.txt.
void metrics_progress(Metrics *mt, const StepMetrics *m, int64_t total, double elapsed_s, int64_t steps_done);

// Drops the records with "step" > max_step from a JSONL file (no-op when the file does not exist).
int metrics_truncate_after(const char *path, int64_t max_step, Err *e);

#endif
