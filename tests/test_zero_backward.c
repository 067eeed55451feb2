// A log-prob backward without any loss coefficient (adds_zeros in model/model_backward.c). Run in
// full (Model.skip_zero_backward off) it must add only zeros: the gradient keeps every bit, whether it held random
// values or +0 (a -0 anywhere would show), on dense and MoE models, in fast and fixed-order mode, with the LM head in
// one chunk or several. Skipped, it leaves the gradient as it is, reads no weight (no Model.before_unit call) and
// still calls the layer hook for layers L-1 down to 0, as the full backward does. One row's dlogp or dentropy, or a
// load-balancing loss on a MoE model, makes the backward count.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "model_testutil.h"

enum { N_SEQS = 3, T_ALL = 40, MAX_LAYERS = 8 };
static const int64_t OFF[N_SEQS + 1] = {0, 15, 27, 40};
static const int PROMPT[N_SEQS] = {5, 12, 3};  // the second sequence has no response

typedef struct {
    int32_t tokens[T_ALL], targets[T_ALL];
    int n;  // rows with a target
    double dlogp[T_ALL], dh[T_ALL];  // all zero
} Batch;

static Batch batch(const Model *m, uint64_t seed) {
    Batch b = {.n = 0};
    Rng r = rng_at(seed, 5, 0, 0);
    for (int t = 0; t < T_ALL; t++) b.tokens[t] = (int32_t)rng_below(&r, (uint64_t)m->cfg.vocab_size);
    for (int s = 0; s < N_SEQS; s++)
        for (int64_t t = OFF[s]; t < OFF[s + 1]; t++) {
            bool head = t >= OFF[s] + PROMPT[s] - 1 && t + 1 < OFF[s + 1];
            b.targets[t] = head ? b.tokens[t + 1] : -1;
            b.n += head;
        }
    return b;
}

// What the hooks saw: the layers done, in order, and the weight units asked for.
typedef struct {
    int layers[MAX_LAYERS], n_layers, units;
} Hooks;

static void layer_done(void *ctx, int l) {
    Hooks *h = ctx;
    cr_assert_lt(h->n_layers, MAX_LAYERS);
    h->layers[h->n_layers++] = l;
}

static void before_unit(void *ctx, int unit) {
    (void)unit;
    ((Hooks *)ctx)->units++;
}

// The forward of b, then its backward with the coefficients of b onto grads; what the backward's hooks saw.
static Hooks backward(Model *m, const Batch *b, bool with_entropy, double aux_w, float *grads) {
    Err e = {{0}};
    double logp[T_ALL], entropy[T_ALL];
    HeadLogprob h = {.targets = b->targets, .temperature = 0.9, .logp = logp, .entropy = entropy};
    ModelActs *acts;
    cr_assert_eq(model_forward_logprob(m, N_SEQS, OFF, b->tokens, &h, NULL, NULL, &acts, &e), 0, "%s", e.msg);
    Hooks seen = {.n_layers = 0};
    m->before_unit = before_unit, m->before_unit_ctx = &seen;
    cr_assert_eq(model_backward_logprob_hooked(m, acts, b->dlogp, with_entropy ? b->dh : NULL, aux_w, grads,
                                               layer_done, &seen, &e),
                 0, "%s", e.msg);
    m->before_unit = NULL, m->before_unit_ctx = NULL;
    model_acts_free(acts);
    return seen;
}

static void expect_layers_down(const Hooks *h, int L, const char *what) {
    cr_assert_eq(h->n_layers, L, "%s: %d layer hooks for %d layers", what, h->n_layers, L);
    for (int k = 0; k < L; k++) cr_assert_eq(h->layers[k], L - 1 - k, "%s: hook %d", what, k);
}

// A gradient of random values, a third of them +0.
static float *random_grads(size_t n, uint64_t seed) {
    float *g = xmalloc(n * sizeof *g);
    Rng r = rng_at(seed, 6, 0, 0);
    for (size_t i = 0; i < n; i++) g[i] = i % 3 ? (float)rng_normal(&r) : 0.0f;
    return g;
}

