// The operations the model's layer loop runs (model_layers.c, model_forward.c, model_backward.c), as a table of
// function pointers: the CPU backend (backend_cpu.c: the existing functions, same bits) or a device backend of
// the same signatures (bf16 activations and weights, fp32 accumulation). The loop only passes buffers from
// one op to the next: it never reads or writes activation memory, never loops over elements and never
// allocates or copies activations itself (src/README.md "Backends"; tests/test_backend.c checks it).
//
// Buffers. A buffer is backend memory (host for the CPU backend, device for a GPU one) holding n elements of one
// BufType. Activations (everything a matmul reads or writes in the forward: hidden states, q/k/v, attention
// output, MLP values, logits) have the backend's own element type, act_bytes wide (CPU: float, 4; a bf16
// backend: 2). Their gradients in the backward (every d* buffer: dy, dx, datt, dq, ..., dlogits) have the
// backend's gradient type, grad_bytes wide (BUF_GRAD; CPU: float; a bf16 backend may keep them in fp32).
// Statistics keep fixed types in every backend: 1/rms and router probabilities / top-k weights are float
// (BUF_F32), attention log-sum-exps are double (BUF_F64), chosen experts, tokens and positions int32
// (BUF_I32), sequence offsets and KV rows int64 (BUF_I64). Gradients of parameters are float
// (fp32 master) in backend memory. The loop addresses element i of an activation buffer with act_at only.
// Shapes are row-major [rows, width]; "T" is a number of tokens (rows).
//
// Weights. param(off) is the backend's copy of the parameter at offset off of Model.params (CPU: the host
// array itself; a device backend: its bf16 mirror, refreshed by load_params). Matrices are [out, in].
//
// Errors. alloc returns NULL when memory runs out (the caller decides: kv_cache_create reports it, activations
// abort like xmalloc). The other ops cannot fail on valid shapes; the loop validates inputs before calling.
//
// The optimizer step's elementwise operations (AdamW, the fixed-point codec, the norm's sums, clipping) are the
// table's last entries: their arithmetic is model/update_ops.h, which algo/optim.c and algo/grad_reduce.c run on the
// host; train/device_update.c drives them on backend memory.
#ifndef RLVR_BACKEND_H
#define RLVR_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/model_internal.h"
#include "model/sample_filter.h"
#include "model/update_ops.h"

typedef enum { BUF_ACT, BUF_F32, BUF_F64, BUF_I32, BUF_I64, BUF_GRAD } BufType;

// One of several products of the same input (matmul_parts): weight w [N, K], bias [N] or NULL, output y [M, N].
typedef struct {
    const void *w, *bias;
    void *y;
    int N;
} ProductPart;

// Host-view directions (VIEW_IN | VIEW_OUT: both): IN: the view starts with the host values; OUT: view_end copies
// the view back into the host array.
typedef enum { VIEW_IN = 1, VIEW_OUT = 2 } ViewDir;

struct Backend {
    const char *name;   // "cpu", "cuda", ...
    size_t act_bytes;   // bytes per activation element (CPU: sizeof(float))
    size_t grad_bytes;  // bytes per activation-gradient element, BUF_GRAD (CPU: sizeof(float))
    void *state;        // the backend's own (device handles, weight mirror); NULL for the CPU backend
    // Its MoE block reads all of a layer's routed experts at once (the CUDA backend's grouped products), so ZeRO
    // stage 3 gathers whole layers for it; false: the block asks for each expert before it reads it (moe.c).
    bool whole_moe_layers;

