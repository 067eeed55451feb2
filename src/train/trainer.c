#include "train/trainer.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "base/revision.h"
#include "base/walltime.h"
#include "eval/benchmark.h"
#include "eval/eval_run.h"
#include "train/eval.h"
#include "train/memory_plan.h"
#include "train/metrics.h"
#include "train/rl_step.h"
#include "train/sft.h"

typedef struct {
    Run run;
    Metrics mt;          // open on rank 0 only
    int64_t saved_step;  // step of the newest checkpoint in the run directory, -1 = none
} Trainer;

static int save_checkpoint(Trainer *t, Err *e) {
    char path[4096];
    TRY(run_save_checkpoint(&t->run, path, sizeof path, e));
    t->saved_step = t->run.st.step;
    if (dist_is_root()) metrics_log(&t->mt, "step %lld: saved %s", (long long)t->run.st.step, path);
    return 0;
}

static int evaluate_held_out(Trainer *t, Err *e) {
    Run *r = &t->run;
    if (r->cfg.eval.n_prompts == 0 || task_split_size(r->task, SPLIT_EVAL) == 0) return 0;
    EvalMetrics m;
    TRY(eval_heldout(&r->model, r->tok, r->task, &r->cfg, r->st.step, &m, e));
    int rc = 0;
    if (dist_is_root()) {
        rc = metrics_write_eval(&t->mt, &m, e);
        metrics_log(&t->mt, "eval step %lld: greedy accuracy %.1f%%, sampled accuracy %.1f%%", (long long)m.step,
                    100 * m.greedy_accuracy, 100 * m.sampled_accuracy);
    }
    return dist_root_outcome(rc, e);
}

// eval.benchmarks, each with rlvr eval's code; their records join the held-out ones in eval.jsonl.
static int evaluate_benchmarks(Trainer *t, Err *e) {
    Run *r = &t->run;
    char specs[64][BENCHMARK_SPEC_LEN];
    int n = benchmark_specs(&r->cfg, specs, 64, e);
    for (int i = 0; i < n; i++) {
        Config bc;
        char name[256];
        EvalResult res;
        TRY(evaluate_benchmark(&r->model, r->tok, &r->cfg, "[eval] benchmarks", specs[i], r->st.step, name, sizeof name,
                               &bc, &res, NULL, e));
        int rc = 0;
        if (dist_is_root()) {
            RolloutConfig sampling = eval_sampling(&bc);
            EvalSource src = {name, bc.data.eval_path, r->run_dir, r->st.step, rlvr_revision()};
            rc = metrics_write_benchmark(&t->mt, &src, &sampling, &res, e);
            metrics_log(&t->mt, "eval step %lld: %s avg@%d %.1f%%, length %.0f", (long long)r->st.step, name,
                        res.samples, 100 * res.avg, res.length_mean);
            if (res.skip_note[0])
                metrics_log(&t->mt, "eval step %lld: %s: %s", (long long)r->st.step, name, res.skip_note);
        }
        TRY(dist_root_outcome(rc, e));
    }
    return n < 0 ? -1 : 0;
}

static int evaluate_all(Trainer *t, Err *e) {
    param_gather_all(&t->run.up.gather);  // zero stage 3: sampling reads every layer once per token
    int rc = evaluate_held_out(t, e);
    if (!rc) rc = evaluate_benchmarks(t, e);
    param_gather_release(&t->run.up.gather);
    return rc;
}

// Counts a skipped update; stops after train.max_bad_steps bad steps in a row.
static int guard(Trainer *t, const UpdateStats *u, Err *e) {
    TrainState *st = &t->run.st;
    if (!u->skipped) {
        st->bad_steps = 0;
        return 0;
    }
    st->bad_steps++;
    if (dist_is_root())
        metrics_log(&t->mt, "step %lld: non-finite %s; %d update(s) skipped (%lld bad step(s) in a row)",
                    (long long)st->step, u->bad, u->skipped, (long long)st->bad_steps);
    if (st->bad_steps >= t->run.cfg.train.max_bad_steps)
        return err_set(e, "step %lld: stopping after %lld non-finite steps in a row (train.max_bad_steps); last: %s",
                       (long long)st->step, (long long)st->bad_steps, u->bad);
    return 0;
}

static int one_step(Trainer *t, int64_t step, Err *e) {
    Run *r = &t->run;
    double t0 = walltime_s();
    StepMetrics m;
    TRY(r->kind == TRAIN_SFT ? sft_step(r, step, &m, e) : rl_step(r, step, &m, e));
    r->st.step = step;
    m.step_time_s = walltime_s() - t0;
    dist_allreduce_max_f64(&m.step_time_s, 1);
    r->st.elapsed_s += m.step_time_s;
    int rc = 0;
    if (dist_is_root()) rc = metrics_write_step(&t->mt, &m, e);
    TRY(dist_root_outcome(rc, e));
    TRY(guard(t, &m.update, e));
    if (dist_is_root()) metrics_progress(&t->mt, &m, r->total_steps, r->st.elapsed_s, step);
    return 0;
}

