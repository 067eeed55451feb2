// The CPU backend: thin wrappers over the model's own functions (model_layers.c, attention.c, moe.c,
// model_backward.c, logprob.c), so the layer loop through the table computes the bits it always did.
// Activations are float in host memory; views of host arrays are the arrays themselves.
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/pages.h"
#include "base/spread_alloc.h"
#include "model/backend.h"
#include "model/logprob.h"
#include "model/matmul.h"
#include "model/model_internal.h"
#include "model/sample_filter.h"

static size_t type_bytes(BufType t) {
    switch (t) {
    case BUF_ACT: case BUF_GRAD: case BUF_F32: return sizeof(float);
    case BUF_F64: return sizeof(double);
    case BUF_I32: return sizeof(int32_t);
    case BUF_I64: return sizeof(int64_t);
    }
    return 1;
}

// Spread over page offsets (base/spread_alloc.h), with one spare element, so that a zero-sized buffer is still a
// valid, distinct pointer.
static void *spread_elements(size_t n, BufType t, bool zeroed) {
    size_t size = type_bytes(t);
    return n < SIZE_MAX / size - 1 ? spread_alloc((n + 1) * size, zeroed) : NULL;
}

static void *cpu_alloc(const Backend *be, size_t n, BufType t) {
    (void)be;
    return spread_elements(n, t, true);
}

// Heap memory as it is: freed buffers stay in the heap (src/cli/rlvr.c), so this reuses mapped pages unzeroed.
static void *cpu_alloc_uninit(const Backend *be, size_t n, BufType t) {
    (void)be;
    return spread_elements(n, t, false);
}

static void cpu_free(const Backend *be, void *buf) {
    (void)be;
    spread_free(buf);
}

// Pages of its own, zero as mapped and in huge pages where the kernel allows, unmapped by cpu_free_apart, in the place
// of the heap's free pages (pages_map_apart: the update's freed activations, which the next update faults in again).
static void *cpu_alloc_apart(const Backend *be, size_t n, BufType t) {
    (void)be;
    if (n >= SIZE_MAX / type_bytes(t)) return NULL;
    // Resident at once: faulted in as the decode first wrote each page, a group of 8's cache cost 0.33 s of a 10 s
    // decode on 1 thread (bench sample --ops: copy and kv_store), 10-20 ms this way.
    return pages_map_apart(n * type_bytes(t));
}

static void cpu_free_apart(const Backend *be, void *buf, size_t n, BufType t) {
    (void)be;
    pages_free(buf, n * type_bytes(t));
}

static void cpu_copy(const Backend *be, void *dst, const void *src, size_t n, BufType t) {
    (void)be;
    if (n) memcpy(dst, src, n * type_bytes(t));
}

static void cpu_to_dev(const Backend *be, void *dst, const void *host, size_t n, BufType t) {
    cpu_copy(be, dst, host, n, t);
}

static void cpu_to_host(const Backend *be, void *host, const void *src, size_t n, BufType t) {
    cpu_copy(be, host, src, n, t);
}

static void *cpu_view(const Backend *be, void *host, size_t n, BufType t, ViewDir dir) {
    (void)be, (void)n, (void)t, (void)dir;
    return host;
}

static void cpu_view_end(const Backend *be, void *view, void *host, size_t n, BufType t, ViewDir dir) {
    (void)be, (void)view, (void)host, (void)n, (void)t, (void)dir;
}

static const void *cpu_param(const Backend *be, const Model *m, size_t off) {
    (void)be;
    return off == SIZE_MAX ? NULL : m->params + off;
}

static int cpu_load_params(const Backend *be, const Model *m, Err *e) {
    (void)be, (void)m, (void)e;
    return 0;
}

static void cpu_embed(const Backend *be, const void *table, const void *tokens, int T, int D, void *x) {
    (void)be;
    const int32_t *tok = tokens;
    for (int t = 0; t < T; t++)
        memcpy((float *)x + (size_t)t * D, (const float *)table + (size_t)tok[t] * D, D * sizeof(float));
}

static void cpu_rms_norm(const Backend *be, const void *x, const void *w, void *y, void *inv, int T, int D,
                         double eps) {
    (void)be;
    rms_norm_rows(x, w, y, inv, T, D, eps);
}

