// The device sampler (model/backend.h sample on the CUDA backend: kernels/sample.cu, then the scoring kernel for the
// log-probs) against the CPU backend's (model/sample_filter.c sample_pick, model/logprob.c) on random bf16 logits:
// several vocabularies (odd ones and Qwen's 151936), temperatures, top-k and top-p, rows shared by several draws, a
// row with a non-finite logit. The tokens must be the CPU's exactly: the two differ only in exp's last bit and the
// order of fp64 sums (about 1e-16 relative), so a different token needs the uniform or the top-p mass within that of
// a boundary, odds of about V * 1e-16 per draw. The log-probs and entropies must equal the CUDA backend's own logprob
// (the scoring path) bit for bit, and the CPU's within 1e-6 as the loss kernel's check holds them
// (tests/gpu_check_ops.c check_loss).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "gpu_check.h"
#include "model/backend.h"
#include "model/backend_cuda.h"

static Err err;

typedef struct {
    const char *name;
    SampleSpec sp;
} SpecCase;

// n draws over R rows through backend be (logits uploaded as floats: bf16 values, so both backends hold the same).
static void draw(const Backend *be, const float *logits, int R, int V, int n, const int32_t *row, const double *u,
                 const SampleSpec *sp, int32_t *tok, double *lp, double *h) {
    size_t size = (size_t)R * V;
    void *buf = be->alloc(be, size, BUF_ACT);
    if (!buf) ok_or_die(err_set(&err, "%s backend: no memory for %zu logits", be->name, size), &err, "alloc");
    be->to_dev(be, buf, logits, size, BUF_ACT);
    be->sample(be, buf, V, n, row, u, sp, tok, lp, h);
    be->free(be, buf);
}

// The CUDA backend's logprob of rows row[k] at targets tok[k] (the scoring path), into lp, h (host).
static void scored(const Backend *cuda, const float *logits, int V, int n, const int32_t *row, const int32_t *tok,
                   double temperature, double *lp, double *h) {
    float *rows = malloc((size_t)n * V * sizeof *rows);
    for (int k = 0; k < n; k++) memcpy(rows + (size_t)k * V, logits + (size_t)row[k] * V, (size_t)V * sizeof *rows);
    void *buf = cuda->alloc(cuda, (size_t)n * V, BUF_ACT), *t = cuda->alloc(cuda, (size_t)n, BUF_I32);
    double *d_lp = cuda->alloc(cuda, (size_t)n, BUF_F64), *d_h = cuda->alloc(cuda, (size_t)n, BUF_F64);
    cuda->to_dev(cuda, buf, rows, (size_t)n * V, BUF_ACT);
    cuda->to_dev(cuda, t, tok, (size_t)n, BUF_I32);
    cuda->logprob(cuda, buf, n, V, t, temperature, d_lp, d_h);
    cuda->to_host(cuda, lp, d_lp, (size_t)n, BUF_F64);
    cuda->to_host(cuda, h, d_h, (size_t)n, BUF_F64);
    cuda->free(cuda, buf), cuda->free(cuda, t), cuda->free(cuda, d_lp), cuda->free(cuda, d_h);
    free(rows);
}

// The draws k of a batch (rows row[k], uniforms u[k]) that give other bits alone (token, log-prob, entropy): a mask.
static unsigned alone_differ(const Backend *cuda, const float *logits, int V, int n, const int32_t *row,
                             const double *u, const SampleSpec *sp, const int32_t *tok, const double *lp,
                             const double *h) {
    unsigned bad = 0;
    for (int k = 0; k < n; k++) {
        int32_t t1, r0 = 0;
        double l1, h1;
        draw(cuda, logits + (size_t)row[k] * V, 1, V, 1, &r0, &u[k], sp, &t1, &l1, &h1);
        if (t1 != tok[k] || (t1 >= 0 && (bits_differ(&l1, &lp[k], 8, 8) || bits_differ(&h1, &h[k], 8, 8))))
            bad |= 1u << k;
    }
    return bad;
}

