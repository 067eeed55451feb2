// Backward of the training forward (model_forward), accumulating into a gradient buffer laid out like params.
// Matrix products through OpenBLAS, or the fixed-order kernels of matmul.h when Model.fixed_order_backward;
// the forward's activation record supplies every saved input.
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "model/matmul.h"
#include "model/model_internal.h"

static float *zeros(size_t n) { return xcalloc(n + 1, sizeof(float)); }

// y = x W^T + b: dW += dy^T x, db += sum_t dy, dx = dy W (+ beta * dx, beta 0 or 1). fixed: the fixed-order
// kernels of matmul.h (Model.fixed_order_backward), else OpenBLAS.
static void linear_back(bool fixed, const float *x, const float *w, const float *dy, float *dw, float *db, float *dx,
                        int T, int N, int K, float beta) {
    if (fixed)
        matmul_xtx_acc(dy, x, dw, T, N, K);
    else
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, T, 1.0f, dy, N, x, K, 1.0f, dw, K);
    if (db)
        for (int t = 0; t < T; t++)
            for (int j = 0; j < N; j++) db[j] += dy[(size_t)t * N + j];
    if (!dx) return;
    if (fixed)
        matmul_xw(dy, w, dx, T, N, K, beta != 0.0f);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, K, N, 1.0f, dy, N, w, K, beta, dx, K);
}

// RMSNorm backward: dx_i = r w_i dy_i - r^3 x_i / D * sum_j w_j dy_j x_j (added to dx); dw_i += sum_t dy_i x_i r.
// Threaded over rows for dx and over columns for dw, each dw_i still summed over t in order.
static void rms_norm_back(const float *x, const float *w, const float *inv, const float *dy, float *dx, float *dw,
                          int T, int D) {
#pragma omp parallel for schedule(static) if ((long)T * D > 32768)
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * D, *g = dy + (size_t)t * D;
        double r = inv[t], dot = 0;
        for (int i = 0; i < D; i++) dot += (double)w[i] * g[i] * xr[i];
        for (int i = 0; i < D; i++) dx[(size_t)t * D + i] += (float)(r * w[i] * g[i] - r * r * r * xr[i] * dot / D);
    }
#pragma omp parallel for schedule(static) if ((long)T * D > 32768)
    for (int i = 0; i < D; i++)
        for (int t = 0; t < T; t++) dw[i] += (float)(dy[(size_t)t * D + i] * x[(size_t)t * D + i] * (double)inv[t]);
}

static float sigmoid(double z) { return (float)(1.0 / (1.0 + exp(-z))); }

// SwiGLU backward given dy [T, D]: accumulates weight grads, adds dx [T, D] (input grad).
static void swiglu_back(bool fixed, const float *x, const float *wg, const float *wu, const float *wd, const float *g,
                        const float *u, const float *act, const float *dy, float *dwg, float *dwu, float *dwd,
                        float *dx, int T, int D, int F) {
    float *dact = zeros((size_t)T * F), *dg = zeros((size_t)T * F), *du = zeros((size_t)T * F);
    linear_back(fixed, act, wd, dy, dwd, NULL, dact, T, D, F, 0.0f);
#pragma omp parallel for schedule(static) if ((size_t)T * F > 32768)
    for (size_t i = 0; i < (size_t)T * F; i++) {
        float s = sigmoid(g[i]);
        du[i] = dact[i] * g[i] * s;
        dg[i] = dact[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));  // silu'(g) = s (1 + g (1 - s))
    }
    linear_back(fixed, x, wg, dg, dwg, NULL, dx, T, F, D, 1.0f);
    linear_back(fixed, x, wu, du, dwu, NULL, dx, T, F, D, 1.0f);
    free(dact), free(dg), free(du);
}

