// The policy model: Qwen2/Qwen3-style decoder, dense and MoE, on the CPU.
#ifndef RLVR_MODEL_H
#define RLVR_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/error.h"
#include "model/sample_filter.h"

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
// The table of operations the layer loop runs on (model/backend.h); model_create picks the CPU one.
typedef struct Backend Backend;

// Expert parallelism (dist.expert_parallel = K; the map: model/expert_map.h): this rank's place q in its group of
// K ranks, the experts it owns, and the gradients its experts receive from the group's other micro-batches.
typedef struct {
    int k;               // ranks per group
    int q;               // this rank's place in its group
    int n_experts, e_begin, e_end;  // E, and the experts this rank owns
    struct DistGroup *group;  // the ranks of this rank's group (base/dist.h)
    struct DistGroup *peers;  // the ranks at the same place of every group (owning the same experts); NULL when k = 1
    size_t packed_n;     // floats of this rank's slices of all expert tensors, in table order
    size_t *packed_at;   // [n_tensors]: where an expert tensor's slice starts in a packed buffer
    // The gradients of this rank's experts from the micro-batches of the group's other ranks, packed (one
    // buffer per place; NULL at q): each is one micro-batch's part and is summed like one (train/ep_step.c).
    // NULL entries everywhere in fast mode: those gradients are added to the rank's own.
    float **peer_grads;
    // On a backend of its own (a device): the same buffers in its memory, which the group's rows add into, copied to
    // peer_grads after each round (train/ep_step.c); NULL on the CPU backend.
    float **peer_dev;
} ExpertParallel;

typedef struct {
    ModelConfig cfg;
    int head_dim;
    bool moe;  // has MoE layers (type *_moe); model_layer_is_moe tells which
    float *params;  // all parameters, contiguous
    size_t n_params;
    ModelTensor *tensors;  // table in a fixed order: drives checkpoints, optimizer, all-reduce
    int n_tensors;
    char *hf_config;  // the config.json this model was read with (kept through checkpoints); NULL: generated
    // The backward's matrix products through the fixed-order kernels of matmul.h instead of OpenBLAS, so the
    // gradient's bits depend on neither the CPU nor the thread count (dist.deterministic; false after create).
    bool fixed_order_backward;
    // ZeRO stage 3 (algo/param_gather.h): called before the forward, backward or decode reads the weights of layer
    // 0..L-1, the embedding (MODEL_UNIT_EMBED), the final norm and LM head (MODEL_UNIT_HEAD) or, inside a MoE layer,
    // one routed expert (model_expert_unit, in expert order); NULL: all resident.
    void (*before_unit)(void *ctx, int unit);
    // ZeRO stage 3: collective, after a phase whose decode steps gathered units as asked (sampling); every rank
    // calls it once per phase, before any other collective. NULL: nothing to do. Its ctx is before_unit_ctx.
    void (*units_done)(void *ctx);
    void *before_unit_ctx;
    const Backend *backend;  // where activations live and the layer loop's operations run
    // While the ranks of an expert-parallel group train in lockstep (train/ep_step.h): the training forward and
    // backward send each MoE layer's rows to their experts' owners (model/moe_ep.c). NULL: every expert here.
    ExpertParallel *ep;
    // Rows of logits the log-prob head (model_forward_logprob) holds at once: its peak is two [head_chunk, V]
    // buffers (logits and their gradient) whatever the batch (train.head_chunk; model_create: MODEL_HEAD_CHUNK).
    int head_chunk;
    // The training forward keeps only each layer's input, and the backward runs the layer's forward again from it
    // before its backward (train.recompute): activations of one layer instead of all, for one more forward. Same bits.
    bool recompute;
    // A log-prob backward that would add only zeros to the gradient (model_backward_skipped) is skipped
    // (train.skip_zero_backward; model_create: true). Off, it runs the products of zeros: the same bits, slower.
    bool skip_zero_backward;
    ModelPrivate *priv;
} Model;

enum { MODEL_UNIT_EMBED = -1, MODEL_UNIT_HEAD = -2 };
enum { MODEL_HEAD_CHUNK = 1024 };
// The unit of routed expert e of layer l (the hook may gather a MoE layer's experts apart from the rest of it), and
// back: l * num_experts + e.
static inline int model_expert_unit(const Model *m, int l, int e) { return -3 - (l * m->cfg.num_experts + e); }
static inline int model_expert_index(int unit) { return -3 - unit; }
// Lets the hook make the unit's weights resident.
static inline void model_before_unit(const Model *m, int unit) {
    if (m->before_unit) m->before_unit(m->before_unit_ctx, unit);
}
static inline void model_units_done(const Model *m) {
    if (m->units_done) m->units_done(m->before_unit_ctx);
}

