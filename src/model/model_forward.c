// Training forward over packed sequences and incremental decoding with a KV cache: both run the same
// layer_forward on the same rows, so their logits agree bit for bit (src/README.md invariant 2). Activations and
// the cache live in Model.backend's memory and every step on them is one of its operations (model/backend.h).
#include <stdint.h>
#include <string.h>

#include "model/backend.h"
#include "model/matmul.h"
#include "model/model_internal.h"

struct KVCache {
    const Backend *be;
    int n_slots, max_len, L, KD;
    size_t n;     // elements of each of k and v
    void *k, *v;  // [L][n_slots][max_len][KD] activations in the backend's memory
    // Rows 0..same_n[s]-1 of slot s hold the values of those of slot same_as[s] (kv_cache_copy's prompt), so that
    // attention may read one copy for a whole group; cut back whenever either slot's rows there are written.
    int *same_as, *same_n;
};

size_t kv_cache_bytes(const Model *m, int n_slots, int max_len) {
    Dims d = model_dims(m);
    return 2 * m->backend->act_bytes * (size_t)d.L * (size_t)n_slots * (size_t)max_len * (size_t)d.KD;
}

KVCache *kv_cache_create(const Model *m, int n_slots, int max_len, Err *e) {
    if (n_slots < 1 || max_len < 1 || max_len > m->cfg.max_position_embeddings) {
        err_set(e, "kv cache: need n_slots >= 1 (got %d) and 1 <= max_len <= max_position_embeddings %d (got %d)",
                n_slots, m->cfg.max_position_embeddings, max_len);
        return NULL;
    }
    Dims d = model_dims(m);
    size_t n = (size_t)d.L * n_slots * max_len * d.KD;
    KVCache *c = xcalloc(1, sizeof *c);
    *c = (KVCache){.be = m->backend, .n_slots = n_slots, .max_len = max_len, .L = d.L, .KD = d.KD, .n = n,
                   .same_as = xcalloc((size_t)n_slots, sizeof(int)), .same_n = xcalloc((size_t)n_slots, sizeof(int))};
    c->k = bk_alloc_apart(c->be, n, BUF_ACT);  // a cache lives for one rollout: off the heap (backend.h)
    c->v = bk_alloc_apart(c->be, n, BUF_ACT);
    if (!c->k || !c->v) {
        kv_cache_free(c);
        err_set(e, "kv cache: cannot allocate %.1f MiB for %d slots x %d positions",
                kv_cache_bytes(m, n_slots, max_len) / 1048576.0, n_slots, max_len);
        return NULL;
    }
    return c;
}

void kv_cache_free(KVCache *c) {
    if (!c) return;
    bk_free_apart(c->be, c->k, c->n, BUF_ACT);
    bk_free_apart(c->be, c->v, c->n, BUF_ACT);
    free(c->same_as), free(c->same_n);
    free(c);
}

// Slot s's rows from position p on are about to change: no slot shares them any longer, nor s another's.
static void kv_rows_written(KVCache *c, int s, int p) {
    if (c->same_n[s] > p) c->same_n[s] = p;
    for (int x = 0; x < c->n_slots; x++)
        if (c->same_as[x] == s && c->same_n[x] > p) c->same_n[x] = p;
}

void kv_cache_copy(KVCache *c, int dst_slot, int src_slot, int n_positions) {
    if (dst_slot == src_slot || n_positions <= 0) return;
    kv_rows_written(c, dst_slot, 0);
    // The values go back to the slot src's rows came from, where src shares all of them.
    bool chained = c->same_n[src_slot] >= n_positions;
    c->same_as[dst_slot] = chained ? c->same_as[src_slot] : src_slot, c->same_n[dst_slot] = n_positions;
    const Backend *be = c->be;
    size_t slot = (size_t)c->max_len * c->KD, len = (size_t)n_positions * c->KD;
    for (int l = 0; l < c->L; l++) {
        size_t layer = (size_t)l * c->n_slots * slot;
        be->copy(be, act_at(be, c->k, layer + dst_slot * slot), act_at(be, c->k, layer + src_slot * slot), len,
                 BUF_ACT);
        be->copy(be, act_at(be, c->v, layer + dst_slot * slot), act_at(be, c->v, layer + src_slot * slot), len,
                 BUF_ACT);
    }
}

