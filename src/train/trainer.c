#include "train/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/dist.h"
#include "base/revision.h"
#include "task/reward.h"
#include "io/run_dir.h"

double trainer_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int encode_prompt(const Tokenizer *tok, const char *text, int32_t **ids, int *n, Err *e) {
    int32_t *body;
    int m;
    TRY(tokenizer_encode(tok, text, strlen(text), &body, &m, e));
    *ids = xmalloc((size_t)(m + 1) * sizeof **ids);
    (*ids)[0] = tokenizer_bos(tok);
    memcpy(*ids + 1, body, (size_t)m * sizeof *body);
    free(body);
    *n = m + 1;
    return 0;
}

// Every rank learns whether any rank failed, and gets the message of the lowest failing rank (so rank 0
// alone can report it).
int trainer_agree(int rc, Err *e) {
    int64_t lowest = rc ? -(int64_t)dist_rank() : INT64_MIN;
    dist_allreduce_max_i64(&lowest, 1);
    if (lowest == INT64_MIN) return 0;
    int failed = (int)-lowest;
    dist_bcast(e->msg, sizeof e->msg, failed);
    if (failed != 0) err_prefix(e, "rank %d", failed);
    return -1;
}

// A rank-0-only action whose outcome (and message) all ranks share.
static int root_then_share(int rc, Err *e) {
    int flag = rc;
    dist_bcast(&flag, sizeof flag, 0);
    if (flag) dist_bcast(e->msg, sizeof e->msg, 0);
    return flag ? -1 : 0;
}

// Test hook: RLVR_TEST_DUMP_GRAD=FILE writes the reduced gradient of a fresh run's first update as the /model
// tensors of FILE (so `rlvr ckpt diff` compares gradients of runs on different rank counts).
static void dump_first_gradient(const Trainer *t) {
    const char *path = getenv("RLVR_TEST_DUMP_GRAD");
    if (!path || t->opt.step != 0 || !dist_is_root()) return;
    Model view = t->model;
    view.params = t->grad;
    CheckpointMeta meta = {"gradient", t->config_text, rlvr_revision(), dist_size()};
    Err e;
    if (checkpoint_save(path, &view, NULL, NULL, &meta, &e)) fprintf(stderr, "rlvr: %s\n", e.msg);
}

// Test hook: RLVR_TEST_POISON_GRAD=NAME puts a NaN into tensor NAME's reduced gradient (the guard test).
static void poison_gradient(Trainer *t) {
    const char *name = getenv("RLVR_TEST_POISON_GRAD");
    const ModelTensor *x = name ? model_tensor(&t->model, name) : NULL;
    if (x) t->grad[x->offset] = NAN;
}

void trainer_apply_update(Trainer *t, double loss_sum, double lr, UpdateStats *u) {
    bool in_range = grad_reducer_finish(&t->reducer, t->grad);
    poison_gradient(t);
    dump_first_gradient(t);
    dist_allreduce_sum_f64(&loss_sum, 1);
    int bad_tensor;
    double norm = grad_global_norm(t->grad, t->model.tensors, t->model.n_tensors, &bad_tensor);
    u->lr = lr;
    if (!isfinite(loss_sum)) snprintf(u->bad, sizeof u->bad, "loss (%g)", loss_sum);
    else if (!in_range) snprintf(u->bad, sizeof u->bad, "gradient in %s",
                 t->reducer.bad_tensor >= 0 ? t->model.tensors[t->reducer.bad_tensor].name : "?");
    else if (!isfinite(norm)) snprintf(u->bad, sizeof u->bad, "gradient in %s", bad_tensor >= 0 ? t->model.tensors[bad_tensor].name : "?");
    else {
        grad_clip(t->grad, t->model.n_params, norm, t->cfg.train.grad_clip);
        adamw_update(&t->opt, t->model.params, t->grad, t->model.tensors, t->model.n_tensors, lr, &t->hyper);
        u->updates++;
        u->grad_norm = norm;
        return;
    }
    u->skipped++;  // the weights and moments stay as they were
}

// ---- set-up ----

static int resolve_config(const TrainArgs *a, Config *c, Err *e) {
    char path[4096];
    const char *file = a->config_path;
    if (!file && a->resume) snprintf(path, sizeof path, "%s/config.ini", a->run_dir), file = path;
    if (!file) return err_set(e, "--config FILE is required");
    return config_resolve(c, file, a->sets, a->n_sets, e);
}

// Loads the frozen reference policy, or saves the initial weights as one (fresh runs).
static int setup_reference(Trainer *t, bool resume, Err *e) {
    char path[4096];
    snprintf(path, sizeof path, "%s/ckpt/reference.h5", t->run_dir);
    TRY(model_create(&t->ref, &t->cfg.model, e));
    t->has_ref = true;
    if (resume) return trainer_agree(checkpoint_load(path, &t->ref, NULL, NULL, e), e);
    memcpy(t->ref.params, t->model.params, t->model.n_params * sizeof *t->ref.params);
    int rc = 0;
    if (dist_is_root()) {
        CheckpointMeta meta = {"reference", t->config_text, rlvr_revision(), dist_size()};
        rc = checkpoint_save(path, &t->ref, NULL, NULL, &meta, e);
    }
    return root_then_share(rc, e);
}

