// `rlvr bench train`: RL steps of a fresh run (seeded random init, a run directory under $TMPDIR, else /tmp, removed
// at the end) timed as the trainer times them (StepMetrics: sampling, scoring, update, whole step), and inside the
// update the policy's forward and backward passes, the reference model's forward and the optimizer
// (UpdateStats.passes, wall and CPU seconds); one untimed warm-up step, then the median and best of `repeat` steps,
// one JSON line per phase. Each figure sits next to its limit, measured around the timed steps on the CPU: the passes'
// GFLOP/s beside the sgemm peak at a pass's product shape (as `rlvr bench model` prints them), the optimizer's bytes
// beside the read bandwidth, and sampling's tokens/s. The step line also counts the process's minor page faults, of
// the warm-up and the median timed step: memory the steps reuse instead of asking the kernel for it again. Every line
// gives the share of the machine's CPU time a hypervisor stole during the timed steps (steal_fraction; null where
// /proc/stat cannot say).
#include "bench/bench_train.h"

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/dist.h"
#include "base/walltime.h"
#include "bench/bench_limits.h"
#include "model/backend.h"
#include "train/rl_step.h"
#include "train/run.h"

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

enum { PHASES = 8, MAX_REPEAT = 100, SAMPLING = 0, STEP = 3, FORWARD = 4, BACKWARD = 5, REFERENCE = 6, OPTIMIZER = 7 };
static const char *const PHASE[PHASES] = {"sampling", "scoring",  "update",    "step",
                                          "forward",  "backward", "reference", "optimizer"};
// The phases whose FLOPs are counted: the policy's forward and backward, the reference's forward where the run has a
// reference model (the policy's forward FLOPs again, model.h model_flops_per_token).
static const bool COUNTS_FLOP[PHASES] = {false, false, false, false, true, true, true, false};
// The optimizer's bytes per parameter of this rank's shard, at least: the norm reads the gradient; AdamW reads the
// gradient, the weight and both moments and writes the weight and the moments (clipping, when it scales, adds 8).
#define OPTIMIZER_BYTES_PER_PARAM 32.0
#define READ_BYTES (256 << 20)  // the read test's buffer, well beyond the caches
#define READ_PASSES 3

// What the timed steps measured: wall and CPU seconds per phase and step (CPU -1 where not measured), the policy's
// forward and backward FLOPs, its live rows, skipped passes and sampling's tokens/s per step, minor page faults of
// the warm-up step (faults[0]) and of each timed step.
typedef struct {
    double sec[PHASES][MAX_REPEAT], cpu[PHASES][MAX_REPEAT];
    double flop[MAX_REPEAT], backward_flop[MAX_REPEAT], tokens_per_s[MAX_REPEAT], faults[MAX_REPEAT + 1];
    double live[MAX_REPEAT];  // the share of response rows with a loss coefficient other than 0 (PassTimes)
    double skipped[2][MAX_REPEAT];  // the shares of micro-batches whose forward, backward was skipped (PassTimes)
    int n;
} Timings;

// The limits measured before and after the timed steps, the larger of each (0: not measured, a device backend).
typedef struct {
    int tokens;  // a pass's rows, for bench_pass_peak_gflops
    double sgemm_gflops, read_gbps;
    ReadBuffer probe;
} Limits;

static void measure_limits(Limits *l, const Run *r) {
    if (!l->tokens) return;
    l->sgemm_gflops = fmax(l->sgemm_gflops, bench_pass_peak_gflops(&r->cfg.model, l->tokens));
    if (!l->probe.x) l->probe = bench_read_buffer(READ_BYTES);
    l->read_gbps = fmax(l->read_gbps, bench_read_gbps(&l->probe, READ_PASSES));
}

// The warm-up step's mean pass rows, on the CPU backend only.
static Limits limits_for(const Run *r, const PassTimes *warm_up) {
    int64_t M = warm_up->micro_batches ? (warm_up->tokens + warm_up->micro_batches / 2) / warm_up->micro_batches : 0;
    return (Limits){.tokens = r->device.where.ordinal < 0 ? (int)M : 0};
}

// A pass's FLOPs (flop per timed step), GFLOP/s and their fraction of the sgemm peak.
static void pass_fields(const double *sec, const double *flop, int n, const Limits *l, char *out, size_t cap) {
    double gflop[MAX_REPEAT], rate[MAX_REPEAT];
    char a[32], b[32], c[32];
    for (int k = 0; k < n; k++) gflop[k] = flop[k] / 1e9, rate[k] = sec[k] > 0 ? gflop[k] / sec[k] : 0;
    double g = bench_median(gflop, n), median = bench_median(rate, n);
    bool known = g > 0 && median > 0, peak = l->sgemm_gflops > 0;
    snprintf(out, cap, ",\"gflop\":%.9g,\"gflop_per_s\":%s,\"sgemm_gflop_per_s\":%s,\"fraction_of_sgemm\":%s", g,
             bench_json_or_null(known, median, a), bench_json_or_null(peak, l->sgemm_gflops, b),
             bench_json_or_null(known && peak, median / l->sgemm_gflops, c));
}

