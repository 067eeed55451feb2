// Backward of the training forward (model_forward), accumulating into a gradient buffer laid out like params.
// The layer loop runs through Model.backend (model/backend.h); the CPU backend's matrix products go through
// OpenBLAS, or the fixed-order kernels of matmul.h when Model.fixed_order_backward. The forward's activation
// record supplies every saved input.
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "base/spread_alloc.h"
#include "model/backend.h"
#include "model/matmul.h"
#include "model/model_internal.h"
#include "model/vec_f64.h"

// y = x W^T + b: dW += dy^T x, db += sum_t dy, dx = dy W (+ beta * dx, beta 0 or 1). fixed: the fixed-order
// kernels of matmul.h (Model.fixed_order_backward), else OpenBLAS.
void linear_back(bool fixed, const float *x, const float *w, const float *dy, float *dw, float *db, float *dx,
                        int T, int N, int K, float beta) {
    linear_back_w(fixed, x, dy, dw, db, T, N, K);
    if (dx) linear_back_x(fixed, w, dy, dx, T, N, K, beta);
}

void linear_back_w(bool fixed, const float *x, const float *dy, float *dw, float *db, int T, int N, int K) {
    if (fixed)
        matmul_xtx_acc(dy, x, dw, T, N, K);
    else
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, T, 1.0f, dy, N, x, K, 1.0f, dw, K);
    if (db)  // threads own columns; each db[j] summed over t in order
#pragma omp parallel for schedule(static) if ((long)T * N > 32768)
        for (int j = 0; j < N; j++)
            for (int t = 0; t < T; t++) db[j] += dy[(size_t)t * N + j];
}

void linear_back_x(bool fixed, const float *w, const float *dy, float *dx, int T, int N, int K, float beta) {
    if (fixed)
        matmul_xw(dy, w, dx, T, N, K, beta != 0.0f);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, K, N, 1.0f, dy, N, w, K, beta, dx, K);
}

// RMSNorm weight gradient dw[i] += sum over t in order of dy[t][i] x[t][i] inv[t] (rows [T, D], float64 products).
// Threads own blocks of 64 columns and walk the rows in order, so each dw[i] is summed as the plain loop sums it.
static void rms_norm_dw(const float *dy, const float *x, const float *inv, float *dw, int T, int D) {
    enum { COLS = 64 };
#pragma omp parallel for schedule(static) if ((long)T * D > 32768)
    for (int i0 = 0; i0 < D; i0 += COLS) {
        int n = D - i0 < COLS ? D - i0 : COLS;
        for (int t = 0; t < T; t++) {
            const float *g = dy + (size_t)t * D + i0, *xr = x + (size_t)t * D + i0;
            for (int i = 0; i < n; i++) dw[i0 + i] += (float)(g[i] * xr[i] * (double)inv[t]);
        }
    }
}

// RMSNorm backward: dx_i = r w_i dy_i - r^3 x_i / D * sum_j w_j dy_j x_j (added to dx, the sum in eight lanes);
// dw_i += sum_t dy_i x_i r.
// Threaded over rows for dx and over columns for dw, each dw_i still summed over t in order.
void rms_norm_back(const float *x, const float *w, const float *inv, const float *dy, float *dx, float *dw,
                   int T, int D) {
#pragma omp parallel for schedule(static) if ((long)T * D > 32768)
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * D, *g = dy + (size_t)t * D;
        double r = inv[t], c = r * r * r * sum8_products(w, g, xr, D) / D;
        for (int i = 0; i < D; i++) dx[(size_t)t * D + i] += (float)(r * w[i] * g[i] - c * xr[i]);
    }
    rms_norm_dw(dy, x, inv, dw, T, D);
}

