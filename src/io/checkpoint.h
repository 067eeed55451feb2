// HDF5 checkpoints (README.md "Checkpoints"): model, optimizer moments, resume state, config.
//   /meta            attrs format_version, step, world_size, git_revision, kind, build_march, blas_kernel, config
//                    (+ hf_config, given_keys: the config keys the run gave by hand, config_given_keys)
//   /model/<name>    full logical tensors (written by the model module)
//   /optim/m/<name>, /optim/v/<name>, /optim/step
//   /state/<field>   resume state (TrainState), one scalar dataset per field (data_* optional)
// Every rank writes its pieces of the tensors into one file at once (parallel HDF5, collective writes) named
// NAME.tmp; after every rank has closed it, rank 0 fsyncs and renames it. Tensors are chunked and checksummed
// (io/model_h5.h). Loading validates everything before it touches the live model, optimizer or state (never
// half-loaded), and a rank reads only its pieces. Full logical tensors: any layout saves, any other resumes.
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
    // The training records the data cursor indexes (task_data_id): their number and hash; 0 and 0 without a
    // dataset file, and in checkpoints written before they were recorded (read as 0 when absent).
    int64_t data_records, data_hash;
} TrainState;

typedef struct {
    const char *kind;         // "init", "sft" or "train"
    const char *config_text;  // the resolved config (config_to_string)
    const char *git_rev;      // rlvr_revision(), or another name in tests
    int world_size;
    const char *given_keys;   // the config's keys given by hand (config_given_keys), for a resume; NULL: none recorded
} CheckpointMeta;

// A piece of the training state that one rank holds: elements [begin, end) of tensor `tensor` of the model's
// table (flattened, row-major), with this rank's copies of those elements: param for /model, m and v for
// /optim/m and /optim/v. A sharded optimizer passes its ownership ranges as pieces.
typedef struct {
    int tensor;
    int64_t begin, end;
    float *param, *m, *v;
} CkptPiece;

// Collective (every rank calls it): writes path in parallel, each rank its pieces; the ranks' pieces together
// must cover every tensor exactly once (checked). opt_step NULL: no /optim (the pieces' m and v unused);
// st NULL: no /state.
int checkpoint_save_pieces(const char *path, const Model *layout, const CkptPiece *mine, int n_mine,
                           const int64_t *opt_step, const TrainState *st, const CheckpointMeta *meta, Err *e);
// Collective, every rank holding the whole state (ZeRO stage 0): the ranks share the writing, each a
// contiguous run of chunks (checkpoint_even_pieces). opt and st may be NULL (model-only file).
int checkpoint_save_parallel(const char *path, const Model *m, const AdamW *opt, const TrainState *st,
                             const CheckpointMeta *meta, Err *e);
// This process alone writes path (any rank; the others take no part). opt and st may be NULL.
int checkpoint_save(const char *path, const Model *m, const AdamW *opt, const TrainState *st, const CheckpointMeta *meta,
                    Err *e);
// Rank `rank` of `size`'s share of the writing when every rank holds everything: the chunks of all tensors in
// table order, cut into `size` runs of about equal bytes; at most one piece per tensor, pointing into m->params
// and opt's moments (opt may be NULL). Returns the number of pieces (*out malloc'd).
int checkpoint_even_pieces(const Model *m, const AdamW *opt, int rank, int size, CkptPiece **out);

// Loads into a live model (and optimizer/state when non-NULL; the file must then have them). The file
// is checked completely first: format version, model type, every tensor's presence and shape, the
// optimizer's step and moments, every state field; on any error nothing is modified.
int checkpoint_load(const char *path, Model *m, AdamW *opt, TrainState *st, Err *e);
// Loads only the given pieces (into param, and m and v when opt_step != NULL; *opt_step gets /optim/step) after
// the same complete check of the file against layout's architecture. Not collective: each rank reads on its own.
int checkpoint_load_pieces(const char *path, const Model *layout, const CkptPiece *mine, int n_mine,
                           int64_t *opt_step, TrainState *st, Err *e);

// Reads /meta attributes (config text malloc'd into *config if config != NULL).
int checkpoint_read_meta(const char *path, int64_t *step, int64_t *world_size, char **config, Err *e);

// The /state fields alone (a resume's checks, before anything is loaded).
int checkpoint_read_state(const char *path, TrainState *st, Err *e);

// /meta kind (CheckpointMeta.kind: "train", "sft", ...), malloc'd; NULL on error.
char *checkpoint_read_kind(const char *path, Err *e);

// The resolved config stored in /meta, with overrides applied after it (config_resolve_text on the stored text, read
// from memory; its errors name "PATH /meta config:LINE").
int checkpoint_read_config(const char *path, const char *const *sets, int n_sets, Config *c, Err *e);
// The same for the config text already read from path's /meta (checkpoint_read_meta); errors name
// "PATH /meta config:LINE".
int checkpoint_parse_config(const char *path, const char *text, const char *const *sets, int n_sets, Config *c,
                            Err *e);
// /meta given_keys (malloc'd into *keys): returns 1; 0 with *keys NULL when the checkpoint records none (one written
// before they were recorded, or not by a run); -1 when /meta does not read.
int checkpoint_read_given_keys(const char *path, char **keys, Err *e);
// A command's config: the file config_path when given (or without a checkpoint, the defaults), else the checkpoint's
// stored one; then the overrides.
int checkpoint_config_or_file(const char *config_path, const char *ckpt, const char *const *sets, int n_sets, Config *c,
                              Err *e);

// RUN_DIR/ckpt/step-NNNNNN.h5.
void checkpoint_path(char *buf, size_t len, const char *run_dir, int64_t step);
// The highest step-NNNNNN.h5 in RUN_DIR/ckpt (ignores *.tmp); returns 1 and fills path/step, 0 if none.
int checkpoint_latest(const char *run_dir, char *path, size_t len, int64_t *step, Err *e);
// Deletes all but the newest `keep` checkpoints and any stale *.tmp of RUN_DIR/ckpt.
int checkpoint_prune(const char *run_dir, int keep, Err *e);

#endif
