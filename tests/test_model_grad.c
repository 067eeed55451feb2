// Finite-difference checks of every backward (embedding, norms, attention with GQA / bias / q-k norm / RoPE,
// SwiGLU, MoE router with top-k renormalisation and aux loss, shared expert, tied and untied LM head).
// The loss is sum(w * logits) + aux_weight * aux, accumulated in float64; central differences per sampled
// parameter, skipping a sample only when the perturbation changed the MoE routing (a kink).
#include <string.h>

#include "model_testutil.h"

typedef struct {
    Model m;
    int64_t off[4];
    int32_t tok[128];
    int T;
    float *w, *logits;
    int32_t *ex, *ex_base;
    double aux_weight;
} GradCase;

// Loss, and in *abs_sum the sum of |terms|: float32 logits carry up to ~1e-7 of it as rounding noise.
static double loss_at(GradCase *g, int32_t *experts, double *abs_sum) {
    Err e = {{0}};
    double aux = 0;
    cr_assert_eq(model_forward(&g->m, 3, g->off, g->tok, g->logits, g->m.moe ? experts : NULL, &aux, NULL, &e), 0);
    double s = 0, a = fabs(g->aux_weight * aux);
    for (size_t i = 0; i < (size_t)g->T * g->m.cfg.vocab_size; i++) {
        s += (double)g->w[i] * g->logits[i];
        a += fabs((double)g->w[i] * g->logits[i]);
    }
    *abs_sum = a;
    return s + g->aux_weight * aux;
}

// Three packed sequences of these lengths (at most 128 tokens in all).
static const int64_t SHORT_SEQS[3] = {5, 3, 7};

// w_scale = 0 checks the aux loss alone (its gradient is small next to the logits' one). fixed: the backward's
// fixed-order matmuls (Model.fixed_order_backward) instead of OpenBLAS.
static void check_gradients_seqs(const char *const *sets, int n_sets, double w_scale, double aux_weight, bool fixed,
                                 const int64_t lens[3]) {
    GradCase g = {.aux_weight = aux_weight};
    Err e = {{0}};
    tiny_model(&g.m, sets, n_sets, 11);
    g.m.fixed_order_backward = fixed;
    int V = g.m.cfg.vocab_size, LK = g.m.cfg.num_hidden_layers * (g.m.moe ? g.m.cfg.num_experts_per_tok : 1);
    Rng r = rng_at(12, 0, 0, 0);
    g.off[0] = 0;
    for (int s = 0; s < 3; s++) g.off[s + 1] = g.off[s] + lens[s];
    g.T = (int)g.off[3];
    for (int t = 0; t < g.T; t++) g.tok[t] = (int32_t)rng_below(&r, (uint64_t)V);
    g.w = xmalloc((size_t)g.T * V * sizeof(float));
    g.logits = xmalloc((size_t)g.T * V * sizeof(float));
    g.ex = xcalloc((size_t)g.T * LK, 4), g.ex_base = xcalloc((size_t)g.T * LK, 4);
    for (int i = 0; i < g.T * V; i++) g.w[i] = (float)(w_scale * rng_normal(&r));
    // Analytic gradient.
    ModelActs *acts;
    double aux;
    cr_assert_eq(model_forward(&g.m, 3, g.off, g.tok, g.logits, g.m.moe ? g.ex_base : NULL, &aux, &acts, &e), 0);
    cr_assert(!g.m.moe || aux > 0);
    float *grads = xcalloc(g.m.n_params, sizeof(float));
    cr_assert_eq(model_backward(&g.m, acts, g.w, g.aux_weight, grads, &e), 0, "%s", e.msg);
    model_acts_free(acts);
    int checked = 0, skipped = 0;
    for (int i = 0; i < g.m.n_tensors; i++) {
        const ModelTensor *t = &g.m.tensors[i];
        double max_g = 0;
        for (size_t k = 0; k < t->numel; k++) max_g = fmax(max_g, fabs(grads[t->offset + k]));
        for (int sample = 0; sample < 4; sample++) {
            size_t k = t->offset + (size_t)rng_below(&r, t->numel);
            if (!strcmp(t->name, "model.embed_tokens.weight"))  // a row the batch uses (others only feed lm_head)
                k = t->offset + (size_t)g.tok[rng_below(&r, (uint64_t)g.T)] * t->shape[1] + rng_below(&r, t->shape[1]);
            float p0 = g.m.params[k], eps = 3e-3f;
            g.m.params[k] = p0 + eps;
            double abs_sum;
            double lp = loss_at(&g, g.ex, &abs_sum);
            int same = !g.m.moe || !memcmp(g.ex, g.ex_base, (size_t)g.T * LK * 4);
            float up = g.m.params[k];
            g.m.params[k] = p0 - eps;
            double lm = loss_at(&g, g.ex, &abs_sum);
            same = same && (!g.m.moe || !memcmp(g.ex, g.ex_base, (size_t)g.T * LK * 4));
            float down = g.m.params[k];
            g.m.params[k] = p0;
            if (!same) {
                skipped++;
                continue;
            }
            double fd = (lp - lm) / ((double)up - down), noise = 1e-7 * abs_sum / ((double)up - down);
            checked++;
            cr_expect(fabs(fd - grads[k]) <= 1e-2 * fabs(fd) + 1e-3 * max_g + noise,
                      "%s[%zu]: analytic %.6g vs fd %.6g (noise %.2g)", t->name, k - t->offset, grads[k], fd, noise);
        }
    }
    cr_assert(checked >= 3 * skipped, "%d checked, %d skipped for routing changes", checked, skipped);
    free(grads), free(g.w), free(g.logits), free(g.ex), free(g.ex_base);
    model_free(&g.m);
}

