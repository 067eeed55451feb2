#include "rollout/sampler.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "model/matmul.h"
#include "rollout/stop.h"

const char *finish_reason_name(FinishReason r) {
    switch (r) {
        case FINISH_EOS: return "eos";
        case FINISH_STOP: return "stop";
        default: return "length";
    }
}

void rollout_free(Rollout *r) {
    for (int i = 0; i < r->n_responses; i++) {
        Response *x = &r->responses[i];
        free(x->tokens), free(x->logp), free(x->entropy), free(x->experts);
    }
    free(r->responses);
    memset(r, 0, sizeof *r);
}

static int experts_per_token(const Model *m) {
    return m->moe ? m->cfg.num_hidden_layers * m->cfg.num_experts_per_tok : 0;
}

int sampler_prompts_that_fit(const Model *m, const RolloutConfig *cfg, int max_prompt_len) {
    size_t budget = (size_t)cfg->kv_cache_mb << 20;
    int len = max_prompt_len + cfg->max_new_tokens;
    size_t per_group = kv_cache_bytes(m, cfg->n, len);
    if (per_group == 0 || per_group > budget) return 0;
    size_t k = budget / per_group;
    if (k > (size_t)(INT_MAX / cfg->n)) k = (size_t)(INT_MAX / cfg->n);
    while (k > 1 && kv_cache_bytes(m, (int)k * cfg->n, len) > budget) k--;  // in case bytes are not linear in slots
    return (int)k;
}

// One response being generated: its output record, KV slot, RNG coordinate and text so far (for stops).
typedef struct {
    Response *r;
    int slot, prompt_len, cap;
    uint32_t sequence;
    char *text;
    size_t text_len, text_cap;
    bool live;
} Seq;

// Everything the per-token choice needs that is fixed for the whole call.
typedef struct {
    const RolloutConfig *cfg;
    const Tokenizer *tok;
    StopList stops;
    uint32_t step;
    int vocab, stride;
    SampleSpec spec;  // temperature, top-k, top-p; recorded logp/entropy at temperature 1 when greedy
} Ctx;

static void seq_grow(Seq *s, int stride) {
    Response *r = s->r;
    if (r->n_tokens < s->cap) return;
    s->cap = s->cap ? 2 * s->cap : 16;
    r->tokens = xrealloc(r->tokens, (size_t)s->cap * sizeof *r->tokens);
    r->logp = xrealloc(r->logp, (size_t)s->cap * sizeof *r->logp);
    r->entropy = xrealloc(r->entropy, (size_t)s->cap * sizeof *r->entropy);
    if (stride) r->experts = xrealloc(r->experts, (size_t)s->cap * (size_t)stride * sizeof *r->experts);
}

static void seq_append_text(Seq *s, const Tokenizer *tok, int32_t token) {
    char buf[256];
    int n = tokenizer_token_bytes(tok, token, buf, sizeof buf);
    if (n <= 0) return;  // ids beyond the tokenizer's vocabulary have no text
    if (s->text_len + (size_t)n > s->text_cap) {
        s->text_cap = 2 * (s->text_len + (size_t)n);
        s->text = xrealloc(s->text, s->text_cap);
    }
    if ((size_t)n > sizeof buf)
        n = tokenizer_token_bytes(tok, token, s->text + s->text_len, (size_t)n);
    else
        memcpy(s->text + s->text_len, buf, (size_t)n);
    s->text_len += (size_t)n;
}

// The uniform of response token t = r->n_tokens of s: the first draw of its Philox stream (sampler.h).
static double draw_uniform(const Ctx *c, const Seq *s) {
    Rng rng = rng_at((uint64_t)c->cfg->seed, c->step, s->sequence, (uint32_t)s->r->n_tokens);
    return rng_uniform(&rng);
}

// Appends token (drawn from the logits produced at position prompt_len - 1 + t, whose experts are `experts`) with
// its logp/entropy to s, and ends the sequence on EOS, stop or length.
static void take_token(const Ctx *c, Seq *s, int32_t token, double logp, double entropy, const int32_t *experts) {
    Response *r = s->r;
    int t = r->n_tokens;
    seq_grow(s, c->stride);
    r->tokens[t] = token, r->logp[t] = logp, r->entropy[t] = entropy;
    if (c->stride) memcpy(r->experts + (size_t)t * c->stride, experts, (size_t)c->stride * sizeof *experts);
    r->n_tokens++;
    size_t old_len = s->text_len;
    seq_append_text(s, c->tok, token);
    if (token == tokenizer_eos(c->tok))
        r->finish = FINISH_EOS;
    else if (stop_completed(&c->stops, s->text, old_len, s->text_len))
        r->finish = FINISH_STOP;
    else if (r->n_tokens == c->cfg->max_new_tokens)
        r->finish = FINISH_LENGTH;
    else
        return;
    s->live = false;
}

