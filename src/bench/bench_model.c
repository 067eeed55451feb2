// `rlvr bench model`: forward and forward+backward throughput of the model on one rank and its device
// (dist.device), through the trainer's log-prob path (the LM head in chunks of train.head_chunk rows, no [T, V]
// logits), in the steady state the trainer runs in: the gradient buffer allocated and touched once before
// timing (the trainer keeps one for the run), one untimed warm-up of each phase, then `repeat` timed passes
// reported as median and best, next to the bound of the device: on the CPU the OpenBLAS sgemm peak at the model's
// largest matmul shape, measured in the same run before and after the passes (fraction_of_sgemm: the median pass
// against it; fraction_of_sgemm_best: the best pass, best against best), on a GPU its published bf16 peak (MFU).
// On the CPU each phase also reports the share of the machine's CPU time a hypervisor stole during its passes.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "base/walltime.h"
#include "bench/bench.h"
#include "bench/bench_limits.h"
#include "model/device.h"
#include "model/model.h"

typedef struct {
    const Model *m;
    const char *config;
    int64_t T;
    int seq_len, repeat;
    double sgemm_gflops;  // CPU: the bound
    double peak_tflops;   // GPU: the bound (0: unknown)
    char device[300];
} Report;

// seconds, cpu: wall and process CPU time of each pass (CPU time leaves out other processes on a shared machine).
static void report(const Report *r, const char *phase, double *seconds, double *cpu, double flops, double steal) {
    double best = bench_min(seconds, r->repeat), median = bench_median(seconds, r->repeat);
    double cpu_median = bench_median(cpu, r->repeat);
    double gflops = flops / 1e9 / median;
    const char *deterministic = r->m->fixed_order_backward ? "true" : "false";  // which backward (--deterministic)
    char steal_buf[16];
    if (!r->sgemm_gflops) {  // a GPU: model FLOP utilisation against the bf16 peak
        printf("{\"bench\":\"model\",\"phase\":\"%s\",\"device\":\"%s\",\"config\":\"%s\",\"n_params\":%zu,"
               "\"deterministic\":%s,\"tokens\":%lld,\"seq_len\":%d,\"repeats\":%d,\"seconds\":%.4f,"
               "\"seconds_best\":%.4f,\"cpu_seconds\":%.4f,\"tokens_per_s\":%.1f,\"tokens_per_s_best\":%.1f,"
               "\"gflop\":%.2f,\"gflop_per_s\":%.2f,\"peak_bf16_tflop_per_s\":%.1f,\"mfu\":%.4f}\n",
               phase, r->device, r->config, r->m->n_params, deterministic, (long long)r->T, r->seq_len, r->repeat,
               median, best, cpu_median, r->T / median, r->T / best, flops / 1e9, gflops, r->peak_tflops,
               r->peak_tflops > 0 ? gflops / (r->peak_tflops * 1e3) : 0.0);
        fflush(stdout);
        return;
    }
    printf("{\"bench\":\"model\",\"phase\":\"%s\",\"device\":\"%s\",\"config\":\"%s\",\"n_params\":%zu,"
           "\"deterministic\":%s,\"tokens\":%lld,\"seq_len\":%d,\"threads\":%d,\"repeats\":%d,\"seconds\":%.4f,"
           "\"seconds_best\":%.4f,\"cpu_seconds\":%.4f,\"tokens_per_s\":%.1f,\"tokens_per_s_best\":%.1f,"
           "\"gflop\":%.2f,\"gflop_per_s\":%.2f,\"sgemm_gflop_per_s\":%.2f,\"fraction_of_sgemm\":%.3f,"
           "\"fraction_of_sgemm_best\":%.3f,\"steal_fraction\":%s}\n",
           phase, r->device, r->config, r->m->n_params, deterministic, (long long)r->T, r->seq_len,
           omp_get_max_threads(), r->repeat, median, best, cpu_median, r->T / median, r->T / best, flops / 1e9, gflops,
           r->sgemm_gflops, gflops / r->sgemm_gflops, flops / 1e9 / best / r->sgemm_gflops,
           bench_steal_json(steal, steal_buf));
    fflush(stdout);
}

// The training forward's inputs: each row's target (the next token of its sequence; -1 at a sequence's end and on
// the prompt's rows before the last), the loss's coefficient per target row (dlogp), and how many rows have one.
typedef struct {
    HeadLogprob h;
    double *dlogp;
    int64_t n;
} Targets;