static void cpu_residual_norm(const Backend *be, void *x, const void *y, void *keep, const void *w, void *out,
                              void *inv, int T, int D, double eps) {
    (void)be;
    residual_norm_rows(x, y, keep, w, out, inv, T, D, eps);
}

static void cpu_head_norm(const Backend *be, const void *w, const void *x, void *y, void *inv, int T, int H, int hd,
                          double eps) {
    (void)be;
    if (!w)
        memcpy(y, x, (size_t)T * H * hd * sizeof(float));
    else
        rms_norm_rows(x, w, y, inv, T * H, hd, eps);
}

static void cpu_rope(const Backend *be, void *x, const void *pos, int T, int H, int hd, double theta, bool inverse) {
    (void)be;
    rope_rows(x, pos, T, H, hd, theta, inverse);
}

static void cpu_rope_back(const Backend *be, void *dx, const void *pos, int T, int H, int hd, double theta) {
    (void)be;
    rope_rows(dx, pos, T, H, hd, theta, 1);
}

static void cpu_matmul(const Backend *be, const void *x, const void *w, const void *bias, void *y, int M, int N,
                       int K) {
    (void)be;
    matmul_xwt(x, w, bias, y, M, N, K);
}

static void cpu_matmul_parts(const Backend *be, const void *x, const ProductPart *parts, int n_parts, int M, int K) {
    (void)be;
    MatmulPart mp[n_parts];
    for (int p = 0; p < n_parts; p++) mp[p] = (MatmulPart){parts[p].w, parts[p].bias, parts[p].y, parts[p].N};
    matmul_xwt_parts(x, M, K, mp, n_parts);
}

static void cpu_gate_up_act(const Backend *be, const void *x, const void *wg, const void *wu, void *g, void *u,
                            void *act, int M, int F, int K) {
    (void)be;
    gate_up_act(x, wg, wu, M, K, F, g, u, act);
}

static void cpu_kv_store(const Backend *be, void *kbuf, void *vbuf, const void *k, const void *v, const void *pos,
                         const void *row0, int T, int KD) {
    (void)be;
    const int *p = pos;
    const int64_t *r0 = row0;
    for (int t = 0; t < T; t++) {
        size_t row = (size_t)(r0[t] + p[t]) * KD;
        memmove((float *)kbuf + row, (const float *)k + (size_t)t * KD, KD * sizeof(float));
        memmove((float *)vbuf + row, (const float *)v + (size_t)t * KD, KD * sizeof(float));
    }
}

static void cpu_attention(const Backend *be, const Dims *d, int T, const void *pos, const void *row0,
                          const int64_t *shared, const void *kbuf, const void *vbuf, const void *q, void *att,
                          void *lse) {
    (void)be;
    attention_forward(d, T, pos, row0, shared, kbuf, vbuf, q, att, lse);
}

static void cpu_swiglu(const Backend *be, const void *g, const void *u, void *act, size_t n) {
    (void)be;
    swiglu_act(g, u, act, n);
}

static void cpu_add(const Backend *be, void *x, const void *y, size_t n) {
    (void)be;
    float *a = x;
    const float *b = y;
    if (n <= 65536) {  // outside any parallel region: one with a false if clause costs 0.3 us in libgomp
        add_floats(a, b, n);
        return;
    }
    enum { CHUNK = 4096 };  // floats a task: elementwise, so the same bits on any thread count
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i += CHUNK) add_floats(a + i, b + i, n - i < CHUNK ? n - i : CHUNK);
}

static void cpu_moe(const Backend *be, const Model *m, int l, const void *x, LayerActs *a, int T, void *y) {
    (void)be;
    Dims d = model_dims(m);
    moe_forward(m, &m->priv->layers[l], &d, x, a, T, y, m->ep ? moe_ep_forward : moe_experts_forward);
}

static void cpu_rms_norm_back(const Backend *be, const void *x, const void *w, const void *inv, const void *dy,
                              void *dx, float *dw, int T, int D) {
    (void)be;
    rms_norm_back(x, w, inv, dy, dx, dw, T, D);
}

static void cpu_head_norm_back(const Backend *be, const void *w, const void *raw, const void *inv,
                               const void *dnormed, void *draw, float *dw, int T, int H, int hd) {
    (void)be;
    size_t n = (size_t)T * H * hd;
    if (!w) {
        memcpy(draw, dnormed, n * sizeof(float));
        return;
    }
    memset(draw, 0, n * sizeof(float));
    rms_norm_back(raw, w, inv, dnormed, draw, dw, T * H, hd);
}

