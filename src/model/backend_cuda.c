// The CUDA backend (model/backend_cuda.h): the table of model/backend.h on kernels/ops.h. Activations bf16,
// activation gradients (BUF_GRAD) and parameter gradients fp32, statistics in the table's fixed types. Where a
// gradient enters a matrix product it is rounded to bf16 first (the tensor cores' input). Every kernel runs on the
// backend's stream, so the operations are ordered without synchronising; copies to the host synchronise.
// The MoE block never waits for the device: its experts' rows are grouped on the device and each product over all
// experts is one grouped launch that reads the group offsets there (kernels/moe_grouped.cu).
#ifdef RLVR_CUDA
#include "model/backend_cuda.h"

#include <cuda_runtime_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixed_point.h"
#include "grad_norm.h"
#include "logits_loss.h"
#include "ops.h"

typedef struct {
    size_t off, n;  // a bias of Model.params
    float *dev;     // its fp32 copy (gpu_matmul adds an fp32 bias)
} BiasCopy;

// ZeRO stage 3 (Backend.windowed): the bf16 copy of elements [begin, end) of Model.params, gathered from their
// owners, and fp32 copies of the biases inside it.
typedef struct {
    size_t begin, end;
    Bf16 *w16;
    BiasCopy *bias;
    int n_bias;
} CudaWindow;

typedef struct {
    int device;
    cudaStream_t stream;
    Bf16 *w16;  // bf16 mirror of Model.params
    size_t n_params;
    BiasCopy *bias;
    int n_bias;
    bool windowed;    // zero stage 3: no whole mirror, param() serves the open windows only
    CudaWindow *win;
    int n_win;
    bool poison;  // RLVR_CUDA_POISON: alloc_uninit fills with 0xff bytes
} CudaState;

static CudaState *st_of(const Backend *be) { return be->state; }
static GpuStream stream_of(const Backend *be) { return (GpuStream)st_of(be)->stream; }

// The table's operations cannot fail on valid shapes: a device error here is a broken device or program.
static void die(const char *what, const char *msg) {
    fprintf(stderr, "rlvr: cuda backend: %s: %s\n", what, msg);
    abort();
}
static void cu(cudaError_t rc, const char *what) {
    if (rc != cudaSuccess) die(what, cudaGetErrorString(rc));
}
static void ok(int rc, const Err *e, const char *what) {
    if (rc) die(what, e->msg);
}

static size_t type_bytes(BufType t) {
    switch (t) {
    case BUF_ACT: return sizeof(Bf16);
    case BUF_GRAD: case BUF_F32: case BUF_I32: return 4;
    case BUF_F64: case BUF_I64: return 8;
    }
    return 1;
}

