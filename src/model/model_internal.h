// Internals shared by the model's files (layout, forward, backward, cache): per-layer parameter pointers
// and the activation record the backward reads.
#ifndef RLVR_MODEL_INTERNAL_H
#define RLVR_MODEL_INTERNAL_H

#include <math.h>
#include <string.h>

#include "model/model.h"

// Offsets (in floats, into params or a gradient buffer laid out alike) of one layer's tensors; SIZE_MAX = absent.
typedef struct {
    size_t ln1, wq, bq, wk, bk, wv, bv, wo, qn, kn, ln2;
    size_t gate, up, down;                    // dense MLP
    size_t router, egate, eup, edown;         // MoE: [E,D], [E,F,D], [E,F,D], [E,D,F]
    size_t sgate, sup, sdown, sexp_gate;      // shared expert and its sigmoid gate [1,D]
} LayerOffsets;

struct ModelPrivate {
    LayerOffsets *layers;
    bool *layer_moe;  // [L] sparse MoE block (else dense MLP)
    size_t embed, final_norm, lm_head;  // lm_head == embed when tied
};

// Sizes used everywhere.
typedef struct {
    int D, V, L, Hq, Hk, hd, QD, KD, F, E, K, Fe, S;
} Dims;
Dims model_dims(const Model *m);

// Activations of one layer kept for the backward (arrays over the T tokens of the call), in the memory of the
// backend that allocated them: activations in its element type, statistics as model/backend.h says.
typedef struct {
    float *x_in, *inv1, *a1;           // residual input, 1/rms, normed input
    float *q, *k, *v, *qn_inv, *kn_inv, *qr, *kr;  // projections, per-head 1/rms, after norm+rope
    double *lse;                       // [T, Hq] log-sum-exp of attention scores
    float *att, *h2, *inv2, *a2;       // attention output, residual after attention, post-attention norm
    float *g, *u, *act;                // dense MLP [T, F]
    float *probs;                      // MoE router softmax [T, E]
    int32_t *top_e;                    // [T, K] chosen experts (top-k order)
    float *top_w;                      // [T, K] their weights
    float *eg, *eu, *eact, *eout;      // per token and slot: [T, K, Fe] x3, [T, K, D]
    float *sg, *su, *sact, *sout, *sgate;  // shared expert [T, S] x3, [T, D], gate logit [T]
} LayerActs;

struct ModelActs {
    const Backend *be;        // the backend whose memory the activations live in
    int T, n_seqs, n_layers;  // n_layers: records kept (1 when only inference ran)
    int64_t *seq_offsets;
    int32_t *tokens;
    int *pos;
    void *tokens_b, *pos_b;   // the backend's views of tokens and pos (model/backend.h)
    int64_t *row0;  // each row's first KV-cache row: its sequence's first token (host and the backend's view)
    void *row0_b;
    // Model.recompute: layers[l] holds only x_in, and the backward runs layer l's forward again from it.
    bool recompute;
    LayerActs *layers;
    float *x_final, *inv_final, *a_final;  // before the final norm, 1/rms, normed (lm_head input)
    double *expert_frac;                   // MoE: f_e = share of (layer, token, slot) choices per expert
    // The log-prob head (model_head.c; NULL when the forward wrote logits): each row's target (-1: none; host and
    // the backend's view), the temperature, and each target row's softmax statistics (backend, LOGPROB_STATS per row).
    int32_t *head_targets;
    void *head_targets_b;
    double head_temperature;
    double *head_stats;
    // When every row fits one chunk: the forward's logits [T, V] (rows without a target left zero), so the backward
    // does not compute them again (backend memory; NULL otherwise).
    void *head_logits;
};

// The log-prob head of the training forward (model_head.c): final norm of A->x_final into A->a_final, then
// h's log-probs and entropies in chunks of Model.head_chunk rows, keeping A's head fields for the backward.
void head_logprob_forward(const Model *m, ModelActs *A, const HeadLogprob *h);
// Its backward: dnormed [T, D] (BUF_GRAD, zero on entry) and the LM head's weight gradient (added to grads) of
// sum dlogp * logp + dentropy * H over the rows with a target (dlogp, dentropy compact in row order as h's outputs).
void head_logprob_backward(const Model *m, const ModelActs *A, const double *dlogp, const double *dentropy,
                           float *grads, void *dnormed);

