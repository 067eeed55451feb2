// Backward of the training forward (model_forward), accumulating into a gradient buffer laid out like params.
// Matrix products through OpenBLAS, or the fixed-order kernels of matmul.h when Model.fixed_order_backward;
// the forward's activation record supplies every saved input.
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "model/matmul.h"
#include "model/model_internal.h"

// y = x W^T + b: dW += dy^T x, db += sum_t dy, dx = dy W (+ beta * dx, beta 0 or 1). fixed: the fixed-order
// kernels of matmul.h (Model.fixed_order_backward), else OpenBLAS.
void linear_back(bool fixed, const float *x, const float *w, const float *dy, float *dw, float *db, float *dx,
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

// SwiGLU backward given dy [T, D]: accumulates weight grads, adds dx [T, D] (input grad).
void swiglu_back(bool fixed, const float *x, const float *wg, const float *wu, const float *wd, const float *g,
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
        moe_backward(m, o, &d, A, a, dx, aux_weight, grads, da2);
    else
        swiglu_back(fx, a->a2, P + o->gate, P + o->up, P + o->down, a->g, a->u, a->act, dx, grads + o->gate,
                    grads + o->up, grads + o->down, da2, T, d.D, d.F);
    rms_norm_back(a->h2, P + o->ln2, a->inv2, da2, dx, grads + o->ln2, T, d.D);  // dx is now d h2
    free(da2);
    // Attention: h2 = x_in + o_proj(attn(rope(norm(q)), rope(norm(k)), v)).
    float *datt = zeros((size_t)T * d.QD);
    linear_back(fx, a->att, P + o->wo, dx, grads + o->wo, NULL, datt, T, d.D, d.QD, 0.0f);
    float *dqr = zeros((size_t)T * d.QD), *dkr = zeros((size_t)T * d.KD), *dv = zeros((size_t)T * d.KD);
    attention_backward(&d, A, a, datt, dqr, dkr, dv);
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
    for (int l = d.L - 1; !T && m->ep && l >= 0; l--)  // no tokens here: still serve the group's experts
        if (model_layer_is_moe(m, l)) moe_ep_backward(m, &m->priv->layers[l], &d, NULL, NULL, 0, grads, NULL);
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