// The optimizer's GB/s over the parameters it updates, and their fraction of the read bandwidth.
static void optimizer_fields(const double *sec, int n, double params, const Limits *l, char *out, size_t cap) {
    double rate[MAX_REPEAT];
    char a[32], b[32], c[32];
    for (int k = 0; k < n; k++) rate[k] = sec[k] > 0 ? OPTIMIZER_BYTES_PER_PARAM * params / 1e9 / sec[k] : 0;
    double median = bench_median(rate, n);
    bool known = median > 0, limit = l->read_gbps > 0;
    snprintf(out, cap, ",\"gb_per_s\":%s,\"read_gb_per_s\":%s,\"fraction_of_read_bandwidth\":%s",
             bench_json_or_null(known, median, a), bench_json_or_null(limit, l->read_gbps, b),
             bench_json_or_null(known && limit, median / l->read_gbps, c));
}

// Phase p's rate fields: the passes' and the optimizer's beside their limits, sampling's tokens/s.
static void rate_fields(const Timings *t, int p, const Limits *l, const Run *r, char *out, size_t cap) {
    static const double none[MAX_REPEAT];
    out[0] = 0;
    if (COUNTS_FLOP[p])
        pass_fields(t->sec[p], p == BACKWARD ? t->backward_flop : p == REFERENCE && !r->has_ref ? none : t->flop, t->n,
                    l, out, cap);
    size_t used = strlen(out);
    if (p == FORWARD) snprintf(out + used, cap - used, ",\"skipped_share\":%.3f", bench_median(t->skipped[0], t->n));
    else if (p == BACKWARD)
        snprintf(out + used, cap - used, ",\"live_row_share\":%.3f,\"skipped_share\":%.3f", bench_median(t->live, t->n),
                 bench_median(t->skipped[1], t->n));
    else if (p == OPTIMIZER) optimizer_fields(t->sec[p], t->n, (double)r->up.opt.n, l, out, cap);
    else if (p == SAMPLING) snprintf(out, cap, ",\"tokens_per_s\":%.1f", bench_median(t->tokens_per_s, t->n));
}

static void report(const char *config, const Timings *t, const Limits *l, double steal, const Run *r) {
    char device[300], cpu_field[64], fault_field[96], rates[256], steal_buf[16];
    device_label(&r->device, device, sizeof device);
    int n = t->n;
    for (int p = 0; p < PHASES; p++) {
        cpu_field[0] = fault_field[0] = 0;
        if (t->cpu[p][0] >= 0)
            snprintf(cpu_field, sizeof cpu_field, ",\"cpu_seconds\":%.6f", bench_median(t->cpu[p], n));
        if (p == STEP)
            snprintf(fault_field, sizeof fault_field, ",\"warm_up_minor_faults\":%.0f,\"minor_faults\":%.0f",
                     t->faults[0], bench_median(t->faults + 1, n));
        rate_fields(t, p, l, r, rates, sizeof rates);
        printf("{\"bench\":\"train\",\"phase\":\"%s\",\"device\":\"%s\",\"config\":\"%s\",\"n_params\":%zu,"
               "\"ranks\":%d,\"threads\":%d,\"prompts_per_step\":%d,\"group\":%d,\"repeats\":%d,\"seconds\":%.6f,"
               "\"seconds_best\":%.6f%s%s%s,\"steal_fraction\":%s}\n",
               PHASE[p], device, config, r->model.n_params, dist_size(), omp_get_max_threads(),
               r->cfg.train.prompts_per_step, r->cfg.rollout.n, n, bench_median(t->sec[p], n), bench_min(t->sec[p], n),
               cpu_field, fault_field, rates, bench_steal_json(steal, steal_buf));
    }
    fflush(stdout);
}

// Rows without a loss coefficient (every group's rewards equal, as from random weights, and no entropy bonus) make a
// step cheaper than a learning step: a micro-batch of only such rows skips its passes (train.skip_zero_backward: its
// backward, and before the step's first update its forward too, train/rl_update.c), or, on a backend whose LM head
// computes the input gradient by rows (no matmul_dx_slice), the head's backward skips them where a pass has more rows
// than train.head_chunk.
static void warn_dead_rows(const Timings *t, const Backend *be) {
    const char *fix = "--set algo.entropy_coef=1e-4 gives every row one";
    if (bench_max(t->skipped[1], t->n) > 0)
        fprintf(stderr, "rlvr: bench train: up to %.0f%% of a step's micro-batches had no loss coefficient other "
                        "than 0: their backward, and before the step's first update their forward, were skipped "
                        "(train.skip_zero_backward), and the pass lines time the others; %s\n",
                100 * bench_max(t->skipped[1], t->n), fix);
    else if (bench_max(t->live, t->n) == 0 && !be->matmul_dx_slice)
        fprintf(stderr, "rlvr: bench train: no response row had a loss coefficient other than 0 (every group's rewards "
                        "were equal): where a pass has more rows than train.head_chunk, the LM head's backward skipped "
                        "them and ran faster than a learning step's; %s\n", fix);
}