    // ---- memory ----
    // n zeroed elements of type t, or NULL when memory runs out (never NULL for n == 0 on success).
    void *(*alloc)(const struct Backend *be, size_t n, BufType t);
    // The same without the zeroing: n elements whose values are undefined until an operation writes them, for a
    // buffer that operations overwrite whole before anything reads it (a product's output, a layer's activation
    // record). The test backends poison them (tests/test_backend.c, backend_staged.c), so a read before the first
    // write changes the results they are checked on.
    void *(*alloc_uninit)(const struct Backend *be, size_t n, BufType t);
    void (*free)(const struct Backend *be, void *buf);  // buf may be NULL
    // n zeroed elements in memory of their own, handed back whole by free_apart (with the same n and t): for a large
    // buffer that lives for one phase of a step (the rollout's KV cache). On the CPU backend's heap, which keeps what
    // is freed (src/cli/rlvr.c), blocks allocated in its hole meanwhile would make the next step's copy land beyond
    // it, one more copy resident. NULL (both): alloc and free (bk_alloc_apart).
    void *(*alloc_apart)(const struct Backend *be, size_t n, BufType t);
    void (*free_apart)(const struct Backend *be, void *buf, size_t n, BufType t);  // buf may be NULL
    // n elements host -> backend / backend -> host. For BUF_ACT and BUF_GRAD the host side is float (converted
    // to and from the backend's type); for the other types both sides have the same C type.
    void (*to_dev)(const struct Backend *be, void *dst, const void *host, size_t n, BufType t);
    void (*to_host)(const struct Backend *be, void *host, const void *src, size_t n, BufType t);
    // dst = src, n elements of type t, both backend buffers (the regions may not overlap).
    void (*copy)(const struct Backend *be, void *dst, const void *src, size_t n, BufType t);
    // A backend buffer standing for the host array host of n elements (float for BUF_ACT/GRAD): IN views hold its
    // values, OUT views are copied back into it by view_end, which also releases the view. The CPU backend
    // returns host itself (no copy), so large host inputs and outputs (logits, dlogits) cost nothing there.
    void *(*view)(const struct Backend *be, void *host, size_t n, BufType t, ViewDir dir);
    void (*view_end)(const struct Backend *be, void *view, void *host, size_t n, BufType t, ViewDir dir);

    // ---- weights ----
    // The backend's copy of parameter element off of m->params (SIZE_MAX: absent -> NULL).
    const void *(*param)(const struct Backend *be, const Model *m, size_t off);
    // m->params changed (init, load, optimizer step): a device backend refreshes its mirror; CPU: nothing.
    int (*load_params)(const struct Backend *be, const Model *m, Err *e);