static void check(const char *const *sets, int n_sets, bool moe) {
    for (int fixed = 0; fixed <= 1; fixed++)
        for (int chunk = 7; chunk <= 1024; chunk += 1017) {
            Model m;
            tiny_model(&m, sets, n_sets, 70 + (uint64_t)fixed);
            m.fixed_order_backward = fixed, m.head_chunk = chunk;
            Batch b = batch(&m, 3);
            int L = m.cfg.num_hidden_layers;
            size_t n = m.n_params, bytes = n * sizeof(float);
            float *start = random_grads(n, 9), *g = xmalloc(bytes), *zero = xcalloc(n, sizeof *zero),
                  *gz = xcalloc(n, sizeof *gz);
            // In full: the products of zeros.
            m.skip_zero_backward = false;
            memcpy(g, start, bytes);
            Hooks full = backward(&m, &b, true, 0, g);
            cr_assert(full.units > 0, "the full backward asks for its weights");
            expect_layers_down(&full, L, "full");
            cr_assert(!memcmp(g, start, bytes), "fixed %d, chunk %d: a full backward of zeros changed a gradient bit",
                      fixed, chunk);
            backward(&m, &b, false, 0, gz);
            cr_assert(!memcmp(gz, zero, bytes), "fixed %d, chunk %d: a full backward of zeros left a -0 in a +0 "
                      "gradient", fixed, chunk);
            // Skipped.
            m.skip_zero_backward = true;
            Hooks skipped = backward(&m, &b, true, 0, g);
            cr_assert_eq(skipped.units, 0, "the skipped backward reads no weight");
            expect_layers_down(&skipped, L, "skipped");
            cr_assert(!memcmp(g, start, bytes));
            // A load-balancing loss counts only on a MoE model, where the full backward runs again.
            Hooks aux = backward(&m, &b, true, 0.3, g);
            cr_assert_eq(aux.units > 0, moe, "aux_weight 0.3: %d weight units asked for", aux.units);
            expect_layers_down(&aux, L, "aux");
            free(start), free(g), free(zero), free(gz);
            model_free(&m);
        }
}

Test(zero_backward, dense_qwen2) { check(TINY_QWEN2, N_OF(TINY_QWEN2), false); }
Test(zero_backward, dense_qwen3_tied) { check(TINY_QWEN3, N_OF(TINY_QWEN3), false); }
Test(zero_backward, moe_qwen2_shared_expert) { check(TINY_QWEN2_MOE, N_OF(TINY_QWEN2_MOE), true); }
Test(zero_backward, moe_qwen3) { check(TINY_QWEN3_MOE, N_OF(TINY_QWEN3_MOE), true); }

// One coefficient anywhere, of a log-prob or of an entropy, and the backward runs and changes the gradient.
Test(zero_backward, one_coefficient_counts) {
    Model m;
    tiny_model(&m, TINY_QWEN3, N_OF(TINY_QWEN3), 12);
    size_t bytes = m.n_params * sizeof(float);
    for (int which = 0; which < 4; which++) {
        Batch b = batch(&m, 4);
        int row = which % 2 ? b.n - 1 : 0;
        (which < 2 ? b.dlogp : b.dh)[row] = 0.25;
        float *g = xcalloc(m.n_params, sizeof *g), *zero = xcalloc(m.n_params, sizeof *zero);
        Hooks h = backward(&m, &b, true, 0, g);
        cr_assert(h.units > 0, "case %d: the backward ran", which);
        cr_assert(memcmp(g, zero, bytes), "case %d: the backward added to the gradient", which);
        if (which >= 2) {  // without its entropy coefficients the backward has none left
            memset(g, 0, bytes);
            cr_assert_eq(backward(&m, &b, false, 0, g).units, 0, "case %d: dentropy NULL, skipped", which);
        }
        free(g), free(zero);
    }
    model_free(&m);
}