// One pass of a phase, the way the trainer runs it (model/seqbatch.c): the log-prob forward with the LM head in chunks,
// forward only (grads NULL) or with the backward into grads (backend memory), ended by reading one gradient element
// back so that a device's queued work is inside the time.
static int pass(Model *m, int n_seqs, const int64_t *off, const int32_t *tok, const Targets *tg, float *grads,
                double aux_weight, Err *e) {
    if (!grads) return model_forward_logprob(m, n_seqs, off, tok, &tg->h, NULL, NULL, NULL, e);
    ModelActs *acts = NULL;
    int rc = model_forward_logprob(m, n_seqs, off, tok, &tg->h, NULL, NULL, &acts, e);
    if (!rc) rc = model_backward_logprob_hooked(m, acts, tg->dlogp, NULL, aux_weight, grads, NULL, NULL, e);
    model_acts_free(acts);
    float last;
    if (!rc) device_grad_get(m, &last, grads, 1);
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

int bench_model(const BenchModelOptions *o, Err *e) {
    Device dev;
    TRY(device_open(o->config->dist.device, &dev, e));  // collective: before the other ranks leave
    if (!dist_is_root()) return 0;
    int n_seqs = (int)o->seqs, seq_len = (int)o->seq_len, repeat = (int)o->repeat;
    if (o->prompt_len >= o->seq_len)
        return err_set(e, "bench model: --prompt-len %lld must be below --seq-len %lld (a sequence needs a target)",
                       (long long)o->prompt_len, (long long)o->seq_len);
    Model m;
    TRY(model_create(&m, &o->config->model, e));
    model_init_random(&m, (uint64_t)o->config->model.init_seed);
    m.fixed_order_backward = o->fixed_order_backward;
    m.head_chunk = o->config->train.head_chunk;
    if (device_attach(&dev, &m, e)) return model_free(&m), -1;
    int64_t T = (int64_t)n_seqs * seq_len, V = o->config->model.vocab_size;
    int64_t *off = xmalloc((size_t)(n_seqs + 1) * sizeof *off);
    int32_t *tok = xmalloc((size_t)T * sizeof *tok);
    for (int s = 0; s <= n_seqs; s++) off[s] = (int64_t)s * seq_len;
    for (int64_t t = 0; t < T; t++) tok[t] = (int32_t)((t * 2654435761u) % (uint64_t)V);
    Targets tg = targets_make(n_seqs, seq_len, (int)o->prompt_len, tok);
    float *host_grads = xcalloc(m.n_params, sizeof(float)), *dev_grads = device_grad_alloc(&m, m.n_params);
    memset(host_grads, 0, m.n_params * sizeof(float));  // touched once, as the trainer's buffer is after its first step
    float *grads = dev_grads ? dev_grads : host_grads;
    Report r = {&m, o->config_name, T, seq_len, repeat, 0, 0, ""};
    device_label(&dev, r.device, sizeof r.device);
    const ModelConfig *c = &o->config->model;
    int F = c->intermediate_size > c->moe_intermediate_size ? c->intermediate_size : c->moe_intermediate_size;
    double tbps;
    if (dev.where.ordinal >= 0) bench_gpu_peaks(dev.where.name, &r.peak_tflops, &tbps);
    else r.sgemm_gflops = bench_sgemm_gflops((int)T, F, c->hidden_size, 10, 0.5);
    double head = model_head_flops_per_row(&m), aux = c->router_aux_loss_coef;  // on the target rows only
    double flops = (model_flops_per_token(&m, (seq_len + 1) / 2.0) - head) * (double)T + head * (double)tg.n;
    double *sec = xmalloc(2 * (size_t)repeat * sizeof *sec), *cpu = xmalloc(2 * (size_t)repeat * sizeof *cpu);
    int rc = 0;
    double steal[2];  // the machine's CPU time stolen by a hypervisor during each phase's timed passes
    for (int phase = 0; phase < 2 && !rc; phase++) {
        float *g = phase ? grads : NULL;
        rc = pass(&m, n_seqs, off, tok, &tg, g, aux, e);  // warm-up
        CpuTicks s0 = bench_cpu_ticks();
        for (int k = 0; k < repeat && !rc; k++) {
            double t0 = walltime_s(), c0 = cputime_s();
            rc = pass(&m, n_seqs, off, tok, &tg, g, aux, e);
            sec[phase * repeat + k] = walltime_s() - t0, cpu[phase * repeat + k] = cputime_s() - c0;
        }
        steal[phase] = bench_steal_fraction(s0, bench_cpu_ticks());
    }
    // The peak once more after the passes, the larger kept: on a machine whose speed drifts, the bound is then the
    // fastest the sgemm ran on either side of them.
    if (r.sgemm_gflops > 0)
        r.sgemm_gflops = fmax(r.sgemm_gflops, bench_sgemm_gflops((int)T, F, c->hidden_size, 10, 0.5));
    for (int phase = 0; phase < 2 && !rc; phase++)
        report(&r, phase ? "forward+backward" : "forward", sec + phase * repeat, cpu + phase * repeat,
               phase ? 3 * flops : flops, steal[phase]);
    free(sec), free(cpu), free(off), free(tok), free(host_grads);
    targets_free(&tg);
    device_grad_free(&m, dev_grads);
    device_detach(&m);
    model_free(&m);
    return rc;
}
