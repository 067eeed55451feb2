// The layer loop touches activation memory only through Model.backend (src/README.md "Backends"): a guard
// backend keeps every buffer it hands out (activations, views, the weights' mirror, the gradient) unreadable
// (PROT_NONE) except while one of its own operations runs, and checks that every buffer an operation gets came
// from it and is large enough. Any read, write, memcpy or free of such memory by the loop crashes the test; the
// results must equal the CPU backend's bit for bit, and the operations are counted against the architecture.
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model/backend.h"
#include "model/logprob.h"
#include "model/seqbatch.h"
#include "model_testutil.h"

// ---- the guard backend ----

enum { MAX_BUFS = 4096 };
typedef struct {
    char *base;
    size_t bytes, mapped;
} Buf;

static struct {
    Buf bufs[MAX_BUFS];
    int n_bufs;
    size_t page;
    char violation[256];  // the first misuse seen
    long calls, matmul, attention, rms_norm, moe, logprob, matmul_dw, attention_back, moe_back, rope_back, sample;
    size_t largest_act;  // elements of the largest activation or activation-gradient buffer handed out
    void *params;  // the weights' mirror
    const Model *m;
} G;

static const Backend *cpu(void) { return backend_cpu(); }

static size_t bytes_of(BufType t) {
    return t == BUF_F64 || t == BUF_I64 ? 8 : 4;
}

static void protect_all(int prot) {
    for (int i = 0; i < G.n_bufs; i++) mprotect(G.bufs[i].base, G.bufs[i].mapped, prot);
}

static void enter(void) {
    G.calls++;
    protect_all(PROT_READ | PROT_WRITE);
}
static void leave(void) { protect_all(PROT_NONE); }

static void misuse(const char *what, const void *p) {
    if (!G.violation[0])
        snprintf(G.violation, sizeof G.violation, "%s: %p is not a guard buffer of that size", what, p);
}

// p .. p + bytes lies inside one buffer of ours.
static void own(const char *what, const void *p, size_t bytes) {
    for (int i = 0; i < G.n_bufs; i++)
        if ((const char *)p >= G.bufs[i].base && (const char *)p + bytes <= G.bufs[i].base + G.bufs[i].bytes) return;
    misuse(what, p);
}
#define OWN(p, n, t) own(#p, (p), (size_t)(n) * bytes_of(t))
#define OWN_OPT(p, n, t) \
    if (p) OWN(p, n, t)

static void *g_alloc(const Backend *be, size_t n, BufType t) {
    (void)be;
    if (G.n_bufs == MAX_BUFS) return NULL;
    size_t bytes = (n + 1) * bytes_of(t), mapped = (bytes + G.page - 1) / G.page * G.page;
    char *p = mmap(NULL, mapped, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);  // zeroed
    if (p == MAP_FAILED) return NULL;
    G.bufs[G.n_bufs++] = (Buf){p, bytes, mapped};
    if ((t == BUF_ACT || t == BUF_GRAD) && n > G.largest_act) G.largest_act = n;
    return p;
}

// Poisoned (every byte 0xff: NaN as a float or double, -1 as an integer): a read before the first write changes the
// results compared with the CPU backend's.
static void *g_alloc_uninit(const Backend *be, size_t n, BufType t) {
    char *p = g_alloc(be, n, t);
    if (!p) return NULL;
    size_t bytes = G.bufs[G.n_bufs - 1].bytes;
    mprotect(p, G.bufs[G.n_bufs - 1].mapped, PROT_READ | PROT_WRITE);
    memset(p, 0xff, bytes);
    mprotect(p, G.bufs[G.n_bufs - 1].mapped, PROT_NONE);
    return p;
}

static void g_free(const Backend *be, void *buf) {
    (void)be;
    if (!buf) return;
    for (int i = 0; i < G.n_bufs; i++)
        if (G.bufs[i].base == buf) {
            munmap(buf, G.bufs[i].mapped);
            G.bufs[i] = G.bufs[--G.n_bufs];
            return;
        }
    misuse("free", buf);
}

static void g_copy(const Backend *be, void *dst, const void *src, size_t n, BufType t) {
    (void)be;
    OWN(dst, n, t), OWN(src, n, t);
    enter();
    memcpy(dst, src, n * bytes_of(t));
    leave();
}