static void check_case(const Backend *cuda, int V, const SpecCase *c, uint64_t seed) {
    enum { R = 6, N = 9 };
    const int32_t row[N] = {0, 1, 2, 3, 4, 5, 0, 0, 3};  // rows 0 and 3 shared by several draws, as a prefilled group
    size_t size = (size_t)R * V;
    float *logits = malloc(size * sizeof *logits);
    random_bf16(logits, NULL, size, 3.0, seed);
    // Row 4: five tokens tie above all others (greedy and top-k 1 take the lowest id: ties rank by id); row 5: one
    // non-finite logit.
    for (int i = 0; i < V && i < 5; i++) logits[4 * (size_t)V + (size_t)i * (size_t)(V / 5 > 0 ? V / 5 : 1)] = 64.0f;
    logits[5 * (size_t)V + (size_t)V / 2] = NAN;
    double u[N];
    Rng rng = rng_at(seed, 1, 2, 3);
    for (int k = 0; k < N; k++) u[k] = rng_uniform(&rng);
    u[1] = 0, u[2] = 0.999;  // the bottom end and near the top (not within rounding of 1: there the sum order decides)
    int32_t t_cpu[N], t_gpu[N];
    double lp_cpu[N], h_cpu[N], lp_gpu[N], h_gpu[N], lp_sc[N], h_sc[N];
    draw(backend_cpu(), logits, R, V, N, row, u, &c->sp, t_cpu, lp_cpu, h_cpu);
    draw(cuda, logits, R, V, N, row, u, &c->sp, t_gpu, lp_gpu, h_gpu);
    int same = 1, n_ok = 0;
    for (int k = 0; k < N; k++) same &= t_cpu[k] == t_gpu[k], n_ok += t_gpu[k] >= 0;
    int32_t tgt[N];
    for (int k = 0; k < N; k++) tgt[k] = t_gpu[k] >= 0 ? t_gpu[k] : 0;
    scored(cuda, logits, V, N, row, tgt, c->sp.record_temperature, lp_sc, h_sc);
    double worst = 0;
    size_t differ = 0;
    for (int k = 0; k < N; k++) {
        if (t_gpu[k] < 0 || t_cpu[k] != t_gpu[k]) continue;
        worst = fmax(worst, fabs(lp_gpu[k] - lp_cpu[k]) / fmax(1, fabs(lp_cpu[k])));
        worst = fmax(worst, fabs(h_gpu[k] - h_cpu[k]) / fmax(1, fabs(h_cpu[k])));
        differ += bits_differ(&lp_gpu[k], &lp_sc[k], 8, 8) + bits_differ(&h_gpu[k], &h_sc[k], 8, 8);
    }
    char name[96];
    snprintf(name, sizeof name, "sample V=%d %s: tokens = CPU's", V, c->name);
    check(name, same && n_ok == N - 1 && t_gpu[5] == -1, "tokens %d %d %d %d (row 4 ties: %d) non-finite row -> %d",
          t_gpu[0], t_gpu[1], t_gpu[2], t_gpu[3], t_gpu[4], t_gpu[5]);
    snprintf(name, sizeof name, "sample V=%d %s: logp/entropy", V, c->name);
    check(name, same && worst <= 1e-6 && differ == 0,
          "err %.2e against the CPU (limit 1e-6); %zu value(s) differ from the backend's logprob (must be 0)", worst,
          differ);
    // Batch invariance: every draw alone gives the bits it got among the others, in the batch above (shared rows:
    // the log-probs' rows gathered, draw k's at k * V) and in a decode step's batch (draw k reads row k in place).
    // An odd V puts a batch's rows at every 16-byte alignment (V = 1001: 2k mod 16; 32003: 6k mod 16), which a
    // kernel that splits a row by its address rather than its index gets wrong; rows of random logits (not row 4's
    // ties, whose tail hardly reaches the sums) show it at any temperature.
    int32_t ord[R], t_ord[R];
    double u_ord[R], lp_ord[R], h_ord[R];
    for (int k = 0; k < R; k++) ord[k] = k, u_ord[k] = u[N - 1 - k];
    draw(cuda, logits, R, V, R, ord, u_ord, &c->sp, t_ord, lp_ord, h_ord);
    unsigned bad_shared = alone_differ(cuda, logits, V, N, row, u, &c->sp, t_gpu, lp_gpu, h_gpu);
    unsigned bad_order = alone_differ(cuda, logits, V, R, ord, u_ord, &c->sp, t_ord, lp_ord, h_ord);
    snprintf(name, sizeof name, "sample V=%d %s: a draw alone = in the batch", V, c->name);
    check(name, !bad_shared && !bad_order,
          "every draw alone, bit for bit; draws that differ (bit k = draw k): shared rows 0x%x, rows in order 0x%x",
          bad_shared, bad_order);
    free(logits);
}

