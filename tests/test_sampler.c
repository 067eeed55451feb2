// Rollout engine on tiny random models: greedy = argmax of the full-sequence forward, recorded logp/entropy/
// experts = training forward bit for bit (src/README.md invariant 2), independence of batching, KV chunking and threads,
// stop strings, first-token frequencies = model probabilities (chi-square), and a clear KV budget error.
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "model/logprob.h"
#include "model/matmul.h"
#include "model/model.h"
#include "rollout/sampler.h"
#include "text/tokenizer.h"

typedef struct {
    Config cfg;
    Model m;
    Tokenizer *tok;
} Fixture;

static void fixture_init(Fixture *f, bool moe, const char *const *extra, int n_extra) {
    const char *sets[32] = {"model.vocab_size=300",
                            "model.hidden_size=32",
                            "model.intermediate_size=48",
                            "model.num_hidden_layers=2",
                            "model.num_attention_heads=4",
                            "model.num_key_value_heads=2",
                            "model.max_position_embeddings=4096",
                            "model.init_std=0.5",
                            "rollout.max_new_tokens=20",
                            "rollout.n=3"};
    int n = 10;
    if (moe) {
        const char *moe_sets[] = {"model.type=qwen3_moe", "model.num_experts=4", "model.num_experts_per_tok=2",
                                  "model.moe_intermediate_size=16"};
        for (int i = 0; i < 4; i++) sets[n++] = moe_sets[i];
    }
    for (int i = 0; i < n_extra; i++) sets[n++] = extra[i];
    Err e = {{0}};
    cr_assert_eq(config_resolve(&f->cfg, NULL, sets, n, &e), 0, "%s", e.msg);
    memset(&f->m, 0, sizeof f->m);
    cr_assert_eq(model_create(&f->m, &f->cfg.model, &e), 0, "%s", e.msg);
    model_init_random(&f->m, 7);
    f->tok = tokenizer_create(&f->cfg.tokenizer, &e);
    cr_assert(f->tok, "%s", e.msg);
}

static void fixture_free(Fixture *f) {
    tokenizer_free(f->tok);
    model_free(&f->m);
}

// Three prompts of different lengths with global indices 10, 11, 12.
static const int32_t P0[] = {256, 'a', 'b', 'c'}, P1[] = {256, 'x'}, P2[] = {256, 'h', 'e', 'l', 'l', 'o', '!'};
static const int32_t *const PROMPTS[] = {P0, P1, P2};
static const int PLEN[] = {4, 2, 7};
static const int64_t GIDX[] = {10, 11, 12};

static void generate(Fixture *f, const RolloutConfig *rc, int64_t step, int first, int n, Rollout *out) {
    Err e = {{0}};
    cr_assert_eq(sampler_generate(&f->m, f->tok, rc, step, n, GIDX + first, PROMPTS + first, PLEN + first, out, &e), 0,
                 "%s", e.msg);
}

// Full-sequence training forward of prompt + response; logits [T, V] and experts [T, stride] malloc'd.
static void forward(Fixture *f, const int32_t *prompt, int plen, const Response *r, float **logits, int32_t **experts) {
    int T = plen + r->n_tokens, V = f->m.cfg.vocab_size, stride = f->m.moe ? 2 * 2 : 0;
    int32_t *seq = malloc((size_t)T * sizeof *seq);
    memcpy(seq, prompt, (size_t)plen * sizeof *seq);
    memcpy(seq + plen, r->tokens, (size_t)r->n_tokens * sizeof *seq);
    int64_t off[2] = {0, T};
    *logits = malloc((size_t)T * V * sizeof **logits);
    *experts = stride ? malloc((size_t)T * stride * sizeof **experts) : NULL;
    Err e = {{0}};
    cr_assert_eq(model_forward(&f->m, 1, off, seq, *logits, *experts, NULL, NULL, &e), 0, "%s", e.msg);
    free(seq);
}