// Round to nearest even (NaN stays NaN), as __float2bfloat16.
static Bf16 bf16_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (Bf16)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (Bf16)(u >> 16);
}
static float f32_of(Bf16 h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// Stream-ordered scratch memory (out of memory aborts, as xmalloc does).
static void *scratch(const Backend *be, size_t bytes) {
    void *p = NULL;
    cu(cudaMallocAsync(&p, bytes ? bytes : 1, st_of(be)->stream), "scratch allocation");
    return p;
}
static void scratch_free(const Backend *be, void *p) {
    if (p) cu(cudaFreeAsync(p, st_of(be)->stream), "scratch free");
}
static void sync(const Backend *be) { cu(cudaStreamSynchronize(st_of(be)->stream), "stream synchronize"); }

// ---- memory ----

// n elements of type t; every byte set to fill, or left as the pool hands it over (fill < 0).
static void *alloc_filled(const Backend *be, size_t n, BufType t, int fill) {
    void *p = NULL;
    size_t bytes = (n + 1) * type_bytes(t);  // one spare element: a zero-sized buffer is still a distinct pointer
    if (cudaMallocAsync(&p, bytes, st_of(be)->stream) != cudaSuccess) {
        cudaGetLastError();  // clear the error: the caller decides what out of memory means
        return NULL;
    }
    if (fill >= 0) cu(cudaMemsetAsync(p, fill, bytes, st_of(be)->stream), "alloc memset");
    return p;
}

static void *cuda_alloc(const Backend *be, size_t n, BufType t) { return alloc_filled(be, n, t, 0); }

// Not zeroed: the layer loop writes these before reading them. With RLVR_CUDA_POISON set, every byte is 0xff (NaN
// as a float, -1 as an integer), as the staged backend poisons: a read before the first write then shows in the
// results (tests/gpu_check_model.c runs the model so against the CPU backend).
static void *cuda_alloc_uninit(const Backend *be, size_t n, BufType t) {
    return alloc_filled(be, n, t, st_of(be)->poison ? 0xff : -1);
}

static void cuda_free(const Backend *be, void *buf) { scratch_free(be, buf); }

static void cuda_to_dev(const Backend *be, void *dst, const void *host, size_t n, BufType t) {
    if (!n) return;
    cudaStream_t s = st_of(be)->stream;
    if (t != BUF_ACT) {
        cu(cudaMemcpyAsync(dst, host, n * type_bytes(t), cudaMemcpyHostToDevice, s), "upload");
        sync(be);  // the host array may change as soon as this returns
        return;
    }
    Bf16 *b = xmalloc(n * sizeof *b);
    const float *f = host;
    for (size_t i = 0; i < n; i++) b[i] = bf16_of(f[i]);
    cu(cudaMemcpyAsync(dst, b, n * sizeof *b, cudaMemcpyHostToDevice, s), "upload");
    sync(be);
    free(b);
}

static void cuda_to_host(const Backend *be, void *host, const void *src, size_t n, BufType t) {
    if (!n) return;
    cudaStream_t s = st_of(be)->stream;
    if (t != BUF_ACT) {
        cu(cudaMemcpyAsync(host, src, n * type_bytes(t), cudaMemcpyDeviceToHost, s), "download");
        sync(be);
        return;
    }
    Bf16 *b = xmalloc(n * sizeof *b);
    cu(cudaMemcpyAsync(b, src, n * sizeof *b, cudaMemcpyDeviceToHost, s), "download");
    sync(be);
    float *f = host;
    for (size_t i = 0; i < n; i++) f[i] = f32_of(b[i]);
    free(b);
}

static void cuda_copy(const Backend *be, void *dst, const void *src, size_t n, BufType t) {
    if (n) cu(cudaMemcpyAsync(dst, src, n * type_bytes(t), cudaMemcpyDeviceToDevice, st_of(be)->stream), "copy");
}

static void *alloc_or_die(const Backend *be, size_t n, BufType t) { return bk_alloc(be, n, t); }

static void *cuda_view(const Backend *be, void *host, size_t n, BufType t, ViewDir dir) {
    void *v = alloc_or_die(be, n, t);
    if (dir & VIEW_IN) cuda_to_dev(be, v, host, n, t);
    return v;
}

static void cuda_view_end(const Backend *be, void *view, void *host, size_t n, BufType t, ViewDir dir) {
    if (!view) return;
    if (dir & VIEW_OUT) cuda_to_host(be, host, view, n, t);
    cuda_free(be, view);
}

// ---- weights ----

static const CudaWindow *window_of(const CudaState *st, size_t off) {
    for (int i = 0; i < st->n_win; i++)
        if (off >= st->win[i].begin && off < st->win[i].end) return &st->win[i];
    return NULL;
}

static const void *cuda_param(const Backend *be, const Model *m, size_t off) {
    const CudaState *st = st_of(be);
    if (off == SIZE_MAX) return NULL;
    if (!st->windowed) return st->w16 + off;
    const CudaWindow *w = window_of(st, off);
    if (!w) {
        const char *name = "?";
        for (int i = 0; i < m->n_tensors; i++)
            if (off >= m->tensors[i].offset && off < m->tensors[i].offset + m->tensors[i].numel) name = m->tensors[i].name;
        char msg[256];
        snprintf(msg, sizeof msg, "%s (parameter %zu) read outside the %d open weight windows (zero stage 3)", name, off,
                 st->n_win);
        die("param", msg);
    }
    return w->w16 + (off - w->begin);
}

static void free_mirrors(CudaState *st) {
    for (int i = 0; i < st->n_bias; i++) cudaFree(st->bias[i].dev);
    free(st->bias);
    cudaFree(st->w16);
    st->bias = NULL, st->n_bias = 0, st->w16 = NULL, st->n_params = 0;
}

// The model's biases (q/k/v projections) inside elements [begin, end) of Model.params, into out (3 L at most, their
// dev NULL); returns their number.
static int model_biases(const Model *m, size_t begin, size_t end, BiasCopy *out) {
    Dims d = model_dims(m);
    int n = 0;
    for (int l = 0; l < d.L; l++) {
        const LayerOffsets *o = &m->priv->layers[l];
        size_t offs[3] = {o->bq, o->bk, o->bv}, ns[3] = {(size_t)d.QD, (size_t)d.KD, (size_t)d.KD};
        for (int i = 0; i < 3; i++)
            if (offs[i] != SIZE_MAX && offs[i] >= begin && offs[i] + ns[i] <= end)
                out[n++] = (BiasCopy){offs[i], ns[i], NULL};
    }
    return n;
}

// The model's biases, each with an fp32 device copy.
static int bias_table(CudaState *st, const Model *m, Err *e) {
    st->bias = xcalloc((size_t)3 * model_dims(m).L + 1, sizeof *st->bias);
    int n = model_biases(m, 0, m->n_params, st->bias);
    for (; st->n_bias < n; st->n_bias++)
        if (cudaMalloc((void **)&st->bias[st->n_bias].dev, st->bias[st->n_bias].n * sizeof(float)) != cudaSuccess)
            return err_set(e, "cuda backend: no device memory for the bias at parameter %zu", st->bias[st->n_bias].off);
    return 0;
}

// n host floats into bf16 device memory dst (rounded on the host, as every weight of the mirror).
static int upload_bf16(Bf16 *dst, const float *src, size_t n, Err *e) {
    enum { CHUNK = 1 << 20 };
    Bf16 *b = xmalloc(CHUNK * sizeof *b);
    for (size_t i0 = 0; i0 < n; i0 += CHUNK) {
        size_t k = n - i0 < CHUNK ? n - i0 : CHUNK;
        for (size_t i = 0; i < k; i++) b[i] = bf16_of(src[i0 + i]);
        if (cudaMemcpy(dst + i0, b, k * sizeof *b, cudaMemcpyHostToDevice) != cudaSuccess) {
            free(b);
            return err_set(e, "cuda backend: uploading the parameters failed: %s",
                           cudaGetErrorString(cudaGetLastError()));
        }
    }
    free(b);
    return 0;
}

// The bf16 mirror of every parameter and the fp32 copies of the biases, from m->params (host, fp32).
static int cuda_load_params(const Backend *be, const Model *m, Err *e) {
    CudaState *st = st_of(be);
    if (cudaSetDevice(st->device) != cudaSuccess)
        return err_set(e, "cuda backend: cannot select device %d", st->device);
    if (st->windowed) return 0;  // zero stage 3: the windows are filled as they open
    if (st->n_params != m->n_params || !st->w16) {
        free_mirrors(st);
        if (cudaMalloc((void **)&st->w16, (m->n_params + 1) * sizeof(Bf16)) != cudaSuccess) {
            st->w16 = NULL;
            return err_set(e, "cuda backend: no device memory for the bf16 copy of %zu parameters (%.1f MiB)",
                           m->n_params, m->n_params * 2.0 / 1048576.0);
        }
        st->n_params = m->n_params;
        if (bias_table(st, m, e)) {
            free_mirrors(st);
            return -1;
        }
    }
    TRY(upload_bf16(st->w16, m->params, m->n_params, e));
    for (int i = 0; i < st->n_bias; i++)
        if (cudaMemcpy(st->bias[i].dev, m->params + st->bias[i].off, st->bias[i].n * sizeof(float),
                       cudaMemcpyHostToDevice) != cudaSuccess)
            return err_set(e, "cuda backend: uploading the biases failed");
    return 0;
}

// The window whose bf16 copy holds p (NULL: none).
static const CudaWindow *window_holding(const CudaState *st, const Bf16 *p) {
    for (int i = 0; i < st->n_win; i++)
        if (p >= st->win[i].w16 && p < st->win[i].w16 + (st->win[i].end - st->win[i].begin)) return &st->win[i];
    return NULL;
}

// The fp32 copy of the bias whose bf16 mirror is bias (param() handed it to the layer loop).
static const float *bias_f32(const Backend *be, const void *bias) {
    if (!bias) return NULL;
    CudaState *st = st_of(be);
    const CudaWindow *w = st->windowed ? window_holding(st, bias) : NULL;
    const BiasCopy *table = w ? w->bias : st->bias;
    int n = w ? w->n_bias : st->n_bias;
    size_t off = w ? w->begin + (size_t)((const Bf16 *)bias - w->w16) : (size_t)((const Bf16 *)bias - st->w16);
    for (int i = 0; i < n; i++)
        if (table[i].off == off) return table[i].dev;
    char msg[96];
    snprintf(msg, sizeof msg, "parameter offset %zu is used as a bias but is none of the model's biases", off);
    die("matmul", msg);
    return NULL;
}

// ---- forward ----

static void cuda_embed(const Backend *be, const void *table, const void *tokens, int T, int D, void *x) {
    Err e;
    ok(gpu_embed(table, tokens, T, D, x, stream_of(be), &e), &e, "embed");
}

static void cuda_rms_norm(const Backend *be, const void *x, const void *w, void *y, void *inv, int T, int D,
                          double eps) {
    Err e;
    ok(gpu_rms_norm(x, w, y, inv, T, D, (float)eps, stream_of(be), &e), &e, "rms_norm");
}

static void cuda_head_norm(const Backend *be, const void *w, const void *x, void *y, void *inv, int T, int H, int hd,
                           double eps) {
    Err e;
    if (!w)
        cuda_copy(be, y, x, (size_t)T * H * hd, BUF_ACT);
    else
        ok(gpu_head_norm(x, w, y, inv, T, H, hd, (float)eps, stream_of(be), &e), &e, "head_norm");
}

static void cuda_rope(const Backend *be, void *x, const void *pos, int T, int H, int hd, double theta, bool inverse) {
    Err e;
    ok(gpu_rope_bf16(x, pos, T, H, hd, theta, inverse, stream_of(be), &e), &e, "rope");
}

static void cuda_matmul(const Backend *be, const void *x, const void *w, const void *bias, void *y, int M, int N,
                        int K) {
    Err e;
    ok(gpu_matmul(x, w, bias_f32(be, bias), y, GPU_BF16, M, N, K, 0, stream_of(be), &e), &e, "matmul");
}

static void cuda_kv_store(const Backend *be, void *kbuf, void *vbuf, const void *k, const void *v, const void *pos,
                          const void *row0, int T, int KD) {
    Err e;
    ok(gpu_kv_store(k, v, pos, row0, T, KD, kbuf, vbuf, stream_of(be), &e), &e, "kv_store");
}

// Each token reads its own rows: `shared` names copies of the same values, which the kernel does not need.
static void cuda_attention(const Backend *be, const Dims *d, int T, const void *pos, const void *row0,
                           const int64_t *shared, const void *kbuf, const void *vbuf, const void *q, void *att,
                           void *lse) {
    (void)shared;
    Err e;
    ok(gpu_attention(q, kbuf, vbuf, pos, row0, T, d->Hq, d->Hk, d->hd, att, lse, stream_of(be), &e), &e,
       "attention");
}

static void cuda_swiglu(const Backend *be, const void *g, const void *u, void *act, size_t n) {
    Err e;
    ok(gpu_swiglu(g, u, act, n, stream_of(be), &e), &e, "swiglu");
}

static void cuda_add(const Backend *be, void *x, const void *y, size_t n) {
    Err e;
    ok(gpu_add(x, y, n, stream_of(be), &e), &e, "add");
}

// ---- backward: products (the gradient rounded to bf16 where it enters the tensor cores) ----

static Bf16 *bf16_copy(const Backend *be, const float *x, size_t n) {
    Err e;
    Bf16 *b = scratch(be, n * sizeof *b);
    ok(gpu_cast_to_bf16(x, b, n, stream_of(be), &e), &e, "cast to bf16");
    return b;
}

// Always in a fixed order: the GPU kernels' bits depend on neither the shape of the batch nor the device's load.
static void cuda_matmul_dw(const Backend *be, bool fixed, const void *dy, const void *x, float *dw, float *db, int T,
                           int N, int K) {
    (void)fixed;
    Err e;
    Bf16 *dy16 = bf16_copy(be, dy, (size_t)T * N);
    ok(gpu_matmul_xtx_acc(dy16, x, dw, T, N, K, stream_of(be), &e), &e, "matmul_dw");
    scratch_free(be, dy16);
    if (db) ok(gpu_bias_grad(dy, T, N, db, stream_of(be), &e), &e, "bias gradient");
}

static void cuda_matmul_dx(const Backend *be, bool fixed, const void *dy, const void *w, void *dx, int T, int N, int K,
                           bool accumulate) {
    (void)fixed;
    Err e;
    Bf16 *dy16 = bf16_copy(be, dy, (size_t)T * N);
    ok(gpu_matmul_xw(dy16, w, dx, T, N, K, accumulate, stream_of(be), &e), &e, "matmul_dx");
    scratch_free(be, dy16);
}

// ---- the MoE block ----

// The (token, slot) choices grouped by expert, on the device only: n = T*K grouped rows, expert e's are
// offsets[e]..offsets[e+1]-1.
typedef struct {
    int32_t *offsets, *rows, *slot_row;  // device: [E+1], [n], [n]
    int n;
} MoeGroups;

static MoeGroups moe_groups(const Backend *be, const Dims *d, const void *top_e, int T) {
    Err e;
    size_t n = (size_t)T * d->K;
    MoeGroups g = {scratch(be, (size_t)(d->E + 1) * 4), scratch(be, n * 4), scratch(be, n * 4), (int)n};
    ok(gpu_moe_group(top_e, T, d->K, d->E, g.offsets, g.rows, g.slot_row, stream_of(be), &e), &e, "moe group");
    return g;
}

static void moe_groups_free(const Backend *be, MoeGroups *g) {
    scratch_free(be, g->offsets), scratch_free(be, g->rows), scratch_free(be, g->slot_row);
}

// Rows per expert (host [E], malloc'd) from the group offsets: what expert parallelism sends (model/moe_ep.c). The
// exchange needs them on the host, so only this path downloads the offsets (one synchronisation per block).
static int32_t *group_counts(const Backend *be, const Dims *d, const MoeGroups *g) {
    int32_t *off = xmalloc((size_t)(d->E + 1) * sizeof *off), *cnt = xmalloc((size_t)d->E * sizeof *cnt);
    cu(cudaMemcpyAsync(off, g->offsets, (size_t)(d->E + 1) * sizeof *off, cudaMemcpyDeviceToHost, st_of(be)->stream),
       "moe group offsets download");
    sync(be);
    for (int x = 0; x < d->E; x++) cnt[x] = off[x + 1] - off[x];
    free(off);
    return cnt;
}

static const Bf16 *P16(const Backend *be, const Model *m, size_t off) { return cuda_param(be, m, off); }

// The routed experts on their grouped rows: g, u, act [n, Fe] and out [n, D], grouped (bf16); one grouped launch per
// projection (the experts' weights are [E, Fe, D] and [E, D, Fe] from o->egate, o->eup, o->edown).
static void moe_experts(const Backend *be, const Model *m, const LayerOffsets *o, const Dims *d, const MoeGroups *gr,
                        const Bf16 *xs, Bf16 *g, Bf16 *u, Bf16 *act, Bf16 *out) {
    Err e;
    GpuStream s = stream_of(be);
    ok(gpu_matmul_grouped(xs, P16(be, m, o->egate), g, GPU_BF16, gr->offsets, d->E, gr->n, d->Fe, d->D, 0, s, &e), &e,
       "moe expert gate");
    ok(gpu_matmul_grouped(xs, P16(be, m, o->eup), u, GPU_BF16, gr->offsets, d->E, gr->n, d->Fe, d->D, 0, s, &e), &e,
       "moe expert up");
    ok(gpu_swiglu(g, u, act, (size_t)gr->n * d->Fe, s, &e), &e, "moe expert swiglu");
    ok(gpu_matmul_grouped(act, P16(be, m, o->edown), out, GPU_BF16, gr->offsets, d->E, gr->n, d->D, d->Fe, 0, s, &e),
       &e, "moe expert down");
}

// The shared expert's SwiGLU and gate logit into the record, and its gated output added to y (fp32).
static void moe_shared(const Backend *be, const Model *m, const LayerOffsets *o, const Dims *d, const void *x,
                       LayerActs *a, int T, float *y) {
    Err e;
    GpuStream s = stream_of(be);
    cuda_matmul(be, x, P16(be, m, o->sgate), NULL, a->sg, T, d->S, d->D);
    cuda_matmul(be, x, P16(be, m, o->sup), NULL, a->su, T, d->S, d->D);
    cuda_swiglu(be, a->sg, a->su, a->sact, (size_t)T * d->S);
    cuda_matmul(be, a->sact, P16(be, m, o->sdown), NULL, a->sout, T, d->D, d->S);
    cuda_matmul(be, x, P16(be, m, o->sexp_gate), NULL, a->sgate, T, 1, d->D);
    float *z = scratch(be, (size_t)T * sizeof(float));
    ok(gpu_cast_to_f32((const Bf16 *)a->sgate, z, (size_t)T, s, &e), &e, "moe shared gate");
    ok(gpu_moe_shared_add(z, (const Bf16 *)a->sout, T, d->D, y, s, &e), &e, "moe shared add");
    scratch_free(be, z);
}

// moe.c moe_forward: router, top-k, the experts on rows grouped by expert, the record in slot order, the combine in
// expert order, the shared expert.
static void cuda_moe(const Backend *be, const Model *m, int l, const void *x, LayerActs *a, int T, void *y) {
    if (!T) return;  // without tokens, expert parallelism serves the group through moe_ep_forward (model_forward.c)
    Err e;
    GpuStream s = stream_of(be);
    Dims d = model_dims(m);
    const LayerOffsets *o = &m->priv->layers[l];
    size_t n = (size_t)T * d.K;
    float *logits = scratch(be, (size_t)T * d.E * sizeof(float));
    ok(gpu_matmul(x, P16(be, m, o->router), NULL, logits, GPU_F32, T, d.E, d.D, 0, s, &e), &e, "moe router");
    ok(gpu_router_topk(logits, T, d.E, d.K, m->cfg.norm_topk_prob, (float *)a->probs, a->top_e, (float *)a->top_w, s,
                       &e), &e, "moe top-k");
    scratch_free(be, logits);
    MoeGroups gr = moe_groups(be, &d, a->top_e, T);
    Bf16 *xs = scratch(be, n * d.D * 2), *g = scratch(be, n * d.Fe * 2), *u = scratch(be, n * d.Fe * 2),
         *act = scratch(be, n * d.Fe * 2), *out = scratch(be, n * d.D * 2);
    ok(gpu_moe_gather(x, gr.rows, (int)n, d.K, d.D, xs, s, &e), &e, "moe gather");
    if (m->ep) {  // expert parallelism: the grouped rows computed by their experts' owners (their backward recomputes)
        int32_t *cnt = group_counts(be, &d, &gr);
        moe_ep_rows_forward(m, o, &d, xs, cnt, out);
        free(cnt);
    } else {
        moe_experts(be, m, o, &d, &gr, xs, g, u, act, out);
        ok(gpu_moe_gather(g, gr.slot_row, (int)n, 1, d.Fe, (Bf16 *)a->eg, s, &e), &e, "moe record");
        ok(gpu_moe_gather(u, gr.slot_row, (int)n, 1, d.Fe, (Bf16 *)a->eu, s, &e), &e, "moe record");
        ok(gpu_moe_gather(act, gr.slot_row, (int)n, 1, d.Fe, (Bf16 *)a->eact, s, &e), &e, "moe record");
    }
    ok(gpu_moe_gather(out, gr.slot_row, (int)n, 1, d.D, (Bf16 *)a->eout, s, &e), &e, "moe record");
    float *y32 = scratch(be, (size_t)T * d.D * sizeof(float));
    ok(gpu_moe_combine(out, a->top_e, (const float *)a->top_w, gr.slot_row, T, d.K, d.D, y32, s, &e), &e,
       "moe combine");
    if (d.S) moe_shared(be, m, o, &d, x, a, T, y32);
    ok(gpu_cast_to_bf16(y32, y, (size_t)T * d.D, s, &e), &e, "moe output");
    void *tmp[] = {xs, g, u, act, out, y32};
    for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) scratch_free(be, tmp[i]);
    moe_groups_free(be, &gr);
}