static void g_to_dev(const Backend *be, void *dst, const void *host, size_t n, BufType t) {
    (void)be;
    OWN(dst, n, t);
    enter();
    memcpy(dst, host, n * bytes_of(t));
    leave();
}

static void g_to_host(const Backend *be, void *host, const void *src, size_t n, BufType t) {
    (void)be;
    OWN(src, n, t);
    enter();
    memcpy(host, src, n * bytes_of(t));
    leave();
}

// Views are copies, as on a device.
static void *g_view(const Backend *be, void *host, size_t n, BufType t, ViewDir dir) {
    void *v = g_alloc(be, n, t);
    if (dir & VIEW_IN) g_to_dev(be, v, host, n, t);
    return v;
}

static void g_view_end(const Backend *be, void *view, void *host, size_t n, BufType t, ViewDir dir) {
    if (dir & VIEW_OUT) g_to_host(be, host, view, n, t);
    g_free(be, view);
}

static int g_load_params(const Backend *be, const Model *m, Err *e) {
    (void)e;
    g_free(be, G.params);
    G.params = g_alloc(be, m->n_params, BUF_F32);
    g_to_dev(be, G.params, m->params, m->n_params, BUF_F32);
    G.m = m;
    return 0;
}

static const void *g_param(const Backend *be, const Model *m, size_t off) {
    (void)be;
    if (m != G.m) misuse("param of another model", m);
    return off == SIZE_MAX ? NULL : (const float *)G.params + off;
}

static void g_embed(const Backend *be, const void *table, const void *tokens, int T, int D, void *x) {
    (void)be;
    OWN(tokens, T, BUF_I32), OWN(x, (size_t)T * D, BUF_ACT), OWN(table, D, BUF_ACT);
    enter();
    cpu()->embed(cpu(), table, tokens, T, D, x);
    leave();
}

static void g_rms_norm(const Backend *be, const void *x, const void *w, void *y, void *inv, int T, int D, double eps) {
    (void)be;
    G.rms_norm++;
    OWN(x, (size_t)T * D, BUF_ACT), OWN(w, D, BUF_F32), OWN(y, (size_t)T * D, BUF_ACT), OWN(inv, T, BUF_F32);
    enter();
    cpu()->rms_norm(cpu(), x, w, y, inv, T, D, eps);
    leave();
}

static void g_head_norm(const Backend *be, const void *w, const void *x, void *y, void *inv, int T, int H, int hd,
                        double eps) {
    (void)be;
    size_t n = (size_t)T * H * hd;
    OWN(x, n, BUF_ACT), OWN(y, n, BUF_ACT), OWN(inv, (size_t)T * H, BUF_F32);
    OWN_OPT(w, hd, BUF_F32);
    enter();
    cpu()->head_norm(cpu(), w, x, y, inv, T, H, hd, eps);
    leave();
}

static void g_rope(const Backend *be, void *x, const void *pos, int T, int H, int hd, double theta, bool inverse) {
    (void)be;
    OWN(x, (size_t)T * H * hd, BUF_ACT), OWN(pos, T, BUF_I32);
    enter();
    cpu()->rope(cpu(), x, pos, T, H, hd, theta, inverse);
    leave();
}

static void g_rope_back(const Backend *be, void *dx, const void *pos, int T, int H, int hd, double theta) {
    (void)be;
    G.rope_back++;
    OWN(dx, (size_t)T * H * hd, BUF_GRAD), OWN(pos, T, BUF_I32);
    enter();
    cpu()->rope_back(cpu(), dx, pos, T, H, hd, theta);
    leave();
}

static void g_matmul(const Backend *be, const void *x, const void *w, const void *bias, void *y, int M, int N, int K) {
    (void)be;
    G.matmul++;
    OWN(x, (size_t)M * K, BUF_ACT), OWN(w, (size_t)N * K, BUF_F32), OWN(y, (size_t)M * N, BUF_ACT);
    OWN_OPT(bias, N, BUF_F32);
    enter();
    cpu()->matmul(cpu(), x, w, bias, y, M, N, K);
    leave();
}