static void cpu_matmul_dw(const Backend *be, bool fixed, const void *dy, const void *x, float *dw, float *db, int T,
                          int N, int K) {
    (void)be;
    linear_back_w(fixed, x, dy, dw, db, T, N, K);
}

static void cpu_matmul_dx(const Backend *be, bool fixed, const void *dy, const void *w, void *dx, int T, int N, int K,
                          bool accumulate) {
    (void)be;
    linear_back_x(fixed, w, dy, dx, T, N, K, accumulate ? 1.0f : 0.0f);
}

static void cpu_matmul_dx_slice(const Backend *be, bool fixed, void **sum, const void *dy, const void *w, void *dx,
                                int T, int n0, int n, int N, int K) {
    (void)be;
    if (!fixed) {  // OpenBLAS adds each slice's product: the sum over N in an order of its own, as it always is
        linear_back_x(false, w, dy, dx, T, n, K, n0 > 0 ? 1.0f : 0.0f);
        return;
    }
    if (n0 == 0) *sum = matmul_xw_slices_begin(dx, T, N, K);
    *sum = matmul_xw_slice(*sum, dy, w, n);
}

static void cpu_attention_back(const Backend *be, const Dims *d, const ModelActs *A, const LayerActs *a,
                               const void *datt, void *dq, void *dk, void *dv) {
    (void)be;
    attention_backward(d, A, a, datt, dq, dk, dv);
}

static void cpu_swiglu_back(const Backend *be, const void *g, const void *u, const void *dact, void *dg, void *du,
                            size_t n) {
    (void)be;
    swiglu_act_back(g, u, dact, dg, du, n);
}

static void cpu_moe_back(const Backend *be, const Model *m, int l, const ModelActs *A, const LayerActs *a,
                         const void *dy, double aux_weight, float *grads, void *da2) {
    (void)be;
    Dims d = model_dims(m);
    moe_backward(m, &m->priv->layers[l], &d, A, a, dy, aux_weight, grads, da2,
                 m->ep ? moe_ep_backward : moe_experts_backward);
}

static void cpu_embed_back(const Backend *be, const void *tokens, const void *dx, float *dtable, int T, int D) {
    (void)be;
    const int32_t *tok = tokens;
    const float *g = dx;
#pragma omp parallel for schedule(static) if ((long)T * D > 32768)
    for (int i0 = 0; i0 < D; i0 += 64)  // blocks of columns, each column summed over t in order
        for (int t = 0; t < T; t++)
            for (int i = i0; i < i0 + 64 && i < D; i++) dtable[(size_t)tok[t] * D + i] += g[(size_t)t * D + i];
}

static void cpu_logprob_back(const Backend *be, const void *logits, int64_t n, int V, const void *targets,
                             double temperature, const double *dlogp, const double *dentropy, void *dlogits) {
    (void)be;
    const float *z = logits;
    const int32_t *tgt = targets;
#pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < n; j++) {
        double dh = dentropy ? dentropy[j] : 0.0;
        if (dlogp[j] == 0 && dh == 0) continue;
        logprob_entropy_backward(z + (size_t)j * (size_t)V, V, temperature, tgt[j], dlogp[j], dh,
                                 (float *)dlogits + (size_t)j * (size_t)V);
    }
}

// Rows in parallel, each its own log-prob, entropy and (stats non-NULL) softmax statistics.
static void cpu_head_logprob(const Backend *be, const void *logits, int64_t n, int V, const void *targets,
                             double temperature, double *logp, double *entropy, double *stats) {
    (void)be;
    const float *z = logits;
    const int32_t *tgt = targets;
#pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < n; j++) {
        double h, own[LOGPROB_STATS];
        logprob_entropy_stats(z + (size_t)j * (size_t)V, V, temperature, tgt[j], &logp[j], &h,
                              stats ? stats + (size_t)j * LOGPROB_STATS : own);
        if (entropy) entropy[j] = h;
    }
}

// The same log-prob and entropy as head_logprob's (model/logprob.c), without the statistics.
static void cpu_logprob(const Backend *be, const void *logits, int64_t n, int V, const void *targets,
                        double temperature, double *logp, double *entropy) {
    cpu_head_logprob(be, logits, n, V, targets, temperature, logp, entropy, NULL);
}