// Recorded logp/entropy/experts equal those of the training forward, bit for bit.
static void expect_identity(Fixture *f, const Rollout *ro, int first, double temperature) {
    int V = f->m.cfg.vocab_size, stride = ro->experts_per_token;
    for (int i = 0; i < ro->n_responses; i++) {
        const Response *r = &ro->responses[i];
        int p = first + i / ro->group_size, plen = PLEN[p];
        float *logits;
        int32_t *experts;
        forward(f, PROMPTS[p], plen, r, &logits, &experts);
        for (int t = 0; t < r->n_tokens; t++) {
            double lp, h;
            logprob_entropy(logits + (size_t)(plen - 1 + t) * V, V, temperature, r->tokens[t], &lp, &h);
            cr_assert(lp == r->logp[t] && h == r->entropy[t], "response %d token %d: logp %.17g vs %.17g", i, t,
                      r->logp[t], lp);
            if (stride)
                cr_assert(!memcmp(r->experts + (size_t)t * stride, experts + (size_t)(plen - 1 + t) * stride,
                                  (size_t)stride * sizeof *experts),
                          "response %d token %d: experts differ from the forward's", i, t);
        }
        free(logits), free(experts);
    }
}

static void identity_case(bool moe) {
    Fixture f;
    const char *sets[] = {"rollout.temperature=0.8", "rollout.top_k=50"};
    fixture_init(&f, moe, sets, 2);
    Rollout ro;
    generate(&f, &f.cfg.rollout, 3, 0, 3, &ro);
    cr_assert_eq(ro.n_responses, 9);
    cr_assert_eq(ro.experts_per_token, moe ? 4 : 0);
    expect_identity(&f, &ro, 0, 0.8);
    rollout_free(&ro);
    fixture_free(&f);
}

Test(sampler, logp_entropy_match_training_forward_dense) { identity_case(false); }
Test(sampler, logp_entropy_experts_match_training_forward_moe) { identity_case(true); }

Test(sampler, greedy_is_argmax_of_full_forward_and_records_t1) {
    Fixture f;
    const char *sets[] = {"rollout.temperature=0", "rollout.n=2"};
    fixture_init(&f, false, sets, 2);
    Rollout ro;
    generate(&f, &f.cfg.rollout, 0, 0, 3, &ro);
    int V = f.m.cfg.vocab_size;
    for (int i = 0; i < ro.n_responses; i++) {
        const Response *r = &ro.responses[i], *twin = &ro.responses[i ^ 1];
        int p = i / 2;
        cr_assert(r->n_tokens == twin->n_tokens && !memcmp(r->tokens, twin->tokens, (size_t)r->n_tokens * 4),
                  "greedy samples of one prompt agree");
        float *logits;
        int32_t *experts;
        forward(&f, PROMPTS[p], PLEN[p], r, &logits, &experts);
        for (int t = 0; t < r->n_tokens; t++) {
            const float *l = logits + (size_t)(PLEN[p] - 1 + t) * V;
            int best = 0;
            for (int v = 1; v < V; v++)
                if (l[v] > l[best]) best = v;
            cr_assert_eq(r->tokens[t], best, "response %d token %d", i, t);
        }
        free(logits), free(experts);
    }
    expect_identity(&f, &ro, 0, 1.0);
    rollout_free(&ro);
    fixture_free(&f);
}

static void expect_same_response(const Response *a, const Response *b) {
    cr_assert_eq(a->prompt_index, b->prompt_index);
    cr_assert_eq(a->sample_index, b->sample_index);
    cr_assert_eq(a->finish, b->finish);
    cr_assert_eq(a->n_tokens, b->n_tokens);
    cr_assert(!memcmp(a->tokens, b->tokens, (size_t)a->n_tokens * sizeof *a->tokens));
    cr_assert(!memcmp(a->logp, b->logp, (size_t)a->n_tokens * sizeof *a->logp));
    cr_assert(!memcmp(a->entropy, b->entropy, (size_t)a->n_tokens * sizeof *a->entropy));
}