// SwiGLU backward given dy [T, D]: accumulates weight grads, adds dx [T, D] (input grad).
void swiglu_back(bool fixed, const float *x, const float *wg, const float *wu, const float *wd, const float *g,
                        const float *u, const float *act, const float *dy, float *dwg, float *dwu, float *dwd,
                        float *dx, int T, int D, int F) {
    size_t bytes = ((size_t)T * F + 1) * sizeof(float);  // at spread page offsets: the element step's operands
    float *dact = xspread_alloc(bytes, true), *dg = xspread_alloc(bytes, true), *du = xspread_alloc(bytes, true);
    linear_back(fixed, act, wd, dy, dwd, NULL, dact, T, D, F, 0.0f);
    swiglu_act_back(g, u, dact, dg, du, (size_t)T * F);
    linear_back(fixed, x, wg, dg, dwg, NULL, dx, T, F, D, 1.0f);
    linear_back(fixed, x, wu, du, dwu, NULL, dx, T, F, D, 1.0f);
    spread_free(dact), spread_free(dg), spread_free(du);
}

static float *G(float *grads, size_t off) { return off == SIZE_MAX ? NULL : grads + off; }

// y = x W^T + b through the backend: dw (+ db) and dx (added when accumulate).
static void linear_back_be(const Model *m, const void *x, size_t w, const void *dy, float *grads, size_t b, void *dx,
                           int T, int N, int K, bool accumulate) {
    const Backend *be = m->backend;
    be->matmul_dw(be, m->fixed_order_backward, dy, x, grads + w, G(grads, b), T, N, K);
    be->matmul_dx(be, m->fixed_order_backward, dy, be->param(be, m, w), dx, T, N, K, accumulate);
}

// The dense SwiGLU MLP's backward given dy [T, D]: weight grads, and d(input) added to dx.
static void mlp_back(const Model *m, const LayerOffsets *o, const LayerActs *a, const void *dy, float *grads,
                     void *dx, int T, int D, int F) {
    const Backend *be = m->backend;
    size_t n = (size_t)T * F;
    void *dact = bk_alloc_uninit(be, n, BUF_GRAD), *dg = bk_alloc_uninit(be, n, BUF_GRAD),
         *du = bk_alloc_uninit(be, n, BUF_GRAD);  // each written whole by its first operation
    linear_back_be(m, a->act, o->down, dy, grads, SIZE_MAX, dact, T, D, F, false);
    be->swiglu_back(be, a->g, a->u, dact, dg, du, n);
    linear_back_be(m, a->a2, o->gate, dg, grads, SIZE_MAX, dx, T, F, D, true);
    linear_back_be(m, a->a2, o->up, du, grads, SIZE_MAX, dx, T, F, D, true);
    be->free(be, dact), be->free(be, dg), be->free(be, du);
}