static void cpu_head_logprob_back(const Backend *be, const void *logits, int64_t n, int v0, int nv,
                                  const void *targets, double temperature, const double *stats, const double *dlogp,
                                  const double *dentropy, void *dlogits) {
    (void)be;
    const float *z = logits;
    const int32_t *tgt = targets;
    float *g = dlogits;
#pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < n; j++) {
        double dh = dentropy ? dentropy[j] : 0.0;
        float *row = g + (size_t)j * (size_t)nv;
        memset(row, 0, (size_t)nv * sizeof *row);  // then added to, as logprob_back adds to zeros
        if (dlogp[j] == 0 && dh == 0) continue;
        logprob_entropy_backward_cols(z + (size_t)j * (size_t)nv, v0, nv, temperature, tgt[j],
                                      stats + (size_t)j * LOGPROB_STATS, dlogp[j], dh, row);
    }
}

// Each draw is model/sample_filter.c's pick and logprob.c's log-prob on its row, rows in parallel (each draw reads
// only its own row and uniform, so the thread count changes no bit). Where the pick's weights are the softmax's exps,
// the log-prob sums those (the same bits) instead of taking the exps again.
static void cpu_sample(const Backend *be, const void *logits, int V, int n, const int32_t *row, const double *u,
                       const SampleSpec *sp, int32_t *token, double *logp, double *entropy) {
    (void)be;
    int n_work = omp_get_max_threads() < n ? omp_get_max_threads() : n;  // one V-sized scratch per drawing thread
    SampleWork *work = xmalloc((size_t)n_work * sizeof *work);
    for (int i = 0; i < n_work; i++) sample_work_init(&work[i], V);
    bool from_exps = sample_weights_are_exps(sp, V);
#pragma omp parallel for schedule(dynamic, 4) num_threads(n_work) if (n > 1)
    for (int k = 0; k < n; k++) {
        const float *z = (const float *)logits + (size_t)row[k] * (size_t)V;
        SampleWork *w = &work[omp_get_thread_num()];
        token[k] = sample_pick(z, sp, u[k], w);
        if (token[k] < 0) continue;
        if (from_exps) logprob_entropy_from_exp(z, V, w->w, token[k], &logp[k], &entropy[k]);
        else logprob_entropy(z, V, sp->record_temperature, token[k], &logp[k], &entropy[k]);
    }
    for (int i = 0; i < n_work; i++) sample_work_free(&work[i]);
    free(work);
}

// ---- ZeRO stage 3: the CPU's copy of the weights is m->params itself ----

static void cpu_windowed(const Backend *be, const Model *m, bool on) { (void)be, (void)m, (void)on; }

static int cpu_window_open(const Backend *be, const Model *m, size_t begin, size_t end, size_t own_begin,
                           size_t own_end, void (*fill)(void *ctx, void *buf, size_t elem_bytes, size_t first, size_t n),
                           void *ctx, Err *e) {
    (void)be, (void)own_begin, (void)own_end, (void)e;
    fill(ctx, m->params + begin, sizeof(float), begin, end - begin);
    return 0;
}

static void cpu_window_close(const Backend *be, const Model *m, size_t begin, size_t end) {
    (void)be, (void)m, (void)begin, (void)end;
}

// ---- Expert parallelism on a backend of its own: one routed expert on a block of rows (moe_ep.c's owner) ----

static void cpu_ep_expert(const Backend *be, const Model *m, const LayerOffsets *o, int e, const void *x, int n,
                          void *out) {
    (void)be;
    Dims d = model_dims(m);
    const float *P = m->params;
    size_t wo = (size_t)e * d.Fe * d.D, nf = (size_t)n * d.Fe;
    float *g = xmalloc(3 * nf * sizeof(float));
    swiglu(x, P + o->egate + wo, P + o->eup + wo, P + o->edown + wo, n, d.D, d.Fe, g, g + nf, g + 2 * nf, out);
    free(g);
}

