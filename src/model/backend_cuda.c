// The CUDA backend (model/backend_cuda.h): the table of model/backend.h on kernels/ops.h. Activations bf16,
// activation gradients (BUF_GRAD) and parameter gradients fp32, statistics in the table's fixed types. Where a
// gradient enters a matrix product it is rounded to bf16 first (the tensor cores' input). Every kernel runs on the
// backend's stream, so the operations are ordered without synchronising; copies to the host synchronise.
// The routed experts need their row counts on the host to size each expert's product: one synchronisation per MoE
// block (forward and backward).
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

typedef struct {
    int device;
    cudaStream_t stream;
    Bf16 *w16;  // bf16 mirror of Model.params
    size_t n_params;
    BiasCopy *bias;
    int n_bias;
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

static void *cuda_alloc(const Backend *be, size_t n, BufType t) {
    void *p = NULL;
    size_t bytes = (n + 1) * type_bytes(t);  // one spare element: a zero-sized buffer is still a distinct pointer
    if (cudaMallocAsync(&p, bytes, st_of(be)->stream) != cudaSuccess) {
        cudaGetLastError();  // clear the error: the caller decides what out of memory means
        return NULL;
    }
    cu(cudaMemsetAsync(p, 0, bytes, st_of(be)->stream), "alloc memset");
    return p;
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

static const void *cuda_param(const Backend *be, const Model *m, size_t off) {
    (void)m;
    return off == SIZE_MAX ? NULL : st_of(be)->w16 + off;
}

static void free_mirrors(CudaState *st) {
    for (int i = 0; i < st->n_bias; i++) cudaFree(st->bias[i].dev);
    free(st->bias);
    cudaFree(st->w16);
    st->bias = NULL, st->n_bias = 0, st->w16 = NULL, st->n_params = 0;
}

// The model's biases (q/k/v projections), each with an fp32 device copy.
static int bias_table(CudaState *st, const Model *m, Err *e) {
    Dims d = model_dims(m);
    st->bias = xcalloc((size_t)3 * d.L + 1, sizeof *st->bias);
    for (int l = 0; l < d.L; l++) {
        const LayerOffsets *o = &m->priv->layers[l];
        size_t offs[3] = {o->bq, o->bk, o->bv}, ns[3] = {(size_t)d.QD, (size_t)d.KD, (size_t)d.KD};
        for (int i = 0; i < 3; i++) {
            if (offs[i] == SIZE_MAX) continue;
            BiasCopy *b = &st->bias[st->n_bias];
            if (cudaMalloc((void **)&b->dev, ns[i] * sizeof(float)) != cudaSuccess)
                return err_set(e, "cuda backend: no device memory for the biases of layer %d", l);
            b->off = offs[i], b->n = ns[i];
            st->n_bias++;
        }
    }
    return 0;
}

// The bf16 mirror of every parameter and the fp32 copies of the biases, from m->params (host, fp32).
static int cuda_load_params(const Backend *be, const Model *m, Err *e) {
    CudaState *st = st_of(be);
    if (cudaSetDevice(st->device) != cudaSuccess)
        return err_set(e, "cuda backend: cannot select device %d", st->device);
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
    enum { CHUNK = 1 << 20 };
    Bf16 *b = xmalloc(CHUNK * sizeof *b);
    for (size_t i0 = 0; i0 < m->n_params; i0 += CHUNK) {
        size_t n = m->n_params - i0 < CHUNK ? m->n_params - i0 : CHUNK;
        for (size_t i = 0; i < n; i++) b[i] = bf16_of(m->params[i0 + i]);
        if (cudaMemcpy(st->w16 + i0, b, n * sizeof *b, cudaMemcpyHostToDevice) != cudaSuccess) {
            free(b);
            return err_set(e, "cuda backend: uploading the parameters failed: %s",
                           cudaGetErrorString(cudaGetLastError()));
        }
    }
    free(b);
    for (int i = 0; i < st->n_bias; i++)
        if (cudaMemcpy(st->bias[i].dev, m->params + st->bias[i].off, st->bias[i].n * sizeof(float),
                       cudaMemcpyHostToDevice) != cudaSuccess)
            return err_set(e, "cuda backend: uploading the biases failed");
    return 0;
}

// The fp32 copy of the bias whose bf16 mirror is bias (param() handed it to the layer loop).
static const float *bias_f32(const Backend *be, const void *bias) {
    if (!bias) return NULL;
    CudaState *st = st_of(be);
    size_t off = (size_t)((const Bf16 *)bias - st->w16);
    for (int i = 0; i < st->n_bias; i++)
        if (st->bias[i].off == off) return st->bias[i].dev;
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

static void cuda_attention(const Backend *be, const Dims *d, int T, const void *pos, const void *row0,
                           const void *kbuf, const void *vbuf, const void *q, void *att, void *lse) {
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

// The (token, slot) choices grouped by expert on the device, and each expert's first grouped row on the host.
typedef struct {
    int32_t *offsets, *rows, *slot_row;  // device: [E+1], [T*K], [T*K]
    int32_t *first;                      // host [E+1]
} MoeGroups;

static MoeGroups moe_groups(const Backend *be, const Dims *d, const void *top_e, int T) {
    Err e;
    size_t n = (size_t)T * d->K;
    MoeGroups g = {scratch(be, (size_t)(d->E + 1) * 4), scratch(be, n * 4), scratch(be, n * 4),
                   xmalloc((size_t)(d->E + 1) * sizeof(int32_t))};
    ok(gpu_moe_group(top_e, T, d->K, d->E, g.offsets, g.rows, g.slot_row, stream_of(be), &e), &e, "moe group");
    cuda_to_host(be, g.first, g.offsets, (size_t)d->E + 1, BUF_I32);
    return g;
}

static void moe_groups_free(const Backend *be, MoeGroups *g) {
    scratch_free(be, g->offsets), scratch_free(be, g->rows), scratch_free(be, g->slot_row);
    free(g->first);
}

static void no_expert_parallelism(const Model *m) {
    if (m->ep) die("moe", "expert parallelism (dist.expert_parallel) is not available on the CUDA backend");
}

static const Bf16 *P16(const Backend *be, const Model *m, size_t off) { return cuda_param(be, m, off); }

// The routed experts on their grouped rows: g, u, act [n, Fe] and out [n, D], grouped (bf16).
static void moe_experts(const Backend *be, const Model *m, const LayerOffsets *o, const Dims *d, const MoeGroups *gr,
                        const Bf16 *xs, Bf16 *g, Bf16 *u, Bf16 *act, Bf16 *out) {
    Err e;
    GpuStream s = stream_of(be);
    size_t ew = (size_t)d->Fe * d->D;
    for (int x = 0; x < d->E; x++) {
        int r0 = gr->first[x], n = gr->first[x + 1] - r0;
        if (!n) continue;
        ok(gpu_matmul(xs + (size_t)r0 * d->D, P16(be, m, o->egate + x * ew), NULL, g + (size_t)r0 * d->Fe, GPU_BF16, n,
                      d->Fe, d->D, 0, s, &e), &e, "moe expert gate");
        ok(gpu_matmul(xs + (size_t)r0 * d->D, P16(be, m, o->eup + x * ew), NULL, u + (size_t)r0 * d->Fe, GPU_BF16, n,
                      d->Fe, d->D, 0, s, &e), &e, "moe expert up");
    }
    size_t nall = (size_t)gr->first[d->E];
    ok(gpu_swiglu(g, u, act, nall * d->Fe, s, &e), &e, "moe expert swiglu");
    for (int x = 0; x < d->E; x++) {
        int r0 = gr->first[x], n = gr->first[x + 1] - r0;
        if (!n) continue;
        ok(gpu_matmul(act + (size_t)r0 * d->Fe, P16(be, m, o->edown + x * ew), NULL, out + (size_t)r0 * d->D, GPU_BF16,
                      n, d->D, d->Fe, 0, s, &e), &e, "moe expert down");
    }
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
    no_expert_parallelism(m);
    if (!T) return;
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
    moe_experts(be, m, o, &d, &gr, xs, g, u, act, out);
    ok(gpu_moe_gather(g, gr.slot_row, (int)n, 1, d.Fe, (Bf16 *)a->eg, s, &e), &e, "moe record");
    ok(gpu_moe_gather(u, gr.slot_row, (int)n, 1, d.Fe, (Bf16 *)a->eu, s, &e), &e, "moe record");
    ok(gpu_moe_gather(act, gr.slot_row, (int)n, 1, d.Fe, (Bf16 *)a->eact, s, &e), &e, "moe record");
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

// The routed experts' backward on grouped rows: weight gradients per expert, input gradients scattered to da2 in
// expert order (moe.c moe_experts_backward).
static void moe_experts_back(const Backend *be, const Model *m, const LayerOffsets *o, const Dims *d,
                             const LayerActs *a, const float *dy, int T, float *grads, float *da2) {
    Err e;
    GpuStream s = stream_of(be);
    size_t n = (size_t)T * d->K, ew = (size_t)d->Fe * d->D;
    MoeGroups gr = moe_groups(be, d, a->top_e, T);
    Bf16 *xs = scratch(be, n * d->D * 2), *gy = scratch(be, n * d->D * 2), *g = scratch(be, n * d->Fe * 2),
         *u = scratch(be, n * d->Fe * 2), *act = scratch(be, n * d->Fe * 2);
    float *dact = scratch(be, n * d->Fe * 4), *dg = scratch(be, n * d->Fe * 4), *du = scratch(be, n * d->Fe * 4),
          *dxs = scratch(be, n * d->D * 4);
    ok(gpu_moe_gather((const Bf16 *)a->a2, gr.rows, (int)n, d->K, d->D, xs, s, &e), &e, "moe back gather");
    ok(gpu_moe_scaled_gather(dy, gr.rows, (const float *)a->top_w, (int)n, d->K, d->D, gy, s, &e), &e,
       "moe back gather");
    ok(gpu_moe_gather((const Bf16 *)a->eg, gr.rows, (int)n, 1, d->Fe, g, s, &e), &e, "moe back gather");
    ok(gpu_moe_gather((const Bf16 *)a->eu, gr.rows, (int)n, 1, d->Fe, u, s, &e), &e, "moe back gather");
    ok(gpu_moe_gather((const Bf16 *)a->eact, gr.rows, (int)n, 1, d->Fe, act, s, &e), &e, "moe back gather");
    for (int x = 0; x < d->E; x++) {
        int r0 = gr.first[x], k = gr.first[x + 1] - r0;
        if (!k) continue;
        size_t wo = x * ew;
        ok(gpu_matmul_xtx_acc(gy + (size_t)r0 * d->D, act + (size_t)r0 * d->Fe, grads + o->edown + wo, k, d->D, d->Fe,
                              s, &e), &e, "moe expert down dw");
        ok(gpu_matmul_xw(gy + (size_t)r0 * d->D, P16(be, m, o->edown + wo), dact + (size_t)r0 * d->Fe, k, d->D, d->Fe,
                         0, s, &e), &e, "moe expert down dx");
    }
    ok(gpu_swiglu_backward(dact, g, u, dg, du, n * d->Fe, s, &e), &e, "moe expert swiglu_back");
    Bf16 *dg16 = bf16_copy(be, dg, n * d->Fe), *du16 = bf16_copy(be, du, n * d->Fe);
    for (int x = 0; x < d->E; x++) {
        int r0 = gr.first[x], k = gr.first[x + 1] - r0;
        if (!k) continue;
        size_t wo = x * ew, f0 = (size_t)r0 * d->Fe, x0 = (size_t)r0 * d->D;
        ok(gpu_matmul_xtx_acc(dg16 + f0, xs + x0, grads + o->egate + wo, k, d->Fe, d->D, s, &e), &e, "moe gate dw");
        ok(gpu_matmul_xtx_acc(du16 + f0, xs + x0, grads + o->eup + wo, k, d->Fe, d->D, s, &e), &e, "moe up dw");
        ok(gpu_matmul_xw(dg16 + f0, P16(be, m, o->egate + wo), dxs + x0, k, d->Fe, d->D, 0, s, &e), &e, "moe gate dx");
        ok(gpu_matmul_xw(du16 + f0, P16(be, m, o->eup + wo), dxs + x0, k, d->Fe, d->D, 1, s, &e), &e, "moe up dx");
    }
    ok(gpu_moe_scatter_add(dxs, a->top_e, gr.slot_row, T, d->K, d->D, da2, s, &e), &e, "moe scatter-add");
    void *tmp[] = {xs, gy, g, u, act, dact, dg, du, dxs, dg16, du16};
    for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) scratch_free(be, tmp[i]);
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
    no_expert_parallelism(m);
    int T = A->T;
    if (!T) return;
    Err e;
    Dims d = model_dims(m);
    const LayerOffsets *o = &m->priv->layers[l];
    double *frac = cuda_view(be, A->expert_frac, (size_t)d.E, BUF_F64, VIEW_IN);
    float *dz = scratch(be, (size_t)T * d.E * 4);
    ok(gpu_moe_router_backward(dy, (const Bf16 *)a->eout, (const float *)a->probs, a->top_e, (const float *)a->top_w,
                               frac, aux_weight, (double)model_n_moe_layers(m) * T, m->cfg.norm_topk_prob, T, d.E, d.K,
                               d.D, dz, stream_of(be), &e), &e, "moe router backward");
    dev_linear_back(be, m, a->a2, o->router, dz, grads, da2, T, d.E, d.D, true);
    scratch_free(be, dz);
    cuda_view_end(be, frac, A->expert_frac, (size_t)d.E, BUF_F64, VIEW_IN);
    moe_experts_back(be, m, o, &d, a, dy, T, grads, da2);
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
    .alloc = cuda_alloc,
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
    cudaStreamSynchronize(st->stream);
    free_mirrors(st);
    cudaStreamDestroy(st->stream);
    free(st);
    free(be);
}
#endif