// ---- backward ----

static void cuda_rope_back(const Backend *be, void *dx, const void *pos, int T, int H, int hd, double theta) {
    Err e;
    ok(gpu_rope_f32(dx, pos, T, H, hd, theta, 1, stream_of(be), &e), &e, "rope_back");
}

static void cuda_rms_norm_back(const Backend *be, const void *x, const void *w, const void *inv, const void *dy,
                               void *dx, float *dw, int T, int D) {
    Err e;
    ok(gpu_rms_norm_backward(x, w, inv, dy, dx, dw, T, D, stream_of(be), &e), &e, "rms_norm_back");
}

static void cuda_head_norm_back(const Backend *be, const void *w, const void *raw, const void *inv,
                                const void *dnormed, void *draw, float *dw, int T, int H, int hd) {
    Err e;
    size_t n = (size_t)T * H * hd;
    if (!w) {
        cuda_copy(be, draw, dnormed, n, BUF_GRAD);
        return;
    }
    cu(cudaMemsetAsync(draw, 0, n * sizeof(float), st_of(be)->stream), "head_norm_back memset");
    ok(gpu_head_norm_backward(raw, w, inv, dnormed, draw, dw, T, H, hd, stream_of(be), &e), &e, "head_norm_back");
}

static void cuda_attention_back(const Backend *be, const Dims *d, const ModelActs *A, const LayerActs *a,
                                const void *datt, void *dq, void *dk, void *dv) {
    Err e;
    int64_t *off = cuda_view(be, A->seq_offsets, (size_t)A->n_seqs + 1, BUF_I64, VIEW_IN);
    ok(gpu_attention_backward((const Bf16 *)a->qr, (const Bf16 *)a->kr, (const Bf16 *)a->v, (const Bf16 *)a->att,
                              a->lse, datt, off, A->n_seqs, A->T, d->Hq, d->Hk, d->hd, dq, dk, dv, stream_of(be), &e),
       &e, "attention_back");
    cuda_view_end(be, off, A->seq_offsets, (size_t)A->n_seqs + 1, BUF_I64, VIEW_IN);
}

