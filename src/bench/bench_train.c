// `rlvr bench train`: RL steps of a fresh run (seeded random init, a temporary run directory) timed as the
// trainer times them (StepMetrics: sampling, scoring, update, whole step), and inside the update the policy's
// forward and backward passes (UpdateStats.passes, wall and CPU seconds, to set beside `rlvr bench model`); one
// untimed warm-up step, then the median and best of `repeat` steps, one JSON line per phase. The step line also
// counts the process's minor page faults, of the warm-up and the median timed step: memory the steps reuse
// instead of asking the kernel for it again. Every line gives the share of the machine's CPU time a hypervisor
// stole during the timed steps (steal_fraction; null where /proc/stat cannot say).
#include "bench/bench_train.h"

#include <ftw.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/dist.h"
#include "base/walltime.h"
#include "bench/bench_limits.h"
#include "train/rl_step.h"
#include "train/run.h"

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

enum { PHASES = 6, MAX_REPEAT = 100 };
static const char *const PHASE[PHASES] = {"sampling", "scoring", "update", "step", "forward", "backward"};

// sec: wall seconds of each phase and step; cpu: process CPU seconds where measured (forward, backward, step), else -1;
// faults: minor page faults of the warm-up step (faults[0]) and of each timed step; steal: bench_steal_fraction.
static void report(const char *config, int repeat, double sec[PHASES][MAX_REPEAT], double cpu[PHASES][MAX_REPEAT],
                   double *faults, double steal, const Run *r) {
    char device[300], cpu_field[64] = "", fault_field[96], steal_buf[16];
    device_label(&r->device, device, sizeof device);
    for (int p = 0; p < PHASES; p++) {
        double best = bench_min(sec[p], repeat), median = bench_median(sec[p], repeat);
        cpu_field[0] = 0;
        if (cpu[p][0] >= 0)
            snprintf(cpu_field, sizeof cpu_field, ",\"cpu_seconds\":%.4f", bench_median(cpu[p], repeat));
        fault_field[0] = 0;
        if (!strcmp(PHASE[p], "step"))
            snprintf(fault_field, sizeof fault_field, ",\"warm_up_minor_faults\":%.0f,\"minor_faults\":%.0f", faults[0],
                     bench_median(faults + 1, repeat));
        printf("{\"bench\":\"train\",\"phase\":\"%s\",\"device\":\"%s\",\"config\":\"%s\",\"n_params\":%zu,\"ranks\":%d,\"threads\":%d,"
               "\"prompts_per_step\":%d,\"group\":%d,\"repeats\":%d,\"seconds\":%.4f,\"seconds_best\":%.4f%s%s,\"steal_fraction\":%s}\n",
               PHASE[p], device, config, r->model.n_params, dist_size(), omp_get_max_threads(), r->cfg.train.prompts_per_step,
               r->cfg.rollout.n, repeat, median, best, cpu_field, fault_field, bench_steal_json(steal, steal_buf));
    }
    fflush(stdout);
}

int bench_train(const BenchTrainOptions *o, Err *e) {
    char dir[] = "/tmp/rlvr-bench-train-XXXXXX";
    int rc = 0;
    if (dist_is_root() && !mkdtemp(dir)) rc = err_set(e, "bench train: cannot create a directory under /tmp");
    TRY(dist_root_outcome(rc, e));
    dist_bcast(dir, sizeof dir, 0);
    char run_dir[sizeof dir + 8];
    snprintf(run_dir, sizeof run_dir, "%s/run", dir);
    TrainArgs a = {.config_path = o->config_path, .run_dir = run_dir, .sets = o->sets, .n_sets = o->n_sets};
    Run *r = xcalloc(1, sizeof *r);
    int repeat = (int)o->repeat;
    double (*sec)[MAX_REPEAT] = xcalloc(PHASES, sizeof *sec), (*cpu)[MAX_REPEAT] = xcalloc(PHASES, sizeof *cpu),
           faults[MAX_REPEAT + 1];
    rc = run_open(r, TRAIN_RL, &a, e);
    CpuTicks timed_start = {0};
    for (int k = 0; k <= repeat && !rc; k++) {  // k = 0 warms up
        StepMetrics m;
        if (k == 1) timed_start = bench_cpu_ticks();
        long f0 = minor_faults();
        double t0 = walltime_s(), c0 = cputime_s();
        rc = rl_step(r, k + 1, &m, e);
        double step_s = walltime_s() - t0, step_cpu = cputime_s() - c0;
        faults[k] = (double)(minor_faults() - f0);
        dist_allreduce_max_f64(&step_s, 1);
        if (rc || !k) continue;
        const PassTimes *pt = &m.update.passes;  // rank 0's
        double t[PHASES] = {m.rollout.time_sampling_s, m.rollout.time_scoring_s, m.time_training_s, step_s,
                            pt->forward_s, pt->backward_s};
        double c[PHASES] = {-1, -1, -1, step_cpu, pt->forward_cpu_s, pt->backward_cpu_s};
        for (int p = 0; p < PHASES; p++) sec[p][k - 1] = t[p], cpu[p][k - 1] = c[p];
    }
    double steal = bench_steal_fraction(timed_start, bench_cpu_ticks());
    if (!rc && dist_is_root()) report(o->config_path, repeat, sec, cpu, faults, steal, r);
    run_close(r);
    free(r), free(sec), free(cpu);
    if (dist_is_root()) nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