// Final norm and LM head on the residual stream x [T, D]; logits [T, V] into the caller's host array (NULL: the
// final norm only).
static void head(const Model *m, const void *x, void *normed, void *inv, float *logits, int T) {
    const Backend *be = m->backend;
    Dims d = model_dims(m);
    size_t n = (size_t)T * d.V;
    model_before_unit(m, MODEL_UNIT_HEAD);
    be->rms_norm(be, x, be->param(be, m, m->priv->final_norm), normed, inv, T, d.D, m->cfg.rms_norm_eps);
    if (!logits) return;
    void *out = be->view(be, logits, n, BUF_ACT, VIEW_OUT);
    be->matmul(be, normed, be->param(be, m, m->priv->lm_head), NULL, out, T, d.V, d.D);
    be->view_end(be, out, logits, n, BUF_ACT, VIEW_OUT);
}

static int check_tokens(const Model *m, const int32_t *tokens, int T, Err *e) {
    for (int t = 0; t < T; t++)
        if (tokens[t] < 0 || tokens[t] >= m->cfg.vocab_size)
            return err_set(e, "model: token %d at index %d is outside the vocabulary [0, %d)", tokens[t], t,
                           m->cfg.vocab_size);
    return 0;
}

// Final norm and LM head of decode rows x [T, D] into the backend buffer logits [T, V] (no host copy).
static void decode_head(const Model *m, const void *x, void *normed, void *inv, void *logits, int T) {
    const Backend *be = m->backend;
    Dims d = model_dims(m);
    model_before_unit(m, MODEL_UNIT_HEAD);
    be->rms_norm(be, x, be->param(be, m, m->priv->final_norm), normed, inv, T, d.D, m->cfg.rms_norm_eps);
    be->matmul(be, normed, be->param(be, m, m->priv->lm_head), NULL, logits, T, d.V, d.D);
}

// The rows each token of a call may read from another slot (Backend.attention's shared), after the rows the call
// writes (token t's at pos[t]) have ended what they shared; NULL when none.
static int64_t *kv_shared_rows(KVCache *c, int n, const int *slots, const int *pos) {
    bool any = false;
    for (int t = 0; t < n; t++) kv_rows_written(c, slots[t], pos[t]);
    for (int t = 0; t < n; t++) any |= c->same_n[slots[t]] > 0;
    if (!any) return NULL;
    int64_t *shared = xmalloc(2 * (size_t)n * sizeof *shared);
    for (int t = 0; t < n; t++)
        shared[2 * t] = (int64_t)c->same_as[slots[t]] * c->max_len, shared[2 * t + 1] = c->same_n[slots[t]];
    return shared;
}

// Where the weight at offset off lies in the backend's memory; NULL for a model with its layout only (memory_plan).
static const float *weight_at(const Model *m, size_t off) {
    return m->params ? m->backend->param(m->backend, m, off) : NULL;
}

// The weights model_pack_weights packs (*n of them; free the array): each layer's attention projections and dense
// MLP, then the LM head.
static MatmulWeight *pack_list(const Model *m, int *n) {
    Dims d = model_dims(m);
    MatmulWeight *ws = xmalloc((7 * (size_t)d.L + 1) * sizeof *ws);
    *n = 0;
    for (int l = 0; l < d.L; l++) {
        const LayerOffsets *o = &m->priv->layers[l];
        ws[(*n)++] = (MatmulWeight){weight_at(m, o->wq), d.QD, d.D};
        ws[(*n)++] = (MatmulWeight){weight_at(m, o->wk), d.KD, d.D};
        ws[(*n)++] = (MatmulWeight){weight_at(m, o->wv), d.KD, d.D};
        ws[(*n)++] = (MatmulWeight){weight_at(m, o->wo), d.D, d.QD};
        if (model_layer_is_moe(m, l)) continue;  // the experts' products take their own paths (model/moe.c)
        ws[(*n)++] = (MatmulWeight){weight_at(m, o->gate), d.F, d.D};
        ws[(*n)++] = (MatmulWeight){weight_at(m, o->up), d.F, d.D};
        ws[(*n)++] = (MatmulWeight){weight_at(m, o->down), d.D, d.F};
    }
    ws[(*n)++] = (MatmulWeight){weight_at(m, m->priv->lm_head), d.V, d.D};
    return ws;
}

