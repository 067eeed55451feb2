// Model layout, init and bit-exact batch / decode invariance (src/README.md invariant 2).
#include <omp.h>
#include <string.h>
#include <unistd.h>

#include "io/h5io.h"
#include "io/model_h5.h"
#include "model/matmul.h"
#include "model/model_internal.h"
#include "model_testutil.h"

Test(model, tensor_table_names_and_layout) {
    Model m;
    tiny_model(&m, TINY_QWEN2_MOE, N_OF(TINY_QWEN2_MOE), 1);
    const ModelTensor *t = model_tensor(&m, "model.layers.1.mlp.experts.down_proj");
    cr_assert(t && t->ndim == 3 && t->shape[0] == 4 && t->shape[1] == 16 && t->shape[2] == 12);
    cr_assert(model_tensor(&m, "model.layers.0.self_attn.q_proj.bias"));
    cr_assert(model_tensor(&m, "model.layers.0.mlp.shared_expert_gate.weight")->shape[0] == 1);
    cr_assert_null(model_tensor(&m, "lm_head.weight"));  // tied
    cr_assert_null(model_tensor(&m, "model.layers.0.self_attn.q_norm.weight"));
    size_t total = 0;
    for (int i = 0; i < m.n_tensors; i++) {
        cr_assert_eq(m.tensors[i].offset, total, "%s not contiguous", m.tensors[i].name);
        total += m.tensors[i].numel;
    }
    cr_assert_eq(total, m.n_params);
    model_free(&m);
}

Test(model, init_is_seeded_and_hf_config_round_trips) {
    Model a, b;
    tiny_model(&a, TINY_QWEN3, N_OF(TINY_QWEN3), 5);
    tiny_model(&b, TINY_QWEN3, N_OF(TINY_QWEN3), 5);
    cr_assert_eq(memcmp(a.params, b.params, a.n_params * sizeof(float)), 0);
    model_init_random(&b, 6);
    cr_assert_neq(memcmp(a.params, b.params, a.n_params * sizeof(float)), 0);
    char *json = model_hf_config_json(&a);
    ModelConfig c;
    Err e = {{0}};
    cr_assert_eq(model_config_from_hf_json(json, &c, &e), 0, "%s", e.msg);
    cr_assert(c.type == MODEL_QWEN3 && c.hidden_size == 16 && c.head_dim == 6 && c.qk_norm && c.vocab_size == 61);
    free(json);
    // A Hugging Face Qwen2 config.json (no rlvr_ keys): family defaults apply.
    const char *qwen2 =
        "{\"model_type\":\"qwen2\",\"vocab_size\":151936,\"hidden_size\":896,\"intermediate_size\":4864,"
        "\"num_hidden_layers\":24,\"num_attention_heads\":14,\"num_key_value_heads\":2,\"rope_theta\":1000000.0,"
        "\"rms_norm_eps\":1e-06,\"tie_word_embeddings\":true,\"rope_scaling\":null,\"head_dim\":null}";
    cr_assert_eq(model_config_from_hf_json(qwen2, &c, &e), 0, "%s", e.msg);
    cr_assert(c.attention_bias && !c.qk_norm && c.tie_word_embeddings && c.rope_theta == 1e6 && c.head_dim == 0);
    cr_assert_neq(model_config_from_hf_json("{\"model_type\":\"qwen3\",\"vocab_size\":\"x\"}", &c, &e), 0);
    cr_assert(strstr(e.msg, "vocab_size"), "%s", e.msg);
    cr_assert_neq(model_config_from_hf_json("{\"model_type\":\"llama\"}", &c, &e), 0);
    cr_assert(strstr(e.msg, "model_type"));
    model_free(&a);
    model_free(&b);
}

// 8 sequences of different lengths from one RNG stream.
static int64_t batch_tokens(int32_t *tok, int64_t *off, int n, int vocab) {
    static const int lens[8] = {5, 1, 9, 3, 12, 7, 2, 6};
    Rng r = rng_at(42, 0, 0, 0);
    off[0] = 0;
    for (int s = 0; s < n; s++) {
        off[s + 1] = off[s] + lens[s];
        for (int64_t t = off[s]; t < off[s + 1]; t++) tok[t] = (int32_t)rng_below(&r, (uint64_t)vocab);
    }
    return off[n];
}

