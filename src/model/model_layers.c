// Forward building blocks (RMSNorm, RoPE, attention, MLP, MoE) and one decoder layer. Each token's result
// depends only on its own row and its own sequence's keys, in a fixed order (src/README.md invariant 2).
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

// Scaled dot-product attention (Vaswani et al. 2017) of one query over keys 0..n-1 of its sequence, in key
// order; softmax sums in float64; e: n doubles of scratch. out is updated eight dimensions at a time: each out[d]
// still sees the same multiply and add in key order.
static void attend(const float *q, const float *k, const float *restrict v, int n, int stride, int hd, float scale,
                   double *e, float *restrict out, double *lse) {
    double mx = -INFINITY;
    for (int j = 0; j < n; j++) {
        e[j] = matmul_dot(q, k + (size_t)j * stride, hd) * scale;
        if (e[j] > mx) mx = e[j];
    }
    double sum = 0;
    for (int j = 0; j < n; j++) sum += e[j] = exp(e[j] - mx);
    for (int d = 0; d < hd; d++) out[d] = 0;
    for (int j = 0; j < n; j++) {
        float p = (float)(e[j] / sum);
        axpy(out, p, v + (size_t)j * stride, hd);
    }
    *lse = mx + log(sum);
}

static void attention(const Dims *d, int T, const int *pos, const int64_t *row0, const float *kbuf, const float *vbuf,
                      const float *qr, float *att, double *lse) {
    float scale = (float)(1.0 / sqrt((double)d->hd));
    int group = d->Hq / d->Hk, max_n = 0;
    for (int t = 0; t < T; t++) max_n = pos[t] + 1 > max_n ? pos[t] + 1 : max_n;
#pragma omp parallel if ((long)T * max_n > 256)
    {
        double *e = xmalloc((size_t)max_n * sizeof *e);
#pragma omp for schedule(dynamic, 4) collapse(2)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < d->Hq; h++) {
                size_t kv = (size_t)row0[t] * d->KD + (size_t)(h / group) * d->hd;
                attend(qr + (size_t)t * d->QD + (size_t)h * d->hd, kbuf + kv, vbuf + kv, pos[t] + 1, d->KD, d->hd,
                       scale, e, att + (size_t)t * d->QD + (size_t)h * d->hd, &lse[(size_t)t * d->Hq + h]);
            }
        free(e);
    }
}

// SwiGLU MLP (Shazeer 2020): y = down(silu(gate(x)) * up(x)).
static void swiglu(const float *x, const float *wg, const float *wu, const float *wd, int T, int D, int F, float *g,
                   float *u, float *act, float *y) {
    matmul_xwt(x, wg, NULL, g, T, F, D);
    matmul_xwt(x, wu, NULL, u, T, F, D);
    for (size_t i = 0; i < (size_t)T * F; i++) act[i] = silu(g[i]) * u[i];
    matmul_xwt(act, wd, NULL, y, T, D, F);
}

// Router softmax and top-k (HF Qwen2/3-MoE): probs in float64 sums, top-k largest first (ties: lower index),
// weights renormalised over the chosen k when norm_topk_prob.
static void route(const Model *m, const Dims *d, const float *logits, float *probs, int32_t *top_e, float *top_w,
                  int T) {
    for (int t = 0; t < T; t++) {
        const float *z = logits + (size_t)t * d->E;
        float *p = probs + (size_t)t * d->E;
        double mx = -INFINITY, sum = 0;
        for (int i = 0; i < d->E; i++) mx = z[i] > mx ? z[i] : mx;
        for (int i = 0; i < d->E; i++) sum += exp(z[i] - mx);
        for (int i = 0; i < d->E; i++) p[i] = (float)(exp(z[i] - mx) / sum);
        int32_t *te = top_e + (size_t)t * d->K;
        float *tw = top_w + (size_t)t * d->K;
        double chosen = 0;
        for (int k = 0; k < d->K; k++) {
            int best = -1;
            for (int i = 0; i < d->E; i++) {
                int taken = 0;
                for (int j = 0; j < k; j++) taken |= te[j] == i;
                if (!taken && (best < 0 || p[i] > p[best])) best = i;
            }
            te[k] = best;
            tw[k] = p[best];
            chosen += p[best];
        }
        if (m->cfg.norm_topk_prob)
            for (int k = 0; k < d->K; k++) tw[k] = (float)(tw[k] / chosen);
    }
}

