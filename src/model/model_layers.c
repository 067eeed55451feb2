// Forward building blocks (RMSNorm, RoPE, SwiGLU) and one decoder layer (attention.c and moe.c hold the rest). Each
// token's result depends only on its own row and its own sequence's keys, in a fixed order (src/README.md invariant 2).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/backend.h"
#include "model/matmul.h"
#include "model/model_internal.h"
#include "model/vec_f64.h"

// RMSNorm (Zhang & Sennrich 2019; HF Qwen2RMSNorm): y = w * x / sqrt(mean(x^2) + eps), statistics in float64.
// Rows on several threads from 4096 elements (a decode group's 8 rows of 768): below, a fork costs more than it saves.
#define ROWS_PARALLEL(T, width) ((long)(T) * (width) >= 4096)

// y_i = w_i (float)(x_i r), VW lanes at a time: x_i r in float64, rounded, times w_i in float (the compiler leaves the
// plain loop scalar, not knowing that y overlaps neither x nor w).
static void norm_row(const float *x, const float *w, float *y, float *inv, int D, double eps) {
    double r = 1.0 / sqrt(sum8_products(x, x, NULL, D) / D + eps);  // sum of squares in eight lanes
    for (int i = 0; i < D; i += VW) {
        size_t n = (size_t)(D - i);
        vf xf, wf;
        load_vf(x + i, n, &xf), load_vf(w + i, n, &wf);
        vf yf = wf * __builtin_convertvector(__builtin_convertvector(xf, vd) * r, vf);
        store_vf(y + i, n, &yf);
    }
    *inv = (float)r;
}

// Rows on one thread outside any parallel region: libgomp's region with a false if clause costs 0.3 us, as much as a
// decode row's RoPE.
void rms_norm_rows(const float *x, const float *w, float *y, float *inv, int T, int D, double eps) {
    if (!ROWS_PARALLEL(T, D)) {
        for (int t = 0; t < T; t++) norm_row(x + (size_t)t * D, w, y + (size_t)t * D, &inv[t], D, eps);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) norm_row(x + (size_t)t * D, w, y + (size_t)t * D, &inv[t], D, eps);
}

void add_floats(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i += VW) {
        vf a, b;
        load_vf(x + i, n - i, &a), load_vf(y + i, n - i, &b);
        a += b;
        store_vf(x + i, n - i, &a);
    }
}

// Row t of residual_norm_rows.
static void residual_norm_row(float *x, const float *y, float *keep, const float *w, float *out, float *inv, int t,
                              int D, double eps) {
    size_t o = (size_t)t * D;
    if (y) add_floats(x + o, y + o, (size_t)D);
    memcpy(keep + o, x + o, (size_t)D * sizeof *x);
    norm_row(x + o, w, out + o, &inv[t], D, eps);
}

// One pass where add, copy and rms_norm_rows took three: in decode each of those was a call whose rows came from
// another core, which on a Zen 4 VM whose two cores sit on two chiplets cost 4-8 us a call for 8 rows of 768.
void residual_norm_rows(float *x, const float *y, float *keep, const float *w, float *out, float *inv, int T, int D,
                        double eps) {
    if (!ROWS_PARALLEL(T, D)) {
        for (int t = 0; t < T; t++) residual_norm_row(x, y, keep, w, out, inv, t, D, eps);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) residual_norm_row(x, y, keep, w, out, inv, t, D, eps);
}

// RoPE (Su et al. 2021) in the HF layout: pairs (i, i + hd/2), inv_freq_i = theta^(-2i/hd) in float32 as HF.
// Each thread keeps the cos/sin of the last position it rotated by (and the frequencies behind them) across calls: a
// decode step rotates every layer's q and k at one position, and a group's rows mostly share it, so a step computes
// them once per thread instead of 2 x layers times (32 pow, cos and sin a call: 2.5 us of a 124M decode step's 9 ms
// each). The same expressions whenever they are computed, so the same bits.
enum { ROPE_HALF_MAX = 2048 };  // config.c and model_hf.c cap head_dim at 4096
typedef struct {
    double theta;
    int half, pos, inverse;  // half 0: nothing held yet
    float inv_freq[ROPE_HALF_MAX], c[ROPE_HALF_MAX], s[ROPE_HALF_MAX];
} RopeAngles;