static void cuda_swiglu_back(const Backend *be, const void *g, const void *u, const void *dact, void *dg, void *du,
                             size_t n) {
    Err e;
    ok(gpu_swiglu_backward(dact, g, u, dg, du, n, stream_of(be), &e), &e, "swiglu_back");
}

// y = x W^T: dW += dy^T x and dx (+)= dy W, as model_backward.c's linear_back_be.
static void dev_linear_back(const Backend *be, const Model *m, const void *x, size_t w, const float *dy, float *grads,
                            void *dx, int T, int N, int K, bool accumulate) {
    cuda_matmul_dw(be, true, dy, x, grads + w, NULL, T, N, K);
    cuda_matmul_dx(be, true, dy, P16(be, m, w), dx, T, N, K, accumulate);
}

// The backward's grouped rows: the block's inputs xs and the output gradients times their router weights gy (bf16,
// [T*K, D] each, grouped by expert).
static void back_rows(const Backend *be, const Dims *d, const LayerActs *a, const float *dy, const MoeGroups *gr,
                      Bf16 *xs, Bf16 *gy) {
    Err e;
    GpuStream s = stream_of(be);
    ok(gpu_moe_gather((const Bf16 *)a->a2, gr->rows, gr->n, d->K, d->D, xs, s, &e), &e, "moe back gather");
    ok(gpu_moe_scaled_gather(dy, gr->rows, (const float *)a->top_w, gr->n, d->K, d->D, gy, s, &e), &e,
       "moe back gather");
}

