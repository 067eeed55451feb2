// Sparse mixture-of-experts block (HF Qwen2/3-MoE): router softmax and top-k, the chosen experts' SwiGLU, the
// optional shared expert, and the backward of all of it including the load-balancing loss.
#include <math.h>
#include <string.h>

#include "base/spread_alloc.h"
#include "model/matmul.h"
#include "model/model_internal.h"

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

// Each expert on its gathered rows of this rank's tokens: at most T, as route() gives a token K distinct experts (so
// the buffers are K times smaller than T K rows, 1.7 GB against 13.4 at Qwen3-30B-A3B's shapes and 64k tokens).
void moe_experts_forward(const Model *m, const LayerOffsets *o, const Dims *d, const float *x, LayerActs *a, int T) {
    int *rows = xmalloc((size_t)T * sizeof(int) + 1);
    float *buf = xmalloc((size_t)T * (2 * d->D + 3 * d->Fe) * sizeof(float) + 1);
    int l = (int)(o - m->priv->layers);
    for (int e = 0; e < d->E; e++) {
        model_before_unit(m, model_expert_unit(m, l, e));
        run_expert(m, o, d, e, x, a, T, rows, buf);
    }
    free(rows);
    free(buf);
}

// Sparse MoE block (HF Qwen2MoeSparseMoeBlock / Qwen3MoeSparseMoeBlock): y = sum over chosen experts in index
// order of w * expert(x), plus sigmoid(shared_expert_gate . x) * shared_expert(x) when there is a shared expert.
void moe_forward(const Model *m, const LayerOffsets *o, const Dims *d, const float *x, LayerActs *a, int T, float *y,
                 MoeExpertsForward experts) {
    const float *P = m->params;
    float *logits = xmalloc((size_t)T * d->E * sizeof(float));
    matmul_xwt(x, P + o->router, NULL, logits, T, d->E, d->D);
    route(m, d, logits, a->probs, a->top_e, a->top_w, T);
    free(logits);
    experts(m, o, d, x, a, T);
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

// Each expert on its gathered rows of this rank's tokens (at most T, as in the forward); input grads scattered back
// per token.
void moe_experts_backward(const Model *m, const LayerOffsets *o, const Dims *d, const LayerActs *a,
                                 const float *dy, int T, float *grads, float *da2) {
    const float *P = m->params;
    bool fx = m->fixed_order_backward;
    int *rows = xmalloc((size_t)T * sizeof(int) + 1);
    size_t n_max = (size_t)T;
    // At spread page offsets (base/spread_alloc.h): equal sizes, read and written by the same element steps.
    size_t bd = (n_max * d->D + 1) * sizeof(float), bf = (n_max * d->Fe + 1) * sizeof(float);
    float *xs = xspread_alloc(bd, true), *gy = xspread_alloc(bd, true), *dxs = xspread_alloc(bd, true);
    float *g = xspread_alloc(bf, true), *u = xspread_alloc(bf, true), *act = xspread_alloc(bf, true);
    int l = (int)(o - m->priv->layers);
    for (int e = 0; e < d->E; e++) {
        model_before_unit(m, model_expert_unit(m, l, e));
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
    free(rows);
    spread_free(xs), spread_free(gy), spread_free(dxs), spread_free(g), spread_free(u), spread_free(act);
}

// Routed experts, router (top-k renormalisation, softmax, aux loss) and shared expert; adds to da2.
void moe_backward(const Model *m, const LayerOffsets *o, const Dims *d, const ModelActs *A, const LayerActs *a,
                  const float *dy, double aux_weight, float *grads, float *da2, MoeExpertsBackward experts) {
    const float *P = m->params;
    int T = A->T;
    bool fx = m->fixed_order_backward;
    float *dp = zeros((size_t)T * d->E);
    // y = sum_k w_k eout_k: dw_k = dy . eout_k, then through w_k = p_k / sum_chosen p (norm_topk_prob).
    for (int t = 0; t < T; t++) {
        const float *g = dy + (size_t)t * d->D;
        double dw[MODEL_MAX_EXPERTS_PER_TOK], chosen = 0, wdw = 0;
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
    experts(m, o, d, a, dy, T, grads, da2);
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
