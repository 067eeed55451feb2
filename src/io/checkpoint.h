// HDF5 checkpoints (README.md "Checkpoints"): model, optimizer moments, resume state, config.
//   /meta            attrs format_version, step, world_size, git_revision, kind, build_march, config (+ hf_config)
//   /model/<name>    full logical tensors (written by the model module)
//   /optim/m/<name>, /optim/v/<name>, /optim/step
//   /state/<field>   resume state (TrainState), one scalar dataset per field
// Written by rank 0 to NAME.tmp, fsync'ed, renamed; loading validates everything before it touches the
// live model, optimizer or state (never half-loaded). Full logical tensors: N ranks save, M ranks resume.
#ifndef RLVR_CHECKPOINT_H
#define RLVR_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "algo/optim.h"
#include "base/error.h"
#include "model/model.h"

#define CHECKPOINT_FORMAT_VERSION 1

// Everything besides weights and moments that a bit-exact resume needs (the RNG is counter-based, so
// its "state" is the seeds plus the step and data cursor).
typedef struct {
    int64_t step;          // completed steps
    int64_t data_cursor;   // next global prompt index of the training stream
    int64_t bad_steps;     // non-finite steps in a row
    int64_t train_seed, rollout_seed;
    int64_t tokens_total;  // response tokens trained on so far (throughput, metrics)
    double elapsed_s;      // wall time so far (ETA after a resume)
} TrainState;

typedef struct {
    const char *kind;         // "init", "sft" or "train"
    const char *config_text;  // the resolved config (config_to_string)
    const char *git_rev;      // rlvr_revision(), or another name in tests
    int world_size;
} CheckpointMeta;

// Writes path (rank 0 only; other ranks must not call it). opt and st may be NULL (model-only file).
int checkpoint_save(const char *path, const Model *m, const AdamW *opt, const TrainState *st, const CheckpointMeta *meta,
                    Err *e);

// Loads into a live model (and optimizer/state when non-NULL; the file must then have them). The file
// is checked completely first: format version, model type, every tensor's presence and shape, the
// optimizer's step and moments, every state field; on any error nothing is modified.
int checkpoint_load(const char *path, Model *m, AdamW *opt, TrainState *st, Err *e);

// Reads /meta attributes (config text malloc'd into *config if config != NULL).
int checkpoint_read_meta(const char *path, int64_t *step, int64_t *world_size, char **config, Err *e);

// The resolved config stored in /meta, with overrides applied after it (config_resolve on the stored text).
int checkpoint_read_config(const char *path, const char *const *sets, int n_sets, Config *c, Err *e);

// RUN_DIR/ckpt/step-NNNNNN.h5.
void checkpoint_path(char *buf, size_t len, const char *run_dir, int64_t step);
// The highest step-NNNNNN.h5 in RUN_DIR/ckpt (ignores *.tmp); returns 1 and fills path/step, 0 if none.
int checkpoint_latest(const char *run_dir, char *path, size_t len, int64_t *step, Err *e);
// Deletes all but the newest `keep` checkpoints and any stale *.tmp of RUN_DIR/ckpt.
int checkpoint_prune(const char *run_dir, int keep, Err *e);

#endif
