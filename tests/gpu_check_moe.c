// The MoE block on the GPU (router matmul, gpu_router_topk, gpu_moe_group, gather, each expert's SwiGLU through
// gpu_matmul, gpu_moe_combine, the shared expert and its gate) against moe.c moe_forward, and a token's output alone = within a batch, bit for bit.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    int32_t *off = malloc((size_t)(E + 1) * 4);
    ddownload(off, offsets, (size_t)(E + 1) * 4);
    for (int e = 0; e < E; e++) {
        int r0 = off[e], m = off[e + 1] - off[e];
        if (!m) continue;
        size_t wo = (size_t)e * Fe * D;
        OK(gpu_matmul(xs + (size_t)r0 * D, w->egate + wo, NULL, g + (size_t)r0 * Fe, GPU_BF16, m, Fe, D, 0, NULL, &err));
        OK(gpu_matmul(xs + (size_t)r0 * D, w->eup + wo, NULL, u + (size_t)r0 * Fe, GPU_BF16, m, Fe, D, 0, NULL, &err));
        OK(gpu_swiglu(g + (size_t)r0 * Fe, u + (size_t)r0 * Fe, act + (size_t)r0 * Fe, (size_t)m * Fe, NULL, &err));
        OK(gpu_matmul(act + (size_t)r0 * Fe, w->edown + wo, NULL, eout + (size_t)r0 * D, GPU_BF16, m, D, Fe, 0, NULL, &err));
    }
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
    free(off);
    dfree(d_x), dfree(xs), dfree(g), dfree(u), dfree(act), dfree(eout), dfree(logits), dfree(probs), dfree(top_w), dfree(y);
    dfree(top_e), dfree(offsets), dfree(rows), dfree(slot_row);
}

static void moe_out_alloc(MoeOut *o, int T, int D, int E, int K) {
    o->probs = calloc((size_t)T * E, 4), o->top_w = calloc((size_t)T * K, 4), o->y = calloc((size_t)T * D, 4);
    o->top_e = calloc((size_t)T * K, 4), o->rows = calloc((size_t)T * K, 4);
}

static void moe_out_free(MoeOut *o) { free(o->probs), free(o->top_w), free(o->y), free(o->top_e), free(o->rows); }

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
}
