// The timed table of bench/op_profile.h: a copy of the CPU backend's in which each compute operation is a wrapper
// that runs the CPU one and adds its wall time to the current bucket. The CPU operations never read Backend.state,
// so the copy keeps its profile there.
#include "bench/op_profile.h"

#include <stdlib.h>
#include <string.h>

#include "base/walltime.h"
#include "model/backend.h"

typedef struct {
    const char *op;
    int n, k;
    OpStat *per_bucket;  // [n_buckets]
} Entry;

struct OpProfile {
    Backend table;         // installed on the model; table.state is this profile
    const Backend *inner;  // the CPU backend, which runs every operation
    int n_buckets, bucket;
    Entry *entries;
    int n_entries, cap;
};

static Entry *entry(OpProfile *p, const char *op, int n, int k) {
    for (int i = 0; i < p->n_entries; i++)
        if (!strcmp(p->entries[i].op, op) && p->entries[i].n == n && p->entries[i].k == k) return &p->entries[i];
    if (p->n_entries == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 32;
        p->entries = xrealloc(p->entries, (size_t)p->cap * sizeof *p->entries);
    }
    Entry *x = &p->entries[p->n_entries++];
    *x = (Entry){op, n, k, xcalloc((size_t)p->n_buckets, sizeof(OpStat))};
    return x;
}

// Adds one call of op that started at t0 (walltime_s) to the current bucket; flops for a matrix product, kv_bytes
// for attention.
static void count(const Backend *be, const char *op, int n, int k, double flops, double kv_bytes, double t0) {
    double seconds = walltime_s() - t0;
    OpProfile *p = be->state;
    if (p->bucket < 0) return;
    OpStat *s = &entry(p, op, n, k)->per_bucket[p->bucket];
    s->calls++, s->seconds += seconds, s->flops += flops, s->kv_bytes += kv_bytes;
}