    // ---- forward ----
    // x[t] = table[tokens[t]] for T rows of width D (tokens: BUF_I32 buffer, checked by the caller).
    void (*embed)(const struct Backend *be, const void *table, const void *tokens, int T, int D, void *x);
    // RMSNorm over rows of width D: y = w * x / rms(x), inv[t] = 1/rms (BUF_F32); the CPU sums x^2 in float64.
    void (*rms_norm)(const struct Backend *be, const void *x, const void *w, void *y, void *inv, int T, int D,
                     double eps);
    // The residual stream into a sublayer, row by row: x += y (y NULL: nothing added), keep = x (the record's copy
    // for the backward), then rms_norm of x into out and inv: the bits of add, copy and rms_norm in turn, with x's
    // rows read once. NULL in a backend without it: bk_residual_norm then calls those three.
    void (*residual_norm)(const struct Backend *be, void *x, const void *y, void *keep, const void *w, void *out,
                          void *inv, int T, int D, double eps);
    // Per-head RMSNorm of q or k rows [T, H*hd] (Qwen3 q_norm/k_norm; inv [T*H]); w NULL: y = x (inv untouched).
    void (*head_norm)(const struct Backend *be, const void *w, const void *x, void *y, void *inv, int T, int H, int hd,
                      double eps);
    // Rotary embedding in place on activation rows [T, H*hd] at positions pos (BUF_I32), HF rotate-half;
    // inverse: the transpose (rope_back is the same on gradient rows).
    void (*rope)(const struct Backend *be, void *x, const void *pos, int T, int H, int hd, double theta, bool inverse);
    // y[M, N] = x[M, K] · w[N, K]^T (+ bias[N] when non-NULL); each output summed in one fixed order whatever M
    // (batch invariance, src/README.md invariant 2).
    void (*matmul)(const struct Backend *be, const void *x, const void *w, const void *bias, void *y, int M, int N,
                   int K);
    // matmul of one x [M, K] with each part's weight (a layer's q, k and v projections; its gate and up), the same
    // bits as one matmul per part. NULL in a backend without it: bk_matmul_parts then calls matmul per part.
    void (*matmul_parts)(const struct Backend *be, const void *x, const ProductPart *parts, int n_parts, int M,
                         int K);
    // The dense MLP's first half: g = x wg^T and u = x wu^T [M, F] (matmul_parts), then act = swiglu of them, the
    // same bits. NULL in a backend without it: bk_gate_up_act then calls those two.
    void (*gate_up_act)(const struct Backend *be, const void *x, const void *wg, const void *wu, void *g, void *u,
                        void *act, int M, int F, int K);
    // Writes token t's key row k[t] and value row v[t] (width KD) into row row0[t] + pos[t] of kbuf and vbuf
    // (pos BUF_I32, row0 BUF_I64); the source and destination row may be the same.
    void (*kv_store)(const struct Backend *be, void *kbuf, void *vbuf, const void *k, const void *v, const void *pos,
                     const void *row0, int T, int KD);
    // Causal attention (attention.c): token t's query heads q [T, QD] over its sequence's key/value rows
    // row0[t] + 0..pos[t] of kbuf/vbuf [rows, KD], in key order; att [T, QD], lse [T, Hq] (BUF_F64). shared: NULL,
    // or host int64 [T][2] (row, n) saying that rows row0[t] + 0..n-1 hold the values of rows row + 0..n-1 (a prompt
    // copied to each slot of a group), which a backend may read instead, so that a group reads one copy.
    void (*attention)(const struct Backend *be, const Dims *d, int T, const void *pos, const void *row0,
                      const int64_t *shared, const void *kbuf, const void *vbuf, const void *q, void *att, void *lse);
    // act = silu(g) * u over n elements (SwiGLU, between the gate/up and the down projections).
    void (*swiglu)(const struct Backend *be, const void *g, const void *u, void *act, size_t n);
    // x += y over n activation elements (the residual stream).
    void (*add)(const struct Backend *be, void *x, const void *y, size_t n);
    // The sparse MoE block of layer l (moe.c) on the normed input x [T, D] into y [T, D]: router matmul, softmax
    // and top-k (a->probs, a->top_e, a->top_w), each expert's SwiGLU on its tokens, combined in expert order,
    // plus the shared expert; a's MoE fields are filled for the backward.
    void (*moe)(const struct Backend *be, const Model *m, int l, const void *x, LayerActs *a, int T, void *y);

