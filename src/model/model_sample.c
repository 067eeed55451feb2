// The sampler's side of the model (model.h model_decode_keep's logits, model_sample): logits stay in the backend's
// memory and only the draws' tokens, log-probs and entropies reach the host.
#include "model/backend.h"
#include "model/model.h"

void *model_logits_alloc(const Model *m, int rows) {
    const Backend *be = m->backend;
    return be->alloc(be, (size_t)(rows > 0 ? rows : 0) * (size_t)m->cfg.vocab_size, BUF_ACT);
}

void model_logits_free(const Model *m, void *logits) { m->backend->free(m->backend, logits); }

void model_sample(const Model *m, const void *logits, int n, const int32_t *row, const double *u,
                  const SampleSpec *sp, int32_t *token, double *logp, double *entropy) {
    if (n <= 0) return;
    const Backend *be = m->backend;
    be->sample(be, logits, m->cfg.vocab_size, n, row, u, sp, token, logp, entropy);
}
