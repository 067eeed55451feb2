// Forward building blocks (RMSNorm, RoPE, SwiGLU) and one decoder layer (attention.c and moe.c hold the rest). Each
// token's result depends only on its own row and its own sequence's keys, in a fixed order (src/README.md invariant 2).
#include <math.h>
#include <string.h>

#include "model/matmul.h"
#include "model/model_internal.h"

// RMSNorm (Zhang & Sennrich 2019; HF Qwen2RMSNorm): y = w * x / sqrt(mean(x^2) + eps), statistics in float64.
void rms_norm_rows(const float *x, const float *w, float *y, float *inv, int T, int D, double eps) {
#pragma omp parallel for schedule(static) if (T > 16)
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * D;
        double ss = 0;
        for (int i = 0; i < D; i++) ss += (double)xr[i] * xr[i];
        double r = 1.0 / sqrt(ss / D + eps);
        for (int i = 0; i < D; i++) y[(size_t)t * D + i] = w[i] * (float)(xr[i] * r);
        inv[t] = (float)r;
    }
}

// RoPE (Su et al. 2021) in the HF layout: pairs (i, i + hd/2), inv_freq_i = theta^(-2i/hd) in float32 as HF.
void rope_rows(float *x, const int *pos, int T, int H, int hd, double theta, int inverse) {
    int half = hd / 2;
#pragma omp parallel for schedule(static) if (T > 16)
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < half; i++) {
            float inv_freq = (float)(1.0 / pow(theta, (double)(2 * i) / hd));
            float angle = (float)pos[t] * inv_freq;
            float c = (float)cos((double)angle), s = (float)sin((double)angle);
            if (inverse) s = -s;
            for (int h = 0; h < H; h++) {
                float *r = x + (size_t)t * H * hd + (size_t)h * hd;
                float a = r[i], b = r[i + half];
                r[i] = a * c - b * s;
                r[i + half] = b * c + a * s;
            }
        }
    }
}

static float silu(float g) { return (float)(g / (1.0 + exp(-(double)g))); }

// SwiGLU MLP (Shazeer 2020): y = down(silu(gate(x)) * up(x)).
void swiglu(const float *x, const float *wg, const float *wu, const float *wd, int T, int D, int F, float *g,
                   float *u, float *act, float *y) {
    matmul_xwt(x, wg, NULL, g, T, F, D);
    matmul_xwt(x, wu, NULL, u, T, F, D);
#pragma omp parallel for schedule(static) if ((size_t)T * F > 32768)
    for (size_t i = 0; i < (size_t)T * F; i++) act[i] = silu(g[i]) * u[i];
    matmul_xwt(act, wd, NULL, y, T, D, F);
}

// Per-head RMSNorm of q or k rows [T, H*hd] (Qwen3), or a copy when the model has none.
static void head_norm(const Model *m, size_t w, const float *x, float *y, float *inv, int T, int H, int hd) {
    if (w == SIZE_MAX) {
        memcpy(y, x, (size_t)T * H * hd * sizeof(float));
        return;
    }
    rms_norm_rows(x, m->params + w, y, inv, T * H, hd, m->cfg.rms_norm_eps);
}

static const float *opt(const Model *m, size_t off) { return off == SIZE_MAX ? NULL : m->params + off; }