static void check_invariance(const char *const *sets, int n_sets) {
    Model m;
    Err e = {{0}};
    tiny_model(&m, sets, n_sets, 3);
    int V = m.cfg.vocab_size, L = m.cfg.num_hidden_layers, K = m.moe ? m.cfg.num_experts_per_tok : 1;
    int32_t tok[64];
    int64_t off[9];
    int64_t T = batch_tokens(tok, off, 8, V);
    float *full = xmalloc((size_t)T * V * sizeof(float)), *one = xmalloc((size_t)T * V * sizeof(float));
    int32_t *ex_full = xcalloc((size_t)T * L * K, sizeof(int32_t)),
            *ex_one = xcalloc((size_t)T * L * K, sizeof(int32_t));
    omp_set_num_threads(3);  // the batch on 3 threads, everything else on 1: thread count must not matter either
    cr_assert_eq(model_forward(&m, 8, off, tok, full, m.moe ? ex_full : NULL, NULL, NULL, &e), 0, "%s", e.msg);
    omp_set_num_threads(1);
    // Each sequence alone.
    for (int s = 0; s < 8; s++) {
        int64_t so[2] = {0, off[s + 1] - off[s]};
        cr_assert_eq(model_forward(&m, 1, so, tok + off[s], one, m.moe ? ex_one : NULL, NULL, NULL, &e), 0);
        cr_assert_eq(memcmp(one, full + off[s] * V, (size_t)so[1] * V * sizeof(float)), 0, "sequence %d alone differs",
                     s);
        if (m.moe) cr_assert_eq(memcmp(ex_one, ex_full + off[s] * L * K, (size_t)so[1] * L * K * 4), 0);
    }
    // Decode: slot s gets its sequence in chunks of 1, 2, 3, ... tokens, slots interleaved in each call. On 3 threads,
    // so that calls of one or two tokens split their query heads over tasks (attention.c's spans), one token's into
    // heads {0}, {1}, {2, 3}: two tasks then share a key head.
    omp_set_num_threads(3);
    KVCache *c = kv_cache_create(&m, 8, 16, &e);
    cr_assert(c, "%s", e.msg);
    int done[8] = {0}, slots[64], pos[64];
    int32_t step_tok[64];
    float *logits = xmalloc((size_t)64 * V * sizeof(float));
    int32_t *ex = xcalloc((size_t)64 * L * K, sizeof(int32_t));
    for (int round = 1, left = 1; left; round++) {
        int n = 0;
        left = 0;
        for (int s = 7; s >= 0; s--)
            for (int k = 0; k < round && done[s] + k < off[s + 1] - off[s]; k++) {
                slots[n] = s, pos[n] = done[s] + k, step_tok[n] = tok[off[s] + done[s] + k];
                n++;
            }
        cr_assert_eq(model_decode(&m, c, n, slots, pos, step_tok, logits, m.moe ? ex : NULL, &e), 0, "%s", e.msg);
        for (int i = 0; i < n; i++) {
            int64_t t = off[slots[i]] + pos[i];
            cr_assert_eq(memcmp(logits + (size_t)i * V, full + t * V, V * sizeof(float)), 0,
                         "decode round %d slot %d pos %d differs from the training forward", round, slots[i], pos[i]);
            if (m.moe) cr_assert_eq(memcmp(ex + (size_t)i * L * K, ex_full + t * L * K, (size_t)L * K * 4), 0);
        }
        for (int s = 0; s < 8; s++) {
            int64_t len = off[s + 1] - off[s];
            done[s] = done[s] + round < len ? done[s] + round : (int)len;
            left |= done[s] < len;
        }
    }
    // A prefix copied to another slot continues identically.
    kv_cache_copy(c, 0, 4, 6);
    slots[0] = 0, pos[0] = 6, step_tok[0] = tok[off[4] + 6];
    cr_assert_eq(model_decode(&m, c, 1, slots, pos, step_tok, logits, NULL, &e), 0);
    cr_assert_eq(memcmp(logits, full + (off[4] + 6) * V, V * sizeof(float)), 0);
    kv_cache_free(c);
    omp_set_num_threads(1);
    free(full), free(one), free(logits), free(ex), free(ex_full), free(ex_one);
    model_free(&m);
}