static _Thread_local RopeAngles held_angles;

static const RopeAngles *rope_angles(int pos, int hd, double theta, int inverse) {
    RopeAngles *a = &held_angles;
    int half = hd / 2;
    if (a->half != half || a->theta != theta) {
        for (int i = 0; i < half; i++) a->inv_freq[i] = (float)(1.0 / pow(theta, (double)(2 * i) / hd));
        a->half = half, a->theta = theta, a->pos = -1;
    }
    if (a->pos != pos || a->inverse != inverse) {
        for (int i = 0; i < half; i++) {
            float angle = (float)pos * a->inv_freq[i];
            a->c[i] = (float)cos((double)angle), a->s[i] = (float)sin((double)angle);
            if (inverse) a->s[i] = -a->s[i];
        }
        a->pos = pos, a->inverse = inverse;
    }
    return a;
}

// One token's H heads rotated by position pos.
static void rope_row(float *x, int pos, int H, int hd, double theta, int inverse) {
    const RopeAngles *a = rope_angles(pos, hd, theta, inverse);
    const float *c = a->c, *s = a->s;
    int half = hd / 2;
    for (int h = 0; h < H; h++) {
        float *r = x + (size_t)h * hd;
        for (int i = 0; i < half; i++) {
            float u = r[i], v = r[i + half];
            r[i] = u * c[i] - v * s[i];
            r[i + half] = v * c[i] + u * s[i];
        }
    }
}

void rope_rows(float *x, const int *pos, int T, int H, int hd, double theta, int inverse) {
    int half = hd / 2;
    if (half > ROPE_HALF_MAX) {  // a caller's bug: config.c rejects such a head_dim
        fprintf(stderr, "rlvr: rope_rows: head_dim %d, expected at most %d\n", hd, 2 * ROPE_HALF_MAX);
        abort();
    }
    // On one thread up to 64Ki elements (a decode group's rows), outside any parallel region (as rms_norm_rows): the
    // rotation costs less than the rows' trips to another core and back, which on a Zen 4 VM with its cores on two
    // chiplets made a group's RoPE twice as slow.
    if ((long)T * H * hd <= 65536) {
        for (int t = 0; t < T; t++) rope_row(x + (size_t)t * H * hd, pos[t], H, hd, theta, inverse);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) rope_row(x + (size_t)t * H * hd, pos[t], H, hd, theta, inverse);
}

// act_block's operands: g, u and act, rows of F.
typedef struct {
    const float *g, *u;
    float *act;
    int F;
} ActBlocks;

// act = silu(g) u over one block of rows and columns.
static void act_block(void *ctx, int i0, int i1, int j0, int j1) {
    const ActBlocks *a = ctx;
    for (int i = i0; i < i1; i++) {
        size_t o = (size_t)i * a->F + j0;
        swiglu_act_span(a->g + o, a->u + o, a->act + o, (size_t)(j1 - j0));
    }
}

// As its own pass, SwiGLU read g from one core and u from another on two threads (the gate and up product gave the
// first half of its blocks, the gate's, to one thread and the up's to the other): on a Zen 4 VM with its cores on two
// chiplets a decode group's took 21 us a call, against 15 us on one thread (results/cpu-bench-history.md).
void gate_up_act(const float *x, const float *wg, const float *wu, int T, int D, int F, float *g, float *u,
                 float *act) {
    ActBlocks a = {g, u, act, F};
    matmul_xwt_parts_then(x, T, D, (MatmulPart[]){{wg, NULL, g, F}, {wu, NULL, u, F}}, 2,
                          (MatmulThen){act_block, &a});
}

// SwiGLU MLP (Shazeer 2020): y = down(silu(gate(x)) * up(x)).
void swiglu(const float *x, const float *wg, const float *wu, const float *wd, int T, int D, int F, float *g,
                   float *u, float *act, float *y) {
    gate_up_act(x, wg, wu, T, D, F, g, u, act);
    matmul_xwt(act, wd, NULL, y, T, D, F);
}

