// `rlvr bench model`: forward and forward+backward throughput of the model on one rank and its device
// (dist.device), through the trainer's log-prob path (the LM head in chunks of train.head_chunk rows, no [T, V]
// logits), in the steady state the trainer runs in: the gradient buffer allocated and touched once before
// timing (the trainer keeps one for the run), one untimed warm-up of each phase, then `repeat` timed passes
// reported as median and best, next to the bound of the device. On the CPU that is the OpenBLAS sgemm peak at the
// model's largest matmul shape, measured right before and right after every pass: a VM's speed drifts within
// seconds, so each pass is set against the peak of its own moment (fraction_of_sgemm: the median of the passes'
// fractions; fraction_of_sgemm_best: the best one), and beside the CPU's multiply-add peak on the pass's thread
// count, which no kernel passes whatever OpenBLAS kernel runs (bench_fma_peak_gflops). With several thread counts
// (--threads) the passes take turns between them, and each count's speedup over the first is the median of the
// passes' ratios within a turn. On a GPU
// the bound is its published bf16 peak (MFU). On the CPU each line also reports the share of the machine's CPU time
// a hypervisor stole during its passes. With --ops, the forward+backward passes also time each of the layer loop's
// operations (bench/op_profile.h) and a line per operation and thread count says where the pass's time went.
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "base/walltime.h"
#include "bench/bench.h"
#include "bench/bench_limits.h"
#include "bench/op_profile.h"
#include "model/device.h"
#include "model/model.h"

// One phase's timed passes at one thread count.
typedef struct {
    double *sec, *cpu, *peak;  // per pass: wall and process CPU seconds; the sgemm peak around it (CPU)
    double fma_peak;           // the multiply-add peak on its thread count (CPU: bench_fma_peak_gflops)
    CpuTicks ticks;            // the machine's CPU ticks over the passes, for the stolen share
} Series;

typedef struct {
    const Model *m;
    const char *config;
    int64_t T;
    int seq_len, repeat;
    const int *threads;   // the thread counts timed, in turn; speedups are over threads[0]
    double peak_tflops;   // GPU: the bound (0: unknown)
    bool cpu;             // the bound is the sgemm peak around each pass
    char device[300];
} Report;

