#include "train/run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/config_effect.h"
#include "base/dist.h"
#include "base/revision.h"
#include "io/hf_init.h"
#include "io/run_dir.h"
#include "model/expert_map.h"
#include "task/reward.h"
#include "train/memory_plan.h"
#include "train/resume.h"

// --resume=auto: whether the run directory has a checkpoint to resume from (rank 0 looks, every rank learns).
static int decide_resume(const TrainArgs *a, bool *resume, Err *e) {
    *resume = a->resume;
    if (!a->resume_auto || a->resume) return 0;
    int found = 0;
    if (dist_is_root()) {
        char path[4096];
        int64_t step;
        found = checkpoint_latest(a->run_dir, path, sizeof path, &step, e);
    }
    TRY(dist_root_outcome(found < 0, e));
    dist_bcast(&found, sizeof found, 0);
    *resume = found == 1;
    return 0;
}

// The config file and the --sets, not yet finalized: a resume first rederives the keys it did not set
// (resume_config).
static int read_config(const TrainArgs *a, bool resume, Config *c, Err *e) {
    char path[4096];
    const char *file = a->config_path;
    if (!file && resume) snprintf(path, sizeof path, "%s/config.ini", a->run_dir), file = path;
    if (!file && a->resume_auto)
        return err_set(e, "--config FILE is required: %s has no checkpoint to resume from", a->run_dir);
    if (!file) return err_set(e, "--config FILE is required");
    config_defaults(c);
    TRY(config_load_file(c, file, e));
    for (int i = 0; i < a->n_sets; i++) TRY(config_set(c, a->sets[i], e));
    return 0;
}

// RL learns from the differences between the rewards of a group's responses (every objective's advantage is a reward
// minus its group's mean): sampling that gives a group one response, or the same response n times, gives every
// advantage 0, and no reward would reach the loss. rlvr sample takes such settings; rlvr train refuses them.
static int check_rl_sampling(const Config *c, Err *e) {
    const RolloutConfig *ro = &c->rollout;
    const char *src = c->source[0] ? c->source : "config", *why = "";
    if (ro->n < 2) why = "n = 1: a group of one response";
    else if (ro->temperature == 0) why = "temperature = 0 (greedy): a group of n equal responses";
    else if (ro->top_k == 1) why = "top_k = 1 (greedy): a group of n equal responses";
    else if (ro->top_p * c->model.vocab_size <= 1)  // the likeliest token alone holds at least 1 / vocab_size
        why = "top_p <= 1 / vocab_size keeps the likeliest token alone (greedy): a group of n equal responses";
    if (!why[0]) return 0;
    return err_set(e,
                   "%s: [rollout] %s has equal rewards, so every advantage is 0 and no reward reaches the loss; rlvr "
                   "train expects n >= 2 responses that can differ (temperature > 0, top_k 0 or >= 2, top_p > "
                   "1 / vocab_size)",
                   src, why);
}

// Loads the frozen reference policy, or saves the initial weights as one (fresh runs).
static int setup_reference(Run *r, bool resume, Err *e) {
    char path[4096];
    snprintf(path, sizeof path, "%s/ckpt/reference.h5", r->run_dir);
    TRY(model_create(&r->ref, &r->cfg.model, e));
    r->ref.head_chunk = r->cfg.train.head_chunk;
    r->has_ref = true;
    // A run that started with algo.beta = 0 saved no reference: one turned on at a resume has none to load.
    if (resume && access(path, F_OK) && errno == ENOENT)
        return dist_agree(err_set(e, "%s: missing: algo.beta = %g needs the run's reference policy, saved only by a run "
                                     "that starts with algo.beta > 0; resume with --set algo.beta=0, or start a new run "
                                     "from the checkpoint with --init and a new --run-dir", path, r->cfg.algo.beta), e);
    if (resume) return dist_agree(checkpoint_load(path, &r->ref, NULL, NULL, e), e);
    memcpy(r->ref.params, r->model.params, r->model.n_params * sizeof *r->ref.params);
    if (dist_is_root()) run_dir_note_new_file(&r->made, path);
    CheckpointMeta meta = {"reference", r->config_text, rlvr_revision(), dist_size(), NULL};
    return checkpoint_save_parallel(path, &r->ref, NULL, NULL, &meta, e);
}

