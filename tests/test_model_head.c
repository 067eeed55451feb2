// The LM head in chunks of rows (model/model_head.c) against the unchunked head: model_forward's [T, V] logits through
// the CPU's log-prob (model/logprob.c) and model_backward from the dlogits logprob_entropy_backward gives. Log-probs,
// entropies and every parameter gradient must be the same bits for every chunk size (1, 7, T, more than T), on
// dense and MoE models, the tied head included, for SFT's gradient (dlogp only) and RL's (dlogp and dentropy, some
// rows zero), with the fixed-order backward products (dist.deterministic). With OpenBLAS's (fast mode), whose order
// of summation depends on the shapes, a chunk of T rows or more gives the same bits (the same products) and smaller
// chunks the same gradient within rounding.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "model/backend.h"
#include "model/logprob.h"
#include "model_testutil.h"

enum { N_SEQS = 3, T_ALL = 54 };
static const int64_t OFF[N_SEQS + 1] = {0, 20, 29, 54};
static const int PROMPT[N_SEQS] = {6, 9, 4};  // the second sequence has no response
static const double TEMP = 0.8;

typedef struct {
    int32_t tokens[T_ALL], targets[T_ALL];
    int n;  // rows with a target
    double dlogp[T_ALL], dh[T_ALL];
} Batch;

// Rows from PROMPT[s] - 1 to the sequence's second-last row predict the next token; the rest predict nothing.
static Batch batch(const Model *m, bool rl, uint64_t seed) {
    Batch b = {.n = 0};
    Rng r = rng_at(seed, 3, 0, 0);
    for (int t = 0; t < T_ALL; t++) b.tokens[t] = (int32_t)rng_below(&r, (uint64_t)m->cfg.vocab_size);
    for (int s = 0; s < N_SEQS; s++)
        for (int64_t t = OFF[s]; t < OFF[s + 1]; t++) {
            bool head = t >= OFF[s] + PROMPT[s] - 1 && t + 1 < OFF[s + 1];
            b.targets[t] = head ? b.tokens[t + 1] : -1;
            if (!head) continue;
            b.dlogp[b.n] = rl ? (b.n % 5 == 2 ? 0.0 : rng_normal(&r)) : -1.0 / 40;
            b.dh[b.n] = rl && b.n % 3 != 1 ? 0.5 * rng_normal(&r) : 0.0;
            b.n++;
        }
    return b;
}

typedef struct {
    double logp[T_ALL], entropy[T_ALL];
    float *grads;
} Result;

static Result unchunked(Model *m, const Batch *b, bool rl, double aux_w) {
    Err e = {{0}};
    int V = m->cfg.vocab_size;
    Result res = {.grads = xcalloc(m->n_params, sizeof(float))};
    float *logits = xcalloc((size_t)T_ALL * V, sizeof(float)), *dlogits = xcalloc((size_t)T_ALL * V, sizeof(float));
    ModelActs *acts;
    cr_assert_eq(model_forward(m, N_SEQS, OFF, b->tokens, logits, NULL, NULL, &acts, &e), 0, "%s", e.msg);
    for (int t = 0, k = 0; t < T_ALL; t++) {
        if (b->targets[t] < 0) continue;
        const float *z = logits + (size_t)t * V;
        logprob_entropy(z, V, TEMP, b->targets[t], &res.logp[k], &res.entropy[k]);
        double dh = rl ? b->dh[k] : 0.0;
        if (b->dlogp[k] != 0 || dh != 0)
            logprob_entropy_backward(z, V, TEMP, b->targets[t], b->dlogp[k], dh, dlogits + (size_t)t * V);
        k++;
    }
    cr_assert_eq(model_backward(m, acts, dlogits, aux_w, res.grads, &e), 0, "%s", e.msg);
    model_acts_free(acts);
    free(logits), free(dlogits);
    return res;
}

static Result chunked(Model *m, const Batch *b, bool rl, double aux_w, int chunk) {
    Err e = {{0}};
    Result res = {.grads = xcalloc(m->n_params, sizeof(float))};
    m->head_chunk = chunk;
    HeadLogprob h = {.targets = b->targets, .temperature = TEMP, .logp = res.logp, .entropy = res.entropy};
    ModelActs *acts;
    cr_assert_eq(model_forward_logprob(m, N_SEQS, OFF, b->tokens, &h, NULL, NULL, &acts, &e), 0, "%s", e.msg);
    cr_assert_eq(model_backward_logprob_hooked(m, acts, b->dlogp, rl ? b->dh : NULL, aux_w, res.grads, NULL, NULL, &e),
                 0, "%s", e.msg);
    model_acts_free(acts);
    m->head_chunk = MODEL_HEAD_CHUNK;
    return res;
}

