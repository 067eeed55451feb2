// The MoE block on the GPU (router matmul, gpu_router_topk, gpu_moe_group, gather, the experts' SwiGLU through the
// grouped products of kernels/moe_grouped.cu, gpu_moe_combine, the shared expert and its gate) against moe.c
// moe_forward, and a token's output alone = within a batch, bit for bit. The grouped products against one gpu_matmul
// (and gpu_matmul_xw, gpu_matmul_xtx_acc) per expert, bit for bit, for 1, 8 and 60 experts with uneven and empty
// groups.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "gpu_check.h"
#include "model/model_internal.h"

static Err err;
#define OK(call) ok_or_die((call), &err, #call)

typedef struct {
    int D, E, K, Fe, S;
    Bf16 *router, *egate, *eup, *edown;       // device copies of the weights
    Bf16 *sgate, *sup, *sdown, *sexp_gate;    // the shared expert (S > 0)
} MoeWeights;

typedef struct {
    float *probs, *top_w, *y;
    int32_t *top_e, *rows;
} MoeOut;

// The GPU MoE block on x [T, D] (host floats, bf16 values): fills out (host arrays sized for T).
static void gpu_moe(const MoeWeights *w, const float *x, int T, MoeOut *out) {
    int D = w->D, E = w->E, K = w->K, Fe = w->Fe, n = T * K;
    Bf16 *d_x = dupload_bf16(x, (size_t)T * D), *xs = dalloc((size_t)n * D * 2), *g = dalloc((size_t)n * Fe * 2),
         *u = dalloc((size_t)n * Fe * 2), *act = dalloc((size_t)n * Fe * 2), *eout = dalloc((size_t)n * D * 2);
    float *logits = dalloc((size_t)T * E * 4), *probs = dalloc((size_t)T * E * 4), *top_w = dalloc((size_t)n * 4),
          *y = dalloc((size_t)T * D * 4);
    int32_t *top_e = dalloc((size_t)n * 4), *offsets = dalloc((size_t)(E + 1) * 4), *rows = dalloc((size_t)n * 4),
            *slot_row = dalloc((size_t)n * 4);
    OK(gpu_matmul(d_x, w->router, NULL, logits, GPU_F32, T, E, D, 0, NULL, &err));
    OK(gpu_router_topk(logits, T, E, K, 1, probs, top_e, top_w, NULL, &err));
    OK(gpu_moe_group(top_e, T, K, E, offsets, rows, slot_row, NULL, &err));
    OK(gpu_moe_gather(d_x, rows, n, K, D, xs, NULL, &err));
    // As backend_cuda.c: the group offsets stay on the device.
    OK(gpu_matmul_grouped(xs, w->egate, g, GPU_BF16, offsets, E, n, Fe, D, 0, NULL, &err));
    OK(gpu_matmul_grouped(xs, w->eup, u, GPU_BF16, offsets, E, n, Fe, D, 0, NULL, &err));
    OK(gpu_swiglu(g, u, act, (size_t)n * Fe, NULL, &err));
    OK(gpu_matmul_grouped(act, w->edown, eout, GPU_BF16, offsets, E, n, D, Fe, 0, NULL, &err));
    OK(gpu_moe_combine(eout, top_e, top_w, slot_row, T, K, D, y, NULL, &err));
    if (w->S) {
        int S = w->S;
        Bf16 *sg = dalloc((size_t)T * S * 2), *su = dalloc((size_t)T * S * 2), *sact = dalloc((size_t)T * S * 2),
             *sout = dalloc((size_t)T * D * 2);
        float *zgate = dalloc((size_t)T * 4);
        OK(gpu_matmul(d_x, w->sgate, NULL, sg, GPU_BF16, T, S, D, 0, NULL, &err));
        OK(gpu_matmul(d_x, w->sup, NULL, su, GPU_BF16, T, S, D, 0, NULL, &err));
        OK(gpu_swiglu(sg, su, sact, (size_t)T * S, NULL, &err));
        OK(gpu_matmul(sact, w->sdown, NULL, sout, GPU_BF16, T, D, S, 0, NULL, &err));
        OK(gpu_matmul(d_x, w->sexp_gate, NULL, zgate, GPU_F32, T, 1, D, 0, NULL, &err));
        OK(gpu_moe_shared_add(zgate, sout, T, D, y, NULL, &err));
        dfree(sg), dfree(su), dfree(sact), dfree(sout), dfree(zgate);
    }
    ddownload(out->probs, probs, (size_t)T * E * 4);
    ddownload(out->top_w, top_w, (size_t)n * 4);
    ddownload(out->top_e, top_e, (size_t)n * 4);
    ddownload(out->rows, rows, (size_t)n * 4);
    ddownload(out->y, y, (size_t)T * D * 4);
    dfree(d_x), dfree(xs), dfree(g), dfree(u), dfree(act), dfree(eout), dfree(logits), dfree(probs), dfree(top_w), dfree(y);
    dfree(top_e), dfree(offsets), dfree(rows), dfree(slot_row);
}