// A number as JSON in buf, or null.
// One JSON line: the phase at thread count threads[ti] (series[ti]), its speedup over series[0] pass by pass.
static void report(const Report *r, const char *phase, double flops, const Series *series, int ti) {
    const Series *s = &series[ti];
    int n = r->repeat;
    double best = bench_min(s->sec, n), median = bench_median(s->sec, n), cpu_median = bench_median(s->cpu, n);
    double gflops = flops / 1e9 / median;
    const char *deterministic = r->m->fixed_order_backward ? "true" : "false";  // which backward (--deterministic)
    if (!r->cpu) {  // a GPU: model FLOP utilisation against the bf16 peak
        printf("{\"bench\":\"model\",\"phase\":\"%s\",\"device\":\"%s\",\"config\":\"%s\",\"n_params\":%zu,"
               "\"deterministic\":%s,\"tokens\":%lld,\"seq_len\":%d,\"repeats\":%d,\"seconds\":%.4f,"
               "\"seconds_best\":%.4f,\"cpu_seconds\":%.4f,\"tokens_per_s\":%.1f,\"tokens_per_s_best\":%.1f,"
               "\"gflop\":%.2f,\"gflop_per_s\":%.2f,\"peak_bf16_tflop_per_s\":%.1f,\"mfu\":%.4f}\n",
               phase, r->device, r->config, r->m->n_params, deterministic, (long long)r->T, r->seq_len, n, median,
               best, cpu_median, r->T / median, r->T / best, flops / 1e9, gflops, r->peak_tflops,
               r->peak_tflops > 0 ? gflops / (r->peak_tflops * 1e3) : 0.0);
        fflush(stdout);
        return;
    }
    double *fraction = xmalloc(3 * (size_t)n * sizeof *fraction), *speedup = fraction + n, *sgemm_speedup = speedup + n;
    for (int k = 0; k < n; k++) {
        fraction[k] = flops / 1e9 / s->sec[k] / s->peak[k];
        speedup[k] = series[0].sec[k] / s->sec[k], sgemm_speedup[k] = s->peak[k] / series[0].peak[k];
    }
    char steal[16], up[32], sgemm_up[32];
    printf("{\"bench\":\"model\",\"phase\":\"%s\",\"device\":\"%s\",\"config\":\"%s\",\"n_params\":%zu,"
           "\"deterministic\":%s,\"tokens\":%lld,\"seq_len\":%d,\"threads\":%d,\"repeats\":%d,\"seconds\":%.4f,"
           "\"seconds_best\":%.4f,\"cpu_seconds\":%.4f,\"tokens_per_s\":%.1f,\"tokens_per_s_best\":%.1f,"
           "\"gflop\":%.2f,\"gflop_per_s\":%.2f,\"sgemm_gflop_per_s\":%.2f,\"fraction_of_sgemm\":%.3f,"
           "\"fraction_of_sgemm_best\":%.3f,\"fma_peak_gflop_per_s\":%.2f,\"fraction_of_fma_peak\":%.3f,"
           "\"speedup_over_threads\":%d,\"speedup\":%s,\"sgemm_speedup\":%s,\"steal_fraction\":%s}\n",
           phase, r->device, r->config, r->m->n_params, deterministic, (long long)r->T, r->seq_len, r->threads[ti], n,
           median, best, cpu_median, r->T / median, r->T / best, flops / 1e9, gflops, bench_median(s->peak, n),
           bench_median(fraction, n), bench_max(fraction, n), s->fma_peak, gflops / s->fma_peak, r->threads[0],
           bench_json_or_null(ti > 0, bench_median(speedup, n), up),
           bench_json_or_null(ti > 0, bench_median(sgemm_speedup, n), sgemm_up),
           bench_steal_json(bench_steal_fraction((CpuTicks){.ok = true}, s->ticks), steal));
    fflush(stdout);
    free(fraction);
}

// The seconds of the passes of series s, and of all the operations timed in them (bucket b).
static double series_seconds(const Series *s, int n) {
    double t = 0;
    for (int k = 0; k < n; k++) t += s->sec[k];
    return t;
}

static double ops_seconds(const OpProfile *ops, int b) {
    double t = 0;
    for (int i = 0; i < op_profile_count(ops); i++) {
        OpStat x;
        op_profile_get(ops, i, b, &x);
        t += x.seconds;
    }
    return t;
}

// One --ops line: x's totals over the passes at threads[ti], whose time was total seconds with a median sgemm peak
// of peak GFLOP/s; base_seconds: the same operation's at threads[0]. No calls: the time outside the operations.
static void op_line(const Report *r, int ti, const OpStat *x, double total, double peak, double base_seconds) {
    int n = r->repeat;
    char weight[48] = "null", calls[32], gflops[32], fraction[32], up[32];
    if (x->n) snprintf(weight, sizeof weight, "\"%dx%d\"", x->n, x->k);
    bool product = x->flops > 0 && x->seconds > 0;
    printf("{\"bench\":\"model_op\",\"phase\":\"forward+backward\",\"config\":\"%s\",\"deterministic\":%s,"
           "\"tokens\":%lld,\"threads\":%d,\"repeats\":%d,\"op\":\"%s\",\"weight\":%s,\"calls\":%s,"
           "\"seconds\":%.9g,\"share\":%.4f,\"gflop_per_s\":%s,\"fraction_of_sgemm\":%s,"
           "\"speedup_over_threads\":%d,\"speedup\":%s}\n",
           r->config, r->m->fixed_order_backward ? "true" : "false", (long long)r->T, r->threads[ti], n, x->op, weight,
           bench_json_or_null(x->calls > 0, (double)x->calls / n, calls), x->seconds / n,
           total > 0 ? x->seconds / total : 0.0,
           bench_json_or_null(product, x->flops / 1e9 / x->seconds, gflops),
           bench_json_or_null(product && peak > 0, x->flops / 1e9 / x->seconds / peak, fraction), r->threads[0],
           bench_json_or_null(ti > 0 && base_seconds > 0 && x->seconds > 0, base_seconds / x->seconds, up));
}