// Chooses the next token of n sequences: seqs[which[k]] from row row[k] of the backend's logits (model_sample: only
// tokens, log-probs and entropies come to the host), its experts at experts + row[k] * stride. Errors name the first
// failing sequence in order.
static int choose_tokens(const Model *m, Ctx *c, Seq *seqs, const int *which, int n, const void *logits,
                         const int32_t *row, const int32_t *experts, Err *e) {
    double *u = xmalloc((size_t)n * sizeof *u), *logp = xmalloc((size_t)n * sizeof *logp),
           *entropy = xmalloc((size_t)n * sizeof *entropy);
    int32_t *token = xmalloc((size_t)n * sizeof *token);
    for (int k = 0; k < n; k++) u[k] = draw_uniform(c, &seqs[which[k]]);
    model_sample(m, logits, n, row, u, &c->spec, token, logp, entropy);
    int rc = 0;
    for (int k = 0; k < n && rc == 0; k++)
        if (token[k] < 0) {
            const Response *r = seqs[which[k]].r;
            rc = err_set(e, "non-finite logits at step %u, prompt %lld, sample %d, response token %d", c->step,
                         (long long)r->prompt_index, r->sample_index, r->n_tokens);
        }
    for (int k = 0; k < n && rc == 0; k++)
        take_token(c, &seqs[which[k]], token[k], logp[k], entropy[k],
                   experts ? experts + (size_t)row[k] * c->stride : NULL);
    free(u), free(logp), free(entropy), free(token);
    return rc;
}

// Prefills a group's prompt once into the slot of its sample 0, copies it to the group's other slots, and
// draws every sample's first token from the shared last-position logits (the only row the head computes).
static int prefill_group(Model *m, KVCache *kv, Ctx *c, Seq *group, const int32_t *prompt, Err *e) {
    int plen = group[0].prompt_len, G = c->cfg->n;
    void *logits = model_logits_alloc(m, 1);
    if (!logits) return err_set(e, "out of backend memory for one row of logits (%d-token vocabulary)", c->vocab);
    int *slots = xmalloc((size_t)plen * sizeof *slots), *pos = xmalloc((size_t)plen * sizeof *pos);
    int32_t *experts = c->stride ? xmalloc((size_t)plen * (size_t)c->stride * sizeof *experts) : NULL;
    for (int i = 0; i < plen; i++) slots[i] = group[0].slot, pos[i] = i;
    int rc = model_decode_keep(m, kv, plen, slots, pos, prompt, plen - 1, logits, experts, e);
    if (rc == 0) {
        for (int j = 1; j < G; j++) kv_cache_copy(kv, group[j].slot, group[0].slot, plen);
        const int32_t *last_experts = experts ? experts + (size_t)(plen - 1) * c->stride : NULL;
        int *which = xmalloc((size_t)G * sizeof *which);
        int32_t *row = xcalloc((size_t)G, sizeof *row);  // every sample draws from row 0
        for (int j = 0; j < G; j++) which[j] = j;
        rc = choose_tokens(m, c, group, which, G, logits, row, last_experts, e);
        free(which), free(row);
    }
    model_logits_free(m, logits);
    free(slots), free(pos), free(experts);
    return rc;
}

// The KV cache as blocks of G slots, each holding one group from its prefill until all G responses have finished;
// then the block takes the next prompt, so finished slots are reused while the other groups go on decoding.
typedef struct {
    KVCache *kv;
    int n_blocks, next;  // next: the first prompt not yet prefilled
    int *prompt;         // prompt of each block, -1 when free
} Blocks;

static bool group_live(const Ctx *c, const Seq *group) {
    for (int j = 0; j < c->cfg->n; j++)
        if (group[j].live) return true;
    return false;
}