static void g_kv_store(const Backend *be, void *kbuf, void *vbuf, const void *k, const void *v, const void *pos,
                       const void *row0, int T, int KD) {
    (void)be;
    OWN(kbuf, KD, BUF_ACT), OWN(vbuf, KD, BUF_ACT), OWN(k, (size_t)T * KD, BUF_ACT), OWN(v, (size_t)T * KD, BUF_ACT);
    OWN(pos, T, BUF_I32), OWN(row0, T, BUF_I64);
    enter();
    cpu()->kv_store(cpu(), kbuf, vbuf, k, v, pos, row0, T, KD);
    leave();
}

static void g_attention(const Backend *be, const Dims *d, int T, const void *pos, const void *row0,
                        const int64_t *shared, const void *kbuf, const void *vbuf, const void *q, void *att,
                        void *lse) {
    (void)be;
    G.attention++;
    OWN(pos, T, BUF_I32), OWN(row0, T, BUF_I64), OWN(kbuf, d->KD, BUF_ACT), OWN(vbuf, d->KD, BUF_ACT);
    OWN(q, (size_t)T * d->QD, BUF_ACT), OWN(att, (size_t)T * d->QD, BUF_ACT), OWN(lse, (size_t)T * d->Hq, BUF_F64);
    enter();
    cpu()->attention(cpu(), d, T, pos, row0, shared, kbuf, vbuf, q, att, lse);
    leave();
}

static void g_swiglu(const Backend *be, const void *g, const void *u, void *act, size_t n) {
    (void)be;
    OWN(g, n, BUF_ACT), OWN(u, n, BUF_ACT), OWN(act, n, BUF_ACT);
    enter();
    cpu()->swiglu(cpu(), g, u, act, n);
    leave();
}

static void g_add(const Backend *be, void *x, const void *y, size_t n) {
    (void)be;
    OWN(x, n, BUF_ACT), OWN(y, n, BUF_ACT);
    enter();
    cpu()->add(cpu(), x, y, n);
    leave();
}

static void own_moe_record(const Model *m, const LayerActs *a, int T) {
    Dims d = model_dims(m);
    size_t t = (size_t)T;
    OWN(a->probs, t * d.E, BUF_F32), OWN(a->top_e, t * d.K, BUF_I32), OWN(a->top_w, t * d.K, BUF_F32);
    OWN(a->eg, t * d.K * d.Fe, BUF_ACT), OWN(a->eout, t * d.K * d.D, BUF_ACT);
    if (d.S) OWN(a->sout, t * d.D, BUF_ACT), OWN(a->sgate, t, BUF_ACT);
}

static void g_moe(const Backend *be, const Model *m, int l, const void *x, LayerActs *a, int T, void *y) {
    (void)be;
    G.moe++;
    size_t n = (size_t)T * m->cfg.hidden_size;
    OWN(x, n, BUF_ACT), OWN(y, n, BUF_ACT);
    own_moe_record(m, a, T);
    enter();
    cpu()->moe(cpu(), m, l, x, a, T, y);
    leave();
}

static void g_rms_norm_back(const Backend *be, const void *x, const void *w, const void *inv, const void *dy, void *dx,
                            float *dw, int T, int D) {
    (void)be;
    size_t n = (size_t)T * D;
    OWN(x, n, BUF_ACT), OWN(w, D, BUF_F32), OWN(inv, T, BUF_F32), OWN(dy, n, BUF_GRAD), OWN(dx, n, BUF_GRAD);
    OWN(dw, D, BUF_F32);
    enter();
    cpu()->rms_norm_back(cpu(), x, w, inv, dy, dx, dw, T, D);
    leave();
}

static void g_head_norm_back(const Backend *be, const void *w, const void *raw, const void *inv, const void *dnormed,
                             void *draw, float *dw, int T, int H, int hd) {
    (void)be;
    size_t n = (size_t)T * H * hd;
    OWN(raw, n, BUF_ACT), OWN(dnormed, n, BUF_GRAD), OWN(draw, n, BUF_GRAD);
    OWN_OPT(w, hd, BUF_F32);
    if (w) OWN(inv, (size_t)T * H, BUF_F32), OWN(dw, hd, BUF_F32);
    enter();
    cpu()->head_norm_back(cpu(), w, raw, inv, dnormed, draw, dw, T, H, hd);
    leave();
}

static void g_matmul_dw(const Backend *be, bool fixed, const void *dy, const void *x, float *dw, float *db, int T,
                        int N, int K) {
    (void)be;
    G.matmul_dw++;
    OWN(dy, (size_t)T * N, BUF_GRAD), OWN(x, (size_t)T * K, BUF_ACT), OWN(dw, (size_t)N * K, BUF_F32);
    OWN_OPT(db, N, BUF_F32);
    enter();
    cpu()->matmul_dw(cpu(), fixed, dy, x, dw, db, T, N, K);
    leave();
}