// The residual stream's MLP half: dense SwiGLU, or the MoE block with its chosen experts reported to the caller.
static void mlp_forward(const Model *m, int l, const Dims *d, LayerActs *a, int T, void *y, int32_t *experts,
                        int experts_stride, double *psum, double *cnt) {
    const Backend *be = m->backend;
    const LayerOffsets *o = &m->priv->layers[l];
    if (!model_layer_is_moe(m, l)) {
        bk_gate_up_act(be, a->a2, be->param(be, m, o->gate), be->param(be, m, o->up), a->g, a->u, a->act, T, d->F,
                       d->D);
        be->matmul(be, a->act, be->param(be, m, o->down), NULL, y, T, d->D, d->F);
        for (int t = 0; t < T && experts; t++)
            for (int k = 0; k < d->K; k++) experts[(size_t)t * experts_stride + k] = -1;
        return;
    }
    be->moe(be, m, l, a->a2, a, T, y);
    if (!experts && !cnt && !psum) return;
    int32_t *top_e = xmalloc((size_t)T * d->K * sizeof *top_e);
    be->to_host(be, top_e, a->top_e, (size_t)T * d->K, BUF_I32);
    for (int t = 0; t < T; t++)
        for (int k = 0; k < d->K; k++) {
            int32_t e = top_e[t * d->K + k];
            if (experts) experts[(size_t)t * experts_stride + k] = e;
            if (cnt) cnt[e] += 1;
        }
    free(top_e);
    if (!psum) return;
    float *probs = xmalloc((size_t)T * d->E * sizeof *probs);
    be->to_host(be, probs, a->probs, (size_t)T * d->E, BUF_F32);
    for (int t = 0; t < T; t++)
        for (int e = 0; e < d->E; e++) psum[e] += probs[(size_t)t * d->E + e];
    free(probs);
}

void layer_forward(const Model *m, int l, int T, const void *pos, const void *kv_row0, const int64_t *kv_shared,
                   void *kbuf, void *vbuf, void *x, LayerActs *a, int32_t *experts, int experts_stride, double *psum,
                   double *cnt) {
    const Backend *be = m->backend;
    Dims d = model_dims(m);
    const LayerOffsets *o = &m->priv->layers[l];
    double eps = m->cfg.rms_norm_eps, theta = m->cfg.rope_theta;
    size_t n = (size_t)T * d.D;
    bk_residual_norm(be, x, NULL, a->x_in, be->param(be, m, o->ln1), a->a1, a->inv1, T, d.D, eps);
    ProductPart qkv[3] = {{be->param(be, m, o->wq), be->param(be, m, o->bq), a->q, d.QD},
                          {be->param(be, m, o->wk), be->param(be, m, o->bk), a->k, d.KD},
                          {be->param(be, m, o->wv), be->param(be, m, o->bv), a->v, d.KD}};
    bk_matmul_parts(be, a->a1, qkv, 3, T, d.D);
    if ((a->qr != a->q) != m->cfg.qk_norm) {  // a caller's bug: a record allocated for other layers (layer_kind)
        fprintf(stderr, "rlvr: layer_forward: layer %d's record %s q/k norms, its model %s\n", l,
                a->qr != a->q ? "has" : "lacks", m->cfg.qk_norm ? "has them" : "not");
        abort();
    }
    if (m->cfg.qk_norm) {  // q/k norms into qr, kr; without them those are q and k, rotated in place
        be->head_norm(be, be->param(be, m, o->qn), a->q, a->qr, a->qn_inv, T, d.Hq, d.hd, eps);
        be->head_norm(be, be->param(be, m, o->kn), a->k, a->kr, a->kn_inv, T, d.Hk, d.hd, eps);
    }
    be->rope(be, a->qr, pos, T, d.Hq, d.hd, theta, false);
    be->rope(be, a->kr, pos, T, d.Hk, d.hd, theta, false);
    be->kv_store(be, kbuf, vbuf, a->kr, a->v, pos, kv_row0, T, d.KD);
    be->attention(be, &d, T, pos, kv_row0, kv_shared, kbuf, vbuf, a->qr, a->att, a->lse);
    void *y = bk_alloc_uninit(be, n, BUF_ACT);  // the o projection's output, then the MLP's
    be->matmul(be, a->att, be->param(be, m, o->wo), NULL, y, T, d.D, d.QD);
    bk_residual_norm(be, x, y, a->h2, be->param(be, m, o->ln2), a->a2, a->inv2, T, d.D, eps);
    mlp_forward(m, l, &d, a, T, y, experts, experts_stride, psum, cnt);
    be->add(be, x, y, n);
    be->free(be, y);
}