MatmulPack *model_pack_weights(const Model *m) {
    // Where the backend reads the host's weights (the CPU's, and bench --ops' timed CPU backend; a device reads its own
    // copy), all of them resident (zero stage 3 gathers them as the decode reads them, into the same memory).
    if (!m->params || m->before_unit || !matmul_pack_supported() || weight_at(m, 0) != m->params) return NULL;
    int n;
    MatmulWeight *ws = pack_list(m, &n);
    MatmulPack *p = matmul_pack_make(ws, n);
    free(ws);
    return p;
}

double model_pack_bytes(const Model *m) {
    if (!matmul_pack_supported()) return 0;
    int n;
    MatmulWeight *ws = pack_list(m, &n);
    double bytes = (double)matmul_pack_bytes(ws, n);
    free(ws);
    return bytes;
}

int model_decode_keep(Model *m, KVCache *c, int n, const int *slots, const int *pos, const int32_t *tokens,
                      int first_out, void *logits, int32_t *experts, Err *e) {
    TRY(check_tokens(m, tokens, n, e));
    for (int t = 0; t < n; t++)
        if (slots[t] < 0 || slots[t] >= c->n_slots || pos[t] < 0 || pos[t] >= c->max_len)
            return err_set(e, "model_decode: token %d has slot %d / position %d outside the cache (%d slots x %d)", t,
                           slots[t], pos[t], c->n_slots, c->max_len);
    if (n > 0 && (first_out < 0 || first_out >= n))  // the head runs on every call, as ZeRO-3's unit cycle expects
        return err_set(e, "model_decode: logits from row %d of %d tokens requested (expected 0 .. %d)", first_out, n,
                       n - 1);
    if (n == 0) return 0;
    const Backend *be = m->backend;
    if (c->be != be) return err_set(e, "model_decode: the KV cache belongs to another backend");
    Dims d = model_dims(m);
    size_t t = (size_t)n;
    int64_t *row0 = xmalloc(t * sizeof *row0), *shared = kv_shared_rows(c, n, slots, pos);
    for (int i = 0; i < n; i++) row0[i] = (int64_t)slots[i] * c->max_len;
    void *row0_b = be->view(be, row0, t, BUF_I64, VIEW_IN), *pos_b = be->view(be, (int *)pos, t, BUF_I32, VIEW_IN),
         *tok_b = be->view(be, (int32_t *)tokens, t, BUF_I32, VIEW_IN);
    void *x = bk_alloc(be, t * d.D, BUF_ACT), *normed = bk_alloc(be, t * d.D, BUF_ACT),
         *inv = bk_alloc(be, t, BUF_F32);
    LayerActs a;
    layer_acts_alloc(be, &a, &d, n, model_layer_kinds(m));
    model_before_unit(m, MODEL_UNIT_EMBED);
    be->embed(be, be->param(be, m, m->priv->embed), tok_b, n, d.D, x);
    size_t layer_size = (size_t)c->n_slots * c->max_len * d.KD;
    for (int l = 0; l < d.L; l++) {
        model_before_unit(m, l);
        layer_forward(m, l, n, pos_b, row0_b, shared, act_at(be, c->k, l * layer_size),
                      act_at(be, c->v, l * layer_size), x, &a, experts ? experts + (size_t)l * d.K : NULL, d.L * d.K,
                      NULL, NULL);
    }
    // Rows are independent through the head (batch invariance), so the rows asked for alone give the same bits.
    decode_head(m, act_at(be, x, (size_t)first_out * d.D), normed, inv, logits, n - first_out);
    layer_acts_free(be, &a);
    be->view_end(be, row0_b, row0, t, BUF_I64, VIEW_IN);
    be->view_end(be, pos_b, (int *)pos, t, BUF_I32, VIEW_IN);
    be->view_end(be, tok_b, (int32_t *)tokens, t, BUF_I32, VIEW_IN);
    be->free(be, x), be->free(be, normed), be->free(be, inv);
    free(row0), free(shared);
    return 0;
}