// --ops: a line per operation (and weight shape) of the forward+backward passes at threads[ti], in the order the
// layer loop first ran them, then one for the time outside every operation. Per pass: calls and seconds (the totals
// over the passes / repeat); the share of the passes' time; a matrix product's GFLOP/s and its fraction of the
// series' median sgemm peak; the speedup over threads[0] (the ratio of the totals).
static void report_ops(const Report *r, const OpProfile *ops, const Series *series, int ti) {
    int n = r->repeat;
    double total = series_seconds(&series[ti], n), peak = bench_median(series[ti].peak, n);
    for (int i = 0; i < op_profile_count(ops); i++) {
        OpStat x, base;
        op_profile_get(ops, i, ti, &x), op_profile_get(ops, i, 0, &base);
        if (x.calls) op_line(r, ti, &x, total, peak, base.seconds);
    }
    OpStat outside = {.op = "(outside the operations)", .seconds = total - ops_seconds(ops, ti)};
    op_line(r, ti, &outside, total, peak, series_seconds(&series[0], n) - ops_seconds(ops, 0));
    fflush(stdout);
}

// The training forward's inputs: each row's target (the next token of its sequence; -1 at a sequence's end and on
// the prompt's rows before the last), the loss's coefficient per target row (dlogp), and how many rows have one.
typedef struct {
    HeadLogprob h;
    double *dlogp;
    int64_t n;
} Targets;

// What a pass runs: the model, its batch and targets, and (CPU) the shape of the sgemm peak measured around it.
typedef struct {
    Model *m;
    int n_seqs;
    const int64_t *off;
    const int32_t *tok;
    const Targets *tg;
    double aux_weight;
    int peak_tokens;    // the sgemm peak's rows (bench_pass_peak_gflops); 0: no peak (a GPU)
    OpProfile *ops;     // --ops: the forward+backward passes' operations timed, a bucket per thread count
} Run;

// One pass of a phase, the way the trainer runs it (model/seqbatch.c): the log-prob forward with the LM head in chunks,
// forward only (grads NULL) or with the backward into grads (backend memory), ended by reading one gradient element
// back so that a device's queued work is inside the time.
static int pass(const Run *run, float *grads, Err *e) {
    Model *m = run->m;
    const HeadLogprob *h = &run->tg->h;
    if (!grads) return model_forward_logprob(m, run->n_seqs, run->off, run->tok, h, NULL, NULL, NULL, e);
    ModelActs *acts = NULL;
    int rc = model_forward_logprob(m, run->n_seqs, run->off, run->tok, h, NULL, NULL, &acts, e);
    if (!rc) rc = model_backward_logprob_hooked(m, acts, run->tg->dlogp, NULL, run->aux_weight, grads, NULL, NULL, e);
    model_acts_free(acts);
    float last;
    if (!rc) device_grad_get(m, &last, grads, 1);
    return rc;
}

static double peak_now(const Run *run) {
    return run->peak_tokens ? bench_pass_peak_gflops(&run->m->cfg, run->peak_tokens) : 0;
}

// Timed pass k of series i, between two sgemm bursts; its peak is the faster of the two.
static int timed_pass(const Run *run, float *grads, Series *series, int i, int k, Err *e) {
    Series *s = &series[i];
    double before = peak_now(run);
    CpuTicks t0 = bench_cpu_ticks();
    if (run->ops && grads) op_profile_bucket(run->ops, i);
    double w0 = walltime_s(), c0 = cputime_s();
    int rc = pass(run, grads, e);
    s->sec[k] = walltime_s() - w0, s->cpu[k] = cputime_s() - c0;
    if (run->ops) op_profile_bucket(run->ops, -1);
    CpuTicks t1 = bench_cpu_ticks();
    s->ticks.ok = s->ticks.ok && t0.ok && t1.ok;
    s->ticks.total += t1.total - t0.total, s->ticks.steal += t1.steal - t0.steal;
    s->peak[k] = fmax(before, peak_now(run));
    return rc;
}