// One layer from its record a: dx holds d(output residual) on entry and d(input residual) on return.
static void layer_back(const Model *m, int l, const ModelActs *A, const LayerActs *a, double aux_weight, float *grads,
                       void *dx) {
    const Backend *be = m->backend;
    Dims d = model_dims(m);
    const LayerOffsets *o = &m->priv->layers[l];
    int T = A->T;
    size_t t = (size_t)T;
    double theta = m->cfg.rope_theta;
    model_before_unit(m, l);
    // MLP / MoE: x_out = h2 + mlp(norm2(h2)).
    void *da2 = bk_alloc(be, t * d.D, BUF_GRAD);
    if (model_layer_is_moe(m, l))
        be->moe_back(be, m, l, A, a, dx, aux_weight, grads, da2);
    else
        mlp_back(m, o, a, dx, grads, da2, T, d.D, d.F);
    be->rms_norm_back(be, a->h2, be->param(be, m, o->ln2), a->inv2, da2, dx, grads + o->ln2, T, d.D);  // dx = d h2
    be->free(be, da2);
    // Attention: h2 = x_in + o_proj(attn(rope(norm(q)), rope(norm(k)), v)).
    void *datt = bk_alloc_uninit(be, t * d.QD, BUF_GRAD);  // written whole by matmul_dx
    linear_back_be(m, a->att, o->wo, dx, grads, SIZE_MAX, datt, T, d.D, d.QD, false);
    void *dqr = bk_alloc(be, t * d.QD, BUF_GRAD), *dkr = bk_alloc(be, t * d.KD, BUF_GRAD),
         *dv = bk_alloc(be, t * d.KD, BUF_GRAD);
    be->attention_back(be, &d, A, a, datt, dqr, dkr, dv);
    be->rope_back(be, dqr, A->pos_b, T, d.Hq, d.hd, theta);
    be->rope_back(be, dkr, A->pos_b, T, d.Hk, d.hd, theta);
    void *dq = bk_alloc_uninit(be, t * d.QD, BUF_GRAD), *dk = bk_alloc_uninit(be, t * d.KD, BUF_GRAD);  // head_norm_back writes them
    be->head_norm_back(be, be->param(be, m, o->qn), a->q, a->qn_inv, dqr, dq, G(grads, o->qn), T, d.Hq, d.hd);
    be->head_norm_back(be, be->param(be, m, o->kn), a->k, a->kn_inv, dkr, dk, G(grads, o->kn), T, d.Hk, d.hd);
    void *da1 = bk_alloc(be, t * d.D, BUF_GRAD);
    linear_back_be(m, a->a1, o->wq, dq, grads, o->bq, da1, T, d.QD, d.D, true);
    linear_back_be(m, a->a1, o->wk, dk, grads, o->bk, da1, T, d.KD, d.D, true);
    linear_back_be(m, a->a1, o->wv, dv, grads, o->bv, da1, T, d.KD, d.D, true);
    be->rms_norm_back(be, a->x_in, be->param(be, m, o->ln1), a->inv1, da1, dx, grads + o->ln1, T, d.D);
    void *tmp[] = {datt, dqr, dkr, dv, dq, dk, da1};
    for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) be->free(be, tmp[i]);
}

// Layer l's record rebuilt from its kept input (Model.recompute): its forward again, the same operations on the same
// inputs, so the same bits; the choices of its experts and their load statistics were counted by the first forward.
static void recompute_layer(const Model *m, int l, const ModelActs *A, LayerActs *a) {
    const Backend *be = m->backend;
    Dims d = model_dims(m);
    size_t n = (size_t)A->T * d.D;
    layer_acts_alloc(be, a, &d, A->T, layer_kind(m, l));
    void *x = bk_alloc_uninit(be, n + 1, BUF_ACT);  // layer_forward turns its input into its output
    be->copy(be, x, A->layers[l].x_in, n, BUF_ACT);
    layer_forward(m, l, A->T, A->pos_b, A->row0_b, NULL, a->kr, a->v, x, a, NULL, 0, NULL, NULL);
    be->free(be, x);
}

bool model_backward_rows_only(const Model *m, double aux_weight) {
    return !m->ep && (aux_weight == 0 || model_n_moe_layers(m) == 0);
}

// Whether the log-prob backward adds only zeros (model.h model_backward_skipped).
static bool adds_zeros(const Model *m, const ModelActs *A, const double *dlogp, const double *dentropy,
                       double aux_weight) {
    if (!model_backward_rows_only(m, aux_weight)) return false;
    for (int r = 0, k = 0; r < A->T; r++) {
        if (A->head_targets[r] < 0) continue;
        if (dlogp[k] != 0 || (dentropy && dentropy[k] != 0)) return false;
        k++;
    }
    return true;
}

void model_backward_skipped(const Model *m, LayerDone done, void *ctx) {
    for (int l = m->cfg.num_hidden_layers - 1; done && l >= 0; l--) done(ctx, l);
}