static void g_matmul_dx(const Backend *be, bool fixed, const void *dy, const void *w, void *dx, int T, int N, int K,
                        bool accumulate) {
    (void)be;
    OWN(dy, (size_t)T * N, BUF_GRAD), OWN(w, (size_t)N * K, BUF_F32), OWN(dx, (size_t)T * K, BUF_GRAD);
    enter();
    cpu()->matmul_dx(cpu(), fixed, dy, w, dx, T, N, K, accumulate);
    leave();
}

static void g_attention_back(const Backend *be, const Dims *d, const ModelActs *A, const LayerActs *a,
                             const void *datt, void *dq, void *dk, void *dv) {
    (void)be;
    G.attention_back++;
    size_t t = (size_t)A->T;
    OWN(a->qr, t * d->QD, BUF_ACT), OWN(a->kr, t * d->KD, BUF_ACT), OWN(a->v, t * d->KD, BUF_ACT);
    OWN(a->att, t * d->QD, BUF_ACT), OWN(a->lse, t * d->Hq, BUF_F64), OWN(datt, t * d->QD, BUF_GRAD);
    OWN(dq, t * d->QD, BUF_GRAD), OWN(dk, t * d->KD, BUF_GRAD), OWN(dv, t * d->KD, BUF_GRAD);
    enter();
    cpu()->attention_back(cpu(), d, A, a, datt, dq, dk, dv);
    leave();
}

static void g_swiglu_back(const Backend *be, const void *g, const void *u, const void *dact, void *dg, void *du,
                          size_t n) {
    (void)be;
    OWN(g, n, BUF_ACT), OWN(u, n, BUF_ACT), OWN(dact, n, BUF_GRAD), OWN(dg, n, BUF_GRAD), OWN(du, n, BUF_GRAD);
    enter();
    cpu()->swiglu_back(cpu(), g, u, dact, dg, du, n);
    leave();
}

static void g_moe_back(const Backend *be, const Model *m, int l, const ModelActs *A, const LayerActs *a,
                       const void *dy, double aux_weight, float *grads, void *da2) {
    (void)be;
    G.moe_back++;
    size_t n = (size_t)A->T * m->cfg.hidden_size;
    OWN(dy, n, BUF_GRAD), OWN(da2, n, BUF_GRAD), OWN(grads, m->n_params, BUF_F32);
    own_moe_record(m, a, A->T);
    enter();
    cpu()->moe_back(cpu(), m, l, A, a, dy, aux_weight, grads, da2);
    leave();
}

static void g_embed_back(const Backend *be, const void *tokens, const void *dx, float *dtable, int T, int D) {
    (void)be;
    OWN(tokens, T, BUF_I32), OWN(dx, (size_t)T * D, BUF_GRAD), OWN(dtable, D, BUF_F32);
    enter();
    cpu()->embed_back(cpu(), tokens, dx, dtable, T, D);
    leave();
}

static void g_logprob(const Backend *be, const void *logits, int64_t n, int V, const void *targets, double temperature,
                      double *logp, double *entropy) {
    (void)be;
    G.logprob++;
    OWN(logits, (size_t)n * V, BUF_ACT), OWN(targets, n, BUF_I32), OWN(logp, n, BUF_F64);
    OWN_OPT(entropy, n, BUF_F64);
    enter();
    cpu()->logprob(cpu(), logits, n, V, targets, temperature, logp, entropy);
    leave();
}

static void g_logprob_back(const Backend *be, const void *logits, int64_t n, int V, const void *targets,
                           double temperature, const double *dlogp, const double *dentropy, void *dlogits) {
    (void)be;
    OWN(logits, (size_t)n * V, BUF_ACT), OWN(targets, n, BUF_I32), OWN(dlogp, n, BUF_F64);
    OWN(dlogits, (size_t)n * V, BUF_GRAD);
    OWN_OPT(dentropy, n, BUF_F64);
    enter();
    cpu()->logprob_back(cpu(), logits, n, V, targets, temperature, dlogp, dentropy, dlogits);
    leave();
}