typedef struct {
    const Backend *be;
    void *logits;
    int V, n;
    const int32_t *row;
    const double *u;
    const SampleSpec *sp;
    int32_t *tok;
    double *lp, *h;
} Timed;

static void timed_sample(void *ctx) {
    Timed *t = ctx;
    t->be->sample(t->be, t->logits, t->V, t->n, t->row, t->u, t->sp, t->tok, t->lp, t->h);
}

// The cost of one decode step's draws for a group of 64 on Qwen's vocabulary (uploads, kernels, downloads, syncs).
static void time_sample(const Backend *cuda) {
    enum { N = 64, V = 151936 };
    float *logits = malloc((size_t)N * V * sizeof *logits);
    random_bf16(logits, NULL, (size_t)N * V, 3.0, 990);
    void *buf = cuda->alloc(cuda, (size_t)N * V, BUF_ACT);
    if (!buf) ok_or_die(err_set(&err, "cuda backend: no memory for %d x %d logits", N, V), &err, "alloc");
    cuda->to_dev(cuda, buf, logits, (size_t)N * V, BUF_ACT);
    int32_t row[N], tok[N];
    double u[N], lp[N], h[N];
    Rng rng = rng_at(991, 0, 0, 0);
    for (int k = 0; k < N; k++) row[k] = k, u[k] = rng_uniform(&rng);
    static const SpecCase cases[] = {
        {"T=1", {.temperature = 1, .top_p = 1, .record_temperature = 1}},
        {"T=0.7 p=0.9", {.temperature = 0.7, .top_p = 0.9, .record_temperature = 0.7}},
        {"T=1 k=50 p=0.95", {.temperature = 1, .top_p = 0.95, .record_temperature = 1, .top_k = 50}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        Timed t = {cuda, buf, V, N, row, u, &cases[c].sp, tok, lp, h};
        double ms = time_ms(timed_sample, &t, 3, 5);
        char name[96];
        snprintf(name, sizeof name, "sample %d rows x %d, %s", N, V, cases[c].name);
        bench_line(name, "%.3f ms per decode step's draws (log-probs included)", ms);
    }
    cuda->free(cuda, buf);
    free(logits);
}

void check_sample(void) {
    Backend *cuda = backend_cuda_create(0, &err);
    if (!cuda) ok_or_die(-1, &err, "backend_cuda_create");
    static const SpecCase cases[] = {
        {"greedy", {.temperature = 0, .top_p = 1, .record_temperature = 1}},
        {"T=1", {.temperature = 1, .top_p = 1, .record_temperature = 1}},
        {"T=0.7 p=0.9", {.temperature = 0.7, .top_p = 0.9, .record_temperature = 0.7}},
        {"T=1.3 k=50 p=0.95", {.temperature = 1.3, .top_p = 0.95, .record_temperature = 1.3, .top_k = 50}},
        {"T=0.6 k=1", {.temperature = 0.6, .top_p = 1, .record_temperature = 0.6, .top_k = 1}},
        {"T=1 k=7", {.temperature = 1, .top_p = 1, .record_temperature = 1, .top_k = 7}},
        {"T=2 p=0.3", {.temperature = 2, .top_p = 0.3, .record_temperature = 2}},
    };
    static const int vocab[] = {7, 1001, 32003, 151936};
    uint64_t seed = 900;
    for (size_t v = 0; v < sizeof vocab / sizeof *vocab; v++)
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) check_case(cuda, vocab[v], &cases[c], seed++);
    time_sample(cuda);
    backend_cuda_destroy(cuda);
}
