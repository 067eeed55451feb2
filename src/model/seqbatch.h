// A training micro-batch of whole sequences (prompt + response) and its forward/backward through the model
// and the temperature-scaled log-prob (logprob.h): the same computation as sampling, so the first
// importance ratio of a step is exactly 1 (src/README.md invariant 2).
#ifndef RLVR_SEQBATCH_H
#define RLVR_SEQBATCH_H

#include <stdint.h>

#include "base/error.h"
#include "model/model.h"

typedef struct {
    int n_seq;
    int64_t *seq_offsets;   // [n_seq + 1] into tokens (whole sequences)
    int32_t *tokens;
    int64_t *resp_offsets;  // [n_seq + 1] into per-response-token arrays (logp, entropy, gradients)
    int *prompt_len;        // [n_seq]
    int cap_seq;
    int64_t cap_tok;
} SeqBatch;

void seqbatch_free(SeqBatch *b);
// Appends prompt ++ response (the response's tokens are the ones that get log-probs).
void seqbatch_add(SeqBatch *b, const int32_t *prompt, int prompt_len, const int32_t *resp, int resp_len);
static inline int64_t seqbatch_resp_tokens(const SeqBatch *b) { return b->resp_offsets[b->n_seq]; }

// Kept from a forward for the backward (the LM head's logits are not: model.h model_forward_logprob).
typedef struct {
    ModelActs *acts;  // NULL when the forward was not kept
    double aux_loss;
} SeqForward;

// logp/entropy of every response token under softmax(logits / temperature), the LM head in chunks of
// Model.head_chunk rows (model_forward_logprob). keep: retain what the backward needs.
int seqbatch_forward(Model *m, const SeqBatch *b, double temperature, bool keep, double *logp, double *entropy,
                     SeqForward *f, Err *e);
// ADDS to grads the gradient of Σ dlogp·logp + dentropy·H over response tokens (+ aux_weight · aux loss), at the
// forward's temperature (temperature is not read). dentropy may be NULL. Frees what f kept.
int seqbatch_backward(Model *m, const SeqBatch *b, SeqForward *f, double temperature, const double *dlogp,
                      const double *dentropy, double aux_weight, float *grads, Err *e);
// The same with model_backward_hooked's per-layer callback.
int seqbatch_backward_hooked(Model *m, const SeqBatch *b, SeqForward *f, double temperature, const double *dlogp,
                             const double *dentropy, double aux_weight, float *grads, LayerDone done, void *ctx,
                             Err *e);
void seqforward_free(SeqForward *f);
// FLOPs of seqbatch_forward over b as model_flops_per_token counts them: each sequence at its own mean causal context,
// the LM head on the response rows only. A backward costs twice that.
double seqbatch_forward_flops(const Model *m, const SeqBatch *b);

#endif
