// Training forward over packed sequences and incremental decoding with a KV cache: both run the same
// layer_forward on the same rows, so their logits agree bit for bit (src/README.md invariant 2).
#include <stdint.h>
#include <string.h>

#include "model/matmul.h"
#include "model/model_internal.h"

struct KVCache {
    int n_slots, max_len, L, KD;
    float *k, *v;  // [L][n_slots][max_len][KD]
};

size_t kv_cache_bytes(const Model *m, int n_slots, int max_len) {
    Dims d = model_dims(m);
    return 2 * sizeof(float) * (size_t)d.L * (size_t)n_slots * (size_t)max_len * (size_t)d.KD;
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
    *c = (KVCache){.n_slots = n_slots, .max_len = max_len, .L = d.L, .KD = d.KD};
    c->k = malloc(n * sizeof(float));
    c->v = malloc(n * sizeof(float));
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
    free(c->k);
    free(c->v);
    free(c);
}

void kv_cache_copy(KVCache *c, int dst_slot, int src_slot, int n_positions) {
    if (dst_slot == src_slot || n_positions <= 0) return;
    for (int l = 0; l < c->L; l++) {
        size_t layer = (size_t)l * c->n_slots * c->max_len * c->KD, len = (size_t)n_positions * c->KD * sizeof(float);
        memcpy(c->k + layer + (size_t)dst_slot * c->max_len * c->KD,
               c->k + layer + (size_t)src_slot * c->max_len * c->KD, len);
        memcpy(c->v + layer + (size_t)dst_slot * c->max_len * c->KD,
               c->v + layer + (size_t)src_slot * c->max_len * c->KD, len);
    }
}

// Final norm and LM head on the residual stream x [T, D].
static void head(const Model *m, const float *x, float *normed, float *inv, float *logits, int T) {
    Dims d = model_dims(m);
    rms_norm_rows(x, m->params + m->priv->final_norm, normed, inv, T, d.D, m->cfg.rms_norm_eps);
    matmul_xwt(normed, m->params + m->priv->lm_head, NULL, logits, T, d.V, d.D);
}

static void embed(const Model *m, const int32_t *tokens, int T, float *x) {
    Dims d = model_dims(m);
    for (int t = 0; t < T; t++)
        memcpy(x + (size_t)t * d.D, m->params + m->priv->embed + (size_t)tokens[t] * d.D, d.D * sizeof(float));
}

static int check_tokens(const Model *m, const int32_t *tokens, int T, Err *e) {
    for (int t = 0; t < T; t++)
        if (tokens[t] < 0 || tokens[t] >= m->cfg.vocab_size)
            return err_set(e, "model: token %d at index %d is outside the vocabulary [0, %d)", tokens[t], t,
                           m->cfg.vocab_size);
    return 0;
}

int model_decode(Model *m, KVCache *c, int n, const int *slots, const int *pos, const int32_t *tokens, float *logits,
                 int32_t *experts, Err *e) {
    TRY(check_tokens(m, tokens, n, e));
    for (int t = 0; t < n; t++)
        if (slots[t] < 0 || slots[t] >= c->n_slots || pos[t] < 0 || pos[t] >= c->max_len)
            return err_set(e, "model_decode: token %d has slot %d / position %d outside the cache (%d slots x %d)", t,
                           slots[t], pos[t], c->n_slots, c->max_len);
    if (n == 0) return 0;
    Dims d = model_dims(m);
    int64_t *row0 = xmalloc((size_t)n * sizeof *row0);
    for (int t = 0; t < n; t++) row0[t] = (int64_t)slots[t] * c->max_len;
    float *x = xmalloc((size_t)n * d.D * sizeof(float)), *normed = xmalloc((size_t)n * d.D * sizeof(float));
    float *inv = xmalloc((size_t)n * sizeof(float));
    LayerActs a;
    layer_acts_alloc(&a, &d, n, model_layer_kinds(m));
    embed(m, tokens, n, x);
    size_t layer_size = (size_t)c->n_slots * c->max_len * d.KD;
    for (int l = 0; l < d.L; l++)
        layer_forward(m, l, n, pos, row0, c->k + l * layer_size, c->v + l * layer_size, x, &a,
                      experts ? experts + (size_t)l * d.K : NULL, d.L * d.K, NULL, NULL);
    head(m, x, normed, inv, logits, n);
    layer_acts_free(&a);
    free(row0), free(x), free(normed), free(inv);
    return 0;
}

