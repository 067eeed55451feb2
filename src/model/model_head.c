// The LM head on the log-prob path (model_forward_logprob, model_backward_logprob_hooked): logits of at most
// Model.head_chunk rows at a time in the backend's memory, reduced at once to each row's log-prob, entropy and
// softmax statistics (model/backend.h head_logprob), so that no [T, V] tensor is ever stored. When every row fits
// one chunk, the backward reuses the forward's logits. Otherwise it computes them once more, by slices of the
// vocabulary over all T rows: each slice gives its rows of the weight gradient, whose outputs each sum over the rows
// in one fixed order (model/matmul.h matmul_xtx_acc) that chunks of rows would split, and its part of the input
// gradient, whose outputs each sum over the vocabulary: the backend carries those sums from slice to slice in one
// product's order (backend.h matmul_dx_slice). So every output is summed as the unchunked head sums it, and the
// bits are the same for every chunk size. A backend without matmul_dx_slice computes the logits twice more: by rows
// for the input gradient, then by slices for the weight gradient.
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "model/backend.h"
#include "model/logprob.h"
#include "model/model_internal.h"

static int chunk_rows(const Model *m) { return m->head_chunk > 0 ? m->head_chunk : MODEL_HEAD_CHUNK; }

// The next run of rows with a target at or after row from, at most C rows long: [*r0, *r1); false when none is left.
static bool next_piece(const int32_t *targets, int T, int from, int C, int *r0, int *r1) {
    int a = from;
    while (a < T && targets[a] < 0) a++;
    if (a >= T) return false;
    int b = a;
    while (b < T && b - a < C && targets[b] >= 0) b++;
    *r0 = a, *r1 = b;
    return true;
}

static void *grad_row(const Backend *be, void *buf, size_t row, int D) {
    return (char *)buf + row * (size_t)D * be->grad_bytes;
}

void head_logprob_forward(const Model *m, ModelActs *A, const HeadLogprob *h) {
    const Backend *be = m->backend;
    Dims d = model_dims(m);
    int T = A->T, C = chunk_rows(m);
    size_t t = (size_t)T;
    A->head_targets = xmalloc(t * sizeof(int32_t) + 1);
    memcpy(A->head_targets, h->targets, t * sizeof(int32_t));
    A->head_targets_b = be->view(be, A->head_targets, t, BUF_I32, VIEW_IN);
    A->head_temperature = h->temperature;
    A->head_stats = bk_alloc(be, t * LOGPROB_STATS, BUF_F64);
    double *logp = bk_alloc(be, t, BUF_F64), *ent = bk_alloc(be, t, BUF_F64);
    model_before_unit(m, MODEL_UNIT_HEAD);
    be->rms_norm(be, A->x_final, be->param(be, m, m->priv->final_norm), A->a_final, A->inv_final, T, d.D,
                 m->cfg.rms_norm_eps);
    const void *w = be->param(be, m, m->priv->lm_head);
    // One chunk holds every row: each piece's logits stay at its rows for the backward; else one chunk is reused.
    bool keep = T <= C;
    // Rows without a target are neither computed nor read (head_logprob_back skips rows whose coefficients are 0).
    void *logits = bk_alloc_uninit(be, (size_t)(C < T ? C : T) * (size_t)d.V, BUF_ACT);
    const int32_t *tg = A->head_targets_b;
    for (int r0 = 0, r1 = 0; next_piece(A->head_targets, T, r1, C, &r0, &r1);) {
        void *out = keep ? act_at(be, logits, (size_t)r0 * d.V) : logits;
        be->matmul(be, act_at(be, A->a_final, (size_t)r0 * d.D), w, NULL, out, r1 - r0, d.V, d.D);
        be->head_logprob(be, out, r1 - r0, d.V, tg + r0, h->temperature, logp + r0, ent + r0,
                         A->head_stats + (size_t)r0 * LOGPROB_STATS);
    }
    if (keep) A->head_logits = logits;
    else be->free(be, logits);
    double *lp = xmalloc(t * sizeof *lp + 1), *hh = h->entropy ? xmalloc(t * sizeof *hh + 1) : NULL;
    be->to_host(be, lp, logp, t, BUF_F64);
    if (hh) be->to_host(be, hh, ent, t, BUF_F64);
    for (int r = 0, k = 0; r < T; r++) {
        if (h->targets[r] < 0) continue;
        h->logp[k] = lp[r];
        if (hh) h->entropy[k] = hh[r];
        k++;
    }
    free(lp), free(hh);
    be->free(be, logp), be->free(be, ent);
}

// Whether any row of [r0, r1) has a non-zero coefficient (the others' logit gradients are zero).
static bool live(const double *gl, const double *gh, int r0, int r1) {
    for (int r = r0; r < r1; r++)
        if (gl[r] != 0 || (gh && gh[r] != 0)) return true;
    return false;
}

// What the chunked backward's passes share.
typedef struct {
    const Model *m;
    const ModelActs *A;
    const double *gl, *gh, *gl_b, *gh_b;  // each row's coefficients: host, and the backend's views
    float *grads;
    void *dnormed;
    void *logits, *dl;  // room for C rows of V columns, or all T rows of one slice
    int cols;           // vocabulary columns a slice
} HeadBack;

// The budget of C rows of V columns spent on all T rows of a slice of the vocabulary: a multiple of 8 columns
// (matmul_dx_slice's slices) unless V is smaller.
static int slice_cols(int C, int V, int T) {
    int64_t per = (int64_t)C * V / T / 8 * 8;
    return per < 8 ? (V < 8 ? V : 8) : per > V ? V : (int)per;
}

