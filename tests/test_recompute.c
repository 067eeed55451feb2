// Activation recomputation (Model.recompute, train.recompute): the training forward keeps each layer's input only,
// and the backward runs the layer's forward again before its backward. The same operations on the same inputs, so
// the logits or log-probs, the aux loss, the chosen experts and every parameter gradient must be the same bits as
// with every activation kept: dense and MoE models (shared expert, tied head), the logits path (model_backward) and
// the log-prob head's (model_backward_logprob_hooked), with the fixed-order backward and with OpenBLAS's.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "model_testutil.h"

enum { N_SEQS = 3, T_ALL = 41 };
static const int64_t OFF[N_SEQS + 1] = {0, 17, 25, 41};

typedef struct {
    float *out, *grads;  // logits [T, V] (or log-probs and entropies as floats) and the gradient
    int32_t experts[T_ALL * 2 * 2];
    double aux;
} Result;

static Result run(Model *m, bool recompute, bool logprob, uint64_t seed) {
    Err e = {{0}};
    int V = m->cfg.vocab_size;
    double aux_w = m->moe ? 0.7 : 0.0;
    Result r = {.out = xcalloc((size_t)T_ALL * V, sizeof(float)), .grads = xcalloc(m->n_params, sizeof(float))};
    int32_t tokens[T_ALL], targets[T_ALL];
    double dlogp[T_ALL], dh[T_ALL], lp[T_ALL], h[T_ALL];
    Rng g = rng_at(seed, 5, 0, 0);
    for (int t = 0; t < T_ALL; t++) {
        tokens[t] = (int32_t)rng_below(&g, (uint64_t)V);
        targets[t] = t % 4 == 3 ? -1 : (int32_t)rng_below(&g, (uint64_t)V);
        dlogp[t] = rng_normal(&g), dh[t] = 0.5 * rng_normal(&g);
    }
    m->recompute = recompute;
    ModelActs *acts;
    int32_t *experts = m->moe ? r.experts : NULL;
    if (logprob) {
        HeadLogprob hl = {.targets = targets, .temperature = 0.9, .logp = lp, .entropy = h};
        cr_assert_eq(model_forward_logprob(m, N_SEQS, OFF, tokens, &hl, experts, &r.aux, &acts, &e), 0, "%s", e.msg);
        int n = 0;
        for (int t = 0; t < T_ALL; t++)
            if (targets[t] >= 0) r.out[2 * n] = (float)lp[n], r.out[2 * n + 1] = (float)h[n], n++;
        cr_assert_eq(model_backward_logprob_hooked(m, acts, dlogp, dh, aux_w, r.grads, NULL, NULL, &e), 0, "%s", e.msg);
    } else {
        cr_assert_eq(model_forward(m, N_SEQS, OFF, tokens, r.out, experts, &r.aux, &acts, &e), 0, "%s", e.msg);
        float *dlogits = xmalloc((size_t)T_ALL * V * sizeof *dlogits);
        for (size_t i = 0; i < (size_t)T_ALL * V; i++) dlogits[i] = (float)(0.01 * rng_normal(&g));
        cr_assert_eq(model_backward(m, acts, dlogits, aux_w, r.grads, &e), 0, "%s", e.msg);
        free(dlogits);
    }
    model_acts_free(acts);
    m->recompute = false;
    return r;
}

static void check(const char *const *sets, int n_sets) {
    Model m;
    tiny_model(&m, sets, n_sets, 71);
    int V = m.cfg.vocab_size;
    for (int fixed = 0; fixed < 2; fixed++)
        for (int logprob = 0; logprob < 2; logprob++) {
            m.fixed_order_backward = fixed;
            Result a = run(&m, false, logprob, 9), b = run(&m, true, logprob, 9);
            size_t bad = 0, nonzero = 0;
            for (size_t i = 0; i < m.n_params; i++) bad += a.grads[i] != b.grads[i], nonzero += a.grads[i] != 0;
            cr_expect_eq(bad, 0, "%s, %s backward: %zu of %zu gradient elements differ with recomputation",
                         logprob ? "log-prob head" : "logits", fixed ? "fixed-order" : "OpenBLAS", bad, m.n_params);
            cr_expect_gt(nonzero, m.n_params / 2, "the gradient is mostly zero (%zu non-zero)", nonzero);
            cr_expect_eq(memcmp(a.out, b.out, (size_t)T_ALL * V * sizeof(float)), 0, "forward outputs differ");
            cr_expect_eq(memcmp(a.experts, b.experts, sizeof a.experts), 0, "chosen experts differ");
            cr_expect_eq(memcmp(&a.aux, &b.aux, sizeof a.aux), 0, "aux loss %.17g vs %.17g", a.aux, b.aux);
            free(a.out), free(a.grads), free(b.out), free(b.grads);
        }
    model_free(&m);
}

Test(recompute, dense_qwen2_untied_bias) { check(TINY_QWEN2, N_OF(TINY_QWEN2)); }
Test(recompute, dense_qwen3_tied) { check(TINY_QWEN3, N_OF(TINY_QWEN3)); }
Test(recompute, moe_qwen2_shared_expert) { check(TINY_QWEN2_MOE, N_OF(TINY_QWEN2_MOE)); }
Test(recompute, moe_qwen3) { check(TINY_QWEN3_MOE, N_OF(TINY_QWEN3_MOE)); }