// A prompt prefilled in slot 0 and copied to slots 1 and 2 (a group), whose attention may then read slot 0's rows;
// then slot 0 prefilled with another prompt in the same call as the others' next tokens, and slot 1's prompt copied
// on to slot 3. Every logit row must have the bits of its sequence's training forward: a slot reading rows that were
// since rewritten would not.
enum { P = 6, Q = 5, C = 5 };
typedef struct {
    int32_t tok[P + C];
    float *ref;  // [P + C, V] the training forward's logits
    int len, done;
} GroupSeq;

static void group_seq(const Model *m, GroupSeq *s, const int32_t *prompt, int plen, Rng *r) {
    int V = m->cfg.vocab_size;
    Err e = {{0}};
    memcpy(s->tok, prompt, (size_t)plen * sizeof *prompt);
    for (int i = plen; i < plen + C; i++) s->tok[i] = (int32_t)rng_below(r, (uint64_t)V);
    s->len = plen + C, s->done = 0;
    s->ref = xmalloc((size_t)s->len * V * sizeof(float));
    int64_t off[2] = {0, s->len};
    cr_assert_eq(model_forward((Model *)m, 1, off, s->tok, s->ref, NULL, NULL, NULL, &e), 0, "%s", e.msg);
}

// One model_decode call: `count[i]` next tokens of slot i's sequence, for the slots listed; checks every row.
static void group_step(Model *m, KVCache *c, GroupSeq *seq, const int *slot_list, const int *count, int n_list) {
    int V = m->cfg.vocab_size, slots[32], pos[32], n = 0;
    int32_t tok[32];
    Err e = {{0}};
    for (int i = 0; i < n_list; i++)
        for (int k = 0; k < count[i]; k++, n++) {
            GroupSeq *s = &seq[slot_list[i]];
            slots[n] = slot_list[i], pos[n] = s->done + k, tok[n] = s->tok[s->done + k];
        }
    float *logits = xmalloc((size_t)n * V * sizeof(float));
    cr_assert_eq(model_decode(m, c, n, slots, pos, tok, logits, NULL, &e), 0, "%s", e.msg);
    for (int i = 0; i < n; i++)
        cr_assert_eq(memcmp(logits + (size_t)i * V, seq[slots[i]].ref + (size_t)pos[i] * V, V * sizeof(float)), 0,
                     "slot %d position %d differs from the training forward", slots[i], pos[i]);
    for (int i = 0; i < n_list; i++) seq[slot_list[i]].done += count[i];
    free(logits);
}

static void check_group_copies(const char *const *sets, int n_sets) {
    Model m;
    Err e = {{0}};
    tiny_model(&m, sets, n_sets, 7);
    Rng r = rng_at(7, 2, 0, 0);
    int32_t prompt[P], other[Q];
    for (int i = 0; i < P; i++) prompt[i] = (int32_t)rng_below(&r, (uint64_t)m.cfg.vocab_size);
    for (int i = 0; i < Q; i++) other[i] = (int32_t)rng_below(&r, (uint64_t)m.cfg.vocab_size);
    GroupSeq seq[4], first;
    group_seq(&m, &first, prompt, P, &r);
    for (int s = 1; s < 4; s++) group_seq(&m, &seq[s], prompt, P, &r);
    group_seq(&m, &seq[0], other, Q, &r);
    omp_set_num_threads(3);
    KVCache *c = kv_cache_create(&m, 4, 16, &e);
    cr_assert(c, "%s", e.msg);
    GroupSeq tmp = seq[0];
    seq[0] = first;
    group_step(&m, c, seq, (int[]){0}, (int[]){P}, 1);  // the prompt's prefill in slot 0
    seq[0] = tmp;
    kv_cache_copy(c, 1, 0, P), kv_cache_copy(c, 2, 1, P);  // slot 2 then reads slot 0's rows too
    seq[1].done = seq[2].done = P;
    for (int k = 0; k < 2; k++) group_step(&m, c, seq, (int[]){1, 2}, (int[]){1, 1}, 2);
    group_step(&m, c, seq, (int[]){2, 0, 1}, (int[]){1, Q, 1}, 3);  // slot 0 rewritten in the call
    kv_cache_copy(c, 3, 1, P);
    seq[3].done = P;
    for (int k = 0; k < 2; k++) group_step(&m, c, seq, (int[]){0, 1, 2, 3}, (int[]){1, 1, 1, 1}, 4);
    kv_cache_free(c);
    omp_set_num_threads(1);
    free(first.ref);
    for (int s = 0; s < 4; s++) free(seq[s].ref);
    model_free(&m);
}

