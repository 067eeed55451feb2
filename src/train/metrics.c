#include "train/metrics.h"

#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/atomic_file.h"
#include "base/jsonl.h"

int metrics_truncate_after(const char *path, int64_t max_step, Err *e) {
    FILE *in = fopen(path, "r");
    if (!in) return errno == ENOENT ? 0 : err_set(e, "%s: cannot open: %s", path, strerror(errno));
    AtomicFile out;  // durable: the resume reads it beside the checkpoint
    if (atomic_file_open(&out, path, ATOMIC_DURABLE, e)) return fclose(in), -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) > 0) {
        cJSON *o = cJSON_ParseWithLength(line, (size_t)n);
        const cJSON *step = o ? cJSON_GetObjectItemCaseSensitive(o, "step") : NULL;
        // Keep records of steps up to the checkpoint; a torn last line (crash) is dropped.
        if (step && cJSON_IsNumber(step) && step->valuedouble <= (double)max_step) fwrite(line, 1, (size_t)n, out.f);
        cJSON_Delete(o);
    }
    free(line);
    int rc = ferror(in) ? err_set(e, "%s: read error", path) : 0;
    fclose(in);
    return atomic_file_end(&out, rc, e);
}

static FILE *open_append(const char *run_dir, const char *name, int64_t resume_step, Err *e) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", run_dir, name);
    bool jsonl = strstr(name, ".jsonl") != NULL;
    if (resume_step >= 0 && jsonl && metrics_truncate_after(path, resume_step, e)) return NULL;
    FILE *f = fopen(path, jsonl && resume_step < 0 ? "w" : "a");  // log.txt keeps every attempt
    if (!f) err_set(e, "%s: cannot open for writing: %s", path, strerror(errno));
    return f;
}

int metrics_open(Metrics *mt, const char *run_dir, int64_t resume_step, FILE *console, Err *e) {
    memset(mt, 0, sizeof *mt);
    mt->console = console;
    if (!(mt->metrics = open_append(run_dir, "metrics.jsonl", resume_step, e)) ||
        !(mt->eval = open_append(run_dir, "eval.jsonl", resume_step, e)) ||
        !(mt->log = open_append(run_dir, "log.txt", -1, e))) {
        metrics_close(mt);
        return -1;
    }
    return 0;
}

void metrics_close(Metrics *mt) {
    if (mt->metrics) fclose(mt->metrics);
    if (mt->eval) fclose(mt->eval);
    if (mt->log) fclose(mt->log);
    memset(mt, 0, sizeof *mt);
}

static int write_line(FILE *f, cJSON *obj, Err *e) {
    int rc = f ? jsonl_write(f, obj, e) : 0;
    if (f) fflush(f);
    cJSON_Delete(obj);
    return rc;
}

static void add(cJSON *o, const char *key, double v) { cJSON_AddNumberToObject(o, key, v); }