// The backward from the LM head's input gradient: dlogits [T, V] (host), or the log-prob head's dlogp/dentropy.
static int backward(Model *m, const ModelActs *A, const float *dlogits, const double *dlogp, const double *dentropy,
                    double aux_weight, float *grads, LayerDone done, void *ctx, Err *e) {
    const Backend *be = m->backend;
    Dims d = model_dims(m);
    if (!A || A->n_layers != d.L)
        return err_set(e, "model_backward: needs the activations of model_forward(..., &acts)");
    if (A->be != be) return err_set(e, "model_backward: the activations come from another backend");
    if (A->T && (A->head_targets != NULL) != (dlogits == NULL))
        return err_set(e, "model_backward: model_forward's activations take dlogits (model_backward), "
                          "model_forward_logprob's take dlogp (model_backward_logprob_hooked)");
    int T = A->T;
    if (!T && m->ep) model_before_unit(m, MODEL_UNIT_HEAD);  // as a backward with tokens asks (model_forward.c)
    for (int l = d.L - 1; !T && m->ep && l >= 0; l--) {  // no tokens here: still serve the group's experts
        model_before_unit(m, l);
        if (model_layer_is_moe(m, l)) moe_ep_backward(m, &m->priv->layers[l], &d, NULL, NULL, 0, grads, NULL);
    }
    if (!T) return 0;
    if (!dlogits && m->skip_zero_backward && adds_zeros(m, A, dlogp, dentropy, aux_weight)) {
        model_backward_skipped(m, done, ctx);
        return 0;
    }
    if (d.K > MODEL_MAX_EXPERTS_PER_TOK)
        return err_set(e, "model_backward: num_experts_per_tok %d > %d", d.K, MODEL_MAX_EXPERTS_PER_TOK);
    // logits = norm(x) . lm_head^T
    void *dnormed = bk_alloc(be, (size_t)T * d.D, BUF_GRAD), *dx = bk_alloc(be, (size_t)T * d.D, BUF_GRAD);
    model_before_unit(m, MODEL_UNIT_HEAD);
    if (dlogits) {
        size_t nl = (size_t)T * d.V;
        void *dl = be->view(be, (float *)dlogits, nl, BUF_GRAD, VIEW_IN);
        linear_back_be(m, A->a_final, m->priv->lm_head, dl, grads, SIZE_MAX, dnormed, T, d.V, d.D, false);
        be->view_end(be, dl, (float *)dlogits, nl, BUF_GRAD, VIEW_IN);
    } else {
        head_logprob_backward(m, A, dlogp, dentropy, grads, dnormed);
    }
    be->rms_norm_back(be, A->x_final, be->param(be, m, m->priv->final_norm), A->inv_final, dnormed, dx,
                      grads + m->priv->final_norm, T, d.D);
    for (int l = d.L - 1; l >= 0; l--) {
        LayerActs redo;
        if (A->recompute) model_before_unit(m, l), recompute_layer(m, l, A, &redo);
        layer_back(m, l, A, A->recompute ? &redo : &A->layers[l], aux_weight, grads, dx);
        if (A->recompute) layer_acts_free(be, &redo);
        if (done) done(ctx, l);
    }
    be->embed_back(be, A->tokens_b, dx, grads + m->priv->embed, T, d.D);
    be->free(be, dnormed), be->free(be, dx);
    return 0;
}

int model_backward(Model *m, const ModelActs *A, const float *dlogits, double aux_weight, float *grads, Err *e) {
    return model_backward_hooked(m, A, dlogits, aux_weight, grads, NULL, NULL, e);
}

int model_backward_hooked(Model *m, const ModelActs *A, const float *dlogits, double aux_weight, float *grads,
                          LayerDone done, void *ctx, Err *e) {
    return backward(m, A, dlogits, NULL, NULL, aux_weight, grads, done, ctx, e);
}

int model_backward_logprob_hooked(Model *m, const ModelActs *A, const double *dlogp, const double *dentropy,
                                  double aux_weight, float *grads, LayerDone done, void *ctx, Err *e) {
    return backward(m, A, NULL, dlogp, dentropy, aux_weight, grads, done, ctx, e);
}