    // ---- backward (every d* activation buffer is BUF_GRAD; weight gradients are float) ----
    // rope's transpose (the inverse rotation) in place on gradient rows dx [T, H*hd].
    void (*rope_back)(const struct Backend *be, void *dx, const void *pos, int T, int H, int hd, double theta);
    // dx += d/dx and dw += d/dw of y = rms_norm(x, w) given dy; inv from the forward.
    void (*rms_norm_back)(const struct Backend *be, const void *x, const void *w, const void *inv, const void *dy,
                          void *dx, float *dw, int T, int D);
    // head_norm's backward: draw = d(raw) given dnormed (w NULL: a copy), dw += d/dw.
    void (*head_norm_back)(const struct Backend *be, const void *w, const void *raw, const void *inv,
                           const void *dnormed, void *draw, float *dw, int T, int H, int hd);
    // y = x W^T + b: dw[N, K] += dy[T, N]^T · x[T, K] and, when db != NULL, db[N] += sum_t dy[t]. fixed: the
    // bits depend on neither the CPU nor the thread count (Model.fixed_order_backward).
    void (*matmul_dw)(const struct Backend *be, bool fixed, const void *dy, const void *x, float *dw, float *db,
                      int T, int N, int K);
    // y = x W^T: dx[T, K] = dy[T, N] · w[N, K], added to dx when accumulate.
    void (*matmul_dx)(const struct Backend *be, bool fixed, const void *dy, const void *w, void *dx, int T, int N,
                      int K, bool accumulate);
    // matmul_dx over N in slices given in order: dx[T, K] = the sum over slices of dy[T, n] · w[n, K] (the slice's
    // columns of dy, n floats a row, and its rows of w; n0 its first). n is a multiple of 8 but in the last slice,
    // after which dx is whole. *sum carries the running sum between calls: NULL before the first, and after the last.
    // With fixed, dx gets the bits of one matmul_dx over all N. NULL in a backend without it (model/model_head.c).
    void (*matmul_dx_slice)(const struct Backend *be, bool fixed, void **sum, const void *dy, const void *w, void *dx,
                            int T, int n0, int n, int N, int K);
    // Attention backward from the forward's record a (a->qr, a->kr, a->v, a->att, a->lse) over the sequences of
    // A: adds dq [T, QD], dk, dv [T, KD] given datt [T, QD]. A's T, n_seqs and seq_offsets are host values.
    void (*attention_back)(const struct Backend *be, const Dims *d, const ModelActs *A, const LayerActs *a,
                           const void *datt, void *dq, void *dk, void *dv);
    // act = silu(g) * u backward: dg, du (written) given dact, n elements.
    void (*swiglu_back)(const struct Backend *be, const void *g, const void *u, const void *dact, void *dg, void *du,
                        size_t n);
    // The MoE block's backward (moe.c): adds weight gradients into grads (laid out like params) and d(input) into
    // da2 [T, D] given dy [T, D]; aux_weight scales the load-balancing loss (A->expert_frac, host, [E]).
    void (*moe_back)(const struct Backend *be, const Model *m, int l, const ModelActs *A, const LayerActs *a,
                     const void *dy, double aux_weight, float *grads, void *da2);
    // dtable[tokens[t]] += dx[t] over T rows of width D, each column summed over t in order.
    void (*embed_back)(const struct Backend *be, const void *tokens, const void *dx, float *dtable, int T, int D);

    // ---- LM head loss (logprob.c; kernels/logits_loss.h is its device twin) ----
    // For n rows of logits [n, V]: logp[i] = log softmax(logits[i] / temperature)[targets[i]] and entropy[i]
    // (may be NULL), float64 in index order. targets: BUF_I32, logp/entropy: BUF_F64 (host for the CPU).
    void (*logprob)(const struct Backend *be, const void *logits, int64_t n, int V, const void *targets,
                    double temperature, double *logp, double *entropy);
    // dlogits [n, V] (BUF_GRAD, zero on entry) receives the gradient of sum_i dlogp[i] logp[i] + dentropy[i] H[i]
    // (dentropy may be NULL; rows whose dlogp and dentropy are both 0 may be skipped: they stay 0).
    void (*logprob_back)(const struct Backend *be, const void *logits, int64_t n, int V, const void *targets,
                         double temperature, const double *dlogp, const double *dentropy, void *dlogits);