Test(model, group_prompt_copies) {
    check_group_copies(TINY_QWEN3, N_OF(TINY_QWEN3));
    static const char *const wide[] = {TINY_COMMON, "model.type=qwen3", "model.head_dim=72"};  // rows of 576 bytes
    check_group_copies(wide, N_OF(wide));
}

Test(model, invariance_qwen2) { check_invariance(TINY_QWEN2, N_OF(TINY_QWEN2)); }
Test(model, invariance_qwen3) { check_invariance(TINY_QWEN3, N_OF(TINY_QWEN3)); }
Test(model, invariance_qwen2_moe) { check_invariance(TINY_QWEN2_MOE, N_OF(TINY_QWEN2_MOE)); }
Test(model, invariance_qwen3_moe) { check_invariance(TINY_QWEN3_MOE, N_OF(TINY_QWEN3_MOE)); }
Test(model, invariance_qwen3_moe_dense_layers) {
    check_invariance(TINY_QWEN3_MOE_SPARSE, N_OF(TINY_QWEN3_MOE_SPARSE));
}

// decoder_sparse_step / mlp_only_layers choose which layers of a MoE model have the sparse block.
Test(model, dense_layers_in_moe_models) {
    Model m;
    tiny_model(&m, TINY_QWEN3_MOE_SPARSE, N_OF(TINY_QWEN3_MOE_SPARSE), 1);
    cr_assert(!model_layer_is_moe(&m, 0) && model_layer_is_moe(&m, 1) && !model_layer_is_moe(&m, 2) &&
              !model_layer_is_moe(&m, 3));
    cr_assert_eq(model_n_moe_layers(&m), 1);
    cr_assert(model_tensor(&m, "model.layers.0.mlp.gate_proj.weight")->shape[0] == 24);
    cr_assert_null(model_tensor(&m, "model.layers.0.mlp.gate.weight"));
    cr_assert(model_tensor(&m, "model.layers.1.mlp.gate.weight"));
    cr_assert_null(model_tensor(&m, "model.layers.1.mlp.gate_proj.weight"));
    cr_assert(model_tensor(&m, "model.layers.3.mlp.down_proj.weight"));
    // Dense layers report no experts (-1); the MoE layer reports real ones.
    int32_t tok[3] = {1, 2, 3}, ex[3 * 4 * 2];
    int64_t off[2] = {0, 3};
    float *logits = xmalloc(3 * 61 * sizeof(float));
    Err e = {{0}};
    cr_assert_eq(model_forward(&m, 1, off, tok, logits, ex, NULL, NULL, &e), 0, "%s", e.msg);
    for (int t = 0; t < 3; t++)
        for (int l = 0; l < 4; l++)
            for (int k = 0; k < 2; k++) cr_assert_eq(ex[(t * 4 + l) * 2 + k] >= 0, l == 1);
    free(logits);
    // config.json round trip keeps the layer kinds.
    char *json = model_hf_config_json(&m);
    ModelConfig c;
    cr_assert_eq(model_config_from_hf_json(json, &c, &e), 0, "%s", e.msg);
    cr_assert(c.decoder_sparse_step == 2 && !strcmp(c.mlp_only_layers, "3"), "%d '%s'", c.decoder_sparse_step,
              c.mlp_only_layers);
    free(json);
    model_free(&m);
    // Bad lists name the key.
    const char *bad[] = {"7", "1,x", "-1", "1;2"};
    for (int i = 0; i < 4; i++) {
        c = (ModelConfig){0};
        Config full;
        config_defaults(&full);
        for (int k = 0; k < N_OF(TINY_QWEN3_MOE_SPARSE); k++)
            cr_assert_eq(config_set(&full, TINY_QWEN3_MOE_SPARSE[k], &e), 0);
        snprintf(full.model.mlp_only_layers, sizeof full.model.mlp_only_layers, "%s", bad[i]);
        cr_assert_eq(config_finalize(&full, &e), 0, "%s", e.msg);
        cr_assert_neq(model_create(&m, &full.model, &e), 0, "%s accepted", bad[i]);
        cr_assert(strstr(e.msg, "mlp_only_layers"), "%s", e.msg);
    }
    // A MoE type whose every layer is dense: refused by name (its load balance would be 0 / 0).
    const char *none[][2] = {{"model.decoder_sparse_step=5", ""}, {"model.decoder_sparse_step=2", "1,3"}};
    for (int i = 0; i < 2; i++) {
        Config full;
        config_defaults(&full);
        for (int k = 0; k < N_OF(TINY_QWEN3_MOE_SPARSE); k++)
            cr_assert_eq(config_set(&full, TINY_QWEN3_MOE_SPARSE[k], &e), 0);
        cr_assert_eq(config_set(&full, none[i][0], &e), 0, "%s", e.msg);
        snprintf(full.model.mlp_only_layers, sizeof full.model.mlp_only_layers, "%s", none[i][1]);
        cr_assert_eq(config_finalize(&full, &e), 0, "%s", e.msg);
        cr_assert_neq(model_create(&m, &full.model, &e), 0, "%s '%s' accepted", none[i][0], none[i][1]);
        cr_assert(strstr(e.msg, "leave none of the 4 layers a MoE layer"), "%s", e.msg);
    }
}