static void cpu_ep_expert_back(const Backend *be, const Model *m, const LayerOffsets *o, int e, const void *x,
                               const void *gy, int n, float *dgate, float *dup, float *ddown, void *dx) {
    (void)be;
    Dims d = model_dims(m);
    const float *P = m->params;
    size_t wo = (size_t)e * d.Fe * d.D, nf = (size_t)n * d.Fe;
    float *g = xmalloc(3 * nf * sizeof(float)), *y = xmalloc((size_t)n * d.D * sizeof(float));
    swiglu(x, P + o->egate + wo, P + o->eup + wo, P + o->edown + wo, n, d.D, d.Fe, g, g + nf, g + 2 * nf, y);
    memset(dx, 0, (size_t)n * d.D * sizeof(float));
    swiglu_back(m->fixed_order_backward, x, P + o->egate + wo, P + o->eup + wo, P + o->edown + wo, g, g + nf,
                g + 2 * nf, gy, dgate, dup, ddown, dx, n, d.D, d.Fe);
    free(g), free(y);
}

// ---- the optimizer step (model/update_ops.h on host memory) ----

static void cpu_adamw(const Backend *be, const Model *model, size_t off, float *p, float *m, float *v, const float *g,
                      size_t n, const AdamWStep *s) {
    update_adamw(p, m, v, g, n, s);
    float *w = (float *)be->param(be, model, off);  // the host weights, or a host backend's own copy of them
    if (w != p) memcpy(w, p, n * sizeof *w);
}

static int64_t cpu_fixed_add(const Backend *be, int64_t *limbs, const float *g, size_t n) {
    (void)be;
    return fixed_add_n(limbs, g, n);
}

static void cpu_fixed_value(const Backend *be, float *g, const int64_t *limbs, size_t n) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) g[i] = (float)fixed_value(limbs + 3 * i);
}

static void cpu_sumsq(const Backend *be, const float *g, const size_t *begin, const size_t *len, int n_ranges,
                      double *sums) {
    (void)be;
#pragma omp parallel for schedule(dynamic)
    for (int k = 0; k < n_ranges; k++) sums[k] = update_sumsq(g + begin[k], len[k]);
}

static void cpu_scale(const Backend *be, float *g, size_t n, double scale) {
    (void)be;
    update_scale(g, n, scale);
}

static float *cpu_param_f32(const Backend *be, const Model *model, size_t off) {
    (void)be, (void)model, (void)off;
    return NULL;
}

static const Backend cpu = {
    .name = "cpu",
    .act_bytes = sizeof(float),
    .grad_bytes = sizeof(float),
    .alloc = cpu_alloc,
    .alloc_uninit = cpu_alloc_uninit,
    .free = cpu_free,
    .alloc_apart = cpu_alloc_apart,
    .free_apart = cpu_free_apart,
    .to_dev = cpu_to_dev,
    .to_host = cpu_to_host,
    .copy = cpu_copy,
    .view = cpu_view,
    .view_end = cpu_view_end,
    .param = cpu_param,
    .load_params = cpu_load_params,
    .embed = cpu_embed,
    .rms_norm = cpu_rms_norm,
    .residual_norm = cpu_residual_norm,
    .head_norm = cpu_head_norm,
    .rope = cpu_rope,
    .matmul = cpu_matmul,
    .matmul_parts = cpu_matmul_parts,
    .gate_up_act = cpu_gate_up_act,
    .kv_store = cpu_kv_store,
    .attention = cpu_attention,
    .swiglu = cpu_swiglu,
    .add = cpu_add,
    .moe = cpu_moe,
    .rope_back = cpu_rope_back,
    .rms_norm_back = cpu_rms_norm_back,
    .head_norm_back = cpu_head_norm_back,
    .matmul_dw = cpu_matmul_dw,
    .matmul_dx = cpu_matmul_dx,
    .matmul_dx_slice = cpu_matmul_dx_slice,
    .attention_back = cpu_attention_back,
    .swiglu_back = cpu_swiglu_back,
    .moe_back = cpu_moe_back,
    .embed_back = cpu_embed_back,
    .logprob = cpu_logprob,
    .logprob_back = cpu_logprob_back,
    .head_logprob = cpu_head_logprob,
    .head_logprob_back = cpu_head_logprob_back,
    .sample = cpu_sample,
    .windowed = cpu_windowed,
    .window_open = cpu_window_open,
    .window_close = cpu_window_close,
    .ep_expert = cpu_ep_expert,
    .ep_expert_back = cpu_ep_expert_back,
    .adamw = cpu_adamw,
    .fixed_add = cpu_fixed_add,
    .fixed_value = cpu_fixed_value,
    .sumsq = cpu_sumsq,
    .scale = cpu_scale,
    .param_f32 = cpu_param_f32,
};

const Backend *backend_cpu(void) { return &cpu; }