// A mean or fraction over none (results/objectives.md §5): null, where 0 would read as a measurement.
static void add_over(cJSON *o, const char *key, double v, double count) {
    if (count > 0) add(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

static void add_spread(cJSON *o, const char *name, const RankSpread *s) {
    cJSON *x = cJSON_AddObjectToObject(o, name);
    add(x, "max", s->max), add(x, "max_rank", s->max_rank), add(x, "min", s->min), add(x, "min_rank", s->min_rank);
}

// "ranks": {"world": R, "sampling_s": {"max", "max_rank", "min", "min_rank"}, "scoring_s", "training_s",
// "waiting_s", "groups_sampled"}.
static void add_ranks(cJSON *o, const RankTimes *t) {
    cJSON *x = cJSON_AddObjectToObject(o, "ranks");
    add(x, "world", t->world);
    add_spread(x, "sampling_s", &t->sampling_s), add_spread(x, "scoring_s", &t->scoring_s);
    add_spread(x, "training_s", &t->training_s), add_spread(x, "waiting_s", &t->waiting_s);
    add_spread(x, "groups_sampled", &t->groups_sampled);
}

static void add_rl(cJSON *o, const StepMetrics *m) {
    double tokens = m->loss.tokens;
    for (int k = 0; k < LOSS_N_FIELDS; k++)
        if (!strcmp(LOSS_FIELDS[k].name, "tokens")) add(o, "tokens", tokens);
        else add_over(o, LOSS_FIELDS[k].name, loss_field(&m->loss, k), tokens);
    const RolloutMetrics *r = &m->rollout;
    double n = r->sequences;  // 0 where dynamic sampling dropped every group
    add_over(o, "accuracy", r->accuracy, n), add_over(o, "format_rate", r->format_rate, n);
    add_over(o, "length_mean", r->length_mean, n);
    add_over(o, "length_min", r->length_min, n), add_over(o, "length_max", r->length_max, n);
    add_over(o, "truncation_rate", r->truncation_rate, n), add_over(o, "masked_rate", r->masked_rate, n);
    add(o, "sequences", n);
    const AdvStats *a = &m->adv;
    add_over(o, "reward_mean", a->reward_mean, n), add_over(o, "reward_std", a->reward_std, n);
    add(o, "groups", (double)a->n_groups);
    add_over(o, "frac_zero_std", a->n_groups ? (double)a->n_zero_std_groups / (double)a->n_groups : 0, (double)a->n_groups);
    if (m->grpo_lambda) {
        add(o, "efficiency_groups", (double)a->n_efficiency_groups);
        add_over(o, "efficiency_reward_mean", a->efficiency_reward_mean, (double)a->n_efficiency_groups);
    }
    add(o, "gen_batches", r->gen_batches), add(o, "groups_selected", (double)r->groups_selected);
    add(o, "time_sampling_s", r->time_sampling_s), add(o, "time_scoring_s", r->time_scoring_s);
    add(o, "time_training_s", m->time_training_s);
    add(o, "tokens_per_s_rollout", r->tokens_per_s_rollout);
    add_ranks(o, &m->ranks);
}

int metrics_write_step(Metrics *mt, const StepMetrics *m, Err *e) {
    cJSON *o = cJSON_CreateObject();
    add(o, "step", (double)m->step);
    if (m->kind == STEP_RL) add_rl(o, m);
    else add(o, "loss", m->loss.loss), add(o, "token_accuracy", m->token_accuracy), add(o, "tokens", m->loss.tokens);
    add(o, "tokens_per_s_train", m->tokens_per_s_train);
    add(o, "lr", m->update.lr);
    if (m->kind == STEP_RL) add_over(o, "grad_norm", m->update.grad_norm, m->update.updates);  // of the last applied
    else add(o, "grad_norm", m->update.grad_norm);
    add(o, "updates", m->update.updates), add(o, "skipped_updates", m->update.skipped);
    add(o, "step_time_s", m->step_time_s);
    return write_line(mt->metrics, o, e);
}

int metrics_write_eval(Metrics *mt, const EvalMetrics *m, Err *e) {
    cJSON *o = cJSON_CreateObject();
    add(o, "step", (double)m->step), add(o, "prompts", (double)m->prompts);
    add(o, "greedy_accuracy", m->greedy_accuracy), add(o, "greedy_length_mean", m->greedy_length_mean);
    add(o, "sampled_accuracy", m->sampled_accuracy), add(o, "sampled_length_mean", m->sampled_length_mean);
    add(o, "samples_per_prompt", m->samples_per_prompt);
    return write_line(mt->eval, o, e);
}

int metrics_write_benchmark(Metrics *mt, const EvalSource *src, const RolloutConfig *rc, const EvalResult *r, Err *e) {
    return write_line(mt->eval, eval_record(src, rc, r), e);
}

void metrics_log(Metrics *mt, const char *fmt, ...) {
    char msg[2048], stamp[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    if (mt->log) {
        fprintf(mt->log, "%s %s\n", stamp, msg);
        fflush(mt->log);
    }
    if (mt->console) fprintf(mt->console, "%s\n", msg);
}

// "1h02m", "3m12s", "45s".
static void format_duration(double s, char *buf, size_t len) {
    long t = s > 0 ? (long)(s + 0.5) : 0;
    if (t >= 3600) snprintf(buf, len, "%ldh%02ldm", t / 3600, t % 3600 / 60);
    else if (t >= 60) snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, len, "%lds", t);
}

void metrics_progress_line(const StepMetrics *m, int64_t total, double elapsed_s, int64_t steps_done, char *buf,
                           size_t len) {
    char eta[32];
    double per_step = steps_done > 0 ? elapsed_s / (double)steps_done : 0;
    format_duration(per_step * (double)(total - m->step), eta, sizeof eta);
    if (m->kind == STEP_SFT) {
        snprintf(buf, len, "step %lld/%lld | loss %.4f | token acc %.1f%% | %.0f tok/s | ETA %s", (long long)m->step,
                 (long long)total, m->loss.loss, 100 * m->token_accuracy, m->tokens_per_s_train, eta);
        return;
    }
    int n = m->rollout.sequences > 0
                ? snprintf(buf, len, "step %lld/%lld | reward %.3f | acc %.1f%% | len %.1f | clip %.2f%% | %.0f tok/s | ETA %s",
                           (long long)m->step, (long long)total, m->adv.reward_mean, 100 * m->rollout.accuracy,
                           m->rollout.length_mean, 100 * m->loss.clip_frac, m->tokens_per_s_train, eta)
                : snprintf(buf, len, "step %lld/%lld | no response selected (%d generation batches) | ETA %s",
                           (long long)m->step, (long long)total, m->rollout.gen_batches, eta);
    if (m->ranks.world > 1 && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, " | wait %.2fs", m->ranks.waiting_s.max);
}

void metrics_progress(Metrics *mt, const StepMetrics *m, int64_t total, double elapsed_s, int64_t steps_done) {
    char line[256];
    metrics_progress_line(m, total, elapsed_s, steps_done, line, sizeof line);
    if (mt->console) fprintf(mt->console, "%s\n", line);
    if (mt->log) {
        fprintf(mt->log, "%s\n", line);
        fflush(mt->log);
    }
}