// The routed experts' backward on grouped rows: weight gradients per expert (each a sum over the expert's rows in
// token order), input gradients scattered to da2 in expert order (moe.c moe_experts_backward); one grouped launch
// per product.
static void moe_experts_back(const Backend *be, const Model *m, const LayerOffsets *o, const Dims *d,
                             const LayerActs *a, const float *dy, int T, float *grads, float *da2) {
    Err e;
    GpuStream s = stream_of(be);
    size_t n = (size_t)T * d->K;
    MoeGroups gr = moe_groups(be, d, a->top_e, T);
    Bf16 *xs = scratch(be, n * d->D * 2), *gy = scratch(be, n * d->D * 2), *g = scratch(be, n * d->Fe * 2),
         *u = scratch(be, n * d->Fe * 2), *act = scratch(be, n * d->Fe * 2);
    float *dact = scratch(be, n * d->Fe * 4), *dg = scratch(be, n * d->Fe * 4), *du = scratch(be, n * d->Fe * 4),
          *dxs = scratch(be, n * d->D * 4);
    back_rows(be, d, a, dy, &gr, xs, gy);
    ok(gpu_moe_gather((const Bf16 *)a->eg, gr.rows, (int)n, 1, d->Fe, g, s, &e), &e, "moe back gather");
    ok(gpu_moe_gather((const Bf16 *)a->eu, gr.rows, (int)n, 1, d->Fe, u, s, &e), &e, "moe back gather");
    ok(gpu_moe_gather((const Bf16 *)a->eact, gr.rows, (int)n, 1, d->Fe, act, s, &e), &e, "moe back gather");
    const int32_t *off = gr.offsets;
    int E = d->E, rows = gr.n;
    ok(gpu_matmul_grouped_xtx_acc(gy, act, off, E, rows, d->D, d->Fe, grads + o->edown, s, &e), &e, "moe down dw");
    ok(gpu_matmul_grouped_xw(gy, P16(be, m, o->edown), dact, off, E, rows, d->D, d->Fe, 0, s, &e), &e, "moe down dx");
    ok(gpu_swiglu_backward(dact, g, u, dg, du, n * d->Fe, s, &e), &e, "moe expert swiglu_back");
    Bf16 *dg16 = bf16_copy(be, dg, n * d->Fe), *du16 = bf16_copy(be, du, n * d->Fe);
    ok(gpu_matmul_grouped_xtx_acc(dg16, xs, off, E, rows, d->Fe, d->D, grads + o->egate, s, &e), &e, "moe gate dw");
    ok(gpu_matmul_grouped_xtx_acc(du16, xs, off, E, rows, d->Fe, d->D, grads + o->eup, s, &e), &e, "moe up dw");
    // dxs = the gate's input gradient, then the up projection's added to it, as moe.c's swiglu_back.
    ok(gpu_matmul_grouped_xw(dg16, P16(be, m, o->egate), dxs, off, E, rows, d->Fe, d->D, 0, s, &e), &e, "moe gate dx");
    ok(gpu_matmul_grouped_xw(du16, P16(be, m, o->eup), dxs, off, E, rows, d->Fe, d->D, 1, s, &e), &e, "moe up dx");
    ok(gpu_moe_scatter_add(dxs, a->top_e, gr.slot_row, T, d->K, d->D, da2, s, &e), &e, "moe scatter-add");
    void *tmp[] = {xs, gy, g, u, act, dact, dg, du, dxs, dg16, du16};
    for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) scratch_free(be, tmp[i]);
    moe_groups_free(be, &gr);
}

// Expert parallelism (model/moe_ep.c): the grouped rows and their scaled output gradients to the experts' owners,
// their input gradients back and scattered to da2 in expert order, as moe_experts_back does with every expert here.
static void moe_experts_back_ep(const Backend *be, const Model *m, const LayerOffsets *o, const Dims *d,
                                const LayerActs *a, const float *dy, int T, float *grads, float *da2) {
    Err e;
    GpuStream s = stream_of(be);
    size_t n = (size_t)T * d->K;
    MoeGroups gr = moe_groups(be, d, a->top_e, T);
    Bf16 *xs = scratch(be, n * d->D * 2), *gy = scratch(be, n * d->D * 2);
    float *dxs = scratch(be, n * d->D * 4);
    back_rows(be, d, a, dy, &gr, xs, gy);
    int32_t *cnt = group_counts(be, d, &gr);
    moe_ep_rows_backward(m, o, d, xs, gy, cnt, grads, dxs);
    free(cnt);
    ok(gpu_moe_scatter_add(dxs, a->top_e, gr.slot_row, T, d->K, d->D, da2, s, &e), &e, "moe scatter-add");
    scratch_free(be, xs), scratch_free(be, gy), scratch_free(be, dxs);
    moe_groups_free(be, &gr);
}

// The shared expert's backward: its gate, then its SwiGLU given dsout (moe.c moe_backward's tail).
static void moe_shared_back(const Backend *be, const Model *m, const LayerOffsets *o, const Dims *d,
                            const LayerActs *a, const float *dy, int T, float *grads, float *da2) {
    Err e;
    size_t ns = (size_t)T * d->S;
    float *dsout = scratch(be, (size_t)T * d->D * 4), *dzg = scratch(be, (size_t)T * 4);
    ok(gpu_moe_shared_backward(dy, (const Bf16 *)a->sgate, (const Bf16 *)a->sout, T, d->D, dsout, dzg, stream_of(be),
                               &e), &e, "moe shared backward");
    dev_linear_back(be, m, a->a2, o->sexp_gate, dzg, grads, da2, T, 1, d->D, true);
    float *dact = scratch(be, ns * 4), *dg = scratch(be, ns * 4), *du = scratch(be, ns * 4);
    dev_linear_back(be, m, a->sact, o->sdown, dsout, grads, dact, T, d->D, d->S, false);
    cuda_swiglu_back(be, a->sg, a->su, dact, dg, du, ns);
    dev_linear_back(be, m, a->a2, o->sgate, dg, grads, da2, T, d->S, d->D, true);
    dev_linear_back(be, m, a->a2, o->sup, du, grads, da2, T, d->S, d->D, true);
    void *tmp[] = {dsout, dzg, dact, dg, du};
    for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) scratch_free(be, tmp[i]);
}

// moe.c moe_backward: the router (top-k renormalisation, softmax, load-balancing term), the routed experts, the
// shared expert, in that order into da2.
static void cuda_moe_back(const Backend *be, const Model *m, int l, const ModelActs *A, const LayerActs *a,
                          const void *dy, double aux_weight, float *grads, void *da2) {
    int T = A->T;
    if (!T) return;  // without tokens, expert parallelism serves the group through moe_ep_backward (model_backward.c)
    Err e;
    Dims d = model_dims(m);
    const LayerOffsets *o = &m->priv->layers[l];
    double *frac = scratch(be, (size_t)d.E * sizeof(double));
    ok(gpu_write_f64(frac, A->expert_frac, d.E, stream_of(be), &e), &e, "moe expert fractions");
    float *dz = scratch(be, (size_t)T * d.E * 4);
    ok(gpu_moe_router_backward(dy, (const Bf16 *)a->eout, (const float *)a->probs, a->top_e, (const float *)a->top_w,
                               frac, aux_weight, (double)model_n_moe_layers(m) * T, m->cfg.norm_topk_prob, T, d.E, d.K,
                               d.D, dz, stream_of(be), &e), &e, "moe router backward");
    dev_linear_back(be, m, a->a2, o->router, dz, grads, da2, T, d.E, d.D, true);
    scratch_free(be, dz);
    scratch_free(be, frac);
    if (m->ep) moe_experts_back_ep(be, m, o, &d, a, dy, T, grads, da2);
    else moe_experts_back(be, m, o, &d, a, dy, T, grads, da2);
    if (d.S) moe_shared_back(be, m, o, &d, a, dy, T, grads, da2);
}