// Attention backward (softmax recomputed from the saved log-sum-exp), in float with vectorised dot products and
// updates. One task per (sequence, kv head) owns every write to that head's dk/dv rows, so threads never share an
// output and the bits do not depend on the thread count.
static void attention_back(const Dims *d, const ModelActs *A, const LayerActs *a, const float *datt, float *dq,
                           float *dk, float *dv) {
    float scale = (float)(1.0 / sqrt((double)d->hd));
    int group = d->Hq / d->Hk, hd = d->hd;
#pragma omp parallel for collapse(2) schedule(dynamic)
    for (int s = 0; s < A->n_seqs; s++)
        for (int kh = 0; kh < d->Hk; kh++) {
            int64_t s0 = A->seq_offsets[s], s1 = A->seq_offsets[s + 1];
            for (int64_t t = s0; t < s1; t++)
                for (int h = kh * group; h < (kh + 1) * group; h++) {
                    const float *q = a->qr + t * d->QD + (size_t)h * hd, *go = datt + t * d->QD + (size_t)h * hd;
                    const float *o = a->att + t * d->QD + (size_t)h * hd;
                    float *gq = dq + t * d->QD + (size_t)h * hd;
                    float delta = matmul_dot(go, o, hd);
                    double lse = a->lse[t * d->Hq + h];
                    for (int64_t j = s0; j <= t; j++) {
                        size_t kv = (size_t)j * d->KD + (size_t)kh * hd;
                        const float *k = a->kr + kv, *v = a->v + kv;
                        float p = expf((float)(matmul_dot(q, k, hd) * scale - lse));
                        float ds = p * (matmul_dot(go, v, hd) - delta) * scale;
                        axpy(dv + kv, p, go, hd);
                        axpy(gq, ds, k, hd);
                        axpy(dk + kv, ds, q, hd);
                    }
                }
        }
}

static float *G(float *grads, size_t off) { return off == SIZE_MAX ? NULL : grads + off; }

// Per-head q/k norm backward (or pass-through), then into the projection inputs.
static void head_norm_back(const Model *m, size_t w, const float *raw, const float *inv, const float *dnormed,
                           float *draw, float *grads, int T, int H, int hd) {
    if (w == SIZE_MAX) {
        memcpy(draw, dnormed, (size_t)T * H * hd * sizeof(float));
        return;
    }
    memset(draw, 0, (size_t)T * H * hd * sizeof(float));
    rms_norm_back(raw, m->params + w, inv, dnormed, draw, grads + w, T * H, hd);
}