#define CPU(be) (((const OpProfile *)(be)->state)->inner)
// Runs the CPU backend's field op with the arguments after be, timed under op's name.
#define TIMED(be, op, ...)                 \
    do {                                   \
        double t0_ = walltime_s();         \
        CPU(be)->op(CPU(be), __VA_ARGS__); \
        count(be, #op, 0, 0, 0, 0, t0_);   \
    } while (0)
// A matrix product with weight [n, k] over m rows, timed under op's name and the weight's shape.
#define TIMED_MATMUL(be, op, m, n, k, ...)                                           \
    do {                                                                             \
        double t0_ = walltime_s();                                                   \
        CPU(be)->op(CPU(be), __VA_ARGS__);                                           \
        count(be, #op, n, k, 2.0 * (double)(m) * (double)(n) * (double)(k), 0, t0_); \
    } while (0)

static void *t_alloc(const Backend *be, size_t n, BufType t) {
    double t0 = walltime_s();
    void *buf = CPU(be)->alloc(CPU(be), n, t);
    count(be, "alloc", 0, 0, 0, 0, t0);
    return buf;
}
static void *t_alloc_uninit(const Backend *be, size_t n, BufType t) {
    double t0 = walltime_s();
    void *buf = CPU(be)->alloc_uninit(CPU(be), n, t);
    count(be, "alloc_uninit", 0, 0, 0, 0, t0);
    return buf;
}
static void t_free(const Backend *be, void *buf) { TIMED(be, free, buf); }
static void t_copy(const Backend *be, void *dst, const void *src, size_t n, BufType t) {
    TIMED(be, copy, dst, src, n, t);
}
static void t_embed(const Backend *be, const void *table, const void *tokens, int T, int D, void *x) {
    TIMED(be, embed, table, tokens, T, D, x);
}
static void t_rms_norm(const Backend *be, const void *x, const void *w, void *y, void *inv, int T, int D, double eps) {
    TIMED(be, rms_norm, x, w, y, inv, T, D, eps);
}
static void t_residual_norm(const Backend *be, void *x, const void *y, void *keep, const void *w, void *out,
                            void *inv, int T, int D, double eps) {
    TIMED(be, residual_norm, x, y, keep, w, out, inv, T, D, eps);
}
static void t_head_norm(const Backend *be, const void *w, const void *x, void *y, void *inv, int T, int H, int hd,
                        double eps) {
    TIMED(be, head_norm, w, x, y, inv, T, H, hd, eps);
}
static void t_rope(const Backend *be, void *x, const void *pos, int T, int H, int hd, double theta, bool inverse) {
    TIMED(be, rope, x, pos, T, H, hd, theta, inverse);
}
static void t_matmul(const Backend *be, const void *x, const void *w, const void *bias, void *y, int M, int N, int K) {
    TIMED_MATMUL(be, matmul, M, N, K, x, w, bias, y, M, N, K);
}
static void t_kv_store(const Backend *be, void *kbuf, void *vbuf, const void *k, const void *v, const void *pos,
                       const void *row0, int T, int KD) {
    TIMED(be, kv_store, kbuf, vbuf, k, v, pos, row0, T, KD);
}
static void t_attention(const Backend *be, const Dims *d, int T, const void *pos, const void *row0,
                        const int64_t *shared, const void *kbuf, const void *vbuf, const void *q, void *att,
                        void *lse) {
    double rows = 0;  // key rows read: token t attends to its sequence's rows 0..pos[t]
    for (int t = 0; t < T; t++) rows += ((const int *)pos)[t] + 1;
    double t0 = walltime_s();
    CPU(be)->attention(CPU(be), d, T, pos, row0, shared, kbuf, vbuf, q, att, lse);
    count(be, "attention", 0, 0, 0, rows * 2 * d->KD * sizeof(float), t0);
}
static void t_swiglu(const Backend *be, const void *g, const void *u, void *act, size_t n) {
    TIMED(be, swiglu, g, u, act, n);
}
static void t_add(const Backend *be, void *x, const void *y, size_t n) { TIMED(be, add, x, y, n); }
static void t_moe(const Backend *be, const Model *m, int l, const void *x, LayerActs *a, int T, void *y) {
    TIMED(be, moe, m, l, x, a, T, y);
}
static void t_rope_back(const Backend *be, void *dx, const void *pos, int T, int H, int hd, double theta) {
    TIMED(be, rope_back, dx, pos, T, H, hd, theta);
}
static void t_rms_norm_back(const Backend *be, const void *x, const void *w, const void *inv, const void *dy, void *dx,
                            float *dw, int T, int D) {
    TIMED(be, rms_norm_back, x, w, inv, dy, dx, dw, T, D);
}
static void t_head_norm_back(const Backend *be, const void *w, const void *raw, const void *inv, const void *dnormed,
                             void *draw, float *dw, int T, int H, int hd) {
    TIMED(be, head_norm_back, w, raw, inv, dnormed, draw, dw, T, H, hd);
}
// Timed under the parts' weights stacked: [sum of N, K].
static void t_matmul_parts(const Backend *be, const void *x, const ProductPart *parts, int n_parts, int M, int K) {
    int N = 0;
    for (int p = 0; p < n_parts; p++) N += parts[p].N;
    TIMED_MATMUL(be, matmul_parts, M, N, K, x, parts, n_parts, M, K);
}
// Timed under the gate and up weights stacked, [2 F, K]; its FLOPs those of the two products.
static void t_gate_up_act(const Backend *be, const void *x, const void *wg, const void *wu, void *g, void *u,
                          void *act, int M, int F, int K) {
    TIMED_MATMUL(be, gate_up_act, M, 2 * F, K, x, wg, wu, g, u, act, M, F, K);
}
static void t_matmul_dw(const Backend *be, bool fixed, const void *dy, const void *x, float *dw, float *db, int T, int N,
                        int K) {
    TIMED_MATMUL(be, matmul_dw, T, N, K, fixed, dy, x, dw, db, T, N, K);
}
static void t_matmul_dx(const Backend *be, bool fixed, const void *dy, const void *w, void *dx, int T, int N, int K,
                        bool accumulate) {
    TIMED_MATMUL(be, matmul_dx, T, N, K, fixed, dy, w, dx, T, N, K, accumulate);
}
static void t_matmul_dx_slice(const Backend *be, bool fixed, void **sum, const void *dy, const void *w, void *dx,
                              int T, int n0, int n, int N, int K) {
    TIMED_MATMUL(be, matmul_dx_slice, T, n, K, fixed, sum, dy, w, dx, T, n0, n, N, K);
}
static void t_attention_back(const Backend *be, const Dims *d, const ModelActs *A, const LayerActs *a,
                             const void *datt, void *dq, void *dk, void *dv) {
    TIMED(be, attention_back, d, A, a, datt, dq, dk, dv);
}
static void t_swiglu_back(const Backend *be, const void *g, const void *u, const void *dact, void *dg, void *du,
                          size_t n) {
    TIMED(be, swiglu_back, g, u, dact, dg, du, n);
}
static void t_moe_back(const Backend *be, const Model *m, int l, const ModelActs *A, const LayerActs *a,
                       const void *dy, double aux_weight, float *grads, void *da2) {
    TIMED(be, moe_back, m, l, A, a, dy, aux_weight, grads, da2);
}
static void t_embed_back(const Backend *be, const void *tokens, const void *dx, float *dtable, int T, int D) {
    TIMED(be, embed_back, tokens, dx, dtable, T, D);
}
static void t_logprob(const Backend *be, const void *logits, int64_t n, int V, const void *targets, double temperature,
                      double *logp, double *entropy) {
    TIMED(be, logprob, logits, n, V, targets, temperature, logp, entropy);
}
static void t_logprob_back(const Backend *be, const void *logits, int64_t n, int V, const void *targets,
                           double temperature, const double *dlogp, const double *dentropy, void *dlogits) {
    TIMED(be, logprob_back, logits, n, V, targets, temperature, dlogp, dentropy, dlogits);
}
static void t_sample(const Backend *be, const void *logits, int V, int n, const int32_t *row, const double *u,
                     const SampleSpec *sp, int32_t *token, double *logp, double *entropy) {
    TIMED(be, sample, logits, V, n, row, u, sp, token, logp, entropy);
}
static void t_head_logprob(const Backend *be, const void *logits, int64_t n, int V, const void *targets,
                           double temperature, double *logp, double *entropy, double *stats) {
    TIMED(be, head_logprob, logits, n, V, targets, temperature, logp, entropy, stats);
}
static void t_head_logprob_back(const Backend *be, const void *logits, int64_t n, int v0, int nv, const void *targets,
                                double temperature, const double *stats, const double *dlogp, const double *dentropy,
                                void *dlogits) {
    TIMED(be, head_logprob_back, logits, n, v0, nv, targets, temperature, stats, dlogp, dentropy, dlogits);
}

OpProfile *op_profile_start(Model *m, int n_buckets, Err *e) {
    if (m->backend != backend_cpu()) {
        err_set(e, "the per-operation profile times the CPU backend only (the model runs on '%s')", m->backend->name);
        return NULL;
    }
    OpProfile *p = xcalloc(1, sizeof *p);
    p->inner = m->backend, p->n_buckets = n_buckets, p->bucket = -1;
    Backend *t = &p->table;
    *t = *p->inner;
    t->state = p;
    t->alloc = t_alloc, t->alloc_uninit = t_alloc_uninit, t->free = t_free, t->copy = t_copy;
    t->embed = t_embed, t->rms_norm = t_rms_norm, t->residual_norm = t_residual_norm, t->head_norm = t_head_norm;
    t->rope = t_rope;
    t->matmul = t_matmul, t->matmul_parts = t_matmul_parts, t->gate_up_act = t_gate_up_act, t->kv_store = t_kv_store;
    t->attention = t_attention;
    t->swiglu = t_swiglu;
    t->add = t_add, t->moe = t_moe;
    t->rope_back = t_rope_back, t->rms_norm_back = t_rms_norm_back, t->head_norm_back = t_head_norm_back;
    t->matmul_dw = t_matmul_dw, t->matmul_dx = t_matmul_dx, t->matmul_dx_slice = t_matmul_dx_slice;
    t->attention_back = t_attention_back;
    t->swiglu_back = t_swiglu_back, t->moe_back = t_moe_back, t->embed_back = t_embed_back;
    t->logprob = t_logprob, t->logprob_back = t_logprob_back, t->sample = t_sample;
    t->head_logprob = t_head_logprob, t->head_logprob_back = t_head_logprob_back;
    m->backend = t;
    return p;
}

void op_profile_bucket(OpProfile *p, int bucket) { p->bucket = bucket < p->n_buckets ? bucket : -1; }

int op_profile_count(const OpProfile *p) { return p->n_entries; }

void op_profile_get(const OpProfile *p, int i, int b, OpStat *stat) {
    const Entry *x = &p->entries[i];
    *stat = x->per_bucket[b];
    stat->op = x->op, stat->n = x->n, stat->k = x->k;
}

void op_profile_stop(OpProfile *p, Model *m) {
    if (!p) return;
    m->backend = p->inner;
    for (int i = 0; i < p->n_entries; i++) free(p->entries[i].per_bucket);
    free(p->entries);
    free(p);
}