// The slice's logits over all T rows, their gradient, and its rows of the weight gradient; returns its weight rows.
static const void *slice_back(const HeadBack *h, int v0, int nv) {
    const Backend *be = h->m->backend;
    const ModelActs *A = h->A;
    int T = A->T, D = model_dims(h->m).D;
    size_t at = h->m->priv->lm_head + (size_t)v0 * D;
    const void *w = be->param(be, h->m, at);
    be->matmul(be, A->a_final, w, NULL, h->logits, T, nv, D);
    be->head_logprob_back(be, h->logits, T, v0, nv, A->head_targets_b, A->head_temperature, A->head_stats, h->gl_b,
                          h->gh_b, h->dl);
    be->matmul_dw(be, h->m->fixed_order_backward, h->dl, A->a_final, h->grads + at, NULL, T, nv, D);
    return w;
}

// One pass over the vocabulary's slices: each slice's logits also give its part of the input gradient, whose sums
// over the vocabulary the backend carries from slice to slice in one product's order.
static void back_by_slices(const HeadBack *h) {
    const Backend *be = h->m->backend;
    int V = model_dims(h->m).V, D = model_dims(h->m).D;
    void *sum = NULL;
    for (int v0 = 0; v0 < V; v0 += h->cols) {
        int nv = V - v0 < h->cols ? V - v0 : h->cols;
        const void *w = slice_back(h, v0, nv);
        be->matmul_dx_slice(be, h->m->fixed_order_backward, &sum, h->dl, w, h->dnormed, h->A->T, v0, nv, V, D);
    }
}

// A backend without matmul_dx_slice: the logits again by chunks of C rows for the input gradient, each row's sum
// over the whole vocabulary, then by slices for the weight gradient.
static void back_by_rows_then_slices(const HeadBack *h, int C) {
    const Backend *be = h->m->backend;
    const ModelActs *A = h->A;
    int V = model_dims(h->m).V, D = model_dims(h->m).D;
    const void *w = be->param(be, h->m, h->m->priv->lm_head);
    const int32_t *tg = A->head_targets_b;
    for (int r0 = 0, r1 = 0; next_piece(A->head_targets, A->T, r1, C, &r0, &r1);) {
        if (!live(h->gl, h->gh, r0, r1)) continue;  // its rows of dnormed stay zero, as the product of zeros gives
        int n = r1 - r0;
        be->matmul(be, act_at(be, A->a_final, (size_t)r0 * D), w, NULL, h->logits, n, V, D);
        be->head_logprob_back(be, h->logits, n, 0, V, tg + r0, A->head_temperature,
                              A->head_stats + (size_t)r0 * LOGPROB_STATS, h->gl_b + r0, h->gh_b ? h->gh_b + r0 : NULL,
                              h->dl);
        be->matmul_dx(be, h->m->fixed_order_backward, h->dl, w, grad_row(be, h->dnormed, (size_t)r0, D), n, V, D,
                      false);
    }
    for (int v0 = 0; v0 < V; v0 += h->cols) slice_back(h, v0, V - v0 < h->cols ? V - v0 : h->cols);
}

void head_logprob_backward(const Model *m, const ModelActs *A, const double *dlogp, const double *dentropy,
                           float *grads, void *dnormed) {
    const Backend *be = m->backend;
    Dims d = model_dims(m);
    int T = A->T, C = chunk_rows(m), V = d.V, D = d.D;
    size_t t = (size_t)T, lm = m->priv->lm_head;
    bool fx = m->fixed_order_backward;
    double temp = A->head_temperature;
    // Each row's coefficients, 0 in rows without a target.
    double *gl = xcalloc(t + 1, sizeof *gl), *gh = dentropy ? xcalloc(t + 1, sizeof *gh) : NULL;
    for (int r = 0, k = 0; r < T; r++) {
        if (A->head_targets[r] < 0) continue;
        gl[r] = dlogp[k];
        if (gh) gh[r] = dentropy[k];
        k++;
    }
    double *gl_b = be->view(be, gl, t, BUF_F64, VIEW_IN), *gh_b = gh ? be->view(be, gh, t, BUF_F64, VIEW_IN) : NULL;
    if (A->head_logits) {  // one chunk: the forward's logits and the unchunked head's products themselves
        const void *w = be->param(be, m, lm);
        void *dl = bk_alloc_uninit(be, t * (size_t)V, BUF_GRAD);  // head_logprob_back writes every row
        // Rows without a target have zero coefficients: their logit gradients are zeros, whatever their logits.
        be->head_logprob_back(be, A->head_logits, T, 0, V, A->head_targets_b, temp, A->head_stats, gl_b, gh_b, dl);
        be->matmul_dw(be, fx, dl, A->a_final, grads + lm, NULL, T, V, D);
        be->matmul_dx(be, fx, dl, w, dnormed, T, V, D, false);
        be->free(be, dl);
    } else {
        HeadBack h = {m, A, gl, gh, gl_b, gh_b, grads, dnormed, NULL, NULL, slice_cols(C, V, T)};
        size_t cap = (size_t)C * V > t * (size_t)h.cols ? (size_t)C * V : t * (size_t)h.cols;
        h.logits = bk_alloc_uninit(be, cap, BUF_ACT), h.dl = bk_alloc_uninit(be, cap, BUF_GRAD);
        if (be->matmul_dx_slice)
            back_by_slices(&h);
        else
            back_by_rows_then_slices(&h, C);
        be->free(be, h.logits), be->free(be, h.dl);
    }
    be->view_end(be, gl_b, gl, t, BUF_F64, VIEW_IN);
    if (gh) be->view_end(be, gh_b, gh, t, BUF_F64, VIEW_IN);
    free(gl), free(gh);
}