static void g_head_logprob(const Backend *be, const void *logits, int64_t n, int V, const void *targets,
                           double temperature, double *logp, double *entropy, double *stats) {
    (void)be;
    G.logprob++;
    OWN(logits, (size_t)n * V, BUF_ACT), OWN(targets, n, BUF_I32), OWN(logp, n, BUF_F64);
    OWN(stats, (size_t)n * 3, BUF_F64);
    OWN_OPT(entropy, n, BUF_F64);
    enter();
    cpu()->head_logprob(cpu(), logits, n, V, targets, temperature, logp, entropy, stats);
    leave();
}

static void g_head_logprob_back(const Backend *be, const void *logits, int64_t n, int v0, int nv, const void *targets,
                                double temperature, const double *stats, const double *dlogp, const double *dentropy,
                                void *dlogits) {
    (void)be;
    OWN(logits, (size_t)n * nv, BUF_ACT), OWN(targets, n, BUF_I32), OWN(dlogp, n, BUF_F64);
    OWN(stats, (size_t)n * 3, BUF_F64), OWN(dlogits, (size_t)n * nv, BUF_GRAD);
    OWN_OPT(dentropy, n, BUF_F64);
    enter();
    cpu()->head_logprob_back(cpu(), logits, n, v0, nv, targets, temperature, stats, dlogp, dentropy, dlogits);
    leave();
}

static void g_sample(const Backend *be, const void *logits, int V, int n, const int32_t *row, const double *u,
                     const SampleSpec *sp, int32_t *token, double *logp, double *entropy) {
    (void)be;
    G.sample++;
    int rows = 0;
    for (int k = 0; k < n; k++) rows = row[k] + 1 > rows ? row[k] + 1 : rows;
    OWN(logits, (size_t)rows * V, BUF_ACT);
    enter();
    cpu()->sample(cpu(), logits, V, n, row, u, sp, token, logp, entropy);
    leave();
}

static const Backend guard = {
    .name = "guard",
    .act_bytes = sizeof(float),
    .grad_bytes = sizeof(float),
    .alloc = g_alloc,
    .alloc_uninit = g_alloc_uninit,
    .free = g_free,
    .to_dev = g_to_dev,
    .to_host = g_to_host,
    .copy = g_copy,
    .view = g_view,
    .view_end = g_view_end,
    .param = g_param,
    .load_params = g_load_params,
    .embed = g_embed,
    .rms_norm = g_rms_norm,
    .head_norm = g_head_norm,
    .rope = g_rope,
    .matmul = g_matmul,
    .kv_store = g_kv_store,
    .attention = g_attention,
    .swiglu = g_swiglu,
    .add = g_add,
    .moe = g_moe,
    .rope_back = g_rope_back,
    .rms_norm_back = g_rms_norm_back,
    .head_norm_back = g_head_norm_back,
    .matmul_dw = g_matmul_dw,
    .matmul_dx = g_matmul_dx,
    .attention_back = g_attention_back,
    .swiglu_back = g_swiglu_back,
    .moe_back = g_moe_back,
    .embed_back = g_embed_back,
    .logprob = g_logprob,
    .logprob_back = g_logprob_back,
    .head_logprob = g_head_logprob,
    .head_logprob_back = g_head_logprob_back,
    .sample = g_sample,
};

static void guard_init(void) {
    memset(&G, 0, sizeof G);
    G.page = (size_t)sysconf(_SC_PAGESIZE);
}

// ---- the checks ----

static const int32_t TOK[] = {3, 17, 5, 60, 0, 22, 9, 41, 13, 7, 30, 2, 58};
static const int64_t OFF[] = {0, 4, 5, 13};  // three sequences of 4, 1 and 8 tokens
enum { N_SEQS = 3, T_ALL = 13 };

typedef struct {
    float *logits, *grads;
    int32_t *experts;
    double aux;
} Pass;