// Query head h of one token (row qh) against keys 0..n-1 in float64: its output in o[0..hd) and its log-sum-exp,
// returned; key and value rows KD floats apart, head h reading key head h / (Hq / Hk).
static double attention_reference(const Dims *d, const float *qh, const float *k, const float *v, int n, int h,
                                  double *o) {
    size_t at = (size_t)(h / (d->Hq / d->Hk)) * d->hd;
    double *s = xmalloc((size_t)n * sizeof *s), mx = -INFINITY, sum = 0;
    for (int j = 0; j < n; j++) {
        s[j] = 0;
        for (int i = 0; i < d->hd; i++) s[j] += (double)qh[i] * k[(size_t)j * d->KD + at + i];
        s[j] /= sqrt((double)d->hd), mx = fmax(mx, s[j]);
    }
    for (int j = 0; j < n; j++) sum += exp(s[j] - mx);
    for (int i = 0; i < d->hd; i++) {
        o[i] = 0;
        for (int j = 0; j < n; j++) o[i] += exp(s[j] - mx) / sum * v[(size_t)j * d->KD + at + i];
    }
    free(s);
    return mx + log(sum);
}

// Wide shapes exercise the matmul's blocked and threaded paths (more rows and columns than one block).
// Attention over several of attention.c's key blocks: a whole sequence's forward on 3 threads, then each position alone
// as a decode step on 2 threads (from 64 keys on, each half of its keys on its own thread, the shared prompt's end
// inside the second half) give the same bits, and both match a float64 softmax within float rounding. 70 keys:
// eight blocks of 8, then 6, where value rows are 512 bytes or less, else one key at a time; head_dim 6, 16 and 72
// (lane tails, and 64 floats in registers then 8); 4 query heads (padded to 8 in the softmax) on 2 key heads or 4.
static void check_attention_blocks(int hd, int hk) {
    enum { T = 70, HQ = 4 };
    Dims d = {.Hq = HQ, .Hk = hk, .hd = hd, .QD = HQ * hd, .KD = hk * hd};
    float *q = xmalloc((size_t)T * d.QD * 4), *k = xmalloc((size_t)T * d.KD * 4), *v = xmalloc((size_t)T * d.KD * 4);
    float *full = xmalloc((size_t)T * d.QD * 4), *one = xmalloc((size_t)d.QD * 4);
    double lse[T * HQ], lse1[HQ];
    Rng r = rng_at(13, 0, (uint64_t)hk, (uint64_t)hd);
    for (int i = 0; i < T * d.QD; i++) q[i] = (float)rng_normal(&r);
    for (int i = 0; i < T * d.KD; i++) k[i] = (float)rng_normal(&r), v[i] = (float)rng_normal(&r);
    int pos[T];
    int64_t row0[T] = {0};
    for (int t = 0; t < T; t++) pos[t] = t;
    omp_set_num_threads(3);
    attention_forward(&d, T, pos, row0, NULL, k, v, q, full, lse);
    omp_set_num_threads(2);
    for (int t = 0; t < T; t++) {
        attention_forward(&d, 1, &pos[t], row0, NULL, k, v, q + (size_t)t * d.QD, one, lse1);
        cr_assert_eq(memcmp(one, full + (size_t)t * d.QD, (size_t)d.QD * 4), 0, "hd %d: position %d alone differs", hd,
                     t);
        cr_assert_eq(memcmp(lse1, lse + t * HQ, sizeof lse1), 0, "hd %d: position %d's lse differs", hd, t);
        for (int h = 0; h < HQ; h++) {
            double o[72], want_lse = attention_reference(&d, q + (size_t)t * d.QD + h * hd, k, v, t + 1, h, o);
            cr_assert(fabs(lse[t * HQ + h] - want_lse) < 1e-5, "hd %d: lse at (%d, %d)", hd, t, h);
            const float *got = full + (size_t)t * d.QD + h * hd;
            for (int i = 0; i < hd; i++)
                cr_assert(fabs(got[i] - o[i]) < 1e-5, "hd %d: out (%d, %d, %d): %g vs %g", hd, t, h, i, got[i], o[i]);
        }
    }
    // The same sequence at rows T.., its first 37 rows (or all, at positions below 37) to be read at rows 0.. instead
    // (Backend.attention's shared): the same bits. Its own copies of those rows are NaN, so reading them would show.
    size_t KD = (size_t)d.KD;
    float *k2 = xmalloc(2 * T * KD * 4), *v2 = xmalloc(2 * T * KD * 4);
    memcpy(k2, k, T * KD * 4), memcpy(k2 + T * KD, k, T * KD * 4);
    memcpy(v2, v, T * KD * 4), memcpy(v2 + T * KD, v, T * KD * 4);
    for (size_t i = T * KD; i < (T + 37) * KD; i++) k2[i] = v2[i] = NAN;
    int64_t own[1] = {T}, shared[2] = {0, 37};
    for (int t = 0; t < T; t++) {
        attention_forward(&d, 1, &pos[t], own, shared, k2, v2, q + (size_t)t * d.QD, one, lse1);
        cr_assert_eq(memcmp(one, full + (size_t)t * d.QD, (size_t)d.QD * 4), 0, "hd %d: position %d, shared rows", hd,
                     t);
        cr_assert_eq(memcmp(lse1, lse + t * HQ, sizeof lse1), 0, "hd %d: position %d's lse, shared rows", hd, t);
    }
    omp_set_num_threads(1);
    free(q), free(k), free(v), free(full), free(one), free(k2), free(v2);
}