Test(sampler, responses_do_not_depend_on_batching_or_kv_chunks) {
    Fixture f;
    fixture_init(&f, true, NULL, 0);
    // A response length at which one group of 3 x (7 + L) positions takes over a third of a 2 MiB budget and at
    // most 1 MiB, so kv_cache_mb = 1 holds one group at a time (each prompt reuses the slots of the last) and
    // kv_cache_mb = 2 two (the third prompt takes the slots of whichever group finishes first, the other decoding on).
    RolloutConfig rc = f.cfg.rollout, small, pair;
    while (kv_cache_bytes(&f.m, 3, 7 + rc.max_new_tokens) <= (700u << 10)) rc.max_new_tokens += 20;
    cr_assert_leq(kv_cache_bytes(&f.m, 3, 7 + rc.max_new_tokens), 1u << 20);
    cr_assert_leq(7 + rc.max_new_tokens, f.m.cfg.max_position_embeddings);
    small = rc, small.kv_cache_mb = 1, pair = rc, pair.kv_cache_mb = 2;
    cr_assert_eq(sampler_prompts_that_fit(&f.m, &small, 7), 1);
    cr_assert_eq(sampler_prompts_that_fit(&f.m, &pair, 7), 2);
    Rollout all, one[3], chunked, paired;
    generate(&f, &rc, 5, 0, 3, &all);
    for (int p = 0; p < 3; p++) generate(&f, &rc, 5, p, 1, &one[p]);
    generate(&f, &small, 5, 0, 3, &chunked);
    generate(&f, &pair, 5, 0, 3, &paired);
    for (int i = 0; i < 9; i++) {
        expect_same_response(&all.responses[i], &one[i / 3].responses[i % 3]);
        expect_same_response(&all.responses[i], &chunked.responses[i]);
        expect_same_response(&all.responses[i], &paired.responses[i]);
    }
    rollout_free(&paired);
    Rollout threads;  // tokens are chosen in parallel: another thread count, the same responses
    omp_set_num_threads(3);
    generate(&f, &rc, 5, 0, 3, &threads);
    omp_set_num_threads(1);
    for (int i = 0; i < 9; i++) expect_same_response(&all.responses[i], &threads.responses[i]);
    rollout_free(&threads);
    Rollout again;
    generate(&f, &rc, 6, 0, 3, &again);
    int differ = 0;
    for (int i = 0; i < 9; i++)
        differ += again.responses[i].n_tokens != all.responses[i].n_tokens ||
                  memcmp(again.responses[i].tokens, all.responses[i].tokens, 4 * (size_t)all.responses[i].n_tokens);
    cr_expect_gt(differ, 0, "another step draws other responses");
    rollout_free(&all), rollout_free(&chunked), rollout_free(&again);
    for (int p = 0; p < 3; p++) rollout_free(&one[p]);
    fixture_free(&f);
}

// Three groups of 8 decode 24 rows at once, from the packed copy of the weights (model_pack_weights) where the build
// makes one: the responses those of rollout.pack_weights = false bit for bit, and of the training forward; the rollout
// says which read the copy.
Test(sampler, packed_weights_give_the_same_responses) {
    if (!matmul_pack_supported()) cr_skip_test("this build's MARCH has no AVX-512: no packed weights (tests/unit_isa.sh)");
    Fixture f;
    const char *sets[] = {"rollout.n=8", "rollout.temperature=0.8"};
    fixture_init(&f, false, sets, 2);
    RolloutConfig plain = f.cfg.rollout;
    plain.pack_weights = false;
    cr_assert(f.cfg.rollout.pack_weights, "on by default");
    Rollout packed, unpacked;
    generate(&f, &f.cfg.rollout, 4, 0, 3, &packed);
    generate(&f, &plain, 4, 0, 3, &unpacked);
    cr_assert_gt(packed.packed_bytes, 0);
    cr_assert_eq(packed.packed_bytes, model_pack_bytes(&f.m));
    cr_assert_eq(unpacked.packed_bytes, 0);
    for (int i = 0; i < 24; i++) expect_same_response(&packed.responses[i], &unpacked.responses[i]);
    expect_identity(&f, &packed, 0, 0.8);
    rollout_free(&packed), rollout_free(&unpacked);
    fixture_free(&f);
}

