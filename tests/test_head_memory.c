// The chunked LM head's memory (model/model_head.c) at a real size: T = 4096 tokens, Qwen's vocabulary of 151936. A
// counting backend (the CPU's table with every operation a no-op, so only the allocations happen) records each
// backend buffer and the peak of the live bytes through a training forward and backward. No buffer may hold T x V
// elements, and the peak must stay near two chunks of logits, where the unchunked head held the [T, V] logits and
// their gradient (2 x 2.5 GB in fp32). The numbers are printed for results/gpu.md. The same backend then measures
// what activation recomputation (train.recompute) saves.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/backend.h"
#include "model_testutil.h"

static struct {
    size_t live, peak, largest;  // bytes
} C;

typedef struct {
    size_t bytes;
    max_align_t pad;
} Header;

static size_t bytes_of(BufType t) { return t == BUF_F64 || t == BUF_I64 ? 8 : 4; }

static void *c_alloc(const Backend *be, size_t n, BufType t) {
    (void)be;
    size_t bytes = (n + 1) * bytes_of(t);
    Header *h = calloc(1, sizeof *h + bytes);  // large zeroed blocks are mapped lazily: never touched here
    if (!h) return NULL;
    h->bytes = bytes;
    C.live += bytes;
    if (C.live > C.peak) C.peak = C.live;
    if (bytes > C.largest) C.largest = bytes;
    return h + 1;
}

static void c_free(const Backend *be, void *buf) {
    (void)be;
    if (!buf) return;
    Header *h = (Header *)buf - 1;
    C.live -= h->bytes;
    free(h);
}

// Views are copies in backend memory, as on a device.
static void *c_view(const Backend *be, void *host, size_t n, BufType t, ViewDir dir) {
    void *v = c_alloc(be, n, t);
    if (dir & VIEW_IN) memcpy(v, host, n * bytes_of(t));
    return v;
}

static void c_view_end(const Backend *be, void *view, void *host, size_t n, BufType t, ViewDir dir) {
    if (dir & VIEW_OUT) memcpy(host, view, n * bytes_of(t));
    c_free(be, view);
}

static void nop_embed(const Backend *b, const void *t, const void *k, int T, int D, void *x) {
    (void)b, (void)t, (void)k, (void)T, (void)D, (void)x;
}
static void nop_rms(const Backend *b, const void *x, const void *w, void *y, void *i, int T, int D, double eps) {
    (void)b, (void)x, (void)w, (void)y, (void)i, (void)T, (void)D, (void)eps;
}
static void nop_head_norm(const Backend *b, const void *w, const void *x, void *y, void *i, int T, int H, int hd,
                          double eps) {
    (void)b, (void)w, (void)x, (void)y, (void)i, (void)T, (void)H, (void)hd, (void)eps;
}
static void nop_rope(const Backend *b, void *x, const void *p, int T, int H, int hd, double th, bool inv) {
    (void)b, (void)x, (void)p, (void)T, (void)H, (void)hd, (void)th, (void)inv;
}
static void nop_matmul(const Backend *b, const void *x, const void *w, const void *bias, void *y, int M, int N, int K) {
    (void)b, (void)x, (void)w, (void)bias, (void)y, (void)M, (void)N, (void)K;
}
static void nop_kv(const Backend *b, void *kb, void *vb, const void *k, const void *v, const void *p, const void *r,
                   int T, int KD) {
    (void)b, (void)kb, (void)vb, (void)k, (void)v, (void)p, (void)r, (void)T, (void)KD;
}
static void nop_att(const Backend *b, const Dims *d, int T, const void *p, const void *r, const int64_t *sh,
                    const void *kb, const void *vb, const void *q, void *att, void *lse) {
    (void)b, (void)d, (void)T, (void)p, (void)r, (void)sh, (void)kb, (void)vb, (void)q, (void)att, (void)lse;
}
static void nop_swiglu(const Backend *b, const void *g, const void *u, void *a, size_t n) {
    (void)b, (void)g, (void)u, (void)a, (void)n;
}
static void nop_add(const Backend *b, void *x, const void *y, size_t n) { (void)b, (void)x, (void)y, (void)n; }
static void nop_rope_back(const Backend *b, void *dx, const void *p, int T, int H, int hd, double th) {
    (void)b, (void)dx, (void)p, (void)T, (void)H, (void)hd, (void)th;
}
static void nop_rms_back(const Backend *b, const void *x, const void *w, const void *i, const void *dy, void *dx,
                         float *dw, int T, int D) {
    (void)b, (void)x, (void)w, (void)i, (void)dy, (void)dx, (void)dw, (void)T, (void)D;
}
static void nop_head_norm_back(const Backend *b, const void *w, const void *r, const void *i, const void *dn,
                               void *dr, float *dw, int T, int H, int hd) {
    (void)b, (void)w, (void)r, (void)i, (void)dn, (void)dr, (void)dw, (void)T, (void)H, (void)hd;
}
static void nop_dw(const Backend *b, bool f, const void *dy, const void *x, float *dw, float *db, int T, int N, int K) {
    (void)b, (void)f, (void)dy, (void)x, (void)dw, (void)db, (void)T, (void)N, (void)K;
}
static void nop_dx(const Backend *b, bool f, const void *dy, const void *w, void *dx, int T, int N, int K, bool acc) {
    (void)b, (void)f, (void)dy, (void)w, (void)dx, (void)T, (void)N, (void)K, (void)acc;
}
static void nop_att_back(const Backend *b, const Dims *d, const ModelActs *A, const LayerActs *a, const void *datt,
                         void *dq, void *dk, void *dv) {
    (void)b, (void)d, (void)A, (void)a, (void)datt, (void)dq, (void)dk, (void)dv;
}
static void nop_swiglu_back(const Backend *b, const void *g, const void *u, const void *da, void *dg, void *du,
                            size_t n) {
    (void)b, (void)g, (void)u, (void)da, (void)dg, (void)du, (void)n;
}
static void nop_embed_back(const Backend *b, const void *t, const void *dx, float *dt, int T, int D) {
    (void)b, (void)t, (void)dx, (void)dt, (void)T, (void)D;
}
static void nop_head(const Backend *b, const void *z, int64_t n, int V, const void *t, double temp, double *lp,
                     double *h, double *st) {
    (void)b, (void)z, (void)n, (void)V, (void)t, (void)temp, (void)lp, (void)h, (void)st;
}
static void nop_head_back(const Backend *b, const void *z, int64_t n, int v0, int nv, const void *t, double temp,
                          const double *st, const double *dlp, const double *dh, void *dz) {
    (void)b, (void)z, (void)n, (void)v0, (void)nv, (void)t, (void)temp, (void)st, (void)dlp, (void)dh, (void)dz;
}

