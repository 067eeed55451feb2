// Rollout engine: G responses per prompt with a shared prefilled KV cache, batched decoding, and per-token
// log-prob/entropy of the temperature-scaled distribution (src/README.md invariant 2: the same logprob_entropy
// as scoring and training). A response is a pure function of (weights, config, step, global prompt index,
// sample index): the draw for response token t of sample j of global prompt i comes from
// rng_at(rollout.seed, step, i * G + j, t), so batch size, rank and number of ranks never change it.
#ifndef RLVR_SAMPLER_H
#define RLVR_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/error.h"
#include "model/model.h"
#include "text/tokenizer.h"

typedef enum { FINISH_EOS, FINISH_STOP, FINISH_LENGTH } FinishReason;

// "eos", "stop", "length".
const char *finish_reason_name(FinishReason r);

// One generated response. tokens include the final EOS when finish == FINISH_EOS, and the whole token that
// completed a stop string when finish == FINISH_STOP (the stop string stays in the text); logp/entropy have
// one entry per token: log-prob and entropy of the full softmax(logits / T) (before top-k/top-p truncation,
// the distribution training recomputes); at temperature 0 (greedy) of softmax(logits), T = 1.
// experts[t] are the experts chosen at the position whose logits produced token t (prompt_len - 1 + t).
typedef struct {
    int64_t prompt_index;  // global prompt index
    int sample_index;      // 0 .. G-1
    int n_tokens;
    int32_t *tokens;
    double *logp, *entropy;
    int32_t *experts;  // MoE: [n_tokens, num_hidden_layers, num_experts_per_tok]; NULL for dense
    FinishReason finish;
} Response;

// Responses of a batch, ordered by prompt then sample: responses[p * group_size + j].
typedef struct {
    int n_responses, group_size;
    int experts_per_token;  // num_hidden_layers * num_experts_per_tok for MoE, 0 for dense
    Response *responses;
    double packed_bytes;    // the packed copy of the weights this generation made (rollout.pack_weights; read while 8-32
                            // rows decode at once); 0: none
} Rollout;

void rollout_free(Rollout *r);

// How many prompts' groups (G KV slots of max_prompt_len + max_new_tokens positions each) fit in
// rollout.kv_cache_mb at once; 0 when not even one group fits.
int sampler_prompts_that_fit(const Model *m, const RolloutConfig *cfg, int max_prompt_len);

// Generates rollout.n responses for each of n_prompts prompts (prompt_tokens[p], prompt_len[p] tokens,
// global index global_prompt_index[p]) at RL step `step`. The KV cache holds as many groups as fit the
// rollout.kv_cache_mb budget (G slots of longest prompt + max_new_tokens positions each); all their live responses
// decode together, and a group's slots take the next prompt as soon as its G responses have finished. Results do
// not depend on the budget: each response is a function of its coordinates (above). Errors: a single prompt's group that does not fit the budget,
// a prompt longer than max_position_embeddings allows, token ids outside the vocabulary, non-finite logits.
// Stop strings (rollout.stop) match the response text as tokenizer_token_bytes renders it (special tokens
// as their names); the EOS token ends a response before any stop check.
int sampler_generate(Model *m, const Tokenizer *tok, const RolloutConfig *cfg, int64_t step, int n_prompts,
                     const int64_t *global_prompt_index, const int32_t *const *prompt_tokens, const int *prompt_len,
                     Rollout *out, Err *e);

#endif
