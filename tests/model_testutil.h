// Shared by the model tests: tiny models of each architecture with every parameter randomised.
#ifndef RLVR_TESTS_MODEL_TESTUTIL_H
#define RLVR_TESTS_MODEL_TESTUTIL_H

#include <criterion/criterion.h>
#include <math.h>

#include "base/config.h"
#include "base/rng.h"
#include "model/model.h"

// An uninitialised model of the defaults with these config overrides.
static inline void model_from_sets(Model *m, const char *const *sets, int n_sets) {
    Config c;
    Err e = {{0}};
    config_defaults(&c);
    for (int i = 0; i < n_sets; i++) cr_assert_eq(config_set(&c, sets[i], &e), 0, "%s", e.msg);
    cr_assert_eq(config_finalize(&c, &e), 0, "%s", e.msg);
    cr_assert_eq(model_create(m, &c.model, &e), 0, "%s", e.msg);
}

// Model from config overrides; norms and biases get random values too (init gives them 1 and 0).
static inline void tiny_model(Model *m, const char *const *sets, int n_sets, uint64_t seed) {
    model_from_sets(m, sets, n_sets);
    model_init_random(m, seed);
    Rng r = rng_at(seed, 1, 0, 0);
    for (int i = 0; i < m->n_tensors; i++) {
        const ModelTensor *t = &m->tensors[i];
        int norm = strstr(t->name, "norm.weight") != NULL, bias = strstr(t->name, ".bias") != NULL;
        for (size_t k = 0; (norm || bias) && k < t->numel; k++)
            m->params[t->offset + k] = (float)((norm ? 1.0 : 0.0) + 0.3 * rng_normal(&r));
    }
}

#define DENSE_QWEN2 "model.type=qwen2", "model.tie_word_embeddings=false"
#define TINY_COMMON "model.vocab_size=61", "model.hidden_size=16", "model.intermediate_size=24", \
                    "model.num_hidden_layers=2", "model.num_attention_heads=4", "model.num_key_value_heads=2", \
                    "model.init_std=0.3", "model.max_position_embeddings=64"
#define MOE_COMMON "model.num_experts=4", "model.num_experts_per_tok=2", "model.moe_intermediate_size=12"

static const char *const TINY_QWEN2[] = {TINY_COMMON, DENSE_QWEN2};
static const char *const TINY_QWEN3[] = {TINY_COMMON, "model.type=qwen3", "model.head_dim=6"};
static const char *const TINY_QWEN2_MOE[] = {TINY_COMMON, MOE_COMMON, "model.type=qwen2_moe",
                                             "model.shared_expert_intermediate_size=20"};
static const char *const TINY_QWEN3_MOE[] = {TINY_COMMON, MOE_COMMON, "model.type=qwen3_moe",
                                             "model.tie_word_embeddings=false"};
// Dense MLP layers inside MoE models (HF decoder_sparse_step, mlp_only_layers): MoE in layer 1 of 4 (layer 3 is
// listed dense); MoE in layers 1 and 2 of 3.
static const char *const TINY_QWEN3_MOE_SPARSE[] = {TINY_COMMON, MOE_COMMON, "model.type=qwen3_moe",
                                                    "model.num_hidden_layers=4", "model.decoder_sparse_step=2",
                                                    "model.mlp_only_layers=3"};
static const char *const TINY_QWEN2_MOE_MLP_ONLY[] = {TINY_COMMON, MOE_COMMON, "model.type=qwen2_moe",
                                                      "model.shared_expert_intermediate_size=20",
                                                      "model.num_hidden_layers=3", "model.mlp_only_layers=0"};
#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

#endif