// OpenMP's thread count and OpenBLAS's: an OpenMP build of OpenBLAS follows the former, a pthreads build the latter.
static void set_threads(int n) { omp_set_num_threads(n), openblas_set_num_threads(n); }

// A phase at every thread count: one warm-up each, then `repeat` turns through the counts, every other turn in
// reverse order so that a drift of the machine's speed during the turns favours none of them.
static int time_phase(const Run *run, float *grads, const int *threads, int n_threads, int repeat, Series *series,
                      Err *e) {
    int rc = 0;
    for (int i = 0; i < n_threads && !rc; i++) set_threads(threads[i]), rc = pass(run, grads, e);
    for (int k = 0; k < repeat && !rc; k++)
        for (int j = 0; j < n_threads && !rc; j++) {
            int i = k % 2 ? n_threads - 1 - j : j;
            set_threads(threads[i]);
            rc = timed_pass(run, grads, series, i, k, e);
        }
    return rc;
}

static Targets targets_make(int n_seqs, int seq_len, int prompt_len, const int32_t *tok) {
    int64_t T = (int64_t)n_seqs * seq_len;
    Targets t = {.h = {.temperature = 1.0}};
    int32_t *target = xmalloc((size_t)T * sizeof *target);
    t.h.logp = xmalloc((size_t)T * sizeof(double)), t.h.entropy = xmalloc((size_t)T * sizeof(double));
    t.dlogp = xmalloc((size_t)T * sizeof(double));
    int64_t k = 0;
    for (int64_t i = 0; i < T; i++) {
        int64_t pos = i % seq_len;  // a response's first token is predicted from the prompt's last row
        bool none = pos == seq_len - 1 || pos < prompt_len - 1;
        target[i] = none ? -1 : tok[i + 1];
        if (!none) t.dlogp[k] = 1e-3 * (double)((k % 7) - 3), k++;
    }
    t.h.targets = target;
    t.n = k;
    return t;
}

static void targets_free(Targets *t) {
    free((void *)t->h.targets), free(t->h.logp), free(t->h.entropy), free(t->dlogp);
}

// The thread counts to time (o->threads, else the current one) into threads; an error for a repeated one.
static int thread_counts(const BenchModelOptions *o, int *threads, int *n, Err *e) {
    *n = o->n_threads ? o->n_threads : 1;
    if (!o->n_threads) threads[0] = omp_get_max_threads();
    for (int i = 0; i < o->n_threads; i++) {
        threads[i] = (int)o->threads[i];
        for (int j = 0; j < i; j++)
            if (threads[j] == threads[i]) return err_set(e, "bench model: --threads %d is given twice", threads[i]);
    }
    return 0;
}

