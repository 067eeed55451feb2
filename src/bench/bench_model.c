// `rlvr bench model`: forward and forward+backward throughput of the CPU model on one rank.
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/dist.h"
#include "base/walltime.h"
#include "bench/bench.h"
#include "model/model.h"

static void report(const char *phase, const char *config, const Model *m, int64_t T, int seq_len, double seconds,
                   double flops) {
    printf(
        "{\"bench\":\"model\",\"phase\":\"%s\",\"config\":\"%s\",\"n_params\":%zu,\"tokens\":%lld,\"seq_len\":%d,"
        "\"threads\":%d,\"seconds\":%.4f,\"tokens_per_s\":%.1f,\"gflop\":%.2f,\"gflop_per_s\":%.2f}\n",
        phase, config, m->n_params, (long long)T, seq_len, omp_get_max_threads(), seconds, T / seconds, flops / 1e9,
        flops / 1e9 / seconds);
    fflush(stdout);
}

int bench_model(const BenchModelOptions *o, Err *e) {
    if (!dist_is_root()) return 0;
    int n_seqs = (int)o->seqs, seq_len = (int)o->seq_len;
    Model m;
    TRY(model_create(&m, &o->config->model, e));
    model_init_random(&m, (uint64_t)o->config->model.init_seed);
    int64_t T = (int64_t)n_seqs * seq_len, V = o->config->model.vocab_size;
    int64_t *off = xmalloc((size_t)(n_seqs + 1) * sizeof *off);
    int32_t *tok = xmalloc((size_t)T * sizeof *tok);
    for (int s = 0; s <= n_seqs; s++) off[s] = (int64_t)s * seq_len;
    for (int64_t t = 0; t < T; t++) tok[t] = (int32_t)((t * 2654435761u) % (uint64_t)V);
    float *logits = xmalloc((size_t)(T * V) * sizeof(float)), *dlogits = xmalloc((size_t)(T * V) * sizeof(float));
    float *grads = xcalloc(m.n_params, sizeof(float));
    for (int64_t i = 0; i < T * V; i++) dlogits[i] = 1e-4f * (float)((i % 7) - 3);
    double flops = model_flops_per_token(&m, (seq_len + 1) / 2.0) * (double)T;
    ModelActs *acts = NULL;
    int rc = model_forward(&m, n_seqs, off, tok, logits, NULL, NULL, NULL, e);  // warm-up
    double t0 = walltime_s();
    if (!rc) rc = model_forward(&m, n_seqs, off, tok, logits, NULL, NULL, NULL, e);
    double t1 = walltime_s();
    if (!rc) report("forward", o->config_name, &m, T, seq_len, t1 - t0, flops);
    t0 = walltime_s();
    if (!rc) rc = model_forward(&m, n_seqs, off, tok, logits, NULL, NULL, &acts, e);
    if (!rc) rc = model_backward(&m, acts, dlogits, o->config->model.router_aux_loss_coef, grads, e);
    t1 = walltime_s();
    if (!rc) report("forward+backward", o->config_name, &m, T, seq_len, t1 - t0, 3 * flops);
    model_acts_free(acts);
    free(off), free(tok), free(logits), free(dlogits), free(grads);
    model_free(&m);
    return rc;
}