// n activations / float statistics in the backend's memory, or NULL for none (a record's absent fields): zeroed, or
// (written) left as they are, for the fields layer_forward overwrites whole before any operation reads them.
static void *alloc_f(const Backend *be, size_t n) { return n ? bk_alloc(be, n, BUF_ACT) : NULL; }
static void *alloc_written(const Backend *be, size_t n) { return n ? bk_alloc_uninit(be, n, BUF_ACT) : NULL; }
static void *alloc_stat(const Backend *be, size_t n) { return n ? bk_alloc(be, n, BUF_F32) : NULL; }

int layer_kind(const Model *m, int l) {
    return (model_layer_is_moe(m, l) ? LAYER_MOE : LAYER_DENSE) | (m->cfg.qk_norm ? LAYER_QK_NORM : 0);
}

int model_layer_kinds(const Model *m) {
    int kinds = 0;
    for (int l = 0; l < m->cfg.num_hidden_layers; l++) kinds |= layer_kind(m, l);
    return kinds;
}

void layer_acts_alloc(const Backend *be, LayerActs *a, const Dims *d, int T, int kinds) {
    memset(a, 0, sizeof *a);
    size_t t = (size_t)T;
    a->x_in = alloc_written(be, t * d->D), a->inv1 = alloc_stat(be, t), a->a1 = alloc_written(be, t * d->D);
    a->q = alloc_written(be, t * d->QD), a->k = alloc_written(be, t * d->KD), a->v = alloc_written(be, t * d->KD);
    a->qr = a->q, a->kr = a->k;
    if (kinds & LAYER_QK_NORM) {
        a->qn_inv = alloc_stat(be, t * d->Hq), a->kn_inv = alloc_stat(be, t * d->Hk);
        a->qr = alloc_written(be, t * d->QD), a->kr = alloc_written(be, t * d->KD);
    }
    a->lse = bk_alloc_uninit(be, t * d->Hq + 1, BUF_F64);
    a->att = alloc_written(be, t * d->QD), a->h2 = alloc_written(be, t * d->D);
    a->inv2 = alloc_stat(be, t), a->a2 = alloc_written(be, t * d->D);
    if (kinds & LAYER_DENSE)
        a->g = alloc_written(be, t * d->F), a->u = alloc_written(be, t * d->F), a->act = alloc_written(be, t * d->F);
    if (!(kinds & LAYER_MOE)) return;
    a->probs = alloc_stat(be, t * d->E);
    a->top_e = bk_alloc(be, t * d->K + 1, BUF_I32);
    a->top_w = alloc_stat(be, t * d->K);
    size_t ef = t * d->K * d->Fe;
    a->eg = alloc_f(be, ef), a->eu = alloc_f(be, ef), a->eact = alloc_f(be, ef);
    a->eout = alloc_f(be, t * d->K * d->D);
    if (!d->S) return;
    a->sg = alloc_f(be, t * d->S), a->su = alloc_f(be, t * d->S), a->sact = alloc_f(be, t * d->S);
    a->sout = alloc_f(be, t * d->D), a->sgate = alloc_f(be, t);
}

void layer_acts_free(const Backend *be, LayerActs *a) {
    if (a->qr == a->q) a->qr = a->kr = NULL;  // q and k themselves (no q/k norms)
    void *bs[] = {a->x_in, a->inv1, a->a1, a->q,    a->k,     a->v,     a->qn_inv, a->kn_inv, a->qr,   a->kr,
                  a->att,  a->h2,   a->inv2, a->a2, a->g,     a->u,     a->act,    a->probs,  a->top_w, a->eg,
                  a->eu,   a->eact, a->eout, a->sg, a->su,    a->sact,  a->sout,   a->sgate,  a->lse,  a->top_e};
    for (size_t i = 0; i < sizeof bs / sizeof bs[0]; i++) be->free(be, bs[i]);
    memset(a, 0, sizeof *a);
}
