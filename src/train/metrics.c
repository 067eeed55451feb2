#include "train/metrics.h"

#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/jsonl.h"

int metrics_truncate_after(const char *path, int64_t max_step, Err *e) {
    FILE *in = fopen(path, "r");
    if (!in) return errno == ENOENT ? 0 : err_set(e, "%s: cannot open: %s", path, strerror(errno));
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *out = fopen(tmp, "w");
    if (!out) {
        fclose(in);
        return err_set(e, "%s: cannot create: %s", tmp, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) > 0) {
        cJSON *o = cJSON_ParseWithLength(line, (size_t)n);
        const cJSON *step = o ? cJSON_GetObjectItemCaseSensitive(o, "step") : NULL;
        // Keep records of steps up to the checkpoint; a torn last line (crash) is dropped.
        if (step && cJSON_IsNumber(step) && step->valuedouble <= (double)max_step) fwrite(line, 1, (size_t)n, out);
        cJSON_Delete(o);
    }
    free(line);
    fclose(in);
    if (fclose(out) || rename(tmp, path)) return err_set(e, "%s: cannot rewrite: %s", path, strerror(errno));
    return 0;
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

static int write_line(FILE *f, const cJSON *obj, Err *e) {
    if (!f) return 0;
    TRY(jsonl_write(f, obj, e));
    fflush(f);
    return 0;
}

int metrics_write(Metrics *mt, const cJSON *obj, Err *e) { return write_line(mt->metrics, obj, e); }
int metrics_write_eval(Metrics *mt, const cJSON *obj, Err *e) { return write_line(mt->eval, obj, e); }

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

void metrics_progress_line(const Progress *p, char *buf, size_t len) {
    char eta[32];
    double per_step = p->steps_done > 0 ? p->elapsed_s / (double)p->steps_done : 0;
    format_duration(per_step * (double)(p->total - p->step), eta, sizeof eta);
    snprintf(buf, len, "step %lld/%lld | reward %.3f | acc %.1f%% | len %.1f | clip %.2f%% | %.0f tok/s | ETA %s",
             (long long)p->step, (long long)p->total, p->reward, 100 * p->accuracy, p->length, 100 * p->clip_frac,
             p->tokens_per_s, eta);
}

void metrics_progress(Metrics *mt, const Progress *p) {
    char line[256];
    metrics_progress_line(p, line, sizeof line);
    if (mt->console) fprintf(mt->console, "%s\n", line);
    if (mt->log) {
        fprintf(mt->log, "%s\n", line);
        fflush(mt->log);
    }
}