static void moe_out_alloc(MoeOut *o, int T, int D, int E, int K) {
    o->probs = calloc((size_t)T * E, 4), o->top_w = calloc((size_t)T * K, 4), o->y = calloc((size_t)T * D, 4);
    o->top_e = calloc((size_t)T * K, 4), o->rows = calloc((size_t)T * K, 4);
}

static void moe_out_free(MoeOut *o) { free(o->probs), free(o->top_w), free(o->y), free(o->top_e), free(o->rows); }

// One grouping: n rows over E experts, expert e's rows offsets[e]..offsets[e+1]-1 (host copy and device copy).
typedef struct {
    int E, n;
    int32_t *host, *dev;
} Groups;

static Groups groups_of(const int *sizes, int E) {
    Groups g = {E, 0, malloc((size_t)(E + 1) * 4), NULL};
    g.host[0] = 0;
    for (int e = 0; e < E; e++) g.host[e + 1] = g.host[e] + sizes[e];
    g.n = g.host[E];
    g.dev = dupload(g.host, (size_t)(E + 1) * 4);
    return g;
}

// A device buffer of n random floats (bf16 values when bf16 is set) and its host copy's bits.
static void *random_dev(size_t n, int bf16, uint64_t seed) {
    float *h = malloc(n * 4 + 4);
    random_bf16(h, NULL, n, 1.0, seed);
    void *d = bf16 ? (void *)dupload_bf16(h, n) : dupload(h, n * 4);
    free(h);
    return d;
}

// Bits of two device buffers of `bytes` that differ, in elements of elem bytes.
static size_t dev_differ(const void *a, const void *b, size_t bytes, size_t elem) {
    char *ha = malloc(bytes + 1), *hb = malloc(bytes + 1);
    ddownload(ha, a, bytes), ddownload(hb, b, bytes);
    size_t bad = bits_differ(ha, hb, bytes, elem);
    free(ha), free(hb);
    return bad;
}