static void cuda_embed_back(const Backend *be, const void *tokens, const void *dx, float *dtable, int T, int D) {
    Err e;
    ok(gpu_embed_backward(dx, tokens, T, D, dtable, stream_of(be), &e), &e, "embed_back");
}

// ---- LM head loss (kernels/logits_loss.cu; it runs on the legacy default stream, which the backend's blocking
// stream is ordered with) ----

static void cuda_logprob(const Backend *be, const void *logits, int64_t n, int V, const void *targets,
                         double temperature, double *logp, double *entropy) {
    if (n <= 0) return;
    Err e;
    double *lse = scratch(be, (size_t)n * 8), *h = entropy ? entropy : scratch(be, (size_t)n * 8);
    ok(cuda_logits_forward(logits, LOGITS_BF16, n, V, targets, temperature, logp, h, lse, &e), &e, "logprob");
    scratch_free(be, lse);
    if (!entropy) scratch_free(be, h);
}

static void cuda_logprob_back(const Backend *be, const void *logits, int64_t n, int V, const void *targets,
                              double temperature, const double *dlogp, const double *dentropy, void *dlogits) {
    if (n <= 0) return;
    Err e;
    double *lse = scratch(be, (size_t)n * 8), *h = scratch(be, (size_t)n * 8), *lp = scratch(be, (size_t)n * 8);
    ok(cuda_logits_forward(logits, LOGITS_BF16, n, V, targets, temperature, lp, h, lse, &e), &e, "logprob_back");
    ok(cuda_logits_backward(logits, LOGITS_BF16, n, V, targets, temperature, lse, h, dlogp, dentropy, dlogits,
                            LOGITS_F32, &e), &e, "logprob_back");
    scratch_free(be, lse), scratch_free(be, h), scratch_free(be, lp);
}

// The chunked LM head (model/model_head.c): stats are (lse, H, 0) per row, as kernels/logits_loss.h keeps them.
static void cuda_head_logprob(const Backend *be, const void *logits, int64_t n, int V, const void *targets,
                              double temperature, double *logp, double *entropy, double *stats) {
    (void)be;
    if (n <= 0) return;
    Err e;
    ok(cuda_head_forward(logits, LOGITS_BF16, n, V, targets, temperature, logp, entropy, stats, &e), &e,
       "head_logprob");
}

static void cuda_head_logprob_back(const Backend *be, const void *logits, int64_t n, int v0, int nv,
                                   const void *targets, double temperature, const double *stats, const double *dlogp,
                                   const double *dentropy, void *dlogits) {
    (void)be;
    if (n <= 0) return;
    Err e;
    ok(cuda_head_backward(logits, LOGITS_BF16, n, v0, nv, targets, temperature, stats, dlogp, dentropy, dlogits,
                          LOGITS_F32, &e), &e, "head_logprob_back");
}

// ---- sampling (kernels/sample.cu; the log-probs by the scoring kernel above, so they are scoring's bits) ----

// Whether draw k reads row k for every k (a decode step) rather than shared rows (a prefilled group).
static int rows_in_order(const int32_t *row, int n) {
    for (int k = 0; k < n; k++)
        if (row[k] != k) return 0;
    return 1;
}

static void cuda_sample(const Backend *be, const void *logits, int V, int n, const int32_t *row, const double *u,
                        const SampleSpec *sp, int32_t *token, double *logp, double *entropy) {
    if (n <= 0) return;
    Err e;
    cudaStream_t s = st_of(be)->stream;
    size_t n4 = (size_t)n * 4, n8 = (size_t)n * 8, row_bytes = (size_t)V * sizeof(Bf16);
    int32_t *d_row = scratch(be, n4), *d_tok = scratch(be, n4), *d_tgt = scratch(be, n4);
    double *d_u = scratch(be, n8), *d_lp = scratch(be, n8), *d_h = scratch(be, n8);
    cu(cudaMemcpyAsync(d_row, row, n4, cudaMemcpyHostToDevice, s), "sample upload");
    cu(cudaMemcpyAsync(d_u, u, n8, cudaMemcpyHostToDevice, s), "sample upload");
    ok(gpu_sample(logits, GPU_BF16, V, n, d_row, d_u, sp->temperature, sp->top_k, sp->top_p, d_tok, d_tgt,
                  stream_of(be), &e), &e, "sample");
    // The log-prob kernel reads rows [n, V] in order: draws that share a row get a copy each (a group's first tokens).
    const void *rows_b = logits;
    char *gathered = NULL;
    if (!rows_in_order(row, n)) {
        gathered = scratch(be, (size_t)n * row_bytes);
        for (int k = 0; k < n; k++)
            cu(cudaMemcpyAsync(gathered + (size_t)k * row_bytes, (const char *)logits + (size_t)row[k] * row_bytes,
                               row_bytes, cudaMemcpyDeviceToDevice, s), "sample gather");
        rows_b = gathered;
    }
    cuda_logprob(be, rows_b, n, V, d_tgt, sp->record_temperature, d_lp, d_h);
    cu(cudaMemcpyAsync(token, d_tok, n4, cudaMemcpyDeviceToHost, s), "sample download");
    cu(cudaMemcpyAsync(logp, d_lp, n8, cudaMemcpyDeviceToHost, s), "sample download");
    cu(cudaMemcpyAsync(entropy, d_h, n8, cudaMemcpyDeviceToHost, s), "sample download");
    sync(be);
    scratch_free(be, gathered);
    scratch_free(be, d_row), scratch_free(be, d_tok), scratch_free(be, d_tgt);
    scratch_free(be, d_u), scratch_free(be, d_lp), scratch_free(be, d_h);
}

// ---- Expert parallelism: one routed expert on a block of rows (model/moe_ep.c's owner), as moe_experts and
// moe_experts_back compute each expert's rows ----