int model_decode(Model *m, KVCache *c, int n, const int *slots, const int *pos, const int32_t *tokens, float *logits,
                 int32_t *experts, Err *e) {
    const Backend *be = m->backend;
    size_t size = (size_t)(n > 0 ? n : 0) * (size_t)m->cfg.vocab_size;
    void *out = be->view(be, logits, size, BUF_ACT, VIEW_OUT);
    int rc = model_decode_keep(m, c, n, slots, pos, tokens, 0, out, experts, e);
    be->view_end(be, out, logits, size, BUF_ACT, rc == 0 ? VIEW_OUT : (ViewDir)0);  // a failed decode writes nothing
    return rc;
}

void model_acts_free(ModelActs *a) {
    if (!a) return;
    const Backend *be = a->be;
    for (int l = 0; a->layers && l < a->n_layers; l++) layer_acts_free(be, &a->layers[l]);
    free(a->layers);
    be->view_end(be, a->tokens_b, a->tokens, (size_t)a->T, BUF_I32, VIEW_IN);
    be->view_end(be, a->pos_b, a->pos, (size_t)a->T, BUF_I32, VIEW_IN);
    be->view_end(be, a->row0_b, a->row0, (size_t)a->T, BUF_I64, VIEW_IN);
    be->free(be, a->x_final), be->free(be, a->inv_final), be->free(be, a->a_final);
    if (a->head_targets) be->view_end(be, a->head_targets_b, a->head_targets, (size_t)a->T, BUF_I32, VIEW_IN);
    be->free(be, a->head_stats), be->free(be, a->head_logits);
    free(a->head_targets);
    free(a->seq_offsets), free(a->tokens), free(a->pos), free(a->row0), free(a->expert_frac);
    free(a);
}

// HF load_balancing_loss_func over the MoE layers' rows: E * sum_e (count_e / R) * (sum of probs_e / R),
// R = (MoE layers) * T.
static double aux_loss_value(const Dims *d, int n_moe, int T, const double *psum, const double *cnt, double *frac) {
    double rows = (double)n_moe * T, aux = 0;
    for (int e = 0; e < d->E; e++) {
        frac[e] = cnt[e] / rows;
        aux += frac[e] * (psum[e] / rows);
    }
    return d->E * aux;
}

static int check_head(const Model *m, const HeadLogprob *h, int T, Err *e) {
    if (!(h->temperature > 0))
        return err_set(e, "model_forward_logprob: temperature %g must be > 0", h->temperature);
    for (int t = 0; t < T; t++)
        if (h->targets[t] < -1 || h->targets[t] >= m->cfg.vocab_size)
            return err_set(e, "model_forward_logprob: target %d of row %d is outside the vocabulary [0, %d) (or -1)",
                           h->targets[t], t, m->cfg.vocab_size);
    return 0;
}