void model_acts_free(ModelActs *a) {
    if (!a) return;
    for (int l = 0; a->layers && l < a->n_layers; l++) layer_acts_free(&a->layers[l]);
    free(a->layers);
    free(a->seq_offsets), free(a->tokens), free(a->pos);
    free(a->x_final), free(a->inv_final), free(a->a_final), free(a->expert_frac);
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

int model_forward(Model *m, int n_seqs, const int64_t *seq_offsets, const int32_t *tokens, float *logits,
                  int32_t *experts, double *aux_loss, ModelActs **acts, Err *e) {
    if (acts) *acts = NULL;
    if (aux_loss) *aux_loss = 0;
    if (n_seqs < 0 || (n_seqs > 0 && seq_offsets[0] != 0))
        return err_set(e, "model_forward: seq_offsets must start at 0 (got %d sequences)", n_seqs);
    for (int s = 0; s < n_seqs; s++)
        if (seq_offsets[s + 1] < seq_offsets[s] || seq_offsets[s + 1] - seq_offsets[s] > m->cfg.max_position_embeddings)
            return err_set(e, "model_forward: sequence %d has length %lld (must be in [0, %d])", s,
                           (long long)(seq_offsets[s + 1] - seq_offsets[s]), m->cfg.max_position_embeddings);
    int64_t T64 = n_seqs ? seq_offsets[n_seqs] : 0;
    if (T64 > INT32_MAX)
        return err_set(e, "model_forward: %lld tokens in one call (max %d)", (long long)T64, INT32_MAX);
    int T = (int)T64;
    TRY(check_tokens(m, tokens, T, e));
    Dims d = model_dims(m);
    ModelActs *a = xcalloc(1, sizeof *a);
    a->T = T, a->n_seqs = n_seqs, a->n_layers = d.L;
    a->seq_offsets = xmalloc((size_t)(n_seqs + 1) * sizeof(int64_t));
    memcpy(a->seq_offsets, seq_offsets, (size_t)(n_seqs + 1) * sizeof(int64_t));
    if (!n_seqs) a->seq_offsets[0] = 0;
    a->tokens = xmalloc((size_t)T * sizeof(int32_t) + 1);
    if (T) memcpy(a->tokens, tokens, (size_t)T * sizeof(int32_t));
    a->pos = xmalloc((size_t)T * sizeof(int) + 1);
    int64_t *row0 = xmalloc((size_t)T * sizeof(int64_t) + 1);
    for (int s = 0; s < n_seqs; s++)
        for (int64_t t = seq_offsets[s]; t < seq_offsets[s + 1]; t++)
            a->pos[t] = (int)(t - seq_offsets[s]), row0[t] = seq_offsets[s];
    // Without acts one record is reused by every layer; with acts each layer keeps its own.
    int n_records = acts ? d.L : 1;
    a->layers = xcalloc((size_t)n_records, sizeof *a->layers);
    a->n_layers = n_records;
    for (int l = 0; l < n_records; l++)
        layer_acts_alloc(&a->layers[l], &d, T, acts ? layer_kind(m, l) : model_layer_kinds(m));
    a->x_final = xcalloc((size_t)T * d.D + 1, sizeof(float));
    a->a_final = xcalloc((size_t)T * d.D + 1, sizeof(float));
    a->inv_final = xcalloc((size_t)T + 1, sizeof(float));
    double *psum = d.E ? xcalloc((size_t)d.E, sizeof(double)) : NULL,
           *cnt = d.E ? xcalloc((size_t)d.E, sizeof(double)) : NULL;
    a->expert_frac = d.E ? xcalloc((size_t)d.E, sizeof(double)) : NULL;
    if (T) {
        embed(m, tokens, T, a->x_final);
        for (int l = 0; l < d.L; l++) {
            LayerActs *la = &a->layers[acts ? l : 0];
            layer_forward(m, l, T, a->pos, row0, la->kr, la->v, a->x_final, la,
                          experts ? experts + (size_t)l * d.K : NULL, d.L * d.K, psum, cnt);
        }
        head(m, a->x_final, a->a_final, a->inv_final, logits, T);
        if (d.E) {
            double aux = aux_loss_value(&d, model_n_moe_layers(m), T, psum, cnt, a->expert_frac);
            if (aux_loss) *aux_loss = aux;
        }
    }
    for (int l = 0; !T && m->ep && l < d.L; l++)  // no tokens here: still serve the group's experts
        if (model_layer_is_moe(m, l)) moe_ep_forward(m, &m->priv->layers[l], &d, NULL, NULL, 0);
    free(psum), free(cnt), free(row0);
    if (acts)
        *acts = a;
    else
        model_acts_free(a);
    return 0;
}