// The tensors this rank owns at zero stage 1-3 (algo/shard.h), whole, with their weights and moments.
static CkptPiece *owned_pieces(Run *r, int *n) {
    Updater *u = &r->up;
    *n = u->own.tensor_end - u->own.tensor_begin;
    CkptPiece *mine = xmalloc((size_t)(*n > 0 ? *n : 1) * sizeof *mine);
    for (int k = 0; k < *n; k++) {
        const ModelTensor *t = &r->model.tensors[u->own.tensor_begin + k];
        size_t off = t->offset - u->own.begin;  // into this rank's shard of the moments
        mine[k] = (CkptPiece){u->own.tensor_begin + k, 0, (int64_t)t->numel, r->model.params + t->offset,
                              u->opt.m + off, u->opt.v + off};
    }
    return mine;
}

// Expert parallelism: the pieces this rank holds (model/expert_map.h), with their packed moments. For saving
// (write), the ones it writes: at zero stage 0 its expert slices if it is in the first group, and every world-th
// other tensor; at stages 1-3 all of them (each piece has one owner, algo/shard.h).
static CkptPiece *held_pieces(Run *r, bool write, int *n) {
    Updater *u = &r->up;
    CkptPiece *mine = xmalloc((size_t)(u->n_held ? u->n_held : 1) * sizeof *mine);
    size_t at = 0;
    *n = 0;
    for (int i = 0; i < u->n_held; i++) {
        const TensorPiece *p = &u->held[i];
        const ModelTensor *t = &r->model.tensors[p->tensor];
        bool mine_to_write = u->zero_stage > 0 ||
                             (expert_tensor(t) ? dist_rank() < u->ep.k : p->tensor % dist_size() == dist_rank());
        if (!write || mine_to_write)
            mine[(*n)++] = (CkptPiece){p->tensor, (int64_t)p->begin, (int64_t)p->end, r->model.params + t->offset + p->begin,
                                       u->opt.m + at, u->opt.v + at};
        at += p->end - p->begin;
    }
    return mine;
}

// Collective: every rank writes what it holds. Zero stage 0: an even share of everything; stage 1-3: the
// tensors it owns, so no rank gathers the moments (or, at stage 3, the weights); expert parallelism: held_pieces.
static int save_state(Run *r, const char *path, const CheckpointMeta *meta, Err *e) {
    bool ep = r->up.ep.k > 1;
    if (r->up.zero_stage == 0 && !ep) return checkpoint_save_parallel(path, &r->model, &r->up.opt, &r->st, meta, e);
    int n;
    CkptPiece *mine = ep ? held_pieces(r, true, &n) : owned_pieces(r, &n);
    int64_t step = r->up.opt.step;
    int rc = checkpoint_save_pieces(path, &r->model, mine, n, &step, &r->st, meta, e);
    free(mine);
    return rc;
}

// Resume from any layout: the weights and state whole, the moments of the tensors (or expert slices) this rank
// owns.
static int load_state(Run *r, const char *path, Err *e) {
    bool ep = r->up.ep.k > 1;
    if (r->up.zero_stage == 0 && !ep) return checkpoint_load(path, &r->model, &r->up.opt, &r->st, e);
    TRY(checkpoint_load(path, &r->model, NULL, &r->st, e));
    int n;
    CkptPiece *mine = ep ? held_pieces(r, false, &n) : owned_pieces(r, &n);
    int rc = checkpoint_load_pieces(path, &r->model, mine, n, &r->up.opt.step, NULL, e);
    free(mine);
    return rc;
}

static const char *kind_name(TrainKind kind) { return kind == TRAIN_SFT ? "sft" : "train"; }

// Rank 0: the run directory made and locked; the lines naming the temporary files a killed writer left there go to
// the run's log (r->start_log).
static int prepare_dir(Run *r, Err *e) {
    char *removed = NULL;
    size_t n = 0;
    FILE *log = open_memstream(&removed, &n);
    if (!log) return err_set(e, "%s: out of memory", r->run_dir);
    int rc = run_dir_prepare(r->run_dir, r->resumed, &r->lock_fd, &r->made, log, e);
    fclose(log);
    for (char *line = removed, *end; line && (end = strchr(line, '\n')); line = end + 1)
        *end = 0, resume_log_line(&r->start_log, "%s", line);
    free(removed);
    return rc;
}

// The newest checkpoint of the run directory, which a resume continues (r->resume_ckpt).
static int find_resume_ckpt(Run *r, Err *e) {
    int64_t step;
    int found = checkpoint_latest(r->run_dir, r->resume_ckpt, sizeof r->resume_ckpt, &step, e);
    if (found == 0) err_set(e, "%s: --resume: no checkpoint in %s/ckpt", r->run_dir, r->run_dir);
    return found == 1 ? 0 : -1;
}

// Rank 0, before anything is built: the newest checkpoint is this command's and the config keeps its run identity
// (train/resume.h); the other changes go to the log.
static int check_resume(Run *r, Err *e) {
    return resume_check(r->resume_ckpt, kind_name(r->kind), &r->cfg, &r->start_log, e);
}