static void check_gradients_mode(const char *const *sets, int n_sets, double w_scale, double aux_weight, bool fixed) {
    check_gradients_seqs(sets, n_sets, w_scale, aux_weight, fixed, SHORT_SEQS);
}

static void check_gradients(const char *const *sets, int n_sets, double w_scale, double aux_weight) {
    check_gradients_mode(sets, n_sets, w_scale, aux_weight, false);
}

// Attention's backward over several blocks of queries (32 query heads' rows per block, attention.c) with heads of
// 72 floats (its 64-lane sums and their tail), two query heads per key/value head.
static const char *const WIDE_HEADS[] = {TINY_COMMON, "model.type=qwen3", "model.head_dim=72"};
static const int64_t LONG_SEQS[3] = {45, 3, 38};
Test(model_grad, attention_long_sequences_wide_heads) {
    check_gradients_seqs(WIDE_HEADS, N_OF(WIDE_HEADS), 1, 0, false, LONG_SEQS);
}
Test(model_grad, qwen2_bias_untied) { check_gradients(TINY_QWEN2, N_OF(TINY_QWEN2), 1, 0); }
Test(model_grad, qwen3_qk_norm_tied) { check_gradients(TINY_QWEN3, N_OF(TINY_QWEN3), 1, 0); }
Test(model_grad, qwen2_moe_shared_expert) { check_gradients(TINY_QWEN2_MOE, N_OF(TINY_QWEN2_MOE), 1, 0.7); }
Test(model_grad, qwen3_moe_topk_renorm) { check_gradients(TINY_QWEN3_MOE, N_OF(TINY_QWEN3_MOE), 1, 0.7); }
Test(model_grad, qwen2_moe_aux_loss_alone) { check_gradients(TINY_QWEN2_MOE, N_OF(TINY_QWEN2_MOE), 0, 1); }
Test(model_grad, qwen3_moe_aux_loss_alone) { check_gradients(TINY_QWEN3_MOE, N_OF(TINY_QWEN3_MOE), 0, 1); }
Test(model_grad, qwen3_moe_sparse_step_dense_layers) {
    check_gradients(TINY_QWEN3_MOE_SPARSE, N_OF(TINY_QWEN3_MOE_SPARSE), 1, 0.7);
}
Test(model_grad, qwen3_moe_sparse_step_aux_loss_alone) {
    check_gradients(TINY_QWEN3_MOE_SPARSE, N_OF(TINY_QWEN3_MOE_SPARSE), 0, 1);
}
Test(model_grad, qwen2_moe_mlp_only_layers) {
    check_gradients(TINY_QWEN2_MOE_MLP_ONLY, N_OF(TINY_QWEN2_MOE_MLP_ONLY), 1, 0.7);
}
Test(model_grad, fixed_order_qwen2_bias_untied) { check_gradients_mode(TINY_QWEN2, N_OF(TINY_QWEN2), 1, 0, true); }
Test(model_grad, fixed_order_qwen2_moe_shared_expert) {
    check_gradients_mode(TINY_QWEN2_MOE, N_OF(TINY_QWEN2_MOE), 1, 0.7, true);
}