// The three grouped products against one launch per expert on its rows alone (the launches they replace), bit for
// bit: y = x w_e^T (bf16 out, and fp32 accumulated onto random values), dx = dy w_e (written and accumulated),
// dw_e += dy_e^T x_e onto random values (an empty expert's gradient untouched).
static void check_grouped(const char *what, const int *sizes, int E, int N, int K) {
    Groups g = groups_of(sizes, E);
    int n = g.n;
    size_t wn = (size_t)E * N * K;
    Bf16 *x = random_dev((size_t)n * K, 1, 301), *w = random_dev(wn, 1, 302), *dy = random_dev((size_t)n * N, 1, 303);
    Bf16 *yb = dalloc((size_t)n * N * 2), *yb_ref = dalloc((size_t)n * N * 2);
    float *yf = random_dev((size_t)n * N, 0, 304), *yf_ref = dalloc((size_t)n * N * 4);
    float *dx = random_dev((size_t)n * K, 0, 305), *dx_ref = dalloc((size_t)n * K * 4);
    float *dx0 = dalloc((size_t)n * K * 4), *dx0_ref = dalloc((size_t)n * K * 4);
    float *dw = random_dev(wn, 0, 306), *dw_ref = dalloc(wn * 4);
    if (cudaMemcpy(yf_ref, yf, (size_t)n * N * 4, cudaMemcpyDeviceToDevice) ||
        cudaMemcpy(dx_ref, dx, (size_t)n * K * 4, cudaMemcpyDeviceToDevice) ||
        cudaMemcpy(dw_ref, dw, wn * 4, cudaMemcpyDeviceToDevice)) {
        fprintf(stderr, "gpu_check: device copy failed\n");
        exit(GPU_CHECK_FAIL);
    }
    OK(gpu_matmul_grouped(x, w, yb, GPU_BF16, g.dev, E, n, N, K, 0, NULL, &err));
    OK(gpu_matmul_grouped(x, w, yf, GPU_F32, g.dev, E, n, N, K, 1, NULL, &err));
    OK(gpu_matmul_grouped_xw(dy, w, dx0, g.dev, E, n, N, K, 0, NULL, &err));
    OK(gpu_matmul_grouped_xw(dy, w, dx, g.dev, E, n, N, K, 1, NULL, &err));
    OK(gpu_matmul_grouped_xtx_acc(dy, x, g.dev, E, n, N, K, dw, NULL, &err));
    for (int e = 0; e < E; e++) {
        int r0 = g.host[e], m = g.host[e + 1] - r0;
        if (!m) continue;
        const Bf16 *xe = x + (size_t)r0 * K, *we = w + (size_t)e * N * K, *dye = dy + (size_t)r0 * N;
        OK(gpu_matmul(xe, we, NULL, yb_ref + (size_t)r0 * N, GPU_BF16, m, N, K, 0, NULL, &err));
        OK(gpu_matmul(xe, we, NULL, yf_ref + (size_t)r0 * N, GPU_F32, m, N, K, 1, NULL, &err));
        OK(gpu_matmul_xw(dye, we, dx0_ref + (size_t)r0 * K, m, N, K, 0, NULL, &err));
        OK(gpu_matmul_xw(dye, we, dx_ref + (size_t)r0 * K, m, N, K, 1, NULL, &err));
        OK(gpu_matmul_xtx_acc(dye, xe, dw_ref + (size_t)e * N * K, m, N, K, NULL, &err));
    }
    size_t bad_yb = dev_differ(yb, yb_ref, (size_t)n * N * 2, 2), bad_yf = dev_differ(yf, yf_ref, (size_t)n * N * 4, 4);
    size_t bad_dx0 = dev_differ(dx0, dx0_ref, (size_t)n * K * 4, 4);
    size_t bad_dx = dev_differ(dx, dx_ref, (size_t)n * K * 4, 4);
    size_t bad_dw = dev_differ(dw, dw_ref, wn * 4, 4);
    char name[96];
    snprintf(name, sizeof name, "grouped = per-expert, %s", what);
    check(name, bad_yb + bad_yf + bad_dx0 + bad_dx + bad_dw == 0,
          "E=%d n=%d N=%d K=%d: values differing in y bf16 %zu, y fp32 += %zu, dx %zu, dx += %zu, dw += %zu (limit 0)",
          E, n, N, K, bad_yb, bad_yf, bad_dx0, bad_dx, bad_dw);
    void *tmp[] = {x, w, dy, yb, yb_ref, yf, yf_ref, dx, dx_ref, dx0, dx0_ref, dw, dw_ref, g.dev};
    for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) dfree(tmp[i]);
    free(g.host);
}