// Frees the blocks whose groups have finished and prefills the next prompts into free blocks (in block order).
static int refill(Model *m, Ctx *c, Blocks *bl, int n_prompts, const int32_t *const *prompt_tokens, Seq *seqs,
                  Err *e) {
    int G = c->cfg->n;
    for (int b = 0; b < bl->n_blocks; b++) {
        if (bl->prompt[b] >= 0 && !group_live(c, seqs + (size_t)bl->prompt[b] * G)) bl->prompt[b] = -1;
        if (bl->prompt[b] >= 0 || bl->next >= n_prompts) continue;
        int p = bl->next++;
        Seq *group = seqs + (size_t)p * G;
        for (int j = 0; j < G; j++) group[j].slot = b * G + j;
        bl->prompt[b] = p;
        TRY(prefill_group(m, bl->kv, c, group, prompt_tokens[p], e));
    }
    return 0;
}

// Generates every prompt's group in n_blocks blocks of G slots of max_len positions: all live sequences step together,
// one token each per decode step, and a block whose group has finished takes the next prompt.
static int generate(Model *m, Ctx *c, int n_prompts, int n_blocks, int max_len, const int32_t *const *prompt_tokens,
                    Seq *seqs, Err *e) {
    int G = c->cfg->n, n_slots = n_blocks * G;
    Blocks bl = {.n_blocks = n_blocks, .kv = kv_cache_create(m, n_slots, max_len, e)};
    if (!bl.kv) return err_prefix(e, "KV cache for %d prompts x %d samples x %d positions", n_blocks, G, max_len);
    void *logits = model_logits_alloc(m, n_slots);
    if (!logits) {
        kv_cache_free(bl.kv);
        return err_set(e, "out of backend memory for %d rows of logits (%d-token vocabulary)", n_slots, c->vocab);
    }
    bl.prompt = xmalloc((size_t)n_blocks * sizeof *bl.prompt);
    for (int b = 0; b < n_blocks; b++) bl.prompt[b] = -1;
    int *slots = xmalloc((size_t)n_slots * sizeof *slots), *pos = xmalloc((size_t)n_slots * sizeof *pos);
    int *which = xmalloc((size_t)n_slots * sizeof *which);
    int32_t *tokens = xmalloc((size_t)n_slots * sizeof *tokens), *row = xmalloc((size_t)n_slots * sizeof *row);
    int32_t *experts = c->stride ? xmalloc((size_t)n_slots * (size_t)c->stride * sizeof *experts) : NULL;
    for (int k = 0; k < n_slots; k++) row[k] = k;
    int rc = 0;
    for (;;) {
        if ((rc = refill(m, c, &bl, n_prompts, prompt_tokens, seqs, e)) != 0) break;
        int n = 0;
        for (int b = 0; b < n_blocks; b++)
            for (int j = 0; bl.prompt[b] >= 0 && j < G; j++) {
                int i = bl.prompt[b] * G + j;
                if (!seqs[i].live) continue;
                const Response *r = seqs[i].r;
                which[n] = i, slots[n] = seqs[i].slot, tokens[n] = r->tokens[r->n_tokens - 1];
                pos[n++] = seqs[i].prompt_len + r->n_tokens - 1;
            }
        if (n == 0 && bl.next >= n_prompts) break;
        if (n == 0) continue;  // every group in the cache finished on its first token: the blocks take new prompts
        if ((rc = model_decode_keep(m, bl.kv, n, slots, pos, tokens, 0, logits, experts, e)) != 0) break;
        if ((rc = choose_tokens(m, c, seqs, which, n, logits, row, experts, e)) != 0) break;
    }
    model_logits_free(m, logits);
    kv_cache_free(bl.kv);
    free(bl.prompt), free(slots), free(pos), free(which), free(tokens), free(row), free(experts);
    return rc;
}