// Forward (keeping activations) and backward of sum(dlogits * logits) + aux on the model's current backend;
// the gradient lives in the backend's memory and is read back through it.
static Pass forward_backward(Model *m) {
    const Backend *be = m->backend;
    Err e = {{0}};
    int V = m->cfg.vocab_size, LK = m->cfg.num_hidden_layers * (m->moe ? m->cfg.num_experts_per_tok : 1);
    Pass p = {.logits = xcalloc((size_t)T_ALL * V, sizeof(float)), .grads = xcalloc(m->n_params, sizeof(float)),
              .experts = xcalloc((size_t)T_ALL * LK, sizeof(int32_t))};
    ModelActs *acts;
    cr_assert_eq(model_forward(m, N_SEQS, OFF, TOK, p.logits, m->moe ? p.experts : NULL, &p.aux, &acts, &e), 0, "%s",
                 e.msg);
    float *dlogits = xmalloc((size_t)T_ALL * V * sizeof(float));
    for (size_t i = 0; i < (size_t)T_ALL * V; i++) dlogits[i] = (float)((int)(i * 7919 % 23) - 11) / 16.0f;
    void *g = bk_alloc(be, m->n_params, BUF_F32);
    cr_assert_eq(model_backward(m, acts, dlogits, 0.01, g, &e), 0, "%s", e.msg);
    be->to_host(be, p.grads, g, m->n_params, BUF_F32);
    be->free(be, g);
    model_acts_free(acts);
    free(dlogits);
    return p;
}

static void pass_free(Pass *p) { free(p->logits), free(p->grads), free(p->experts); }

// Decode of the three sequences, the first prefilled and copied into slot 3, the rest token by token.
static float *decode_all(Model *m) {
    Err e = {{0}};
    int V = m->cfg.vocab_size;
    float *logits = xcalloc((size_t)(T_ALL + 1) * V, sizeof(float));
    KVCache *c = kv_cache_create(m, 4, 16, &e);
    cr_assert(c, "%s", e.msg);
    int slots[8], pos[8];
    for (int t = 0; t < 4; t++) slots[t] = 0, pos[t] = t;
    cr_assert_eq(model_decode(m, c, 4, slots, pos, TOK, logits, NULL, &e), 0, "%s", e.msg);
    kv_cache_copy(c, 3, 0, 3);
    slots[0] = 3, pos[0] = 3;
    cr_assert_eq(model_decode(m, c, 1, slots, pos, TOK + 3, logits + (size_t)T_ALL * V, NULL, &e), 0, "%s", e.msg);
    for (int t = 4; t < T_ALL; t++) {
        int s = t < 5 ? 1 : 2;
        slots[0] = s, pos[0] = (int)(t - OFF[s]);
        cr_assert_eq(model_decode(m, c, 1, slots, pos, TOK + t, logits + (size_t)t * V, NULL, &e), 0, "%s", e.msg);
    }
    kv_cache_free(c);
    return logits;
}

static void check_guarded(const char *const *sets, int n_sets) {
    guard_init();
    Model m;
    Err e = {{0}};
    tiny_model(&m, sets, n_sets, 7);
    m.fixed_order_backward = true;
    int V = m.cfg.vocab_size, L = m.cfg.num_hidden_layers, LK = L * (m.moe ? m.cfg.num_experts_per_tok : 1);
    Pass want = forward_backward(&m);
    float *want_dec = decode_all(&m);
    cr_assert_eq(model_set_backend(&m, &guard, &e), 0, "%s", e.msg);
    Pass got = forward_backward(&m);
    cr_assert_str_empty(G.violation, "%s", G.violation);
    cr_assert_eq(memcmp(got.logits, want.logits, (size_t)T_ALL * V * sizeof(float)), 0, "logits differ");
    cr_assert_eq(memcmp(got.grads, want.grads, m.n_params * sizeof(float)), 0, "gradients differ");
    cr_assert_eq(memcmp(got.experts, want.experts, (size_t)T_ALL * LK * sizeof(int32_t)), 0, "experts differ");
    cr_assert_eq(got.aux, want.aux);
    // Per layer: q, k, v, o and the dense MLP's three; one attention, two norms; the head: one norm, one matmul.
    int n_moe = model_n_moe_layers(&m), n_dense = L - n_moe;
    cr_assert_eq(G.matmul, 4L * L + 3L * n_dense + 1, "%ld matmuls", G.matmul);
    cr_assert_eq(G.matmul_dw, G.matmul, "%ld weight-gradient products", G.matmul_dw);
    cr_assert_eq(G.attention, L);
    cr_assert_eq(G.attention_back, L);
    cr_assert_eq(G.rope_back, 2L * L);
    cr_assert_eq(G.rms_norm, 2L * L + 1);
    cr_assert_eq(G.moe, n_moe);
    cr_assert_eq(G.moe_back, n_moe);
    float *dec = decode_all(&m);
    cr_assert_str_empty(G.violation, "%s", G.violation);
    cr_assert_eq(memcmp(dec, want_dec, (size_t)(T_ALL + 1) * V * sizeof(float)), 0, "decode differs");
    cr_assert_eq(memcmp(dec, got.logits, (size_t)T_ALL * V * sizeof(float)), 0, "decode differs from the forward");
    cr_assert_eq(memcmp(dec + (size_t)T_ALL * V, got.logits + 3 * (size_t)V, V * sizeof(float)), 0, "copied slot");
    cr_assert_eq(G.n_bufs, 1, "%d buffers left besides the weights", G.n_bufs - 1);
    free(dec), free(want_dec);
    pass_free(&got), pass_free(&want);
    model_free(&m);
}

