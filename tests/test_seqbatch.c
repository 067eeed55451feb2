// The training micro-batch: response log-probs come from the logit row before each response token (checked
// against a forward of each sequence alone, bit for bit), and the backward of Σ w·logp + v·H matches central
// finite differences in float64.
#include <string.h>

#include "model/logprob.h"
#include "model/seqbatch.h"
#include "model_testutil.h"

static const int32_t P0[] = {1, 7, 9}, R0[] = {4, 4, 2, 11}, P1[] = {3, 5}, R1[] = {6, 8, 1, 2, 10};
#define TEMP 0.7

static void two_sequences(SeqBatch *b) {
    memset(b, 0, sizeof *b);
    seqbatch_add(b, P0, 3, R0, 4);
    seqbatch_add(b, P1, 2, R1, 5);
}

Test(seqbatch, logp_rows_match_single_sequence_forward) {
    Model m;
    tiny_model(&m, TINY_QWEN3, N_OF(TINY_QWEN3), 3);
    SeqBatch b;
    two_sequences(&b);
    cr_assert_eq(seqbatch_resp_tokens(&b), 9);
    double logp[9], ent[9];
    SeqForward f;
    Err e;
    cr_assert_eq(seqbatch_forward(&m, &b, TEMP, false, logp, ent, &f, &e), 0, "%s", e.msg);
    seqforward_free(&f);
    // Sequence 1 alone: prompt ++ response, response token j predicted by row (prompt_len + j - 1).
    int32_t toks[7];
    memcpy(toks, P1, sizeof P1), memcpy(toks + 2, R1, sizeof R1);
    int64_t off[2] = {0, 7};
    int V = m.cfg.vocab_size;
    float *logits = xmalloc((size_t)7 * V * sizeof *logits);
    cr_assert_eq(model_forward(&m, 1, off, toks, logits, NULL, NULL, NULL, &e), 0, "%s", e.msg);
    for (int j = 0; j < 5; j++) {
        double lp, h;
        logprob_entropy(logits + (size_t)(1 + j) * V, V, TEMP, R1[j], &lp, &h);
        cr_expect(lp == logp[4 + j] && h == ent[4 + j], "token %d: %.17g vs %.17g", j, lp, logp[4 + j]);
    }
    free(logits);
    seqbatch_free(&b);
    model_free(&m);
}

static double objective(Model *m, const SeqBatch *b, const double *w, const double *v) {
    double logp[9], ent[9], s = 0;
    SeqForward f;
    Err e;
    cr_assert_eq(seqbatch_forward(m, b, TEMP, false, logp, ent, &f, &e), 0, "%s", e.msg);
    seqforward_free(&f);
    for (int j = 0; j < 9; j++) s += w[j] * logp[j] + v[j] * ent[j];
    return s;
}

Test(seqbatch, backward_matches_finite_differences) {
    Model m;
    tiny_model(&m, TINY_QWEN3, N_OF(TINY_QWEN3), 4);
    SeqBatch b;
    two_sequences(&b);
    double w[9], v[9], logp[9], ent[9];
    Rng r = rng_at(5, 0, 0, 0);
    for (int j = 0; j < 9; j++) w[j] = rng_normal(&r), v[j] = 0.5 * rng_normal(&r);
    SeqForward f;
    Err e;
    float *grads = xcalloc(m.n_params, sizeof *grads);
    cr_assert_eq(seqbatch_forward(&m, &b, TEMP, true, logp, ent, &f, &e), 0, "%s", e.msg);
    cr_assert_eq(seqbatch_backward(&m, &b, &f, TEMP, w, v, 0.0, grads, &e), 0, "%s", e.msg);
    int checked = 0;
    for (int i = 0; i < m.n_tensors; i++) {
        const ModelTensor *t = &m.tensors[i];
        double max_g = 0;
        for (size_t k = 0; k < t->numel; k++) max_g = fmax(max_g, fabs(grads[t->offset + k]));
        for (int sample = 0; sample < 3; sample++) {
            size_t k = t->offset + (size_t)rng_below(&r, t->numel);
            float p0 = m.params[k], eps = 1e-2f;
            m.params[k] = p0 + eps;
            double lp = objective(&m, &b, w, v);
            float up = m.params[k];
            m.params[k] = p0 - eps;
            double lm = objective(&m, &b, w, v);
            float down = m.params[k];
            m.params[k] = p0;
            double fd = (lp - lm) / ((double)up - down);
            cr_expect(fabs(fd - grads[k]) <= 2e-2 * fabs(fd) + 1e-3 * max_g + 1e-4, "%s[%zu]: analytic %.6g vs fd %.6g",
                      t->name, k - t->offset, grads[k], fd);
            checked++;
        }
    }
    cr_expect(checked > 20);
    free(grads);
    seqbatch_free(&b);
    model_free(&m);
}

// The FLOPs of a log-prob forward, counted product by product from the shapes (2 per multiply-add): per token and
// layer q, k, v, o and the MLP's gate, up and down, and attention over the token's own causal context (scores and
// weighted values); the LM head on the 9 response rows only.
Test(seqbatch, forward_flops_count_every_product) {
    Model m;
    tiny_model(&m, TINY_QWEN3, N_OF(TINY_QWEN3), 3);
    const ModelConfig *c = &m.cfg;
    double D = c->hidden_size, qd = (double)c->num_attention_heads * c->head_dim;
    double kd = (double)c->num_key_value_heads * c->head_dim, F = c->intermediate_size, V = c->vocab_size;
    double per_layer = D * qd + 2 * D * kd + qd * D + 3 * D * F, want = 9 * 2 * V * D;
    const int len[2] = {3 + 4, 2 + 5};
    for (int s = 0; s < 2; s++)
        for (int p = 0; p < len[s]; p++) want += c->num_hidden_layers * 2 * (per_layer + 2 * qd * (p + 1));
    SeqBatch b;
    two_sequences(&b);
    cr_expect_float_eq(seqbatch_forward_flops(&m, &b), want, 1e-12 * want);
    seqbatch_free(&b);
    model_free(&m);
}