static void cuda_ep_expert(const Backend *be, const Model *m, const LayerOffsets *o, int x, const void *rows, int n,
                           void *out) {
    Err e;
    GpuStream s = stream_of(be);
    Dims d = model_dims(m);
    size_t wo = (size_t)x * d.Fe * d.D, nf = (size_t)n * d.Fe;
    Bf16 *g = scratch(be, nf * 2), *u = scratch(be, nf * 2), *act = scratch(be, nf * 2);
    ok(gpu_matmul(rows, P16(be, m, o->egate + wo), NULL, g, GPU_BF16, n, d.Fe, d.D, 0, s, &e), &e, "ep expert gate");
    ok(gpu_matmul(rows, P16(be, m, o->eup + wo), NULL, u, GPU_BF16, n, d.Fe, d.D, 0, s, &e), &e, "ep expert up");
    ok(gpu_swiglu(g, u, act, nf, s, &e), &e, "ep expert swiglu");
    ok(gpu_matmul(act, P16(be, m, o->edown + wo), NULL, out, GPU_BF16, n, d.D, d.Fe, 0, s, &e), &e, "ep expert down");
    scratch_free(be, g), scratch_free(be, u), scratch_free(be, act);
}

static void cuda_ep_expert_back(const Backend *be, const Model *m, const LayerOffsets *o, int x, const void *rows,
                                const void *gy, int n, float *dgate, float *dup, float *ddown, void *dx) {
    Err e;
    GpuStream s = stream_of(be);
    Dims d = model_dims(m);
    size_t wo = (size_t)x * d.Fe * d.D, nf = (size_t)n * d.Fe;
    Bf16 *g = scratch(be, nf * 2), *u = scratch(be, nf * 2), *act = scratch(be, nf * 2);
    float *dact = scratch(be, nf * 4), *dg = scratch(be, nf * 4), *du = scratch(be, nf * 4);
    ok(gpu_matmul(rows, P16(be, m, o->egate + wo), NULL, g, GPU_BF16, n, d.Fe, d.D, 0, s, &e), &e, "ep expert gate");
    ok(gpu_matmul(rows, P16(be, m, o->eup + wo), NULL, u, GPU_BF16, n, d.Fe, d.D, 0, s, &e), &e, "ep expert up");
    ok(gpu_swiglu(g, u, act, nf, s, &e), &e, "ep expert swiglu");
    ok(gpu_matmul_xtx_acc(gy, act, ddown, n, d.D, d.Fe, s, &e), &e, "ep expert down dw");
    ok(gpu_matmul_xw(gy, P16(be, m, o->edown + wo), dact, n, d.D, d.Fe, 0, s, &e), &e, "ep expert down dx");
    ok(gpu_swiglu_backward(dact, g, u, dg, du, nf, s, &e), &e, "ep expert swiglu_back");
    Bf16 *dg16 = bf16_copy(be, dg, nf), *du16 = bf16_copy(be, du, nf);
    ok(gpu_matmul_xtx_acc(dg16, rows, dgate, n, d.Fe, d.D, s, &e), &e, "ep expert gate dw");
    ok(gpu_matmul_xtx_acc(du16, rows, dup, n, d.Fe, d.D, s, &e), &e, "ep expert up dw");
    ok(gpu_matmul_xw(dg16, P16(be, m, o->egate + wo), dx, n, d.Fe, d.D, 0, s, &e), &e, "ep expert gate dx");
    ok(gpu_matmul_xw(du16, P16(be, m, o->eup + wo), dx, n, d.Fe, d.D, 1, s, &e), &e, "ep expert up dx");
    void *tmp[] = {g, u, act, dact, dg, du, dg16, du16};
    for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) scratch_free(be, tmp[i]);
}

// ---- ZeRO stage 3: windows of the weights (Backend.windowed; algo/param_gather.c opens and closes them) ----

// Frees window i's memory once the stream's operations reading it are done, and drops it from the list.
static void window_free(const Backend *be, int i) {
    CudaState *st = st_of(be);
    CudaWindow *w = &st->win[i];
    scratch_free(be, w->w16);
    for (int b = 0; b < w->n_bias; b++) scratch_free(be, w->bias[b].dev);
    free(w->bias);
    st->win[i] = st->win[--st->n_win];
}

static void cuda_window_close(const Backend *be, const Model *m, size_t begin, size_t end) {
    (void)m;
    CudaState *st = st_of(be);
    for (int i = 0; i < st->n_win;)
        if (st->win[i].begin >= begin && st->win[i].end <= end) window_free(be, i);
        else i++;
}

static void cuda_windowed(const Backend *be, const Model *m, bool on) {
    CudaState *st = st_of(be);
    cuda_window_close(be, m, 0, SIZE_MAX);
    if (on == st->windowed) return;
    sync(be);  // nothing reads the whole mirror any more
    free_mirrors(st);
    st->windowed = on;
}

// This rank's elements [a, b) of a window buffer starting at parameter `first`, from the host's fp32 weights.
static int put_own(Bf16 *w16, float *f32, size_t first, const float *params, size_t a, size_t b, Err *e) {
    if (b <= a) return 0;
    if (w16) return upload_bf16(w16 + (a - first), params + a, b - a, e);
    if (cudaMemcpy(f32 + (a - first), params + a, (b - a) * sizeof(float), cudaMemcpyHostToDevice) != cudaSuccess)
        return err_set(e, "cuda backend: uploading a bias failed: %s", cudaGetErrorString(cudaGetLastError()));
    return 0;
}

// Device memory for n elements of elem bytes, or -1 (e).
static int window_alloc(const Backend *be, void **p, size_t n, size_t elem, Err *e) {
    if (cudaMallocAsync(p, (n + 1) * elem, st_of(be)->stream) == cudaSuccess) return 0;
    cudaGetLastError();
    *p = NULL;
    return err_set(e, "cuda backend: no device memory for a weight window of %zu elements (%.1f MiB)", n,
                   (double)n * elem / 1048576.0);
}

static int cuda_window_open(const Backend *be, const Model *m, size_t begin, size_t end, size_t own_begin,
                            size_t own_end,
                            void (*fill)(void *ctx, void *buf, size_t elem_bytes, size_t first, size_t n), void *ctx,
                            Err *e) {
    CudaState *st = st_of(be);
    if (!st->windowed) return err_set(e, "cuda backend: a weight window opened outside windowed mode");
    for (int i = 0; i < st->n_win; i++)
        if (begin < st->win[i].end && st->win[i].begin < end)
            return err_set(e, "cuda backend: weight window [%zu, %zu) overlaps the open [%zu, %zu)", begin, end,
                           st->win[i].begin, st->win[i].end);
    CudaWindow w = {begin, end, NULL, xcalloc((size_t)3 * model_dims(m).L + 1, sizeof(BiasCopy)), 0};
    st->win = xrealloc(st->win, (size_t)(st->n_win + 1) * sizeof *st->win);
    CudaWindow *nw = &st->win[st->n_win++];
    *nw = w;
    // A failure returns before the collective: the caller stops every rank (dist_fatal), the others' waits with it.
    int n_bias = model_biases(m, begin, end, nw->bias), rc = window_alloc(be, (void **)&nw->w16, end - begin, 2, e);
    for (; !rc && nw->n_bias < n_bias; nw->n_bias++)
        rc = window_alloc(be, (void **)&nw->bias[nw->n_bias].dev, nw->bias[nw->n_bias].n, 4, e);
    if (!rc) sync(be);  // allocated before the uploads and the collective write it
    size_t a = own_begin > begin ? own_begin : begin, b = own_end < end ? own_end : end;
    if (!rc) rc = put_own(nw->w16, NULL, begin, m->params, a, b, e);
    for (int i = 0; !rc && i < nw->n_bias; i++) {
        const BiasCopy *c = &nw->bias[i];
        rc = put_own(NULL, c->dev, c->off, m->params, a > c->off ? a : c->off, b < c->off + c->n ? b : c->off + c->n, e);
    }
    if (rc) return window_free(be, st->n_win - 1), -1;
    fill(ctx, nw->w16, sizeof(Bf16), begin, end - begin);
    for (int i = 0; i < nw->n_bias; i++) fill(ctx, nw->bias[i].dev, sizeof(float), nw->bias[i].off, nw->bias[i].n);
    return 0;
}

