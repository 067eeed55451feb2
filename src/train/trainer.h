// The training driver shared by `rlvr sft` and `rlvr train`: run directory, model/optimizer/resume set-up,
// the step loop with metrics, evaluation, checkpoints and the non-finite guards (DESIGN.md "One RL step").
#ifndef RLVR_TRAINER_H
#define RLVR_TRAINER_H

#include <cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "algo/advantage.h"
#include "io/checkpoint.h"
#include "base/config.h"
#include "algo/grad_reduce.h"
#include "algo/loss.h"
#include "train/metrics.h"
#include "model/model.h"
#include "algo/optim.h"
#include "task/task.h"
#include "text/tokenizer.h"

typedef enum { TRAIN_SFT, TRAIN_RL } TrainKind;

// Command line of `rlvr sft|train`.
typedef struct {
    const char *config_path;  // NULL with --resume = RUN_DIR/config.ini
    const char *run_dir;
    const char *init_ckpt;    // --init CKPT (weights only)
    bool resume;
    const char *const *sets;
    int n_sets;
    int64_t stop_after;       // hidden --stop-after N (tests): end the run after step N, 0 = never
} TrainArgs;

typedef struct {
    TrainKind kind;
    Config cfg;
    char *config_text;
    char run_dir[2048];
    Model model, ref;         // ref: frozen reference policy (RL with algo.beta > 0)
    bool has_ref;
    AdamW opt;
    AdamWHyper hyper;
    GradReducer reducer;
    float *grad;              // the reduced gradient of one update
    Tokenizer *tok;
    Task *task;
    TrainState st;
    Metrics mt;               // open on rank 0 only
    LossParams loss;
    AdvParams adv;
    int64_t total_steps;
} Trainer;

// Outcome of the optimizer updates of one step.
typedef struct {
    int updates, skipped;     // applied / skipped (non-finite) updates
    double grad_norm;         // pre-clip global norm of the last applied update
    double lr;
    char bad[256];            // what was non-finite in the last skipped update ("loss", tensor name, ...)
} UpdateStats;

// Runs `rlvr sft` (kind TRAIN_SFT) or `rlvr train`; returns 0 or -1 with the message in e.
int trainer_run(TrainKind kind, const TrainArgs *args, Err *e);

// One update from the reducer's accumulated micro-batch gradients: all-reduce (sum), global-norm clip,
// non-finite guard (loss_sum and norm; the update is skipped and *u records what was bad), AdamW.
void trainer_apply_update(Trainer *t, double loss_sum, double lr, UpdateStats *u);

// The steps (src/train/sft.c, src/train/rl_step.c): fill `out` with the step's global metrics.
int sft_step(Trainer *t, int64_t step, cJSON *out, UpdateStats *u, Err *e);
int rl_step(Trainer *t, int64_t step, cJSON *out, UpdateStats *u, Err *e);

// Held-out evaluation (src/train/eval.c): greedy and sampled accuracy and mean length on the first eval.n_prompts
// problems of the eval split; the JSON fields are added to out.
int trainer_eval(Trainer *t, int64_t step, cJSON *out, Err *e);

// Every rank learns whether any rank failed (rc != 0); returns -1 on all ranks if so, each holding the
// message of the lowest failing rank (prefixed "rank R: " unless R = 0).
int trainer_agree(int rc, Err *e);

// Monotonic wall clock in seconds (step timing).
double trainer_now_s(void);

// [BOS] + encode(text) (malloc'd), the prompt form used by sampling, training and evaluation.
int encode_prompt(const Tokenizer *tok, const char *text, int32_t **ids, int *n, Err *e);

#endif