    // ---- the LM head in chunks of tokens (model/model_head.c): no [T, V] logits kept ----
    // logprob on n rows [n, V] (entropy may be NULL), also writing each row's softmax statistics into stats
    // (BUF_F64, LOGPROB_STATS = 3 per row, model/logprob.h; their meaning is the backend's own: only
    // head_logprob_back reads them).
    void (*head_logprob)(const struct Backend *be, const void *logits, int64_t n, int V, const void *targets,
                         double temperature, double *logp, double *entropy, double *stats);
    // logprob_back on columns v0..v0+nv of n rows, from head_logprob's stats: logits [n, nv] (BUF_ACT) are those
    // columns, dlogits [n, nv] (BUF_GRAD) is written (zeros in rows whose dlogp and dentropy are both 0), each
    // element with the bits logprob_back gives it in the whole row. dentropy may be NULL.
    void (*head_logprob_back)(const struct Backend *be, const void *logits, int64_t n, int v0, int nv,
                              const void *targets, double temperature, const double *stats, const double *dlogp,
                              const double *dentropy, void *dlogits);
    // ---- sampling (the device sampler: logits stay in backend memory; model/sample_filter.c on the CPU,
    // kernels/sample.cu its CUDA twin) ----
    // n draws from logits [rows, V] (BUF_ACT): draw k takes row row[k] and picks token[k] as sample_pick does with
    // sp and uniform u[k] (-1: the row holds a non-finite logit), then writes logp[k] and entropy[k] of that token
    // under softmax(row / sp->record_temperature), as logprob computes them. row, u, token, logp and entropy are
    // host arrays of n: only they cross between host and backend, never the logits.
    void (*sample)(const struct Backend *be, const void *logits, int V, int n, const int32_t *row, const double *u,
                   const SampleSpec *sp, int32_t *token, double *logp, double *entropy);
    // ---- ZeRO stage 3: the weight copy by windows (appended; model/device.h device_window_*) ----
    // on: from now on param() serves only the open windows and load_params keeps nothing (a device frees its whole
    // copy); off: no window is open, and the next load_params copies every weight again. CPU: nothing to do.
    void (*windowed)(const struct Backend *be, const Model *m, bool on);
    // Opens a window on elements [begin, end) of m->params: the backend's copy of them, which param() serves until
    // window_close (windows never overlap). This rank's elements, [own_begin, own_end) within it, are copied in from
    // m->params (host fp32, converted to the backend's weight type); then fill(ctx, buf, elem_bytes, first, n)
    // completes each buffer the window keeps (backend memory holding elements [first, first + n) of m->params,
    // elem_bytes each, this rank's written): the weights, and a device's fp32 copy of each bias inside the window.
    // fill is collective: every rank opens the same windows in the same order. -1 (e): out of memory.
    int (*window_open)(const struct Backend *be, const Model *m, size_t begin, size_t end, size_t own_begin,
                       size_t own_end, void (*fill)(void *ctx, void *buf, size_t elem_bytes, size_t first, size_t n),
                       void *ctx, Err *e);
    // Closes the open windows inside [begin, end), their memory freed once the operations reading it are done.
    void (*window_close)(const struct Backend *be, const Model *m, size_t begin, size_t end);

    // ---- Expert parallelism on a backend of its own (appended; model/moe_ep.c moe_ep_rows_*) ----
    // Routed expert e of MoE layer o on n rows x [n, D] (activations): out [n, D] = its SwiGLU MLP, each row alone.
    void (*ep_expert)(const struct Backend *be, const Model *m, const LayerOffsets *o, int e, const void *x, int n,
                      void *out);
    // Its backward given gy [n, D] (activations: the rows' output gradients times their router weights): recomputes
    // the forward, adds the weight gradients to dgate, dup [Fe, D] and ddown [D, Fe] (float, backend memory) and
    // writes dx [n, D] (BUF_GRAD).
    void (*ep_expert_back)(const struct Backend *be, const Model *m, const LayerOffsets *o, int e, const void *x,
                           const void *gy, int n, float *dgate, float *dup, float *ddown, void *dx);
    // ---- the optimizer step on backend memory (appended for train/device_update.h) ----
    // Parameter gradients, fp32 master weights and Adam moments are BUF_F32 buffers, the deterministic mode's
    // fixed-point limbs BUF_I64 (three per element); host backends run model/update_ops.h, a device its twins.
    // AdamW on parameters [off, off + n) of model's table: master p, moments m, v, gradient g (n elements each);
    // then the backend's copies of those weights (param(), param_f32()) hold the new p.
    void (*adamw)(const struct Backend *be, const Model *model, size_t off, float *p, float *m, float *v,
                  const float *g, size_t n, const AdamWStep *s);
    // limbs[3i .. 3i+2] += fixed(g[i]) for i < n (update_ops.h fixed_add); returns how many elements the grid refused.
    int64_t (*fixed_add)(const struct Backend *be, int64_t *limbs, const float *g, size_t n);
    // g[i] = (float)fixed_value(limbs + 3i) for i < n.
    void (*fixed_value)(const struct Backend *be, float *g, const int64_t *limbs, size_t n);
    // sums[k] = update_sumsq(g + begin[k], len[k]) for k < n_ranges (begin, len, sums: host arrays).
    void (*sumsq)(const struct Backend *be, const float *g, const size_t *begin, const size_t *len, int n_ranges,
                  double *sums);
    // update_scale over n elements of g.
    void (*scale)(const struct Backend *be, float *g, size_t n, double scale);
    // A second copy of parameter off the backend keeps in fp32 besides param() (CUDA: each bias), else NULL: what an
    // owner's broadcast of new weights must also reach. param()'s memory is the backend's own and may be written.
    float *(*param_f32)(const struct Backend *be, const Model *model, size_t off);
};