Test(model, attention_over_key_blocks) {
    check_attention_blocks(6, 2);
    check_attention_blocks(16, 2);
    check_attention_blocks(72, 2);  // value rows of 576 bytes: one key at a time
    check_attention_blocks(40, 4);  // no grouped queries, rows of 640 bytes
    check_attention_blocks(36, 4);  // rows of 576 bytes, heads not a multiple of 8 floats
}

// A token's two key halves (attention.c's key_cut) with maxima far apart: head 0's scores about 100 above in the first
// half, head 1's in the second, so one half's rescale factor exp(max_i - max) is far below float's epsilon (and clamped
// at exp(-87)). The decode step of the last position (each half on its own thread) gives the whole forward's bits,
// and both match a float64 softmax.
Test(model, attention_halves_with_distant_maxima) {
    enum { T = 100, HQ = 2, HD = 16 };
    Dims d = {.Hq = HQ, .Hk = HQ, .hd = HD, .QD = HQ * HD, .KD = HQ * HD};
    float q[T * HQ * HD], k[T * HQ * HD], v[T * HQ * HD], full[T * HQ * HD], one[HQ * HD];
    double lse[T * HQ], lse1[HQ];
    Rng r = rng_at(17, 0, 0, 0);
    for (int t = 0; t < T; t++)
        for (int h = 0; h < HQ; h++)
            for (int i = 0; i < HD; i++) {
                int o = (t * HQ + h) * HD + i;
                q[o] = i == 0 ? 8.0f : (float)rng_normal(&r) * 0.1f;
                bool high = (t < T / 2) == (h == 0);  // head 0 high in the first half, head 1 in the second
                k[o] = i == 0 ? (high ? 50.0f : 0.0f) + (float)rng_normal(&r) : (float)rng_normal(&r) * 0.1f;
                v[o] = (float)rng_normal(&r);
            }
    int pos[T];
    int64_t row0[T] = {0};
    for (int t = 0; t < T; t++) pos[t] = t;
    omp_set_num_threads(1);
    attention_forward(&d, T, pos, row0, NULL, k, v, q, full, lse);
    omp_set_num_threads(2);
    attention_forward(&d, 1, &pos[T - 1], row0, NULL, k, v, q + (T - 1) * HQ * HD, one, lse1);
    omp_set_num_threads(1);
    cr_assert_eq(memcmp(one, full + (T - 1) * HQ * HD, sizeof one), 0, "the decode step differs from the forward");
    cr_assert_eq(memcmp(lse1, lse + (T - 1) * HQ, sizeof lse1), 0, "the decode step's lse differs");
    for (int h = 0; h < HQ; h++) {
        double o[HD], want_lse = attention_reference(&d, q + ((T - 1) * HQ + h) * HD, k, v, T, h, o);
        // Within 1e-5 of the largest score, which is at least want_lse - log(T) (the exp sum is at most T).
        cr_assert(fabs(lse1[h] - want_lse) < 1e-5 * (want_lse - log(T)), "head %d: lse %.9g against %.9g", h, lse1[h],
                  want_lse);
        for (int i = 0; i < HD; i++)
            cr_assert(fabs(one[h * HD + i] - o[i]) < 1e-5, "head %d, element %d: %g against %g", h, i, one[h * HD + i],
                      o[i]);
    }
}