// Routed experts, router (top-k renormalisation, softmax, aux loss) and shared expert; adds to da2.
static void moe_back(const Model *m, const LayerOffsets *o, const Dims *d, const ModelActs *A, const LayerActs *a,
                     const float *dy, double aux_weight, float *grads, float *da2) {
    const float *P = m->params;
    int T = A->T;
    bool fx = m->fixed_order_backward;
    float *dp = zeros((size_t)T * d->E);
    // y = sum_k w_k eout_k: dw_k = dy . eout_k, then through w_k = p_k / sum_chosen p (norm_topk_prob).
    for (int t = 0; t < T; t++) {
        const float *g = dy + (size_t)t * d->D;
        double dw[64], chosen = 0, wdw = 0;
        for (int k = 0; k < d->K; k++) {
            const float *out = a->eout + ((size_t)t * d->K + k) * d->D;
            dw[k] = 0;
            for (int i = 0; i < d->D; i++) dw[k] += (double)g[i] * out[i];
            chosen += a->probs[(size_t)t * d->E + a->top_e[t * d->K + k]];
            wdw += dw[k] * a->top_w[t * d->K + k];
        }
        for (int k = 0; k < d->K; k++)
            dp[(size_t)t * d->E + a->top_e[t * d->K + k]] +=
                (float)(m->cfg.norm_topk_prob ? (dw[k] - wdw) / chosen : dw[k]);
    }
    // Aux loss E * sum_e f_e * mean(p_e) (HF load_balancing_loss_func): d/dp_te = E f_e / (L_moe T).
    double moe_rows = (double)model_n_moe_layers(m) * T;
    for (int t = 0; t < T; t++)
        for (int e = 0; e < d->E; e++)
            dp[(size_t)t * d->E + e] += (float)(aux_weight * d->E * A->expert_frac[e] / moe_rows);
    // Softmax backward: dz = p (dp - sum p dp).
    float *dz = zeros((size_t)T * d->E);
    for (int t = 0; t < T; t++) {
        const float *p = a->probs + (size_t)t * d->E, *g = dp + (size_t)t * d->E;
        double s = 0;
        for (int e = 0; e < d->E; e++) s += (double)p[e] * g[e];
        for (int e = 0; e < d->E; e++) dz[(size_t)t * d->E + e] = (float)(p[e] * (g[e] - s));
    }
    linear_back(fx, a->a2, P + o->router, dz, grads + o->router, NULL, da2, T, d->E, d->D, 1.0f);
    free(dp), free(dz);
    // Each expert on its gathered rows; input grads scattered back per token.
    int *rows = xmalloc((size_t)T * d->K * sizeof(int) + 1);
    size_t n_max = (size_t)T * d->K;
    float *xs = zeros(n_max * d->D), *gy = zeros(n_max * d->D), *dxs = zeros(n_max * d->D);
    float *g = zeros(n_max * d->Fe), *u = zeros(n_max * d->Fe), *act = zeros(n_max * d->Fe);
    for (int e = 0; e < d->E; e++) {
        int n = 0;
        for (int i = 0; i < T * d->K; i++)
            if (a->top_e[i] == e) rows[n++] = i;
        if (!n) continue;
        for (int r = 0; r < n; r++) {
            int i = rows[r], t = i / d->K;
            memcpy(xs + (size_t)r * d->D, a->a2 + (size_t)t * d->D, d->D * sizeof(float));
            for (int c = 0; c < d->D; c++) gy[(size_t)r * d->D + c] = dy[(size_t)t * d->D + c] * a->top_w[i];
            memcpy(g + (size_t)r * d->Fe, a->eg + (size_t)i * d->Fe, d->Fe * sizeof(float));
            memcpy(u + (size_t)r * d->Fe, a->eu + (size_t)i * d->Fe, d->Fe * sizeof(float));
            memcpy(act + (size_t)r * d->Fe, a->eact + (size_t)i * d->Fe, d->Fe * sizeof(float));
        }
        size_t wo = (size_t)e * d->Fe * d->D;
        memset(dxs, 0, (size_t)n * d->D * sizeof(float));
        swiglu_back(fx, xs, P + o->egate + wo, P + o->eup + wo, P + o->edown + wo, g, u, act, gy,
                    grads + o->egate + wo, grads + o->eup + wo, grads + o->edown + wo, dxs, n, d->D, d->Fe);
        for (int r = 0; r < n; r++)
            for (int c = 0; c < d->D; c++) da2[(size_t)(rows[r] / d->K) * d->D + c] += dxs[(size_t)r * d->D + c];
    }
    free(rows), free(xs), free(gy), free(dxs), free(g), free(u), free(act);
    if (!d->S) return;
    // Shared expert: y += sigmoid(z) * sout, z = a2 . w_gate.
    float *dsout = zeros((size_t)T * d->D), *dzg = zeros((size_t)T);
    for (int t = 0; t < T; t++) {
        float gate = sigmoid(a->sgate[t]);
        double dgate = 0;
        for (int i = 0; i < d->D; i++) {
            dsout[(size_t)t * d->D + i] = gate * dy[(size_t)t * d->D + i];
            dgate += (double)dy[(size_t)t * d->D + i] * a->sout[(size_t)t * d->D + i];
        }
        dzg[t] = (float)(dgate * gate * (1.0f - gate));
    }
    linear_back(fx, a->a2, P + o->sexp_gate, dzg, grads + o->sexp_gate, NULL, da2, T, 1, d->D, 1.0f);
    swiglu_back(fx, a->a2, P + o->sgate, P + o->sup, P + o->sdown, a->sg, a->su, a->sact, dsout, grads + o->sgate,
                grads + o->sup, grads + o->sdown, da2, T, d->D, d->S);
    free(dsout), free(dzg);
}