static Backend counting(void) {
    Backend be = *backend_cpu();
    be.name = "counting";
    be.alloc = c_alloc, be.alloc_uninit = c_alloc, be.free = c_free, be.view = c_view, be.view_end = c_view_end;
    be.embed = nop_embed, be.rms_norm = nop_rms, be.head_norm = nop_head_norm, be.rope = nop_rope;
    be.matmul = nop_matmul, be.kv_store = nop_kv, be.attention = nop_att, be.swiglu = nop_swiglu, be.add = nop_add;
    be.rope_back = nop_rope_back, be.rms_norm_back = nop_rms_back, be.head_norm_back = nop_head_norm_back;
    be.matmul_dw = nop_dw, be.matmul_dx = nop_dx, be.attention_back = nop_att_back;
    be.swiglu_back = nop_swiglu_back, be.embed_back = nop_embed_back;
    be.head_logprob = nop_head, be.head_logprob_back = nop_head_back;
    return be;
}

// A model of the given sizes on the counting backend be.
static void counted_model(Model *m, Backend *be, const char *const *sets, int n_sets) {
    Err e = {{0}};
    model_from_sets(m, sets, n_sets);
    *be = counting();
    cr_assert_eq(model_set_backend(m, be, &e), 0, "%s", e.msg);
}

// Bytes above the gradient buffer: left allocated by the forward for the backward, and the peaks of each pass.
typedef struct {
    size_t kept, fwd_peak, bwd_peak;
} Peaks;

// One training forward and backward of the log-prob head over one sequence of T tokens (targets tgt, -1: none).
static Peaks measure(Model *m, Backend *be, int T, const int32_t *tgt) {
    Err e = {{0}};
    int64_t off[2] = {0, T};
    int32_t *tok = xcalloc(T, sizeof *tok);
    double *lp = xcalloc(T, sizeof *lp), *h = xcalloc(T, sizeof *h), *dlp = xmalloc(T * sizeof *dlp);
    for (int t = 0; t < T; t++) dlp[t] = 1e-3;
    C.live = C.peak = C.largest = 0;
    float *grads = bk_alloc(be, m->n_params, BUF_F32);
    size_t base = C.live;
    Peaks p;
    ModelActs *acts;
    HeadLogprob hl = {.targets = tgt, .temperature = 1.0, .logp = lp, .entropy = h};
    cr_assert_eq(model_forward_logprob(m, 1, off, tok, &hl, NULL, NULL, &acts, &e), 0, "%s", e.msg);
    p.kept = C.live - base, p.fwd_peak = C.peak - base;
    C.peak = C.live;
    cr_assert_eq(model_backward_logprob_hooked(m, acts, dlp, h, 0, grads, NULL, NULL, &e), 0, "%s", e.msg);
    p.bwd_peak = C.peak - base;
    model_acts_free(acts);
    be->free(be, grads);
    cr_assert_eq(C.live, 0, "%zu bytes left allocated", C.live);
    free(tok), free(lp), free(h), free(dlp);
    return p;
}