Test(backend, guarded_loop_qwen2) { check_guarded(TINY_QWEN2, N_OF(TINY_QWEN2)); }
Test(backend, guarded_loop_qwen3) { check_guarded(TINY_QWEN3, N_OF(TINY_QWEN3)); }
Test(backend, guarded_loop_qwen2_moe) { check_guarded(TINY_QWEN2_MOE, N_OF(TINY_QWEN2_MOE)); }
Test(backend, guarded_loop_qwen3_moe_dense_layers) {
    check_guarded(TINY_QWEN3_MOE_SPARSE, N_OF(TINY_QWEN3_MOE_SPARSE));
}

// The response log-probs and their gradient (seqbatch.c) go through the table too.
Test(backend, guarded_seqbatch) {
    guard_init();
    Model m;
    Err e = {{0}};
    tiny_model(&m, TINY_QWEN3, N_OF(TINY_QWEN3), 9);
    SeqBatch b = {0};
    seqbatch_add(&b, TOK, 3, TOK + 3, 5);
    seqbatch_add(&b, TOK + 8, 1, TOK + 9, 4);
    double want[9], want_h[9], got[9], got_h[9], dlogp[9], dh[9];
    for (int i = 0; i < 9; i++) dlogp[i] = 0.25 * (i - 4), dh[i] = i % 3 ? 0.5 : 0.0;
    dlogp[2] = 0, dh[2] = 0;  // a row the backward leaves alone
    SeqForward f;
    float *g_want = xcalloc(m.n_params, sizeof(float)), *g_got = xcalloc(m.n_params, sizeof(float));
    cr_assert_eq(seqbatch_forward(&m, &b, 0.7, true, want, want_h, &f, &e), 0, "%s", e.msg);
    cr_assert_eq(seqbatch_backward(&m, &b, &f, 0.7, dlogp, dh, 0, g_want, &e), 0, "%s", e.msg);
    cr_assert_eq(model_set_backend(&m, &guard, &e), 0, "%s", e.msg);
    cr_assert_eq(seqbatch_forward(&m, &b, 0.7, true, got, got_h, &f, &e), 0, "%s", e.msg);
    void *g = bk_alloc(&guard, m.n_params, BUF_F32);
    cr_assert_eq(seqbatch_backward(&m, &b, &f, 0.7, dlogp, dh, 0, g, &e), 0, "%s", e.msg);
    guard.to_host(&guard, g_got, g, m.n_params, BUF_F32);
    cr_assert_str_empty(G.violation, "%s", G.violation);
    cr_assert_eq(G.logprob, 2);
    cr_assert_eq(memcmp(got, want, sizeof got), 0);
    cr_assert_eq(memcmp(got_h, want_h, sizeof got_h), 0);
    cr_assert_eq(memcmp(g_got, g_want, m.n_params * sizeof(float)), 0, "gradients differ");
    guard.free(&guard, g);
    free(g_want), free(g_got);
    seqbatch_free(&b);
    model_free(&m);
}