// One layer: dx holds d(output residual) on entry and d(input residual) on return.
static void layer_back(const Model *m, int l, const ModelActs *A, double aux_weight, float *grads, float *dx) {
    Dims d = model_dims(m);
    const LayerOffsets *o = &m->priv->layers[l];
    const LayerActs *a = &A->layers[l];
    const float *P = m->params;
    int T = A->T;
    bool fx = m->fixed_order_backward;
    // MLP / MoE: x_out = h2 + mlp(norm2(h2)).
    float *da2 = zeros((size_t)T * d.D);
    if (model_layer_is_moe(m, l))
        moe_back(m, o, &d, A, a, dx, aux_weight, grads, da2);
    else
        swiglu_back(fx, a->a2, P + o->gate, P + o->up, P + o->down, a->g, a->u, a->act, dx, grads + o->gate,
                    grads + o->up, grads + o->down, da2, T, d.D, d.F);
    rms_norm_back(a->h2, P + o->ln2, a->inv2, da2, dx, grads + o->ln2, T, d.D);  // dx is now d h2
    free(da2);
    // Attention: h2 = x_in + o_proj(attn(rope(norm(q)), rope(norm(k)), v)).
    float *datt = zeros((size_t)T * d.QD);
    linear_back(fx, a->att, P + o->wo, dx, grads + o->wo, NULL, datt, T, d.D, d.QD, 0.0f);
    float *dqr = zeros((size_t)T * d.QD), *dkr = zeros((size_t)T * d.KD), *dv = zeros((size_t)T * d.KD);
    attention_back(&d, A, a, datt, dqr, dkr, dv);
    rope_rows(dqr, A->pos, T, d.Hq, d.hd, m->cfg.rope_theta, 1);  // the rotation's transpose
    rope_rows(dkr, A->pos, T, d.Hk, d.hd, m->cfg.rope_theta, 1);
    float *dq = zeros((size_t)T * d.QD), *dk = zeros((size_t)T * d.KD);
    head_norm_back(m, o->qn, a->q, a->qn_inv, dqr, dq, grads, T, d.Hq, d.hd);
    head_norm_back(m, o->kn, a->k, a->kn_inv, dkr, dk, grads, T, d.Hk, d.hd);
    float *da1 = zeros((size_t)T * d.D);
    linear_back(fx, a->a1, P + o->wq, dq, grads + o->wq, G(grads, o->bq), da1, T, d.QD, d.D, 1.0f);
    linear_back(fx, a->a1, P + o->wk, dk, grads + o->wk, G(grads, o->bk), da1, T, d.KD, d.D, 1.0f);
    linear_back(fx, a->a1, P + o->wv, dv, grads + o->wv, G(grads, o->bv), da1, T, d.KD, d.D, 1.0f);
    rms_norm_back(a->x_in, P + o->ln1, a->inv1, da1, dx, grads + o->ln1, T, d.D);
    free(datt), free(dqr), free(dkr), free(dv), free(dq), free(dk), free(da1);
}

int model_backward(Model *m, const ModelActs *A, const float *dlogits, double aux_weight, float *grads, Err *e) {
    return model_backward_hooked(m, A, dlogits, aux_weight, grads, NULL, NULL, e);
}

int model_backward_hooked(Model *m, const ModelActs *A, const float *dlogits, double aux_weight, float *grads,
                          LayerDone done, void *ctx, Err *e) {
    Dims d = model_dims(m);
    if (!A || A->n_layers != d.L)
        return err_set(e, "model_backward: needs the activations of model_forward(..., &acts)");
    int T = A->T;
    if (!T) return 0;
    if (d.K > 64) return err_set(e, "model_backward: num_experts_per_tok %d > 64", d.K);
    // logits = norm(x) . lm_head^T
    bool fx = m->fixed_order_backward;
    float *dnormed = zeros((size_t)T * d.D), *dx = zeros((size_t)T * d.D);
    linear_back(fx, A->a_final, m->params + m->priv->lm_head, dlogits, grads + m->priv->lm_head, NULL, dnormed, T,
                d.V, d.D, 0.0f);
    rms_norm_back(A->x_final, m->params + m->priv->final_norm, A->inv_final, dnormed, dx, grads + m->priv->final_norm,
                  T, d.D);
    for (int l = d.L - 1; l >= 0; l--) {
        layer_back(m, l, A, aux_weight, grads, dx);
        if (done) done(ctx, l);
    }
    float *demb = grads + m->priv->embed;
#pragma omp parallel for schedule(static) if ((long)T * d.D > 32768)
    for (int i = 0; i < d.D; i++)  // each column summed over t in order, whatever the threads
        for (int t = 0; t < T; t++) demb[(size_t)A->tokens[t] * d.D + i] += dx[(size_t)t * d.D + i];
    free(dnormed), free(dx);
    return 0;
}
