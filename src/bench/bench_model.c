// `rlvr bench model`: forward and forward+backward throughput of the CPU model on one rank.
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "cli/cli.h"
#include "base/walltime.h"
#include "base/dist.h"
#include "model/model.h"

static const char USAGE[] =
    "usage: rlvr bench model [--config F (default configs/small.ini)] [--seqs N] [--seq-len L] [--set ...]\n"
    "Times one training forward and one forward+backward over N sequences of L random tokens (after one\n"
    "warm-up forward) and prints a JSON line each: tokens/s and GFLOP/s, with FLOPs from model_flops_per_token\n"
    "(2 per multiply-add; backward = 2x forward).\n";

static void report(const char *phase, const char *config, const Model *m, int64_t T, int seq_len, double seconds,
                   double flops) {
    printf(
        "{\"bench\":\"model\",\"phase\":\"%s\",\"config\":\"%s\",\"n_params\":%zu,\"tokens\":%lld,\"seq_len\":%d,"
        "\"threads\":%d,\"seconds\":%.4f,\"tokens_per_s\":%.1f,\"gflop\":%.2f,\"gflop_per_s\":%.2f}\n",
        phase, config, m->n_params, (long long)T, seq_len, omp_get_max_threads(), seconds, T / seconds, flops / 1e9,
        flops / 1e9 / seconds);
    fflush(stdout);
}

static int run(const ConfigArgs *args, int n_seqs, int seq_len, Err *e) {
    Config c;
    Model m;
    TRY(cli_resolve_config(args, &c, 1, e));
    TRY(model_create(&m, &c.model, e));
    model_init_random(&m, (uint64_t)c.model.init_seed);
    int64_t T = (int64_t)n_seqs * seq_len, V = c.model.vocab_size;
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
    if (!rc) report("forward", args->config, &m, T, seq_len, t1 - t0, flops);
    t0 = walltime_s();
    if (!rc) rc = model_forward(&m, n_seqs, off, tok, logits, NULL, NULL, &acts, e);
    if (!rc) rc = model_backward(&m, acts, dlogits, c.model.router_aux_loss_coef, grads, e);
    t1 = walltime_s();
    if (!rc) report("forward+backward", args->config, &m, T, seq_len, t1 - t0, 3 * flops);
    model_acts_free(acts);
    free(off), free(tok), free(logits), free(dlogits), free(grads);
    model_free(&m);
    return rc;
}

int bench_model(int argc, char **argv) {
    ConfigArgs args = {0};
    long long n_seqs = 2, seq_len = 128;
    Err e = {{0}};
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) return fputs(USAGE, stdout), 0;
        int r = cli_config_arg(&args, argc, argv, &i, &e);
        if (r < 0) return fprintf(stderr, "rlvr bench model: %s\n", e.msg), 2;
        if (r) continue;
        const char *v;
        if ((v = cli_value("--seqs", argc, argv, &i, &e))) {
            if (cli_parse_int("--seqs", v, 1, 1 << 20, &n_seqs, &e))
                return fprintf(stderr, "rlvr bench model: %s\n", e.msg), 2;
        } else if (!e.msg[0] && (v = cli_value("--seq-len", argc, argv, &i, &e))) {
            if (cli_parse_int("--seq-len", v, 1, 1 << 20, &seq_len, &e))
                return fprintf(stderr, "rlvr bench model: %s\n", e.msg), 2;
        } else {
            if (e.msg[0]) return fprintf(stderr, "rlvr bench model: %s\n", e.msg), 2;
            return fprintf(stderr, "rlvr bench model: unknown option '%s'\n%s", argv[i], USAGE), 2;
        }
    }
    if (!args.config) args.config = "configs/small.ini";
    if (!dist_is_root()) return 0;
    if (run(&args, (int)n_seqs, (int)seq_len, &e)) return fprintf(stderr, "rlvr: %s\n", e.msg), 1;
    return 0;
}