Test(model, bad_tokens_are_rejected) {
    Model m;
    Err e = {{0}};
    tiny_model(&m, TINY_QWEN3, N_OF(TINY_QWEN3), 1);
    int32_t tok[2] = {3, 61};
    int64_t off[2] = {0, 2};
    float logits[2 * 61];
    cr_assert_neq(model_forward(&m, 1, off, tok, logits, NULL, NULL, NULL, &e), 0);
    cr_assert(strstr(e.msg, "outside the vocabulary"), "%s", e.msg);
    model_free(&m);
}

Test(model, h5_round_trip_and_shape_errors) {
    Model m, back;
    Err e = {{0}};
    tiny_model(&m, TINY_QWEN2_MOE, N_OF(TINY_QWEN2_MOE), 4);
    char path[] = "/tmp/rlvr-test-model-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    hid_t f = h5io_create(path, &e);
    cr_assert(f >= 0 && model_save_h5(&m, f, &e) == 0, "%s", e.msg);
    h5io_close(f);
    cr_assert_eq(model_load_path(&back, path, &e), 0, "%s", e.msg);
    cr_assert_eq(back.n_params, m.n_params);
    cr_assert_eq(memcmp(back.params, m.params, m.n_params * sizeof(float)), 0);
    cr_assert(back.cfg.type == MODEL_QWEN2_MOE && back.cfg.shared_expert_intermediate_size == 20 && !back.cfg.qk_norm);
    model_free(&back);
    // Wrong shape and missing tensor name the dataset.
    f = h5io_open(path, 1, &e);
    H5Ldelete(f, "/model/model.norm.weight", H5P_DEFAULT);
    float w[3] = {0};
    hsize_t d = 3;
    cr_assert_eq(h5io_write(f, "/model/model.norm.weight", H5T_NATIVE_FLOAT, w, 1, &d, &e), 0);
    h5io_close(f);
    cr_assert_neq(model_load_path(&back, path, &e), 0);
    cr_assert(strstr(e.msg, "model.norm.weight' has shape [3], expected [16]"), "%s", e.msg);
    f = h5io_open(path, 1, &e);
    H5Ldelete(f, "/model/model.layers.1.mlp.experts.up_proj", H5P_DEFAULT);
    h5io_close(f);
    cr_assert_neq(model_load_path(&back, path, &e), 0);
    cr_assert(strstr(e.msg, "missing dataset '/model/model.layers.1.mlp.experts.up_proj'"), "%s", e.msg);
    remove(path);
    model_free(&m);
}