Test(sampler, stop_string_ends_the_response_and_stays_in_it) {
    Fixture f;
    fixture_init(&f, false, NULL, 0);
    Rollout ro;
    generate(&f, &f.cfg.rollout, 1, 0, 3, &ro);
    // Pick a printable token in the middle of some response as the stop string.
    int which = -1, at = -1;
    for (int i = 0; i < ro.n_responses && which < 0; i++)
        for (int t = 2; t < ro.responses[i].n_tokens; t++) {
            int32_t c = ro.responses[i].tokens[t];
            if (c >= 'A' && c <= 'z' && c != '\\' && c != '|') {
                which = i, at = t;
                break;
            }
        }
    cr_assert_geq(which, 0, "no printable token in the responses of this seed");
    const Response *full = &ro.responses[which];
    RolloutConfig rc = f.cfg.rollout;
    snprintf(rc.stop, sizeof rc.stop, "zzz|%c", (char)full->tokens[at]);
    Rollout stopped;
    generate(&f, &rc, 1, 0, 3, &stopped);
    const Response *s = &stopped.responses[which];
    // The first token whose text holds the stop character (special tokens render as names with letters).
    int first = 0;
    char buf[32];
    for (;; first++) {
        int n = tokenizer_token_bytes(f.tok, full->tokens[first], buf, sizeof buf);
        if (n > 0 && memchr(buf, (char)full->tokens[at], (size_t)n)) break;
    }
    cr_assert_eq(s->finish, FINISH_STOP);
    cr_assert_eq(s->n_tokens, first + 1, "ends at the first occurrence, stop token included");
    cr_assert(!memcmp(s->tokens, full->tokens, (size_t)s->n_tokens * sizeof *s->tokens), "same prefix");
    rollout_free(&ro), rollout_free(&stopped);
    fixture_free(&f);
}

// Chi-square of counts of G draws against softmax(logits / T) in float64, tokens pooled in id order into
// bins of >= 20 expected draws.
static double pooled_chi_square(const float *l, int V, double T, const int *count, int G, int *bins) {
    double x2 = 0, bin_p = 0, z = 0;
    int bin_n = 0;
    *bins = 0;
    for (int v = 0; v < V; v++) z += exp((double)l[v] / T);
    for (int v = 0; v < V; v++) {
        bin_p += exp((double)l[v] / T) / z, bin_n += count[v];
        if (G * bin_p >= 20 || v == V - 1) {
            x2 += (bin_n - G * bin_p) * (bin_n - G * bin_p) / (G * bin_p);
            ++*bins, bin_p = 0, bin_n = 0;
        }
    }
    return x2;
}

Test(sampler, first_token_frequencies_match_model_probabilities) {
    enum { G = 6000 };
    Fixture f;
    const char *sets[] = {"rollout.max_new_tokens=1", "rollout.n=6000"};
    fixture_init(&f, false, sets, 2);
    Rollout ro;
    generate(&f, &f.cfg.rollout, 0, 1, 1, &ro);
    int V = f.m.cfg.vocab_size, *count = calloc((size_t)V, sizeof *count);
    for (int i = 0; i < G; i++) {
        cr_assert_eq(ro.responses[i].finish, ro.responses[i].tokens[0] == 257 ? FINISH_EOS : FINISH_LENGTH);
        count[ro.responses[i].tokens[0]]++;
    }
    float *logits;
    int32_t *experts;
    forward(&f, P1, 2, &ro.responses[0], &logits, &experts);
    const float *l = logits + (size_t)(2 - 1) * V;
    int bins;
    double x2 = pooled_chi_square(l, V, 1.0, count, G, &bins);
    // Wilson-Hilferty 0.999 quantile of chi-square with k = bins - 1 degrees of freedom.
    double k = bins - 1, q = k * pow(1 - 2 / (9 * k) + 3.0902 * sqrt(2 / (9 * k)), 3);
    cr_expect_lt(x2, q, "chi-square %.1f over %d bins (0.999 quantile %.1f)", x2, bins, q);
    cr_expect_gt(bins, 20, "a spread-out distribution (%d bins)", bins);
    int bins_wrong;
    double x2_wrong = pooled_chi_square(l, V, 1.3, count, G, &bins_wrong);
    cr_expect_gt(x2_wrong, 3 * q, "the test has power against temperature 1.3 (chi-square %.1f)", x2_wrong);
    free(count), free(logits), free(experts);
    rollout_free(&ro);
    fixture_free(&f);
}