static int setup_weights(Trainer *t, const TrainArgs *a, Err *e) {
    TRY(model_create(&t->model, &t->cfg.model, e));
    adamw_init(&t->opt, t->model.n_params);
    TRY(tokenizer_fits_model(t->tok, t->cfg.model.vocab_size, e));
    t->st = (TrainState){.train_seed = t->cfg.train.seed, .rollout_seed = t->cfg.rollout.seed};
    if (a->resume) {
        char path[4096];
        int64_t step;
        int found = checkpoint_latest(t->run_dir, path, sizeof path, &step, e);
        if (found == 0) err_set(e, "%s: --resume: no checkpoint in %s/ckpt", t->run_dir, t->run_dir);
        if (found != 1) return -1;
        TRY(checkpoint_load(path, &t->model, &t->opt, &t->st, e));
    } else if (a->init_ckpt) {
        TRY(checkpoint_load(a->init_ckpt, &t->model, NULL, NULL, e));
    } else {
        model_init_random(&t->model, (uint64_t)t->cfg.model.init_seed);
    }
    return 0;
}

static int setup(Trainer *t, TrainKind kind, const TrainArgs *a, Err *e) {
    t->kind = kind;
    snprintf(t->run_dir, sizeof t->run_dir, "%s", a->run_dir);
    TRY(resolve_config(a, &t->cfg, e));
    t->config_text = config_to_string(&t->cfg);
    int rc = 0;
    if (dist_is_root()) {
        rc = run_dir_prepare(t->run_dir, a->resume, e);
        if (!rc) rc = run_dir_write_config(t->run_dir, t->config_text, e);
    }
    TRY(root_then_share(rc, e));
    if (!(t->tok = tokenizer_create(&t->cfg.tokenizer, e))) return -1;
    if (!(t->task = task_create(&t->cfg, e))) return -1;
    TRY(reward_check_config(&t->cfg.reward, e));
    TRY(trainer_agree(setup_weights(t, a, e), e));
    if (kind == TRAIN_RL && t->cfg.algo.beta > 0) TRY(setup_reference(t, a->resume, e));
    t->hyper = adamw_hyper(&t->cfg.train);
    grad_reducer_init(&t->reducer, t->model.n_params, t->cfg.dist.deterministic, t->model.tensors, t->model.n_tensors);
    t->grad = xcalloc(t->model.n_params, sizeof *t->grad);
    t->loss = loss_params(&t->cfg);
    t->adv = adv_params(&t->cfg);
    t->total_steps = kind == TRAIN_SFT ? t->cfg.sft.steps : t->cfg.train.steps;
    rc = 0;
    if (dist_is_root()) rc = metrics_open(&t->mt, t->run_dir, a->resume ? t->st.step : -1, stderr, e);
    return root_then_share(rc, e);
}

static void teardown(Trainer *t) {
    metrics_close(&t->mt);
    free(t->config_text);
    model_free(&t->model);
    if (t->has_ref) model_free(&t->ref);
    adamw_free(&t->opt);
    grad_reducer_free(&t->reducer);
    free(t->grad);
    if (t->tok) tokenizer_free(t->tok);
    if (t->task) task_free(t->task);
}

// ---- the loop ----

static int save_checkpoint(Trainer *t, Err *e) {
    int rc = 0;
    if (dist_is_root()) {
        char path[4096];
        checkpoint_path(path, sizeof path, t->run_dir, t->st.step);
        CheckpointMeta meta = {t->kind == TRAIN_SFT ? "sft" : "train", t->config_text, rlvr_revision(), dist_size()};
        rc = checkpoint_save(path, &t->model, &t->opt, &t->st, &meta, e);
        if (!rc) rc = checkpoint_prune(t->run_dir, t->cfg.checkpoint.keep, e);
        if (!rc) metrics_log(&t->mt, "step %lld: saved %s", (long long)t->st.step, path);
    }
    return root_then_share(rc, e);
}

static int run_eval(Trainer *t, Err *e) {
    if (task_split_size(t->task, SPLIT_EVAL) == 0) return 0;  // the task has no held-out split
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "step", (double)t->st.step);
    int rc = trainer_eval(t, t->st.step, o, e);
    if (!rc && dist_is_root()) {
        rc = metrics_write_eval(&t->mt, o, e);
        const cJSON *g = cJSON_GetObjectItem(o, "greedy_accuracy"), *s = cJSON_GetObjectItem(o, "sampled_accuracy");
        if (g && s)
            metrics_log(&t->mt, "eval step %lld: greedy accuracy %.1f%%, sampled accuracy %.1f%%", (long long)t->st.step,
                        100 * g->valuedouble, 100 * s->valuedouble);
    }
    cJSON_Delete(o);
    return rc;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return v && cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void show_progress(Trainer *t, const cJSON *m, double elapsed, int64_t steps_done) {
    Progress p = {.step = t->st.step, .total = t->total_steps, .elapsed_s = elapsed, .steps_done = steps_done,
                  .reward = num(m, "reward_mean"), .accuracy = num(m, "accuracy"), .length = num(m, "length_mean"),
                  .clip_frac = num(m, "clip_frac"), .tokens_per_s = num(m, "tokens_per_s_train")};
    if (t->kind == TRAIN_RL) return metrics_progress(&t->mt, &p);
    char line[256];
    Progress q = p;  // SFT: loss and token accuracy instead of reward
    q.reward = num(m, "loss"), q.accuracy = num(m, "token_accuracy");
    metrics_progress_line(&q, line, sizeof line);
    const char *eta = strstr(line, " | ETA");
    metrics_log(&t->mt, "step %lld/%lld | loss %.4f | token acc %.1f%% | %.0f tok/s%s", (long long)p.step,
                (long long)p.total, q.reward, 100 * q.accuracy, p.tokens_per_s, eta ? eta : "");
}

