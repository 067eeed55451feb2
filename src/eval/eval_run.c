#include "eval/eval_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/atomic_file.h"
#include "base/dist.h"
#include "base/jsonl.h"
#include "base/revision.h"
#include "base/walltime.h"
#include "eval/benchmark.h"
#include "eval/evaluate.h"
#include "eval/report.h"
#include "io/checkpoint.h"
#include "io/model_h5.h"
#include "io/run_dir.h"
#include "model/device.h"

typedef struct {
    const EvalRunArgs *a;
    Config cfg;
    Model model;
    Tokenizer *tok;
    int64_t step;                     // the checkpoint's training step
    int lock_fd;                      // rank 0: OUT/.lock
    double t0;
} EvalRun;

// OUT/name, appended to as a whole (base/atomic_file.h): a benchmark that fails, or a process killed while
// writing, leaves the file as it was, and the records of earlier benchmarks and runs stay. No fsync: a rerun
// makes it again.
static int output_open(AtomicFile *f, const EvalRun *r, const char *name, Err *e) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", r->a->out_dir, name);
    return atomic_file_open(f, path, ATOMIC_APPEND, e);
}

// Rank 0, before any sampling: the output directory exists, takes files, and is this process's alone (a run's
// lock): an append renames a copy over the file, so the lines another writer appended meanwhile (a training's
// eval.jsonl, another rlvr eval) would be lost.
static int check_outputs(EvalRun *r, Err *e) {
    if (!dist_is_root()) return 0;
    TRY(make_dirs(r->a->out_dir, e));
    TRY(run_dir_lock(r->a->out_dir, &r->lock_fd, e));
    TRY(atomic_file_remove_stale(r->a->out_dir, stderr, e));  // a killed eval's: the lock shuts out other writers
    AtomicFile f;
    TRY(output_open(&f, r, "eval.jsonl", e));
    atomic_file_abort(&f);
    return 0;
}

static int setup(EvalRun *r, Err *e) {
    const EvalRunArgs *a = r->a;
    TRY(checkpoint_config_or_file(a->config_path, a->ckpt, a->sets, a->n_sets, &r->cfg, e));
    TRY(checkpoint_read_meta(a->ckpt, &r->step, NULL, NULL, e));
    TRY(model_load_path(&r->model, a->ckpt, e));
    if (!(r->tok = tokenizer_create(&r->cfg.tokenizer, e))) return -1;
    return tokenizer_fits_model(r->tok, r->model.cfg.vocab_size, e);
}

static void report(EvalRun *r, const char *name, const EvalResult *res, double seconds, int done, int total) {
    double tokens = res->length_mean * (double)res->prompts * res->samples, per = (walltime_s() - r->t0) / done;
    char skipped[96] = "";
    if (res->skipped_lines)
        snprintf(skipped, sizeof skipped, " (%lld malformed lines skipped: data.skip_bad_lines)", (long long)res->skipped_lines);
    fprintf(stderr, "eval [%d/%d] %s: %lld prompts%s x %d, avg@%d %.1f%% ± %.1f, pass@%d %.1f%%, maj@%d %.1f%%, "
                    "length %.0f | %.0f tok/s | ETA %.0fs\n",
            done, total, name, (long long)res->prompts, skipped, res->samples, res->samples, 100 * res->avg,
            100 * res->avg_stderr, res->pass_k[res->n_pass - 1], 100 * res->pass[res->n_pass - 1], res->samples,
            100 * res->maj, res->length_mean, seconds > 0 ? tokens / seconds : 0, per * (total - done));
    if (res->skip_note[0]) fprintf(stderr, "rlvr: eval: %s: %s\n", name, res->skip_note);
}

// samples.jsonl first: a record in eval.jsonl always has its responses in samples.jsonl.
static int write_outputs(EvalRun *r, const char *name, const char *file, const Config *bc, const EvalResult *res,
                         const char *lines, Err *e) {
    AtomicFile samples, records;
    TRY(output_open(&samples, r, "samples.jsonl", e));
    if (lines) fputs(lines, samples.f);  // a write error shows at the commit
    TRY(atomic_file_commit(&samples, e));
    TRY(output_open(&records, r, "eval.jsonl", e));
    EvalSource src = {name, file, r->a->ckpt, r->step, rlvr_revision()};
    RolloutConfig sampling = eval_sampling(bc);
    cJSON *o = eval_record(&src, &sampling, res);
    int rc = jsonl_write(records.f, o, e);
    cJSON_Delete(o);
    return atomic_file_end(&records, rc, e);
}

int evaluate_benchmark(Model *m, const Tokenizer *tok, const Config *base, const char *origin, const char *spec,
                       int64_t step, char *name, size_t name_len, Config *bc, EvalResult *res, char **lines, Err *e) {
    *bc = *base;
    snprintf(name, name_len, "heldout");
    Task *task = NULL;
    PromptSet ps = {0};
    int rc = spec ? benchmark_config(base, origin, spec, bc, name, name_len, e) : 0;
    if (!rc && !(task = task_create(bc, e))) rc = -1;
    if (!rc) rc = benchmark_prompts(bc, task, spec == NULL, tok, &ps, e);
    if (!(rc = dist_agree(rc, e))) {
        RolloutConfig sampling = eval_sampling(bc);
        rc = evaluate(m, tok, task, &bc->reward, &sampling, &ps, EVAL_RNG_STEP + step, res, name, lines, e);
        res->skipped_lines = task_skipped_lines(task, SPLIT_EVAL);
        task_skip_note(task, SPLIT_EVAL, res->skip_note, sizeof res->skip_note);
    }
    prompts_free(&ps);
    if (task) task_free(task);
    return rc;
}

static int one_benchmark(EvalRun *r, const char *spec, int done, int total, Err *e) {
    Config bc;
    char name[256];
    EvalResult res;
    char *lines = NULL;
    double t = walltime_s();
    int rc = evaluate_benchmark(&r->model, r->tok, &r->cfg, "--data", spec, r->step, name, sizeof name, &bc, &res,
                                &lines, e);
    if (!rc) {
        int written = 0;
        if (dist_is_root()) {
            report(r, name, &res, walltime_s() - t, done, total);
            written = write_outputs(r, name, spec ? bc.data.eval_path : "", &bc, &res, lines, e);
        }
        rc = dist_root_outcome(written, e);
    }
    free(lines);
    return rc;
}

int eval_run(const EvalRunArgs *a, Err *e) {
    EvalRun r = {.a = a, .t0 = walltime_s(), .lock_fd = -1};
    int rc = dist_agree(setup(&r, e), e);
    Device dev;
    if (!rc) rc = device_open(r.cfg.dist.device, &dev, e);
    if (!rc) rc = dist_agree(device_attach(&dev, &r.model, e), e);
    if (!rc) rc = dist_root_outcome(check_outputs(&r, e), e);
    int total = a->n_data ? a->n_data : 1;
    for (int i = 0; i < total && !rc; i++) rc = one_benchmark(&r, a->n_data ? a->data[i] : NULL, i + 1, total, e);
    run_dir_unlock(r.lock_fd);
    if (r.tok) tokenizer_free(r.tok);
    device_detach(&r.model);
    model_free(&r.model);
    return rc;
}