// Whether the resume names a config file of its own (--config), whose lines the user wrote, rather than the run's
// config.ini (every key, written by rlvr), also when --config names that very file.
static bool names_own_config(const TrainArgs *a) {
    char path[4096];
    struct stat given, own;
    if (!a->config_path) return false;
    snprintf(path, sizeof path, "%s/config.ini", a->run_dir);
    return stat(a->config_path, &given) || stat(path, &own) || given.st_dev != own.st_dev || given.st_ino != own.st_ino;
}

// Every rank, once rank 0 holds the run directory: the keys the saved run left to their presets or derivations follow
// this config (train/resume.h resume_rederive: config.ini has every key, so they would keep the saved run's values),
// then the config is checked, rederived values too.
static int resume_config(Run *r, const TrainArgs *a, Err *e) {
    int rc = find_resume_ckpt(r, e);
    bool own = names_own_config(a);
    dist_bcast(&own, sizeof own, 0);  // rank 0's answer: every rank rederives alike
    if (!rc) rc = resume_rederive(r->resume_ckpt, &r->cfg, a->sets, a->n_sets, own, e);
    TRY(dist_agree(rc, e));
    return config_finalize(&r->cfg, e);
}

static int setup_weights(Run *r, const char *init, Err *e) {
    TRY(model_create(&r->model, &r->cfg.model, e));
    r->model.fixed_order_backward = r->cfg.dist.deterministic;  // weights bit-identical across CPUs and threads
    r->model.head_chunk = r->cfg.train.head_chunk;
    r->model.recompute = r->cfg.train.recompute;
    r->model.skip_zero_backward = r->cfg.train.skip_zero_backward;
    TRY(updater_init(&r->up, &r->model, &r->cfg, r->config_text, e));
    TRY(tokenizer_fits_model(r->tok, r->cfg.model.vocab_size, e));
    // A fresh run's seeds are the config's; a resumed run's are the checkpoint's, which check_resume found equal.
    r->st = (TrainState){.train_seed = r->cfg.train.seed, .rollout_seed = r->cfg.rollout.seed};
    if (r->resumed) {
        TRY(load_state(r, r->resume_ckpt, e));
        return resume_check_data(r->resume_ckpt, r->cfg.data.path, r->task, &r->st, &r->start_log, e);
    }
    uint64_t hash;
    task_data_id(r->task, SPLIT_TRAIN, &r->st.data_records, &hash);
    r->st.data_hash = (int64_t)hash;  // the records the data cursor indexes, for a resume to check
    if (init[0]) return checkpoint_load(init, &r->model, NULL, NULL, e);
    model_init_random(&r->model, (uint64_t)r->cfg.model.init_seed);
    return 0;
}

// A Hugging Face init is imported into the run directory (io/hf_init.h): the files it may write there.
static void note_init_files(Run *r) {
    static const char *const NAMES[] = {"init.h5", "init.h5.source"};
    char path[4096];
    for (int i = 0; i < 2 && dist_is_root(); i++) {
        snprintf(path, sizeof path, "%s/%s", r->run_dir, NAMES[i]);
        run_dir_note_new_file(&r->made, path);
    }
}

