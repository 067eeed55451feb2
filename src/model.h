// The policy model: Qwen2/Qwen3-style decoder, dense and MoE (DESIGN.md "Model"), on the CPU.
// CONTRACT (shared by model, sampler, trainer, checkpoint): the declarations below are fixed; the
// model module may add to this header (training forward/backward, internals) but not change them.
#ifndef RLVR_MODEL_H
#define RLVR_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

#define MODEL_MAX_DIMS 4

// One named tensor inside the contiguous parameter buffer (Hugging Face names and [out, in] layouts).
typedef struct {
    char name[128];
    int ndim;
    int64_t shape[MODEL_MAX_DIMS];
    size_t offset;  // in floats, into Model.params
    size_t numel;
} ModelTensor;

typedef struct ModelPrivate ModelPrivate;

typedef struct {
    ModelConfig cfg;
    int head_dim;
    bool moe;
    float *params;  // all parameters, contiguous
    size_t n_params;
    ModelTensor *tensors;  // table in a fixed order: drives checkpoints, optimizer, all-reduce
    int n_tensors;
    ModelPrivate *priv;
} Model;

// Builds the tensor table and allocates zeroed parameters for cfg (validated config).
int model_create(Model *m, const ModelConfig *cfg, Err *e);
void model_free(Model *m);
// Seeded random init (Philox, independent of thread count): normal(0, init_std) matrices, ones for norms.
void model_init_random(Model *m, uint64_t seed);
const ModelTensor *model_tensor(const Model *m, const char *name);  // NULL if absent
// Hugging Face config.json text for this architecture (malloc'd).
char *model_hf_config_json(const Model *m);

// Incremental inference with a KV cache. Per-token logits are bit-identical to the training forward
// of the same sequence, whatever else shares the batch and whether tokens arrive one by one or together.
typedef struct KVCache KVCache;
size_t kv_cache_bytes(const Model *m, int n_slots, int max_len);
KVCache *kv_cache_create(const Model *m, int n_slots, int max_len, Err *e);  // NULL + message if too big
void kv_cache_free(KVCache *c);
// Copies positions [0, n_positions) of slot src into slot dst (a prompt prefilled once, shared by a group).
void kv_cache_copy(KVCache *c, int dst_slot, int src_slot, int n_positions);

// Runs n tokens: token i is tokens[i] of slot slots[i] at position pos[i]. Tokens of one slot must be
// consecutive in position and continue what the cache holds (several at once = prefill). Writes
// logits [n, vocab_size] and, for MoE with experts != NULL, the chosen experts [n, layers, top_k].
int model_decode(Model *m, KVCache *c, int n, const int *slots, const int *pos, const int32_t *tokens, float *logits,
                 int32_t *experts, Err *e);

#endif