// ---- the optimizer step (kernels/adamw.cu, fixed_point.cu, grad_norm.cu) ----

static BiasCopy *bias_at(const Backend *be, size_t off) {
    CudaState *st = st_of(be);
    for (int i = 0; i < st->n_bias; i++)
        if (st->bias[i].off == off) return &st->bias[i];
    return NULL;
}

static void cuda_adamw(const Backend *be, const Model *model, size_t off, float *p, float *m, float *v, const float *g,
                       size_t n, const AdamWStep *s) {
    (void)model;
    Err e;
    ok(gpu_adamw(p, m, v, g, st_of(be)->w16 + off, n, s->lr, s->decay, s->beta1, s->beta2, s->eps, s->c1, s->c2,
                 stream_of(be), &e),
       &e, "adamw");
    BiasCopy *b = bias_at(be, off);  // a bias is one tensor, updated whole
    if (b) cu(cudaMemcpyAsync(b->dev, p, b->n * sizeof(float), cudaMemcpyDeviceToDevice, st_of(be)->stream), "adamw bias");
}

static int64_t cuda_fixed_add(const Backend *be, int64_t *limbs, const float *g, size_t n) {
    Err e;
    unsigned long long *bad = alloc_or_die(be, 1, BUF_I64), count = 0;
    ok(gpu_fixed_add(limbs, g, n, bad, stream_of(be), &e), &e, "fixed_add");
    cuda_to_host(be, &count, bad, 1, BUF_I64);
    cuda_free(be, bad);
    return (int64_t)count;
}

static void cuda_fixed_value(const Backend *be, float *g, const int64_t *limbs, size_t n) {
    Err e;
    ok(gpu_fixed_value(g, limbs, n, stream_of(be), &e), &e, "fixed_value");
}

static void cuda_sumsq(const Backend *be, const float *g, const size_t *begin, const size_t *len, int n_ranges,
                       double *sums) {
    if (n_ranges <= 0) return;
    Err e;
    size_t *b = alloc_or_die(be, (size_t)n_ranges, BUF_I64), *l = alloc_or_die(be, (size_t)n_ranges, BUF_I64);
    double *d = alloc_or_die(be, (size_t)n_ranges, BUF_F64);
    cuda_to_dev(be, b, begin, (size_t)n_ranges, BUF_I64);
    cuda_to_dev(be, l, len, (size_t)n_ranges, BUF_I64);
    ok(gpu_sumsq_ranges(g, b, l, n_ranges, d, stream_of(be), &e), &e, "sumsq");
    cuda_to_host(be, sums, d, (size_t)n_ranges, BUF_F64);
    cuda_free(be, b), cuda_free(be, l), cuda_free(be, d);
}

static void cuda_scale(const Backend *be, float *g, size_t n, double scale) {
    Err e;
    ok(gpu_scale(g, n, scale, stream_of(be), &e), &e, "scale");
}

static float *cuda_param_f32(const Backend *be, const Model *model, size_t off) {
    (void)model;
    BiasCopy *b = bias_at(be, off);
    return b ? b->dev : NULL;
}

static const Backend cuda_table = {
    .name = "cuda",
    .act_bytes = sizeof(Bf16),
    .grad_bytes = sizeof(float),
    .whole_moe_layers = true,
    .alloc = cuda_alloc,
    .alloc_uninit = cuda_alloc_uninit,
    .free = cuda_free,
    .to_dev = cuda_to_dev,
    .to_host = cuda_to_host,
    .copy = cuda_copy,
    .view = cuda_view,
    .view_end = cuda_view_end,
    .param = cuda_param,
    .load_params = cuda_load_params,
    .embed = cuda_embed,
    .rms_norm = cuda_rms_norm,
    .head_norm = cuda_head_norm,
    .rope = cuda_rope,
    .matmul = cuda_matmul,
    .kv_store = cuda_kv_store,
    .attention = cuda_attention,
    .swiglu = cuda_swiglu,
    .add = cuda_add,
    .moe = cuda_moe,
    .rope_back = cuda_rope_back,
    .rms_norm_back = cuda_rms_norm_back,
    .head_norm_back = cuda_head_norm_back,
    .matmul_dw = cuda_matmul_dw,
    .matmul_dx = cuda_matmul_dx,
    .attention_back = cuda_attention_back,
    .swiglu_back = cuda_swiglu_back,
    .moe_back = cuda_moe_back,
    .embed_back = cuda_embed_back,
    .logprob = cuda_logprob,
    .logprob_back = cuda_logprob_back,
    .head_logprob = cuda_head_logprob,
    .head_logprob_back = cuda_head_logprob_back,
    .sample = cuda_sample,
    .windowed = cuda_windowed,
    .window_open = cuda_window_open,
    .window_close = cuda_window_close,
    .ep_expert = cuda_ep_expert,
    .ep_expert_back = cuda_ep_expert_back,
    .adamw = cuda_adamw,
    .fixed_add = cuda_fixed_add,
    .fixed_value = cuda_fixed_value,
    .sumsq = cuda_sumsq,
    .scale = cuda_scale,
    .param_f32 = cuda_param_f32,
};

Backend *backend_cuda_create(int device, Err *e) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) count = 0;
    if (device < 0 || device >= count) {
        err_set(e, "cuda backend: device %d does not exist (%d CUDA device%s visible)", device, count,
                count == 1 ? "" : "s");
        return NULL;
    }
    if (cudaSetDevice(device) != cudaSuccess) {
        err_set(e, "cuda backend: cannot select device %d: %s", device, cudaGetErrorString(cudaGetLastError()));
        return NULL;
    }
    CudaState *st = xcalloc(1, sizeof *st);
    st->device = device;
    st->poison = getenv("RLVR_CUDA_POISON") != NULL;
    if (cudaStreamCreate(&st->stream) != cudaSuccess) {
        free(st);
        err_set(e, "cuda backend: cannot create a stream on device %d", device);
        return NULL;
    }
    // Keep freed stream-ordered memory in the pool: the layer loop allocates and frees the same sizes every step.
    cudaMemPool_t pool;
    uint64_t keep = UINT64_MAX;
    if (cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess)
        cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
    Backend *be = xmalloc(sizeof *be);
    *be = cuda_table;
    be->state = st;
    return be;
}

void backend_cuda_destroy(Backend *be) {
    if (!be) return;
    CudaState *st = be->state;
    while (st->n_win) window_free(be, st->n_win - 1);
    free(st->win);
    cudaStreamSynchronize(st->stream);
    free_mirrors(st);
    cudaStreamDestroy(st->stream);
    free(st);
    free(be);
}
#endif