// Preemption: a stop signal on any rank ends the run between two steps, with a checkpoint of the last completed
// step (written now unless it is already on disk). A step in progress when the signal came was completed first.
static int stop(Trainer *t, int sig, Err *e) {
    Run *r = &t->run;
    if (t->saved_step != r->st.step) TRY(save_checkpoint(t, e));
    if (dist_is_root())
        metrics_log(&t->mt, "stopped by SIG%s after step %lld of %lld; continue with --resume (or --resume=auto)",
                    sigabbrev_np(sig) ? sigabbrev_np(sig) : "?", (long long)r->st.step, (long long)r->total_steps);
    return TRAINER_STOPPED;
}

static bool due(int every, int64_t step, int64_t total) { return step == total || (every > 0 && step % every == 0); }

static int loop(Trainer *t, const TrainArgs *a, Err *e) {
    Run *r = &t->run;
    const Config *c = &r->cfg;
    bool evaluates = c->eval.n_prompts > 0 || c->eval.benchmarks[0];
    if (r->st.step == 0 && !r->resumed && evaluates) TRY(evaluate_all(t, e));  // the starting point
    for (int64_t step = r->st.step + 1; step <= r->total_steps; step++) {
        int sig = dist_stop_requested();  // every rank at the same boundary, so the answer is the same everywhere
        if (sig) return stop(t, sig, e);
        TRY(one_step(t, step, e));
        bool stop = a->stop_after > 0 && step == a->stop_after;
        if (evaluates && due(c->eval.every, step, r->total_steps)) TRY(evaluate_all(t, e));
        if (stop || due(c->checkpoint.every, step, r->total_steps)) TRY(save_checkpoint(t, e));
        if (stop) break;
    }
    if (r->total_steps == 0 || r->st.step == r->total_steps) {
        if (r->st.step == 0) TRY(save_checkpoint(t, e));  // steps = 0: the initial weights
        if (dist_is_root()) metrics_log(&t->mt, "done: %lld steps", (long long)r->st.step);
        char peak[128];
        memory_plan_peak_line(peak, sizeof peak);  // beside the start's estimate (train/memory_plan.h)
        if (dist_is_root()) metrics_log(&t->mt, "%s", peak);
    }
    return 0;
}

static int start(Trainer *t, TrainKind kind, const TrainArgs *a, Err *e) {
    Run *r = &t->run;
    TRY(run_open(r, kind, a, e));
    t->saved_step = r->resumed ? r->st.step : -1;
    int rc = 0;
    if (dist_is_root()) rc = metrics_open(&t->mt, r->run_dir, r->resumed ? r->st.step : -1, stderr, e);
    TRY(dist_root_outcome(rc, e));
    if (dist_is_root())
        metrics_log(&t->mt, "%s %s: %s, %zu parameters, %d rank(s), %s reduction, zero stage %d, expert parallelism %d, "
                    "from step %lld of %lld",
                    kind == TRAIN_SFT ? "sft" : "train", r->run_dir, config_enum_name("model", "type", r->cfg.model.type),
                    r->model.n_params, dist_size(), r->cfg.dist.deterministic ? "deterministic" : r->up.reducer.req ? "fast overlapped" : "fast",
                    r->cfg.dist.zero_stage, r->cfg.dist.expert_parallel, (long long)r->st.step, (long long)r->total_steps);
    if (dist_is_root() && r->init_note[0]) metrics_log(&t->mt, "%s", r->init_note);
    for (const char *p = r->start_log; dist_is_root() && p && *p;) {  // each on a line of its own
        size_t n = strcspn(p, "\n");
        metrics_log(&t->mt, "%.*s", (int)n, p);
        p += n + (p[n] == '\n');
    }
    if (dist_is_root() && r->resumed && a->init_ckpt)
        metrics_log(&t->mt, "--init %s ignored: resumed from step %lld", a->init_ckpt, (long long)r->st.step);
    return 0;
}

int trainer_run(TrainKind kind, const TrainArgs *args, Err *e) {
    Trainer *t = xcalloc(1, sizeof *t);
    dist_install_stop_signals();  // from here on SIGTERM/SIGUSR1 end the run at a step boundary, checkpointed
    int rc = start(t, kind, args, e);
    if (!rc) rc = loop(t, args, e);
    if (rc < 0 && t->mt.log) fprintf(t->mt.log, "error: %s\n", e->msg);  // why the run stopped, next to its steps
    metrics_close(&t->mt);
    run_close(&t->run);
    free(t);
    return rc;
}