static int open_run(Run *r, TrainKind kind, const TrainArgs *a, Err *e) {
    // A longer path would be cut short silently, and the run written to another directory.
    if (strlen(a->run_dir) >= sizeof r->run_dir)
        return err_set(e, "--run-dir: a path of %zu bytes; at most %zu are supported", strlen(a->run_dir),
                       sizeof r->run_dir - 1);
    snprintf(r->run_dir, sizeof r->run_dir, "%s", a->run_dir);
    TRY(decide_resume(a, &r->resumed, e));
    TRY(read_config(a, r->resumed, &r->cfg, e));
    if (!r->resumed) TRY(config_finalize(&r->cfg, e));  // a fresh run's bad config creates no run directory
    if (!r->resumed && kind == TRAIN_RL) TRY(check_rl_sampling(&r->cfg, e));
    TRY(dist_root_outcome(dist_is_root() ? prepare_dir(r, e) : 0, e));
    if (r->resumed) TRY(resume_config(r, a, e));
    if (r->resumed && kind == TRAIN_RL) TRY(check_rl_sampling(&r->cfg, e));
    r->config_text = config_to_string(&r->cfg);
    InertKey *inert;  // keys given by hand that do nothing here: one warning line each (base/config_effect.h)
    int n_inert = config_inert_keys(&r->cfg, &inert);
    for (int i = 0; i < n_inert; i++) resume_log_line(&r->start_log, "warning: config: %s", inert[i].reason);
    free(inert);
    if (r->resumed) TRY(dist_root_outcome(dist_is_root() ? check_resume(r, e) : 0, e));
    // On a device, zero stage 3 gathers into the backend's windows (algo/param_gather.c) and expert parallelism
    // exchanges rows in its memory (model/moe_ep.c).
    TRY(device_open(r->cfg.dist.device, &r->device, e));
    if (!(r->tok = tokenizer_create(&r->cfg.tokenizer, e))) return -1;
    if (!(r->task = task_create(&r->cfg, e))) return -1;
    char note[1200];
    for (Split s = SPLIT_TRAIN; s <= SPLIT_EVAL; s++)
        if (task_skip_note(r->task, s, note, sizeof note)) resume_log_line(&r->start_log, "%s", note);
    if (r->cfg.eval.n_prompts > 0 && task_split_size(r->task, SPLIT_EVAL) == 0)
        resume_log_line(&r->start_log, "eval: no held-out evaluation: the task has no held-out split (%s)",
                        task_is_embedded(r->task) ? "task.eval_size = 0" : "no data.eval_path");
    TRY(reward_check_config(&r->cfg.reward, e));
    // Before the weights, moments and caches are allocated (or a Hugging Face init imported): the memory they will
    // need, against what the node has (train/memory_plan.h).
    char memory[2048];
    TRY(memory_plan_check(&r->cfg, kind == TRAIN_RL, r->task, r->tok, r->device.where.ordinal >= 0, memory,
                          sizeof memory, e));
    resume_log_line(&r->start_log, "%s", memory);
    // --init, else [model] init: a checkpoint, or a Hugging Face directory imported into the run directory.
    char init[4096] = "";
    const char *from = a->init_ckpt ? a->init_ckpt : r->cfg.model.init;
    if (!r->resumed && from[0]) {
        note_init_files(r);
        TRY(hf_init_resolve(from, a->init_ckpt ? "--init" : "[model] init", r->run_dir, init, sizeof init, r->init_note,
                            sizeof r->init_note, e));
    }
    TRY(dist_agree(setup_weights(r, init, e), e));
    if (kind == TRAIN_RL && r->cfg.algo.beta > 0) TRY(setup_reference(r, r->resumed, e));
    // The weights are final here: the models move to the device with them.
    TRY(dist_agree(device_attach(&r->device, &r->model, e), e));
    if (r->has_ref) TRY(dist_agree(device_attach(&r->device, &r->ref, e), e));
    TRY(dist_agree(updater_attach_device(&r->up, e), e));
    grad_stage_init(&r->stage, &r->up);
    param_gather_release(&r->up.gather);  // zero stage 3: from here on each rank keeps only its own weights
    r->total_steps = kind == TRAIN_SFT ? r->cfg.sft.steps : r->cfg.train.steps;
    // Only now: a resume refused (another [model], a damaged checkpoint) leaves the run's config.ini as it was.
    return dist_root_outcome(dist_is_root() ? run_dir_write_config(r->run_dir, r->config_text, e) : 0, e);
}

int run_open(Run *r, TrainKind kind, const TrainArgs *a, Err *e) {
    memset(r, 0, sizeof *r);
    r->kind = kind, r->lock_fd = -1;
    int rc = open_run(r, kind, a, e);
    // A start that failed (a bad --init, a refused resume) leaves the run directory as it found it, or none.
    if (rc && dist_is_root()) run_dir_undo(&r->made);
    run_dir_made_free(&r->made);
    return rc;
}

void run_close(Run *r) {
    run_dir_unlock(r->lock_fd);
    free(r->config_text);
    free(r->start_log);
    grad_stage_free(&r->stage);     // its buffers are the backend's memory
    updater_detach_device(&r->up);
    device_detach(&r->model);
    if (r->has_ref) device_detach(&r->ref);
    model_free(&r->model);
    updater_free(&r->up);
    if (r->has_ref) model_free(&r->ref);
    if (r->tok) tokenizer_free(r->tok);
    if (r->task) task_free(r->task);
}

int run_save_checkpoint(Run *r, char *path, size_t path_len, Err *e) {
    checkpoint_path(path, path_len, r->run_dir, r->st.step);
    char *given = config_given_keys(&r->cfg);  // for a resume's rederivation (train/resume.h)
    CheckpointMeta meta = {kind_name(r->kind), r->config_text, rlvr_revision(), dist_size(), given};
    updater_sync_host(&r->up);  // a device update's weights and moments to the host the save reads
    int saved = save_state(r, path, &meta, e);
    free(given);
    TRY(saved);
    int rc = dist_is_root() ? checkpoint_prune(r->run_dir, r->cfg.checkpoint.keep, e) : 0;
    return dist_root_outcome(rc, e);
}