// Builds the tensor table and allocates zeroed parameters for cfg (validated config); the CPU backend.
int model_create(Model *m, const ModelConfig *cfg, Err *e);
// Runs m's layer loop on be from now on, with the current parameters loaded into it (model/backend.h). KV caches
// and activation records belong to the backend that made them.
int model_set_backend(Model *m, const Backend *be, Err *e);
// The tensor table alone (params NULL, n_params counted): for streaming tensors between files.
int model_layout(Model *m, const ModelConfig *cfg, Err *e);
void model_free(Model *m);
// Seeded random init (Philox, independent of thread count): normal(0, init_std) matrices, ones for norms.
void model_init_random(Model *m, uint64_t seed);
const ModelTensor *model_tensor(const Model *m, const char *name);  // NULL if absent
// Whether layer l has the sparse MoE block (HF Qwen2/3-MoE: (l + 1) % decoder_sparse_step == 0 and l not in
// mlp_only_layers); the other layers of a MoE model have a dense SwiGLU MLP of intermediate_size.
bool model_layer_is_moe(const Model *m, int l);
int model_n_moe_layers(const Model *m);
// The same for a MoE configuration, into layer_moe[num_hidden_layers]: an error for a bad mlp_only_layers list or
// for no MoE layer at all.
int model_config_moe_layers(const ModelConfig *c, bool *layer_moe, Err *e);
// Hugging Face config.json text for this architecture (malloc'd).
char *model_hf_config_json(const Model *m);

// Incremental inference with a KV cache. Per-token logits are bit-identical to the training forward
// of the same sequence, whatever else shares the batch and whether tokens arrive one by one or together.
typedef struct KVCache KVCache;
size_t kv_cache_bytes(const Model *m, int n_slots, int max_len);
KVCache *kv_cache_create(const Model *m, int n_slots, int max_len, Err *e);  // NULL + message if too big
void kv_cache_free(KVCache *c);
// Copies positions [0, n_positions) of slot src into slot dst (a prompt prefilled once, shared by a group). Until
// either slot's rows there are written again, attention reads them from one copy for both: the same values, so the
// same bits, read once from memory for a whole group.
void kv_cache_copy(KVCache *c, int dst_slot, int src_slot, int n_positions);

// Runs n tokens: token i is tokens[i] of slot slots[i] at position pos[i]. Tokens of one slot must be
// consecutive in position and continue what the cache holds (several at once = prefill). Writes
// logits [n, vocab_size] and, for MoE with experts != NULL, the chosen experts [n, layers, top_k] (-1 in the
// rows of dense layers).
int model_decode(Model *m, KVCache *c, int n, const int *slots, const int *pos, const int32_t *tokens, float *logits,
                 int32_t *experts, Err *e);
// model_decode with the logits kept in the backend's memory (the sampler's path: on a device backend no [n, V]
// host copy): logits (from model_logits_alloc) receives the rows of tokens first_out .. n-1 only (0 <= first_out < n),
// the same bits model_decode writes for them (a prefill asks for its last row alone).
int model_decode_keep(Model *m, KVCache *c, int n, const int *slots, const int *pos, const int32_t *tokens,
                      int first_out, void *logits, int32_t *experts, Err *e);
// Packed copies of the weights a decode group's products read (model/matmul.h matmul_pack_make): the attention
// projections, the dense MLPs' and the LM head's, for the time the weights stay as they are (one generation). NULL
// where nothing is packed: not the CPU backend, zero stage 3's gathered weights, a build without AVX-512 in its
// MARCH, or no memory for the copy (the products then read the weights as they are). Freed by matmul_pack_free.
struct MatmulPack *model_pack_weights(const Model *m);
// The bytes of that copy where this build makes one (0 where it does not); m needs only its layout.
double model_pack_bytes(const Model *m);
// A backend buffer for rows x vocab_size logits, or NULL when the backend's memory runs out; freed by
// model_logits_free.
void *model_logits_alloc(const Model *m, int rows);
void model_logits_free(const Model *m, void *logits);
// n draws from backend logits (model/backend.h sample): draw k from row row[k] with uniform u[k]; token[k] (-1: the
// row holds a non-finite logit), logp[k] and entropy[k] under softmax(row / sp->record_temperature). Host arrays.
void model_sample(const Model *m, const void *logits, int n, const int32_t *row, const double *u,
                  const SampleSpec *sp, int32_t *token, double *logp, double *entropy);

// ---- training ----

// Training forward over a packed batch: sequence s is tokens[seq_offsets[s] .. seq_offsets[s+1]) at positions
// 0, 1, ... (T = seq_offsets[n_seqs] tokens in all). Writes logits [T, vocab_size] (bit-identical to
// model_decode of the same tokens; NULL: none, the LM head is skipped), experts [T, layers, top_k] when MoE and experts != NULL, and *aux_loss
// (if non-NULL): the load-balancing loss of this call, unscaled (Hugging Face load_balancing_loss_func over
// all MoE layers and tokens: E * sum_e f_e * P_e; 0 for dense models). With acts != NULL the activations needed by
// model_backward are kept in *acts (free with model_acts_free); with acts == NULL nothing is kept.
// Chosen experts are listed per token and layer in top-k order (largest router probability first, ties to the
// lower index), in model_decode too.
typedef struct ModelActs ModelActs;
int model_forward(Model *m, int n_seqs, const int64_t *seq_offsets, const int32_t *tokens, float *logits,
                  int32_t *experts, double *aux_loss, ModelActs **acts, Err *e);