// kinds: LAYER_DENSE and/or LAYER_MOE, the MLP kinds the record will serve, and LAYER_QK_NORM where its layers norm q
// and k per head. Without it the record's qr and kr are q and k themselves, which layer_forward rotates in place.
enum { LAYER_DENSE = 1, LAYER_MOE = 2, LAYER_QK_NORM = 4 };
// The record's buffers come from the model's backend (activations in its element type, model/backend.h).
void layer_acts_alloc(const Backend *be, LayerActs *a, const Dims *d, int T, int kinds);
int layer_kind(const Model *m, int l);                                 // layer l's MLP kind and LAYER_QK_NORM
int model_layer_kinds(const Model *m);                                 // the kinds present
void layer_acts_free(const Backend *be, LayerActs *a);

// One decoder layer over T tokens through m->backend (token t at position pos[t]; its sequence's keys/values
// live in kbuf/vbuf rows kv_row0[t] + 0..pos[t], and its own k/v row is written at kv_row0[t] + pos[t] first).
// pos, kv_row0, kbuf, vbuf and x [T, D] are backend buffers; kv_shared (host, NULL: none) is Backend.attention's
// shared; x is updated in place; a receives the activations; experts [T, K] (host, may be NULL); router probability
// sums and choice counts are added to psum/cnt [E] (host) when non-NULL.
void layer_forward(const Model *m, int l, int T, const void *pos, const void *kv_row0, const int64_t *kv_shared,
                   void *kbuf, void *vbuf, void *x, LayerActs *a, int32_t *experts, int experts_stride, double *psum,
                   double *cnt);

// y = x / rms(x) * w over rows of width D; inv[t] = 1 / rms (float64 statistics).
void rms_norm_rows(const float *x, const float *w, float *y, float *inv, int T, int D, double eps);
// x[i] += y[i] for i < n, VW floats at a time (model/vec_f64.h); each element one float add, as in a plain loop.
void add_floats(float *x, const float *y, size_t n);
// Backend.residual_norm on the CPU: x += y (y NULL: nothing), keep = x, then rms_norm_rows of x into out and inv.
void residual_norm_rows(float *x, const float *y, float *keep, const float *w, float *out, float *inv, int T, int D,
                        double eps);

// Rotary embedding in place on rows [T, H*hd] (Hugging Face rotate-half layout).
void rope_rows(float *x, const int *pos, int T, int H, int hd, double theta, int inverse);

// Causal attention of every token's query heads over its sequence's keys 0..pos (attention.c); lse [T, Hq]. shared
// (NULL: none) as Backend.attention's.
void attention_forward(const Dims *d, int T, const int *pos, const int64_t *row0, const int64_t *shared,
                       const float *kbuf, const float *vbuf, const float *qr, float *att, double *lse);
// Adds dq, dk, dv [T, QD|KD|KD] given d(attention output), from the forward's record a.
void attention_backward(const Dims *d, const ModelActs *A, const LayerActs *a, const float *datt, float *dq, float *dk,
                        float *dv);

// act = silu(g) * u over n elements and its backward dg, du given dact (model/swiglu_act.c).
void swiglu_act(const float *g, const float *u, float *act, size_t n);
// swiglu_act on the calling thread alone (inside a parallel region), the same bits.
void swiglu_act_span(const float *g, const float *u, float *act, size_t n);
// The SwiGLU MLP's first half on T rows of x [T, D]: g = x wg^T and u = x wu^T [T, F] (matmul_xwt's bits), and
// act = silu(g) u (swiglu_act's), each block of act taken by the thread that computed its g and u, right after.
void gate_up_act(const float *x, const float *wg, const float *wu, int T, int D, int F, float *g, float *u,
                 float *act);
void swiglu_act_back(const float *g, const float *u, const float *dact, float *dg, float *du, size_t n);
// SwiGLU MLP y = down(silu(gate(x)) * up(x)), keeping g, u, act (model_layers.c) and its backward (model_backward.c).
void swiglu(const float *x, const float *wg, const float *wu, const float *wd, int T, int D, int F, float *g, float *u,
            float *act, float *y);
void swiglu_back(bool fixed, const float *x, const float *wg, const float *wu, const float *wd, const float *g,
                 const float *u, const float *act, const float *dy, float *dwg, float *dwu, float *dwd, float *dx,
                 int T, int D, int F);