// Expert e's SwiGLU on every (token, slot) routed to it; results scattered to eg/eu/eact/eout [T, K, ...].
static void run_expert(const Model *m, const LayerOffsets *o, const Dims *d, int e, const float *x, LayerActs *a, int T,
                       int *rows, float *buf) {
    int n = 0;
    for (int i = 0; i < T * d->K; i++)
        if (a->top_e[i] == e) rows[n++] = i;
    if (!n) return;
    float *xs = buf, *g = xs + (size_t)n * d->D, *u = g + (size_t)n * d->Fe, *act = u + (size_t)n * d->Fe,
          *y = act + (size_t)n * d->Fe;
    for (int r = 0; r < n; r++)
        memcpy(xs + (size_t)r * d->D, x + (size_t)(rows[r] / d->K) * d->D, d->D * sizeof(float));
    const float *P = m->params;
    swiglu(xs, P + o->egate + (size_t)e * d->Fe * d->D, P + o->eup + (size_t)e * d->Fe * d->D,
           P + o->edown + (size_t)e * d->D * d->Fe, n, d->D, d->Fe, g, u, act, y);
    for (int r = 0; r < n; r++) {
        size_t i = (size_t)rows[r];
        memcpy(a->eg + i * d->Fe, g + (size_t)r * d->Fe, d->Fe * sizeof(float));
        memcpy(a->eu + i * d->Fe, u + (size_t)r * d->Fe, d->Fe * sizeof(float));
        memcpy(a->eact + i * d->Fe, act + (size_t)r * d->Fe, d->Fe * sizeof(float));
        memcpy(a->eout + i * d->D, y + (size_t)r * d->D, d->D * sizeof(float));
    }
}

// Sparse MoE block (HF Qwen2MoeSparseMoeBlock / Qwen3MoeSparseMoeBlock): y = sum over chosen experts in index
// order of w * expert(x), plus sigmoid(shared_gate . x) * shared_expert(x) when there is a shared expert.
static void moe(const Model *m, const LayerOffsets *o, const Dims *d, const float *x, LayerActs *a, int T, float *y) {
    const float *P = m->params;
    float *logits = xmalloc((size_t)T * d->E * sizeof(float));
    matmul_xwt(x, P + o->router, NULL, logits, T, d->E, d->D);
    route(m, d, logits, a->probs, a->top_e, a->top_w, T);
    free(logits);
    int *rows = xmalloc((size_t)T * d->K * sizeof(int));
    float *buf = xmalloc((size_t)T * d->K * (2 * d->D + 3 * d->Fe) * sizeof(float));
    for (int e = 0; e < d->E; e++) run_expert(m, o, d, e, x, a, T, rows, buf);
    free(rows);
    free(buf);
    for (int t = 0; t < T; t++) {
        float *yr = y + (size_t)t * d->D;
        memset(yr, 0, d->D * sizeof(float));
        for (int e = 0; e < d->E; e++)
            for (int k = 0; k < d->K; k++) {
                if (a->top_e[t * d->K + k] != e) continue;
                const float *out = a->eout + ((size_t)t * d->K + k) * d->D;
                float w = a->top_w[t * d->K + k];
                for (int i = 0; i < d->D; i++) yr[i] += out[i] * w;
            }
    }
    if (!d->S) return;
    swiglu(x, P + o->sgate, P + o->sup, P + o->sdown, T, d->D, d->S, a->sg, a->su, a->sact, a->sout);
    matmul_xwt(x, P + o->sexp_gate, NULL, a->sgate, T, 1, d->D);
    for (int t = 0; t < T; t++) {
        float gate = (float)(1.0 / (1.0 + exp(-(double)a->sgate[t])));
        for (int i = 0; i < d->D; i++) y[(size_t)t * d->D + i] += gate * a->sout[(size_t)t * d->D + i];
    }
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
    attention(&d, T, pos, kv_row0, kbuf, vbuf, a->qr, a->att, a->lse);
    float *y = xmalloc((size_t)T * d.D * sizeof(float));
    matmul_xwt(a->att, P + o->wo, NULL, y, T, d.D, d.QD);
    for (size_t i = 0; i < (size_t)T * d.D; i++) x[i] += y[i];
    memcpy(a->h2, x, (size_t)T * d.D * sizeof(float));
    rms_norm_rows(x, P + o->ln2, a->a2, a->inv2, T, d.D, eps);
    if (model_layer_is_moe(m, l)) {
        moe(m, o, &d, a->a2, a, T, y);
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