Test(sampler, kv_budget_too_small_is_a_clear_error) {
    Fixture f;
    const char *sets[] = {"rollout.kv_cache_mb=1", "rollout.n=64", "rollout.max_new_tokens=240"};
    fixture_init(&f, false, sets, 3);
    Rollout ro;
    Err e = {{0}};
    cr_assert_eq(sampler_generate(&f.m, f.tok, &f.cfg.rollout, 0, 3, GIDX, PROMPTS, PLEN, &ro, &e), -1);
    cr_expect(strstr(e.msg, "kv_cache_mb = 1 is too small for one group: 64 samples x 247 positions"), "%s", e.msg);
    cr_expect_eq(ro.n_responses, 0);
    fixture_free(&f);
}

Test(sampler, bad_prompts_are_clear_errors) {
    Fixture f;
    fixture_init(&f, false, NULL, 0);
    Rollout ro;
    Err e = {{0}};
    const int32_t bad[] = {256, 300};
    const int32_t *p[] = {bad};
    int len = 2;
    int64_t gi = 4;
    cr_assert_eq(sampler_generate(&f.m, f.tok, &f.cfg.rollout, 0, 1, &gi, p, &len, &ro, &e), -1);
    cr_expect(strstr(e.msg, "prompt 4 token 1: id 300 is outside the vocabulary [0, 300)"), "%s", e.msg);
    len = 4090;
    cr_assert_eq(sampler_generate(&f.m, f.tok, &f.cfg.rollout, 0, 1, &gi, p, &len, &ro, &e), -1);
    cr_expect(strstr(e.msg, "exceed [model] max_position_embeddings 4096"), "%s", e.msg);
    fixture_free(&f);
}

Test(sampler, eos_ends_the_response_and_is_recorded) {
    Fixture f;
    const char *sets[] = {"rollout.temperature=0", "model.tie_word_embeddings=false", "rollout.n=2"};
    fixture_init(&f, false, sets, 3);
    Rollout ro;
    generate(&f, &f.cfg.rollout, 0, 1, 1, &ro);
    int32_t first = ro.responses[0].tokens[0], eos = tokenizer_eos(f.tok);
    cr_assert_neq(first, eos);
    rollout_free(&ro);
    // Swap the LM-head rows of the greedy first token and EOS: EOS becomes the argmax after the prompt.
    const ModelTensor *head = model_tensor(&f.m, "lm_head.weight");
    cr_assert(head);
    int D = (int)head->shape[1];
    float *w = f.m.params + head->offset, tmp;
    for (int d = 0; d < D; d++)
        tmp = w[(size_t)first * D + d], w[(size_t)first * D + d] = w[(size_t)eos * D + d], w[(size_t)eos * D + d] = tmp;
    generate(&f, &f.cfg.rollout, 0, 1, 1, &ro);
    for (int j = 0; j < 2; j++) {
        cr_expect_eq(ro.responses[j].finish, FINISH_EOS);
        cr_expect_eq(ro.responses[j].n_tokens, 1, "EOS is the last (and only) token");
        cr_expect_eq(ro.responses[j].tokens[0], eos);
        cr_expect(ro.responses[j].logp[0] < 0 && ro.responses[j].entropy[0] > 0);
    }
    expect_identity(&f, &ro, 1, 1.0);
    rollout_free(&ro);
    fixture_free(&f);
}