// ADDS to grads (n_params floats, laid out like params, in the backend's memory: host for the CPU) the gradient
// of sum(dlogits * logits) + aux_weight * aux_loss for the forward that produced acts (pass aux_weight =
// cfg.router_aux_loss_coef times the caller's loss scale; ignored for dense models). The parameters must not
// have changed since that forward.
int model_backward(Model *m, const ModelActs *acts, const float *dlogits, double aux_weight, float *grads, Err *e);
// The same, calling done(ctx, l) as soon as layer l's gradients are final (layers L-1 down to 0; the embedding,
// final norm and LM head are final when it returns), so their reduction over ranks can start (done may be NULL).
typedef void (*LayerDone)(void *ctx, int layer);
int model_backward_hooked(Model *m, const ModelActs *acts, const float *dlogits, double aux_weight, float *grads,
                          LayerDone done, void *ctx, Err *e);
void model_acts_free(ModelActs *a);

// The training forward without [T, V] logits (model/model_head.c): what the loss needs of the LM head, the log-prob
// of each row's target and the entropy of softmax(logits / temperature) (model/logprob.h), computed in chunks of
// Model.head_chunk rows whose logits are discarded at once. Bit-identical to model_forward's logits through the
// backend's logprob, and model_backward_logprob_hooked to model_backward from the matching dlogits (logprob_back).
typedef struct {
    const int32_t *targets;  // [T]: the token row t predicts, or -1: no log-prob at row t
    double temperature;      // > 0
    double *logp;            // [rows with a target], in row order
    double *entropy;         // the same, or NULL
} HeadLogprob;
// model_forward with h in place of logits (experts, aux_loss and acts as there).
int model_forward_logprob(Model *m, int n_seqs, const int64_t *seq_offsets, const int32_t *tokens,
                          const HeadLogprob *h, int32_t *experts, double *aux_loss, ModelActs **acts, Err *e);
// ADDS to grads the gradient of sum dlogp * logp + dentropy * H over the rows with a target (dlogp, dentropy: compact
// as h's outputs; dentropy may be NULL) + aux_weight * aux_loss, for acts of model_forward_logprob; done as in
// model_backward_hooked (may be NULL). The LM head's logits are computed again, chunk by chunk.
int model_backward_logprob_hooked(Model *m, const ModelActs *acts, const double *dlogp, const double *dentropy,
                                  double aux_weight, float *grads, LayerDone done, void *ctx, Err *e);
// Whether a log-prob backward's gradient comes from its rows' coefficients alone: no load-balancing loss reaches a
// router (aux_weight 0 or no MoE layer), and no expert-parallel exchange (Model.ep) with other ranks takes part.
bool model_backward_rows_only(const Model *m, double aux_weight);
// model_backward_logprob_hooked with rows only and no row's coefficient other than 0 (an RL micro-batch whose groups'
// rewards were all equal, with algo.beta = 0 and no entropy bonus) adds only zeros, so where Model.skip_zero_backward
// is set it skips the computation as model_backward_skipped does, leaving grads as they are. The same bits, since
// adding +0 or -0 to a sum that started at +0 never changes it.
// What a skipped backward does: done(ctx, l) for layers L-1 down to 0, as model_backward_hooked calls it.
void model_backward_skipped(const Model *m, LayerDone done, void *ctx);

// Forward FLOPs per token (matmuls + attention scores/values at the given context length; 2 per multiply-add);
// the backward costs twice that. The LM head's share, model_head_flops_per_row, is spent on rows with a target only
// in the log-prob path (model_forward_logprob).
double model_flops_per_token(const Model *m, double mean_context);
double model_head_flops_per_row(const Model *m);

// Model config from Hugging Face config.json text (model_hf.c): absent keys take transformers' defaults for the
// model_type; unknown keys are ignored; rlvr's own rlvr_* keys are honoured; sizes must lie in the [model] key ranges
// (a file's config never lays out more than rlvr would accept as a configuration).
int model_config_from_hf_json(const char *json, ModelConfig *cfg, Err *e);
// The same, for a config.json that must mean to this model exactly what it means to transformers (import and
// export): one of the four architectures, the default rotary embedding, no sliding window or quantization, the
// family's biases and q/k norms, sizes within the [model] key ranges. Errors name the key or value.
int model_hf_config_check(const char *json, ModelConfig *cfg, Err *e);

#endif