Test(head_memory, no_t_by_v_buffer_at_4096_tokens_and_151936_words) {
    enum { T = 4096, V = 151936, PROMPT = 96 };
    static const char *const SETS[] = {"model.type=qwen3",         "model.vocab_size=151936",
                                       "model.hidden_size=64",     "model.intermediate_size=64",
                                       "model.num_hidden_layers=1", "model.num_attention_heads=4",
                                       "model.num_key_value_heads=2", "model.max_position_embeddings=4096"};
    Model m;
    Backend be;
    counted_model(&m, &be, SETS, N_OF(SETS));
    int32_t *tgt = xmalloc(T * sizeof *tgt);
    for (int t = 0; t < T; t++) tgt[t] = t >= PROMPT - 1 && t + 1 < T ? (t * 7919) % V : -1;
    size_t tv = (size_t)T * V * sizeof(float);
    for (int chunk = 256; chunk <= 1024; chunk *= 4) {
        m.head_chunk = chunk;
        Peaks p = measure(&m, &be, T, tgt);
        size_t two_chunks = 2 * (size_t)chunk * V * sizeof(float);
        printf("head_memory: T %d V %d head_chunk %d: largest buffer %.1f MiB, peak above the gradient: forward %.1f "
               "MiB, backward %.1f MiB (two chunks of fp32 logits: %.1f MiB; unchunked: logits + dlogits %.1f MiB)\n",
               T, V, chunk, C.largest / 1048576.0, p.fwd_peak / 1048576.0, p.bwd_peak / 1048576.0,
               two_chunks / 1048576.0, 2 * tv / 1048576.0);
        cr_assert_lt(C.largest, tv, "a buffer of %zu bytes: [T, V] is %zu", C.largest, tv);
        cr_assert_lt(p.bwd_peak, two_chunks + two_chunks / 4, "backward peak %zu bytes", p.bwd_peak);
    }
    free(tgt);
    model_free(&m);
}

// Activation recomputation (Model.recompute) at a size where activations dominate: 8 layers of 2048 tokens. The
// activations the forward leaves for the backward must shrink to about one [T, hidden] per layer, and the backward's
// peak with them (one layer's record is rebuilt at a time).
Test(head_memory, recompute_keeps_one_input_per_layer) {
    enum { T = 2048, L = 8, D = 256 };
    static const char *const SETS[] = {"model.type=qwen3",          "model.vocab_size=1000",
                                       "model.hidden_size=256",     "model.intermediate_size=704",
                                       "model.num_hidden_layers=8", "model.num_attention_heads=4",
                                       "model.num_key_value_heads=2", "model.max_position_embeddings=2048"};
    Model m;
    Backend be;
    counted_model(&m, &be, SETS, N_OF(SETS));
    int32_t *tgt = xmalloc(T * sizeof *tgt);
    for (int t = 0; t < T; t++) tgt[t] = (t * 7919) % 1000;
    Peaks p[2];
    for (int rc = 0; rc < 2; rc++) {
        m.recompute = rc;
        p[rc] = measure(&m, &be, T, tgt);
    }
    size_t one_input = (size_t)T * D * sizeof(float);
    printf("head_memory: recompute at T %d, %d layers of hidden %d: kept after the forward %.1f -> %.1f MiB (one "
           "input per layer: %.1f MiB), backward peak %.1f -> %.1f MiB\n",
           T, L, D, p[0].kept / 1048576.0, p[1].kept / 1048576.0, L * one_input / 1048576.0,
           p[0].bwd_peak / 1048576.0, p[1].bwd_peak / 1048576.0);
    cr_assert_lt(p[1].kept, p[0].kept / 4, "kept %zu bytes with recomputation, %zu without", p[1].kept, p[0].kept);
    cr_assert_lt(p[1].kept, L * one_input + p[0].kept / L, "kept %zu bytes: more than the inputs and a layer",
                 p[1].kept);
    cr_assert_lt(p[1].bwd_peak, p[0].bwd_peak / 2, "backward peak %zu bytes with recomputation, %zu without",
                 p[1].bwd_peak, p[0].bwd_peak);
    free(tgt);
    model_free(&m);
}