// Counts a skipped update; stops after train.max_bad_steps bad steps in a row.
static int guard(Trainer *t, const UpdateStats *u, Err *e) {
    if (!u->skipped) {
        t->st.bad_steps = 0;
        return 0;
    }
    t->st.bad_steps++;
    if (dist_is_root())
        metrics_log(&t->mt, "step %lld: non-finite %s; %d update(s) skipped (%lld bad step(s) in a row)",
                    (long long)t->st.step, u->bad, u->skipped, (long long)t->st.bad_steps);
    if (t->st.bad_steps >= t->cfg.train.max_bad_steps)
        return err_set(e, "step %lld: stopping after %lld non-finite steps in a row (train.max_bad_steps); last: %s",
                       (long long)t->st.step, (long long)t->st.bad_steps, u->bad);
    return 0;
}

static int one_step(Trainer *t, int64_t step, Err *e) {
    double t0 = trainer_now_s();
    cJSON *m = cJSON_CreateObject();
    UpdateStats u = {0};
    cJSON_AddNumberToObject(m, "step", (double)step);
    int rc = t->kind == TRAIN_SFT ? sft_step(t, step, m, &u, e) : rl_step(t, step, m, &u, e);
    if (rc) return cJSON_Delete(m), -1;
    t->st.step = step;
    double dt = trainer_now_s() - t0;
    dist_allreduce_max_f64(&dt, 1);
    t->st.elapsed_s += dt;
    cJSON_AddNumberToObject(m, "lr", u.lr);
    cJSON_AddNumberToObject(m, "grad_norm", u.grad_norm);
    cJSON_AddNumberToObject(m, "updates", u.updates);
    cJSON_AddNumberToObject(m, "skipped_updates", u.skipped);
    cJSON_AddNumberToObject(m, "step_time_s", dt);
    if (dist_is_root()) rc = metrics_write(&t->mt, m, e);
    rc = root_then_share(rc, e);
    if (!rc) rc = guard(t, &u, e);
    if (!rc && dist_is_root()) show_progress(t, m, t->st.elapsed_s, step);
    cJSON_Delete(m);
    return rc;
}

static bool due(int every, int64_t step, int64_t total) { return step == total || (every > 0 && step % every == 0); }

static int loop(Trainer *t, const TrainArgs *a, Err *e) {
    bool fresh = t->st.step == 0;
    if (fresh && t->cfg.eval.n_prompts > 0) TRY(run_eval(t, e));  // the starting point, for comparison
    for (int64_t step = t->st.step + 1; step <= t->total_steps; step++) {
        TRY(one_step(t, step, e));
        bool stop = a->stop_after > 0 && step == a->stop_after;
        if (t->cfg.eval.n_prompts > 0 && due(t->cfg.eval.every, step, t->total_steps)) TRY(run_eval(t, e));
        if (stop || due(t->cfg.checkpoint.every, step, t->total_steps)) TRY(save_checkpoint(t, e));
        if (stop) break;
    }
    if (t->total_steps == 0 || t->st.step == t->total_steps) {
        if (t->st.step == 0) TRY(save_checkpoint(t, e));  // steps = 0: the initial weights
        if (dist_is_root()) metrics_log(&t->mt, "done: %lld steps", (long long)t->st.step);
    }
    return 0;
}

int trainer_run(TrainKind kind, const TrainArgs *args, Err *e) {
    Trainer *t = xcalloc(1, sizeof *t);
    int rc = setup(t, kind, args, e);
    if (!rc && dist_is_root())
        metrics_log(&t->mt, "%s %s: %s, %zu parameters, %d rank(s), %s reduction, from step %lld of %lld",
                    kind == TRAIN_SFT ? "sft" : "train", t->run_dir, config_enum_name("model", "type", t->cfg.model.type),
                    t->model.n_params, dist_size(), t->cfg.dist.deterministic ? "deterministic" : "fast",
                    (long long)t->st.step, (long long)t->total_steps);
    if (!rc) rc = loop(t, args, e);
    if (rc && t->mt.log) fprintf(t->mt.log, "error: %s\n", e->msg);  // why the run stopped, next to its steps
    teardown(t);
    free(t);
    return rc;
}