// Timed step k (from 0) of t: rank 0's phases, the slowest rank's step.
static void record(Timings *t, int k, const StepMetrics *m, double step_s, double step_cpu) {
    const PassTimes *pt = &m->update.passes;  // rank 0's
    double sec[PHASES] = {m->rollout.time_sampling_s, m->rollout.time_scoring_s, m->time_training_s, step_s,
                          pt->forward_s, pt->backward_s, pt->reference_s, pt->optimizer_s};
    double cpu[PHASES] = {-1, -1, -1, step_cpu, pt->forward_cpu_s, pt->backward_cpu_s, pt->reference_cpu_s,
                          pt->optimizer_cpu_s};
    for (int p = 0; p < PHASES; p++) t->sec[p][k] = sec[p], t->cpu[p][k] = cpu[p];
    t->flop[k] = pt->forward_flop, t->backward_flop[k] = pt->backward_flop;
    t->live[k] = pt->response_rows ? (double)pt->live_rows / (double)pt->response_rows : 0;
    double mbs = pt->micro_batches ? (double)pt->micro_batches : 1;
    t->skipped[0][k] = (double)pt->forwards_skipped / mbs, t->skipped[1][k] = (double)pt->backwards_skipped / mbs;
    t->tokens_per_s[k] = m->rollout.tokens_per_s_rollout;
}

// Rank 0: a fresh directory for the run under $TMPDIR (else /tmp), as other programs' temporary files go.
static int make_temp_dir(char *dir, size_t len, Err *e) {
    const char *env = getenv("TMPDIR"), *root = env && *env ? env : "/tmp";
    const char *why = env && *env ? "from $TMPDIR" : "TMPDIR is not set";
    if (snprintf(dir, len, "%s/rlvr-bench-train-XXXXXX", root) >= (int)len)
        return err_set(e, "bench train: %s (%s): too long a directory for its temporary run directory", root, why);
    if (mkdtemp(dir)) return 0;
    int err = errno;
    snprintf(dir, len, "%s/rlvr-bench-train-XXXXXX", root);  // mkdtemp may have changed the X's
    return err_set(e, "bench train: cannot create its temporary run directory %s (%s): %s", dir, why, strerror(err));
}

int bench_train(const BenchTrainOptions *o, Err *e) {
    char dir[2048];
    int rc = dist_is_root() ? make_temp_dir(dir, sizeof dir, e) : 0;
    TRY(dist_root_outcome(rc, e));
    dist_bcast(dir, sizeof dir, 0);
    char run_dir[sizeof dir + 8];
    snprintf(run_dir, sizeof run_dir, "%s/run", dir);
    TrainArgs a = {.config_path = o->config_path, .run_dir = run_dir, .sets = o->sets, .n_sets = o->n_sets};
    Run *r = xcalloc(1, sizeof *r);
    Timings *t = xcalloc(1, sizeof *t);
    Limits l = {0};
    t->n = (int)o->repeat;
    rc = run_open(r, TRAIN_RL, &a, e);
    CpuTicks timed_start = {0};
    for (int k = 0; k <= t->n && !rc; k++) {  // k = 0 warms up
        StepMetrics m;
        if (k == 1) {
            if (dist_is_root()) measure_limits(&l, r);
            dist_barrier();  // the other ranks' first timed step starts with rank 0's
            timed_start = bench_cpu_ticks();
        }
        long f0 = minor_faults();
        double t0 = walltime_s(), c0 = cputime_s();
        rc = rl_step(r, k + 1, &m, e);
        double step_s = walltime_s() - t0, step_cpu = cputime_s() - c0;
        t->faults[k] = (double)(minor_faults() - f0);
        dist_allreduce_max_f64(&step_s, 1);
        if (!rc && !k) l = limits_for(r, &m.update.passes);
        if (!rc && k) record(t, k - 1, &m, step_s, step_cpu);
    }
    double steal = bench_steal_fraction(timed_start, bench_cpu_ticks());
    if (!rc && dist_is_root()) {
        measure_limits(&l, r);
        report(o->config_path, t, &l, steal, r);
        warn_dead_rows(t, r->model.backend);
    }
    bench_read_buffer_free(&l.probe);
    run_close(r);
    free(r), free(t);
    if (dist_is_root()) nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