void layer_forward(const Model *m, int l, int T, const int *pos, const int64_t *kv_row0, float *kbuf, float *vbuf,
                   float *x, LayerActs *a, int32_t *experts, int experts_stride, double *psum, double *cnt) {
    Dims d = model_dims(m);
    const LayerOffsets *o = &m->priv->layers[l];
    const float *P = m->params;
    double eps = m->cfg.rms_norm_eps;
    memcpy(a->x_in, x, (size_t)T * d.D * sizeof(float));
    rms_norm_rows(x, P + o->ln1, a->a1, a->inv1, T, d.D, eps);
    matmul_xwt(a->a1, P + o->wq, opt(m, o->bq), a->q, T, d.QD, d.D);
    matmul_xwt(a->a1, P + o->wk, opt(m, o->bk), a->k, T, d.KD, d.D);
    matmul_xwt(a->a1, P + o->wv, opt(m, o->bv), a->v, T, d.KD, d.D);
    head_norm(m, o->qn, a->q, a->qr, a->qn_inv, T, d.Hq, d.hd);
    head_norm(m, o->kn, a->k, a->kr, a->kn_inv, T, d.Hk, d.hd);
    rope_rows(a->qr, pos, T, d.Hq, d.hd, m->cfg.rope_theta, 0);
    rope_rows(a->kr, pos, T, d.Hk, d.hd, m->cfg.rope_theta, 0);
    for (int t = 0; t < T; t++) {
        size_t row = (size_t)(kv_row0[t] + pos[t]) * d.KD;
        memmove(kbuf + row, a->kr + (size_t)t * d.KD, d.KD * sizeof(float));
        memmove(vbuf + row, a->v + (size_t)t * d.KD, d.KD * sizeof(float));
    }
    attention_forward(&d, T, pos, kv_row0, kbuf, vbuf, a->qr, a->att, a->lse);
    float *y = xmalloc((size_t)T * d.D * sizeof(float));
    matmul_xwt(a->att, P + o->wo, NULL, y, T, d.D, d.QD);
    for (size_t i = 0; i < (size_t)T * d.D; i++) x[i] += y[i];
    memcpy(a->h2, x, (size_t)T * d.D * sizeof(float));
    rms_norm_rows(x, P + o->ln2, a->a2, a->inv2, T, d.D, eps);
    if (model_layer_is_moe(m, l)) {
        moe_forward(m, o, &d, a->a2, a, T, y);
        for (int t = 0; t < T; t++)
            for (int k = 0; k < d.K; k++) {
                int32_t e = a->top_e[t * d.K + k];
                if (experts) experts[(size_t)t * experts_stride + k] = e;
                if (cnt) cnt[e] += 1;
            }
        for (int t = 0; t < T && psum; t++)
            for (int e = 0; e < d.E; e++) psum[e] += a->probs[(size_t)t * d.E + e];
    } else {
        swiglu(a->a2, P + o->gate, P + o->up, P + o->down, T, d.D, d.F, a->g, a->u, a->act, y);
        for (int t = 0; t < T && experts; t++)
            for (int k = 0; k < d.K; k++) experts[(size_t)t * experts_stride + k] = -1;
    }
    for (size_t i = 0; i < (size_t)T * d.D; i++) x[i] += y[i];
    free(y);
}

static float *alloc_f(size_t n) { return n ? xcalloc(n, sizeof(float)) : NULL; }

int layer_kind(const Model *m, int l) { return model_layer_is_moe(m, l) ? LAYER_MOE : LAYER_DENSE; }

int model_layer_kinds(const Model *m) {
    int kinds = 0;
    for (int l = 0; l < m->cfg.num_hidden_layers; l++) kinds |= layer_kind(m, l);
    return kinds;
}

void layer_acts_alloc(LayerActs *a, const Dims *d, int T, int kinds) {
    memset(a, 0, sizeof *a);
    size_t t = (size_t)T;
    a->x_in = alloc_f(t * d->D), a->inv1 = alloc_f(t), a->a1 = alloc_f(t * d->D);
    a->q = alloc_f(t * d->QD), a->k = alloc_f(t * d->KD), a->v = alloc_f(t * d->KD);
    a->qn_inv = alloc_f(t * d->Hq), a->kn_inv = alloc_f(t * d->Hk), a->qr = alloc_f(t * d->QD),
    a->kr = alloc_f(t * d->KD);
    a->lse = xcalloc(t * d->Hq + 1, sizeof(double));
    a->att = alloc_f(t * d->QD), a->h2 = alloc_f(t * d->D), a->inv2 = alloc_f(t), a->a2 = alloc_f(t * d->D);
    if (kinds & LAYER_DENSE) a->g = alloc_f(t * d->F), a->u = alloc_f(t * d->F), a->act = alloc_f(t * d->F);
    if (!(kinds & LAYER_MOE)) return;
    a->probs = alloc_f(t * d->E);
    a->top_e = xcalloc(t * d->K + 1, sizeof(int32_t));
    a->top_w = alloc_f(t * d->K);
    a->eg = alloc_f(t * d->K * d->Fe), a->eu = alloc_f(t * d->K * d->Fe), a->eact = alloc_f(t * d->K * d->Fe);
    a->eout = alloc_f(t * d->K * d->D);
    if (d->S)
        a->sg = alloc_f(t * d->S), a->su = alloc_f(t * d->S), a->sact = alloc_f(t * d->S), a->sout = alloc_f(t * d->D),
        a->sgate = alloc_f(t);
}

void layer_acts_free(LayerActs *a) {
    float *fs[] = {a->x_in, a->inv1, a->a1,   a->q,  a->k,  a->v,    a->qn_inv, a->kn_inv, a->qr,    a->kr,
                   a->att,  a->h2,   a->inv2, a->a2, a->g,  a->u,    a->act,    a->probs,  a->top_w, a->eg,
                   a->eu,   a->eact, a->eout, a->sg, a->su, a->sact, a->sout,   a->sgate};
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) free(fs[i]);
    free(a->lse);
    free(a->top_e);
    memset(a, 0, sizeof *a);
}
