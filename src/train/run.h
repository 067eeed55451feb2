// A training run as `rlvr sft` and `rlvr train` set it up: the resolved config, the policy with its
// optimizer, the frozen reference policy, tokenizer, task and resume state. The steps (train/rl_step.h,
// train/sft.h) work on it; train/trainer.c drives them.
#ifndef RLVR_RUN_H
#define RLVR_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "base/error.h"
#include "io/checkpoint.h"
#include "io/run_dir.h"
#include "model/device.h"
#include "model/model.h"
#include "task/task.h"
#include "text/tokenizer.h"
#include "train/grad_stage.h"
#include "train/update.h"

typedef enum { TRAIN_SFT, TRAIN_RL } TrainKind;

// Command line of `rlvr sft|train`.
typedef struct {
    const char *config_path;  // NULL with --resume = RUN_DIR/config.ini
    const char *run_dir;
    const char *init_ckpt;    // --init CKPT (weights only)
    bool resume;
    bool resume_auto;         // --resume=auto: resume when D has a checkpoint, else start fresh (--init applies)
    const char *const *sets;
    int n_sets;
    int64_t stop_after;       // hidden --stop-after N (tests): end the run after step N, 0 = never
} TrainArgs;

typedef struct {
    TrainKind kind;
    Config cfg;
    char *config_text;
    char run_dir[2048];
    char resume_ckpt[4096];   // a resume: the newest checkpoint of run_dir, found once the directory is locked
    Model model, ref;         // ref: frozen reference policy (RL with algo.beta > 0)
    bool has_ref;
    Updater up;
    Device device;            // dist.device: where the policy and the reference compute
    GradStage stage;          // where the backward's gradient goes: up.reducer or up.dev (train/grad_stage.h)
    Tokenizer *tok;
    Task *task;
    TrainState st;
    int64_t total_steps;
    bool resumed;             // started from D's newest checkpoint (--resume, or --resume=auto that found one)
    char init_note[1024];     // rank 0: how a Hugging Face init directory was imported or reused ("" otherwise)
    char *start_log;          // rank 0 logs these lines once the run's log is open: a resume's changed keys and
                              // notes (train/resume.h), the stale temporary files run_dir_prepare removed
    int lock_fd;              // rank 0: the run directory's lock (io/run_dir.h), -1 if none
    RunDirMade made;          // rank 0, while run_open runs: what it made in the run directory, removed if it fails
} Run;

// Resolves the config, prepares the run directory (rank 0), and loads or initialises the weights: the newest
// checkpoint of the run directory (--resume, or --resume=auto when there is one; --init is then ignored),
// --init's weights, else [model] init's (io/hf_init.h), or a seeded random init. Every rank returns the same outcome;
// a failure leaves none of what it made in the run directory (the directory itself when it made it).
int run_open(Run *r, TrainKind kind, const TrainArgs *a, Err *e);
void run_close(Run *r);

// Writes RUN_DIR/ckpt/step-NNNNNN.h5 (rank 0) and prunes old ones; every rank returns the same outcome.
int run_save_checkpoint(Run *r, char *path, size_t path_len, Err *e);

#endif