// Every chunk size against the unchunked head, on one backend, in one mode, for one kind of gradient.
static void check_one(const char *const *sets, int n_sets, double aux_w, const Backend *be, bool fixed, bool rl) {
    static const int CHUNKS[] = {1, 7, T_ALL, T_ALL + 5};
    Model m;
    tiny_model(&m, sets, n_sets, 40 + (uint64_t)rl);
    m.backend = be;
    m.fixed_order_backward = fixed;
    Batch b = batch(&m, rl, 7 + (uint64_t)rl);
    Result want = unchunked(&m, &b, rl, aux_w);
    double scale = 0;
    for (size_t i = 0; i < m.n_params; i++) scale = fmax(scale, fabs(want.grads[i]));
    cr_assert_gt(scale, 0, "the gradient is zero: the check would prove nothing");
    const char *what = rl ? "RL" : "SFT", *how = be->matmul_dx_slice ? "one pass" : "two passes";
    for (size_t c = 0; c < sizeof CHUNKS / sizeof CHUNKS[0]; c++) {
        Result got = chunked(&m, &b, rl, aux_w, CHUNKS[c]);
        cr_assert_eq(memcmp(got.logp, want.logp, (size_t)b.n * sizeof(double)), 0, "%s chunk %d: logp", what,
                     CHUNKS[c]);
        cr_assert_eq(memcmp(got.entropy, want.entropy, (size_t)b.n * sizeof(double)), 0, "%s chunk %d: entropy",
                     what, CHUNKS[c]);
        size_t bad = 0, first = 0;
        double diff = 0;
        for (size_t i = m.n_params; i-- > 0;)
            if (memcmp(&got.grads[i], &want.grads[i], sizeof(float)))
                bad++, first = i, diff = fmax(diff, fabs((double)got.grads[i] - want.grads[i]));
        if (fixed || CHUNKS[c] >= T_ALL)
            cr_assert_eq(bad, 0, "%s, %s, chunk %d fixed %d: %zu gradient elements differ (first at %zu: %a vs %a)",
                         what, how, CHUNKS[c], fixed, bad, first, got.grads[first], want.grads[first]);
        else  // OpenBLAS sums in an order of its own for each shape: rounding apart
            cr_assert_leq(diff, 1e-5 * scale, "%s, %s, chunk %d: gradient off by %g (scale %g)", what, how,
                          CHUNKS[c], diff, scale);
        free(got.grads);
    }
    free(want.grads);
    model_free(&m);
}

// The CPU backend's one pass over vocabulary slices, and the two passes of a backend without matmul_dx_slice (the
// CUDA backend's), each in fast and deterministic mode, for SFT and RL.
static void check(const char *const *sets, int n_sets, double aux_w) {
    Backend twice = *backend_cpu();
    twice.matmul_dx_slice = NULL;
    const Backend *backends[] = {backend_cpu(), &twice};
    for (int be = 0; be < 2; be++)
        for (int fixed = 0; fixed < 2; fixed++)
            for (int rl = 0; rl < 2; rl++) check_one(sets, n_sets, aux_w, backends[be], fixed, rl);
}

Test(model_head, dense_qwen2_untied_bias) { check(TINY_QWEN2, N_OF(TINY_QWEN2), 0); }
Test(model_head, dense_qwen3_tied) { check(TINY_QWEN3, N_OF(TINY_QWEN3), 0); }
Test(model_head, moe_qwen2_shared_expert) { check(TINY_QWEN2_MOE, N_OF(TINY_QWEN2_MOE), 0.7); }
Test(model_head, moe_qwen3_untied) { check(TINY_QWEN3_MOE, N_OF(TINY_QWEN3_MOE), 0.7); }

// Bad input is refused with a message naming it, before anything runs.
Test(model_head, bad_target_and_temperature_refused) {
    Model m;
    Err e = {{0}};
    tiny_model(&m, TINY_QWEN3, N_OF(TINY_QWEN3), 5);
    Batch b = batch(&m, false, 1);
    double lp[T_ALL];
    b.targets[30] = m.cfg.vocab_size;
    HeadLogprob h = {.targets = b.targets, .temperature = TEMP, .logp = lp};
    cr_assert_eq(model_forward_logprob(&m, N_SEQS, OFF, b.tokens, &h, NULL, NULL, NULL, &e), -1);
    cr_assert(strstr(e.msg, "target 61 of row 30"), "%s", e.msg);
    b.targets[30] = -1, h.temperature = 0;
    cr_assert_eq(model_forward_logprob(&m, N_SEQS, OFF, b.tokens, &h, NULL, NULL, NULL, &e), -1);
    cr_assert(strstr(e.msg, "temperature 0"), "%s", e.msg);
    model_free(&m);
}