// A batch's checks before any work: each sequence within max_position_embeddings, at most INT32_MAX tokens in all
// (their count into *T), every token in the vocabulary, and the log-prob head's arguments.
static int check_batch(const Model *m, int n_seqs, const int64_t *seq_offsets, const int32_t *tokens,
                       const HeadLogprob *h, int *T, Err *e) {
    if (n_seqs < 0 || (n_seqs > 0 && seq_offsets[0] != 0))
        return err_set(e, "model_forward: seq_offsets must start at 0 (got %d sequences)", n_seqs);
    for (int s = 0; s < n_seqs; s++)
        if (seq_offsets[s + 1] < seq_offsets[s] || seq_offsets[s + 1] - seq_offsets[s] > m->cfg.max_position_embeddings)
            return err_set(e, "model_forward: sequence %d has length %lld (must be in [0, %d])", s,
                           (long long)(seq_offsets[s + 1] - seq_offsets[s]), m->cfg.max_position_embeddings);
    int64_t T64 = n_seqs ? seq_offsets[n_seqs] : 0;
    if (T64 > INT32_MAX)
        return err_set(e, "model_forward: %lld tokens in one call (max %d)", (long long)T64, INT32_MAX);
    *T = (int)T64;
    TRY(check_tokens(m, tokens, *T, e));
    return h ? check_head(m, h, *T, e) : 0;
}

// A forward's record of T tokens: the batch, each row's position and first KV-cache row (its sequence's first token),
// and a layer record per layer where keep (else one that every layer reuses), or with recomputation each layer's
// input alone.
static ModelActs *acts_create(const Model *m, int n_seqs, const int64_t *seq_offsets, const int32_t *tokens, int T,
                              bool keep) {
    const Backend *be = m->backend;
    Dims d = model_dims(m);
    ModelActs *a = xcalloc(1, sizeof *a);
    a->be = be, a->T = T, a->n_seqs = n_seqs;
    a->seq_offsets = xmalloc((size_t)(n_seqs + 1) * sizeof(int64_t));
    memcpy(a->seq_offsets, seq_offsets, (size_t)(n_seqs + 1) * sizeof(int64_t));
    if (!n_seqs) a->seq_offsets[0] = 0;
    a->tokens = xmalloc((size_t)T * sizeof(int32_t) + 1);
    if (T) memcpy(a->tokens, tokens, (size_t)T * sizeof(int32_t));
    a->pos = xmalloc((size_t)T * sizeof(int) + 1);
    a->row0 = xmalloc((size_t)T * sizeof(int64_t) + 1);
    for (int s = 0; s < n_seqs; s++)
        for (int64_t t = seq_offsets[s]; t < seq_offsets[s + 1]; t++)
            a->pos[t] = (int)(t - seq_offsets[s]), a->row0[t] = seq_offsets[s];
    a->tokens_b = be->view(be, a->tokens, (size_t)T, BUF_I32, VIEW_IN);
    a->pos_b = be->view(be, a->pos, (size_t)T, BUF_I32, VIEW_IN);
    a->row0_b = be->view(be, a->row0, (size_t)T, BUF_I64, VIEW_IN);
    a->recompute = keep && m->recompute;
    a->n_layers = keep ? d.L : 1;
    a->layers = xcalloc((size_t)a->n_layers, sizeof *a->layers);
    for (int l = 0; l < a->n_layers; l++)
        if (a->recompute)
            a->layers[l].x_in = bk_alloc_uninit(be, (size_t)T * d.D + 1, BUF_ACT);
        else
            layer_acts_alloc(be, &a->layers[l], &d, T, keep ? layer_kind(m, l) : model_layer_kinds(m));
    a->x_final = bk_alloc(be, (size_t)T * d.D + 1, BUF_ACT);
    a->a_final = bk_alloc(be, (size_t)T * d.D + 1, BUF_ACT);
    a->inv_final = bk_alloc(be, (size_t)T + 1, BUF_F32);
    a->expert_frac = d.E ? xcalloc((size_t)d.E, sizeof(double)) : NULL;
    return a;
}