// Uneven groups with empty experts: random sizes from a fixed seed, a quarter of the experts empty.
static void random_sizes(int *sizes, int E, int max, uint64_t seed) {
    float *u = malloc((size_t)E * 2 * 4);
    random_f32(u, (size_t)E * 2, 1.0, seed);
    for (int e = 0; e < E; e++)
        sizes[e] = fabsf(u[2 * e]) < 0.32f ? 0 : (int)(fabsf(u[2 * e + 1]) * max / 2.5f) % max + 1;
    free(u);
}

static void check_grouped_all(void) {
    int one[1] = {37};
    check_grouped("1 expert, K % 8 != 0, N <= 16", one, 1, 13, 100);
    // 300 rows: several large tiles; 8, 16: multiples of 8 (16-byte loads in dW); 1; two empty.
    int eight[8] = {0, 16, 101, 0, 8, 300, 1, 258};
    check_grouped("8 experts, large tiles", eight, 8, 37, 96);
    int sixty[60];
    random_sizes(sixty, 60, 12, 307);
    check_grouped("60 experts, small tiles", sixty, 60, 129, 72);
    random_sizes(sixty, 60, 200, 308);
    check_grouped("60 experts, large tiles, odd K", sixty, 60, 33, 57);

    // The expert fractions' upload through kernel arguments: two launches' worth, bit for bit.
    enum { NF = 300 };
    double h[NF], back[NF];
    for (int i = 0; i < NF; i++) h[i] = 1.0 / (i + 3);
    double *d = dalloc(sizeof h);
    OK(gpu_write_f64(d, h, NF, NULL, &err));
    ddownload(back, d, sizeof back);
    size_t bad = bits_differ(back, h, sizeof h, 8);
    check("gpu_write_f64 (kernel arguments), 300 values", bad == 0, "%zu differ (limit 0)", bad);
    dfree(d);
}