// The sampler's path goes through the table too: a prefill's logits stay in backend memory, its last row alone is
// model_decode's last row, and the draws are sample_pick's with logprob_entropy's log-probs on the host logits.
Test(backend, guarded_sampling) {
    guard_init();
    Model m;
    Err e = {{0}};
    tiny_model(&m, TINY_QWEN3, N_OF(TINY_QWEN3), 11);
    int V = m.cfg.vocab_size, slots[4] = {0}, pos[4] = {0, 1, 2, 3};
    float *want = xcalloc((size_t)4 * V, sizeof(float)), *got = xcalloc((size_t)V, sizeof(float));
    KVCache *c = kv_cache_create(&m, 1, 8, &e);
    cr_assert_eq(model_decode(&m, c, 4, slots, pos, TOK, want, NULL, &e), 0, "%s", e.msg);
    kv_cache_free(c);
    const float *last = want + (size_t)3 * V;
    SampleSpec sp = {.temperature = 0.8, .top_p = 0.9, .record_temperature = 0.8, .top_k = 40};
    double u[3] = {0.1, 0.5, 0.93}, lp[3], h[3], want_lp[3], want_h[3];
    int32_t row[3] = {0, 0, 0}, tok[3], want_tok[3];
    SampleWork w;
    sample_work_init(&w, V);
    for (int k = 0; k < 3; k++) {
        want_tok[k] = sample_pick(last, &sp, u[k], &w);
        logprob_entropy(last, V, sp.record_temperature, want_tok[k], &want_lp[k], &want_h[k]);
    }
    sample_work_free(&w);
    cr_assert_eq(model_set_backend(&m, &guard, &e), 0, "%s", e.msg);
    c = kv_cache_create(&m, 1, 8, &e);
    void *logits = model_logits_alloc(&m, 1);
    cr_assert(c && logits);
    cr_assert_eq(model_decode_keep(&m, c, 4, slots, pos, TOK, 3, logits, NULL, &e), 0, "%s", e.msg);
    model_sample(&m, logits, 3, row, u, &sp, tok, lp, h);
    guard.to_host(&guard, got, logits, (size_t)V, BUF_ACT);
    cr_assert_str_empty(G.violation, "%s", G.violation);
    cr_assert_eq(G.sample, 1);
    cr_assert_eq(memcmp(got, last, (size_t)V * sizeof(float)), 0, "the prefill's last row differs");
    cr_assert_eq(memcmp(tok, want_tok, sizeof tok), 0, "tokens differ");
    cr_assert_eq(memcmp(lp, want_lp, sizeof lp), 0, "log-probs differ");
    cr_assert_eq(memcmp(h, want_h, sizeof h), 0, "entropies differ");
    model_logits_free(&m, logits);
    kv_cache_free(c);
    free(want), free(got);
    model_free(&m);
}

// The guard itself: memory it handed out cannot be touched outside its operations, and a foreign buffer is named.
// The fault kills the process; under AddressSanitizer (make test SAN=1) its handler reports it and exits 1 instead.
#ifdef __SANITIZE_ADDRESS__
#define DIES_OF_THE_FAULT .exit_code = 1
#else
#define DIES_OF_THE_FAULT .signal = SIGSEGV
#endif
Test(backend, guard_catches_a_direct_access, DIES_OF_THE_FAULT) {
    guard_init();
    float *x = guard.alloc(&guard, 16, BUF_ACT);
    x[3] = 1.0f;
}

Test(backend, guard_names_a_foreign_buffer) {
    guard_init();
    float host[8] = {0};
    void *x = guard.alloc(&guard, 8, BUF_ACT);
    guard.add(&guard, x, host, 8);
    cr_assert(strstr(G.violation, "y: "), "%s", G.violation);
    guard.free(&guard, x);
}

// The CPU backend's buffers apart (the KV cache's): zeroed, huge-page aligned from 2 MiB, and gone from the process
// once freed (mincore refuses an unmapped range), so no hole is left in the heap.
Test(backend, cpu_buffers_apart_are_zeroed_mappings_unmapped_when_freed) {
    const Backend *be = backend_cpu();
    size_t n = (size_t)3 << 20;  // 12 MiB of floats
    float *x = be->alloc_apart(be, n, BUF_ACT);
    cr_assert_not_null(x);
    cr_expect_eq((uintptr_t)x % ((size_t)2 << 20), 0);
    size_t nonzero = 0;
    for (size_t i = 0; i < n; i += 1021) nonzero += x[i] != 0;
    cr_expect_eq(nonzero, 0);
    x[n - 1] = 1;
    be->free_apart(be, x, n, BUF_ACT);
    unsigned char vec[1];
    cr_expect_eq(mincore(x, 4096, vec), -1, "the first page is still mapped");
    cr_expect_null(be->alloc_apart(be, SIZE_MAX / 2, BUF_ACT));
}