// The CPU backend (backend_cpu.c): the model's existing functions; Model.backend after model_create.
const Backend *backend_cpu(void);

// Element i of an activation buffer (address arithmetic with the backend's element size; nothing is read).
static inline void *act_at(const Backend *be, const void *buf, size_t i) {
    return (char *)buf + i * be->act_bytes;
}

// be->alloc (zeroed) or be->alloc_uninit for buffers the loop cannot do without: out of memory aborts with file and
// line, as xmalloc does.
static inline void *backend_alloc_at(const Backend *be, size_t n, BufType t, bool zeroed, const char *file, int line) {
    void *p = zeroed ? be->alloc(be, n, t) : be->alloc_uninit(be, n, t);
    if (!p) {
        fprintf(stderr, "rlvr: %s:%d: %s backend alloc(%zu elements of type %d) failed: out of memory\n", file, line,
                be->name, n, (int)t);
        abort();
    }
    return p;
}
#define bk_alloc(be, n, t) backend_alloc_at((be), (n), (t), true, __FILE__, __LINE__)
#define bk_alloc_uninit(be, n, t) backend_alloc_at((be), (n), (t), false, __FILE__, __LINE__)

// be->alloc_apart and be->free_apart where the backend has them, else alloc and free; NULL when memory runs out.
static inline void *bk_alloc_apart(const Backend *be, size_t n, BufType t) {
    return be->alloc_apart ? be->alloc_apart(be, n, t) : be->alloc(be, n, t);
}
static inline void bk_free_apart(const Backend *be, void *buf, size_t n, BufType t) {
    if (be->free_apart) be->free_apart(be, buf, n, t);
    else be->free(be, buf);
}

// be->matmul_parts where the backend has it, else one be->matmul per part.
static inline void bk_matmul_parts(const Backend *be, const void *x, const ProductPart *parts, int n_parts, int M,
                                   int K) {
    if (be->matmul_parts) {
        be->matmul_parts(be, x, parts, n_parts, M, K);
        return;
    }
    for (int p = 0; p < n_parts; p++) be->matmul(be, x, parts[p].w, parts[p].bias, parts[p].y, M, parts[p].N, K);
}

// be->gate_up_act where the backend has it, else bk_matmul_parts and be->swiglu.
static inline void bk_gate_up_act(const Backend *be, const void *x, const void *wg, const void *wu, void *g, void *u,
                                  void *act, int M, int F, int K) {
    if (be->gate_up_act) {
        be->gate_up_act(be, x, wg, wu, g, u, act, M, F, K);
        return;
    }
    bk_matmul_parts(be, x, (ProductPart[]){{wg, NULL, g, F}, {wu, NULL, u, F}}, 2, M, K);
    be->swiglu(be, g, u, act, (size_t)M * F);
}

// be->residual_norm where the backend has it, else be->add (with a y), be->copy and be->rms_norm.
static inline void bk_residual_norm(const Backend *be, void *x, const void *y, void *keep, const void *w, void *out,
                                    void *inv, int T, int D, double eps) {
    if (be->residual_norm) {
        be->residual_norm(be, x, y, keep, w, out, inv, T, D, eps);
        return;
    }
    size_t n = (size_t)T * D;
    if (y) be->add(be, x, y, n);
    be->copy(be, keep, x, n, BUF_ACT);
    be->rms_norm(be, x, w, out, inv, T, D, eps);
}

#endif