static int check_request(const Model *m, const Tokenizer *tok, const RolloutConfig *cfg, int64_t step, int n_prompts,
                         const int64_t *gidx, const int32_t *const *prompts, const int *plen, Err *e) {
    int V = m->cfg.vocab_size;
    if (tokenizer_eos(tok) >= V)
        return err_set(e, "tokenizer EOS id %d is outside the model vocabulary (vocab_size %d)", tokenizer_eos(tok), V);
    if (step < 0 || step > UINT32_MAX) return err_set(e, "step %lld is outside [0, 2^32)", (long long)step);
    if (cfg->temperature < 0) return err_set(e, "[rollout] temperature must be >= 0");
    if ((int64_t)n_prompts * cfg->n > INT_MAX)
        return err_set(e, "%d prompts x %d samples is too many", n_prompts, cfg->n);
    for (int p = 0; p < n_prompts; p++) {
        if (plen[p] < 1)
            return err_set(e, "prompt %lld is empty; expected at least one token (e.g. BOS)", (long long)gidx[p]);
        if ((int64_t)plen[p] + cfg->max_new_tokens > m->cfg.max_position_embeddings)
            return err_set(e,
                           "prompt %lld: %d prompt tokens + [rollout] max_new_tokens %d exceed [model] "
                           "max_position_embeddings %d",
                           (long long)gidx[p], plen[p], cfg->max_new_tokens, m->cfg.max_position_embeddings);
        if (gidx[p] < 0 || (gidx[p] + 1) * (int64_t)cfg->n > (int64_t)UINT32_MAX + 1)
            return err_set(e,
                           "global prompt index %lld x group size %d does not fit the 32-bit RNG sequence coordinate",
                           (long long)gidx[p], cfg->n);
        for (int i = 0; i < plen[p]; i++)
            if (prompts[p][i] < 0 || prompts[p][i] >= V)
                return err_set(e, "prompt %lld token %d: id %d is outside the vocabulary [0, %d)", (long long)gidx[p],
                               i, prompts[p][i], V);
    }
    return 0;
}

int sampler_generate(Model *m, const Tokenizer *tok, const RolloutConfig *cfg, int64_t step, int n_prompts,
                     const int64_t *global_prompt_index, const int32_t *const *prompt_tokens, const int *prompt_len,
                     Rollout *out, Err *e) {
    memset(out, 0, sizeof *out);
    out->group_size = cfg->n;
    if (n_prompts == 0) return 0;  // a rank with no prompts of its own
    TRY(check_request(m, tok, cfg, step, n_prompts, global_prompt_index, prompt_tokens, prompt_len, e));
    int G = cfg->n, max_prompt = 1;
    for (int p = 0; p < n_prompts; p++)
        if (prompt_len[p] > max_prompt) max_prompt = prompt_len[p];
    int max_len = max_prompt + cfg->max_new_tokens, per_block = sampler_prompts_that_fit(m, cfg, max_prompt);
    if (per_block == 0)
        return err_set(e,
                       "[rollout] kv_cache_mb = %d is too small for one group: %d samples x %d positions "
                       "(longest prompt %d + max_new_tokens %d) need %.1f MiB of KV cache",
                       cfg->kv_cache_mb, G, max_len, max_prompt, cfg->max_new_tokens,
                       (double)kv_cache_bytes(m, G, max_len) / (1 << 20));
    Ctx c = {.cfg = cfg,
             .tok = tok,
             .step = (uint32_t)step,
             .vocab = m->cfg.vocab_size,
             .stride = experts_per_token(m),
             .spec = {.temperature = cfg->temperature,
                      .top_k = cfg->top_k,
                      .top_p = cfg->top_p,
                      .record_temperature = cfg->temperature > 0 ? cfg->temperature : 1.0}};
    TRY(stop_parse(&c.stops, cfg->stop, e));
    out->n_responses = n_prompts * G, out->group_size = G, out->experts_per_token = c.stride;
    out->responses = xcalloc((size_t)n_prompts * G + 1, sizeof *out->responses);
    Seq *seqs = xcalloc((size_t)n_prompts * G + 1, sizeof *seqs);
    for (int p = 0; p < n_prompts; p++)
        for (int j = 0; j < G; j++) {
            Seq *s = &seqs[(size_t)p * G + j];
            s->r = &out->responses[(size_t)p * G + j];
            s->r->prompt_index = global_prompt_index[p], s->r->sample_index = j;
            s->prompt_len = prompt_len[p], s->live = true;
            s->sequence = (uint32_t)(global_prompt_index[p] * G + j);
        }
    // Packed weights where MATMUL_PACKED_MIN_ROWS responses or more decode at once; the weights stay as they are until
    // the generation ends.
    int n_blocks = per_block < n_prompts ? per_block : n_prompts;
    MatmulPack *pack = cfg->pack_weights && n_blocks * G >= MATMUL_PACKED_MIN_ROWS ? model_pack_weights(m) : NULL;
    if (pack) out->packed_bytes = model_pack_bytes(m);
    int rc = generate(m, &c, n_prompts, n_blocks, max_len, prompt_tokens, seqs, e);
    matmul_pack_free(pack);
    for (int i = 0; i < n_prompts * G; i++) free(seqs[i].text);
    free(seqs);
    stop_free(&c.stops);
    if (rc) rollout_free(out);
    return rc;
}