// The embedding, every layer and the head over a's T > 0 tokens: logits, or h's log-probs; each MoE layer's choices
// into experts and their load balance into *aux_loss. With recomputation every layer runs in one work record, over
// its own input.
static void run_layers(Model *m, ModelActs *a, float *logits, const HeadLogprob *h, int32_t *experts,
                       double *aux_loss) {
    const Backend *be = m->backend;
    Dims d = model_dims(m);
    LayerActs work = {0};
    if (a->recompute) {
        layer_acts_alloc(be, &work, &d, a->T, model_layer_kinds(m));
        be->free(be, work.x_in);  // each layer writes its input into its own record's x_in instead
    }
    double *psum = d.E ? xcalloc((size_t)d.E, sizeof(double)) : NULL,
           *cnt = d.E ? xcalloc((size_t)d.E, sizeof(double)) : NULL;
    model_before_unit(m, MODEL_UNIT_EMBED);
    be->embed(be, be->param(be, m, m->priv->embed), a->tokens_b, a->T, d.D, a->x_final);
    for (int l = 0; l < d.L; l++) {
        LayerActs *la = a->recompute ? &work : &a->layers[a->n_layers > 1 ? l : 0];
        if (a->recompute) work.x_in = a->layers[l].x_in;
        model_before_unit(m, l);
        layer_forward(m, l, a->T, a->pos_b, a->row0_b, NULL, la->kr, la->v, a->x_final, la,
                      experts ? experts + (size_t)l * d.K : NULL, d.L * d.K, psum, cnt);
    }
    if (h)
        head_logprob_forward(m, a, h);
    else
        head(m, a->x_final, a->a_final, a->inv_final, logits, a->T);
    if (d.E) {
        double aux = aux_loss_value(&d, model_n_moe_layers(m), a->T, psum, cnt, a->expert_frac);
        if (aux_loss) *aux_loss = aux;
    }
    free(psum), free(cnt);
    if (a->recompute) {
        work.x_in = NULL;  // the layers' own
        layer_acts_free(be, &work);
    }
}

// No tokens on this rank: with expert parallelism it still serves the group's experts, each unit's weights asked for
// as a forward with tokens does (zero stage 3 gathers them in that order on every rank).
static void serve_experts(Model *m) {
    Dims d = model_dims(m);
    model_before_unit(m, MODEL_UNIT_EMBED);
    for (int l = 0; l < d.L; l++) {
        model_before_unit(m, l);
        if (model_layer_is_moe(m, l)) moe_ep_forward(m, &m->priv->layers[l], &d, NULL, NULL, 0);
    }
    model_before_unit(m, MODEL_UNIT_HEAD);
}

// The training forward with the LM head writing logits, or (h != NULL) the log-prob head of model_head.c. With acts,
// its record for the backward (each layer's own, or only its input under recomputation, one record then serving every
// layer's forward); without, one record reused by every layer.
static int forward(Model *m, int n_seqs, const int64_t *seq_offsets, const int32_t *tokens, float *logits,
                   const HeadLogprob *h, int32_t *experts, double *aux_loss, ModelActs **acts, Err *e) {
    if (acts) *acts = NULL;
    if (aux_loss) *aux_loss = 0;
    int T = 0;
    TRY(check_batch(m, n_seqs, seq_offsets, tokens, h, &T, e));
    ModelActs *a = acts_create(m, n_seqs, seq_offsets, tokens, T, acts != NULL);
    if (T)
        run_layers(m, a, logits, h, experts, aux_loss);
    else if (m->ep)
        serve_experts(m);
    if (acts)
        *acts = a;
    else
        model_acts_free(a);
    return 0;
}

int model_forward(Model *m, int n_seqs, const int64_t *seq_offsets, const int32_t *tokens, float *logits,
                  int32_t *experts, double *aux_loss, ModelActs **acts, Err *e) {
    return forward(m, n_seqs, seq_offsets, tokens, logits, NULL, experts, aux_loss, acts, e);
}

int model_forward_logprob(Model *m, int n_seqs, const int64_t *seq_offsets, const int32_t *tokens,
                          const HeadLogprob *h, int32_t *experts, double *aux_loss, ModelActs **acts, Err *e) {
    return forward(m, n_seqs, seq_offsets, tokens, NULL, h, experts, aux_loss, acts, e);
}