int bench_model(const BenchModelOptions *o, Err *e) {
    Device dev;
    TRY(device_open(o->config->dist.device, &dev, e));  // collective: before the other ranks leave
    if (!dist_is_root()) return 0;
    int n_seqs = (int)o->seqs, seq_len = (int)o->seq_len, repeat = (int)o->repeat;
    if (o->prompt_len >= o->seq_len)
        return err_set(e, "bench model: --prompt-len %lld must be below --seq-len %lld (a sequence needs a target)",
                       (long long)o->prompt_len, (long long)o->seq_len);
    if (o->n_threads && dev.where.ordinal >= 0)
        return err_set(e, "bench model: --threads sets CPU thread counts, but dist.device runs the model on %s",
                       dev.where.name);
    int threads[BENCH_MAX_THREAD_COUNTS], n_threads, threads_before = omp_get_max_threads();
    TRY(thread_counts(o, threads, &n_threads, e));
    // Checked before the token buffers are sized from it (the forward would refuse it only after).
    if (o->seq_len > o->config->model.max_position_embeddings)
        return err_set(e, "bench model: --seq-len %lld exceeds [model] max_position_embeddings %d", (long long)o->seq_len,
                       o->config->model.max_position_embeddings);
    Model m;
    TRY(model_create(&m, &o->config->model, e));
    model_init_random(&m, (uint64_t)o->config->model.init_seed);
    m.fixed_order_backward = o->fixed_order_backward;
    m.head_chunk = o->config->train.head_chunk;
    if (device_attach(&dev, &m, e)) return model_free(&m), -1;
    OpProfile *ops = NULL;
    if (o->ops && !(ops = op_profile_start(&m, n_threads, e))) {
        err_prefix(e, "bench model --ops");
        return device_detach(&m), model_free(&m), -1;
    }
    int64_t T = (int64_t)n_seqs * seq_len, V = o->config->model.vocab_size;
    int64_t *off = xmalloc((size_t)(n_seqs + 1) * sizeof *off);
    int32_t *tok = xmalloc((size_t)T * sizeof *tok);
    for (int s = 0; s <= n_seqs; s++) off[s] = (int64_t)s * seq_len;
    for (int64_t t = 0; t < T; t++) tok[t] = (int32_t)((t * 2654435761u) % (uint64_t)V);
    Targets tg = targets_make(n_seqs, seq_len, (int)o->prompt_len, tok);
    float *host_grads = xcalloc(m.n_params, sizeof(float)), *dev_grads = device_grad_alloc(&m, m.n_params);
    memset(host_grads, 0, m.n_params * sizeof(float));  // touched once, as the trainer's buffer is after its first step
    float *grads = dev_grads ? dev_grads : host_grads;
    const ModelConfig *c = &o->config->model;
    Report r = {&m, o->config_name, T, seq_len, repeat, threads, 0, dev.where.ordinal < 0, ""};
    device_label(&dev, r.device, sizeof r.device);
    Run run = {&m, n_seqs, off, tok, &tg, c->router_aux_loss_coef, r.cpu ? (int)T : 0, ops};
    double tbps;
    if (!r.cpu) bench_gpu_peaks(dev.where.name, &r.peak_tflops, &tbps);
    double head = model_head_flops_per_row(&m);  // on the target rows only
    double flops = (model_flops_per_token(&m, (seq_len + 1) / 2.0) - head) * (double)T + head * (double)tg.n;
    Series series[2][BENCH_MAX_THREAD_COUNTS];  // [phase][thread count]
    double *store = xcalloc(2 * (size_t)n_threads * 3 * (size_t)repeat, sizeof *store);
    for (int p = 0; p < 2; p++)
        for (int i = 0; i < n_threads; i++) {
            double *at = store + (size_t)(p * n_threads + i) * 3 * (size_t)repeat;
            series[p][i] = (Series){.sec = at, .cpu = at + repeat, .peak = at + 2 * repeat, .ticks = {.ok = true}};
        }
    for (int i = 0; i < n_threads && r.cpu; i++) {  // a bound of the hardware: once per thread count, for both phases
        set_threads(threads[i]);
        series[0][i].fma_peak = series[1][i].fma_peak = bench_fma_peak_gflops(0.25);
    }
    int rc = 0;
    for (int p = 0; p < 2 && !rc; p++) rc = time_phase(&run, p ? grads : NULL, threads, n_threads, repeat, series[p], e);
    set_threads(threads_before);
    for (int p = 0; p < 2 && !rc; p++)
        for (int i = 0; i < n_threads; i++)
            report(&r, p ? "forward+backward" : "forward", p ? 3 * flops : flops, series[p], i);
    for (int i = 0; i < n_threads && ops && !rc; i++) report_ops(&r, ops, series[1], i);
    op_profile_stop(ops, &m);
    free(store), free(off), free(tok), free(host_grads);
    targets_free(&tg);
    device_grad_free(&m, dev_grads);
    device_detach(&m);
    model_free(&m);
    return rc;
}