// y = x W^T + b backward: dW += dy^T x, db += sum_t dy, dx = dy W (+ beta * dx); fixed: matmul.h's kernels.
void linear_back(bool fixed, const float *x, const float *w, const float *dy, float *dw, float *db, float *dx, int T,
                 int N, int K, float beta);
// Its two halves: the weight (and bias) gradient, and the input gradient (added to dx when beta is 1).
void linear_back_w(bool fixed, const float *x, const float *dy, float *dw, float *db, int T, int N, int K);
void linear_back_x(bool fixed, const float *w, const float *dy, float *dx, int T, int N, int K, float beta);
// RMSNorm backward: adds d/dx to dx and d/dw to dw given dy (model_backward.c).
void rms_norm_back(const float *x, const float *w, const float *inv, const float *dy, float *dx, float *dw, int T,
                   int D);

// The routed experts of one MoE block given the router's choice in a: the forward fills a->eg/eu/eact/eout, the
// backward adds the input gradients to da2 and the experts' weight gradients to grads. Every expert on this rank
// (moe_experts_*, moe.c), or each at its owner under expert parallelism (moe_ep_*, below).
typedef void (*MoeExpertsForward)(const Model *m, const LayerOffsets *o, const Dims *d, const float *x, LayerActs *a,
                                  int T);
typedef void (*MoeExpertsBackward)(const Model *m, const LayerOffsets *o, const Dims *d, const LayerActs *a,
                                   const float *dy, int T, float *grads, float *da2);
void moe_experts_forward(const Model *m, const LayerOffsets *o, const Dims *d, const float *x, LayerActs *a, int T);
void moe_experts_backward(const Model *m, const LayerOffsets *o, const Dims *d, const LayerActs *a, const float *dy,
                          int T, float *grads, float *da2);

// The sparse MoE block of layer o on the normed input x [T, D] into y [T, D] (moe.c), and its backward adding to
// grads and da2 (aux_weight scales the load-balancing loss); experts runs the routed experts.
void moe_forward(const Model *m, const LayerOffsets *o, const Dims *d, const float *x, LayerActs *a, int T, float *y,
                 MoeExpertsForward experts);
void moe_backward(const Model *m, const LayerOffsets *o, const Dims *d, const ModelActs *A, const LayerActs *a,
                  const float *dy, double aux_weight, float *grads, float *da2, MoeExpertsBackward experts);

// The same blocks' routed experts under expert parallelism (moe_ep.c, model/expert_map.h): the forward fills
// a->eout, the backward adds the input gradients to da2 and this rank's experts' weight gradients to grads (its
// own rows) or m->ep->peer_grads (the group's other ranks' rows). Collective over the group; T = 0 takes part.
void moe_ep_forward(const Model *m, const LayerOffsets *o, const Dims *d, const float *x, LayerActs *a, int T);
void moe_ep_backward(const Model *m, const LayerOffsets *o, const Dims *d, const LayerActs *a, const float *dy, int T,
                     float *grads, float *da2);

// The same exchange on a backend of its own (device memory; the staged backend's host memory goes the same way):
// xs [n, D] holds this rank's rows grouped by expert (experts ascending, each expert's (token, slot) rows in order),
// cnt [E] (host) their number per expert. The counts go to the owners first (host), then the rows (backend
// memory, base/dist.h dist_group_alltoallv_into); each owner runs Backend.ep_expert on each sender's block of each of
// its experts, and the results come back into out [n, D] in xs's order. The backward sends xs and gy [n, D] (the
// output gradients times the router weights, activations), runs Backend.ep_expert_back, adds this rank's experts'
// weight gradients to grads (its own rows, or all in fast mode) or m->ep->peer_dev (another rank's rows), and
// returns d(xs) [n, D] (BUF_GRAD) into dxs. Collective over the group; n = 0 takes part.
void moe_ep_rows_forward(const Model *m, const LayerOffsets *o, const Dims *d, const void *xs, const int32_t *cnt,
                         void *out);
void moe_ep_rows_backward(const Model *m, const LayerOffsets *o, const Dims *d, const void *xs, const void *gy,
                          const int32_t *cnt, float *grads, void *dxs);

static inline float *zeros(size_t n) { return xcalloc(n + 1, sizeof(float)); }
static inline float sigmoid(double z) { return (float)(1.0 / (1.0 + exp(-z))); }

typedef float v8f __attribute__((vector_size(32)));

#endif