void check_moe(void) {
    printf("MoE block against moe.c\n");
    int T = 61, D = 96, E = 12, K = 3, Fe = 40, S = 24;
    size_t n_router = (size_t)E * D, n_exp = (size_t)E * Fe * D, n_sh = (size_t)S * D, sh = n_router + 3 * n_exp;
    float *params = calloc(sh + 3 * n_sh + D, sizeof(float)), *x = calloc((size_t)T * D, 4);
    random_bf16(params, NULL, n_router, 0.3, 91);
    random_bf16(params + n_router, NULL, 3 * n_exp, 0.15, 92);
    random_bf16(params + sh, NULL, 3 * n_sh + D, 0.15, 94);
    random_bf16(x, NULL, (size_t)T * D, 1.0, 93);
    MoeWeights w = {D, E, K, Fe, S, dupload_bf16(params, n_router), dupload_bf16(params + n_router, n_exp),
                    dupload_bf16(params + n_router + n_exp, n_exp), dupload_bf16(params + n_router + 2 * n_exp, n_exp),
                    dupload_bf16(params + sh, n_sh), dupload_bf16(params + sh + n_sh, n_sh),
                    dupload_bf16(params + sh + 2 * n_sh, n_sh), dupload_bf16(params + sh + 3 * n_sh, D)};
    MoeOut g;
    moe_out_alloc(&g, T, D, E, K);
    gpu_moe(&w, x, T, &g);

    // The CPU twin: a model whose one MoE layer holds these weights at these offsets.
    Model m;
    memset(&m, 0, sizeof m);
    m.params = params;
    m.cfg.norm_topk_prob = true;
    LayerOffsets o;
    memset(&o, 0xff, sizeof o);  // SIZE_MAX: absent
    o.router = 0, o.egate = n_router, o.eup = n_router + n_exp, o.edown = n_router + 2 * n_exp;
    o.sgate = sh, o.sup = sh + n_sh, o.sdown = sh + 2 * n_sh, o.sexp_gate = sh + 3 * n_sh;
    // moe_experts_forward finds the layer's index as o - m->priv->layers (for model_before_unit): layer 0 here.
    ModelPrivate priv;
    memset(&priv, 0, sizeof priv);
    priv.layers = &o;
    m.priv = &priv;
    Dims d = {0};
    d.D = D, d.E = E, d.K = K, d.Fe = Fe, d.S = S;
    LayerActs a = {0};  // the fields moe_forward fills (host memory; layer_acts_alloc would tie this to a backend)
    a.probs = calloc((size_t)T * E, 4), a.top_e = calloc((size_t)T * K, 4), a.top_w = calloc((size_t)T * K, 4);
    a.eg = calloc((size_t)T * K * Fe, 4), a.eu = calloc((size_t)T * K * Fe, 4), a.eact = calloc((size_t)T * K * Fe, 4);
    a.eout = calloc((size_t)T * K * D, 4);
    a.sg = calloc((size_t)T * S, 4), a.su = calloc((size_t)T * S, 4), a.sact = calloc((size_t)T * S, 4);
    a.sout = calloc((size_t)T * D, 4), a.sgate = calloc((size_t)T, 4);
    float *y = calloc((size_t)T * D, 4);
    moe_forward(&m, &o, &d, x, &a, T, y, moe_experts_forward);

    size_t bad_e = 0;
    for (int i = 0; i < T * K; i++) bad_e += g.top_e[i] != a.top_e[i];
    double ep = rel_err(g.probs, a.probs, (size_t)T * E), ew = rel_err(g.top_w, a.top_w, (size_t)T * K);
    check("router softmax + top-k (moe.c route)", bad_e == 0 && ep <= TOL_F32 && ew <= TOL_F32,
          "%zu of %d choices differ (limit 0), probs err %.2e, weights err %.2e (limit %.0e)", bad_e, T * K, ep, ew, TOL_F32);
    // Grouping: expert by expert, its slots in slot order (moe.c run_expert).
    size_t bad_r = 0, r = 0;
    for (int e = 0; e < E; e++)
        for (int i = 0; i < T * K; i++)
            if (g.top_e[i] == e) bad_r += g.rows[r++] != i;
    check("expert grouping (moe.c run_expert order)", bad_r == 0 && r == (size_t)T * K, "%zu of %d rows misplaced (limit 0)",
          bad_r, T * K);
    double ey = rel_err(g.y, y, (size_t)T * D);
    check("MoE block T=61 D=96 E=12 K=3 Fe=40 S=24 (moe_forward)", ey <= TOL_CHAIN,
          "err %.2e (limit %.2e: g, u, act, expert out rounded to bf16)", ey, TOL_CHAIN);

    // Batch invariance: tokens 5 and 40 alone, and tokens 3..9, give the rows of the full batch bit for bit.
    MoeOut s;
    moe_out_alloc(&s, T, D, E, K);
    size_t bad = 0;
    int singles[2] = {5, 40};
    for (int i = 0; i < 2; i++) {
        gpu_moe(&w, x + (size_t)singles[i] * D, 1, &s);
        bad += bits_differ(s.y, g.y + (size_t)singles[i] * D, (size_t)D * 4, 4);
    }
    gpu_moe(&w, x + 3 * (size_t)D, 7, &s);
    bad += bits_differ(s.y, g.y + 3 * (size_t)D, 7 * (size_t)D * 4, 4);
    check("MoE batch invariance (T=1, 7 vs 61)", bad == 0, "%zu values differ (limit 0)", bad);

    moe_out_free(&g), moe_out_free(&s);
    free(a.probs), free(a.top_e), free(a.top_w), free(a.eg), free(a.eu), free(a.eact), free(a.eout);
    free(a.sg), free(a.su), free(a.sact), free(a.sout), free(a.sgate);
    dfree(w.router), dfree(w.egate), dfree(w.eup), dfree(w.edown), dfree(w.sgate), dfree(w.sup), dfree(w.sdown),
        dfree(w.sexp_gate);
    free(params), free(x), free(y);
    check_grouped_all();
}
