// Model parameter layout (Hugging Face names, [out, in]), creation and seeded init (config.json: model_hf.c).
#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "model/backend.h"
#include "model/model_internal.h"

#define ABSENT SIZE_MAX

Dims model_dims(const Model *m) {
    const ModelConfig *c = &m->cfg;
    Dims d = {.D = c->hidden_size, .V = c->vocab_size, .L = c->num_hidden_layers, .Hq = c->num_attention_heads,
              .Hk = c->num_key_value_heads, .hd = m->head_dim, .F = c->intermediate_size};
    d.QD = d.Hq * d.hd;
    d.KD = d.Hk * d.hd;
    if (m->moe) {
        d.E = c->num_experts;
        d.K = c->num_experts_per_tok;
        d.Fe = c->moe_intermediate_size;
        d.S = c->shared_expert_intermediate_size;
    }
    return d;
}

// Appends a tensor to the table; returns its offset.
static size_t add(Model *m, int *cap, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2) {
    if (m->n_tensors == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        m->tensors = xrealloc(m->tensors, (size_t)*cap * sizeof *m->tensors);
    }
    ModelTensor *t = &m->tensors[m->n_tensors++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    int64_t dims[3] = {d0, d1, d2};
    t->numel = 1;
    for (int i = 0; i < ndim; i++) t->numel *= (size_t)(t->shape[i] = dims[i]);
    t->offset = m->n_params;
    m->n_params += t->numel;
    return t->offset;
}

static size_t add_layer(Model *m, int *cap, int l, const char *suffix, int ndim, int64_t d0, int64_t d1, int64_t d2) {
    char name[128];
    snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix);
    return add(m, cap, name, ndim, d0, d1, d2);
}

static void build_layer(Model *m, int *cap, int l, const Dims *d, LayerOffsets *o) {
    const ModelConfig *c = &m->cfg;
    memset(o, 0xff, sizeof *o);  // every offset ABSENT
    o->ln1 = add_layer(m, cap, l, "input_layernorm.weight", 1, d->D, 0, 0);
    o->wq = add_layer(m, cap, l, "self_attn.q_proj.weight", 2, d->QD, d->D, 0);
    if (c->attention_bias) o->bq = add_layer(m, cap, l, "self_attn.q_proj.bias", 1, d->QD, 0, 0);
    o->wk = add_layer(m, cap, l, "self_attn.k_proj.weight", 2, d->KD, d->D, 0);
    if (c->attention_bias) o->bk = add_layer(m, cap, l, "self_attn.k_proj.bias", 1, d->KD, 0, 0);
    o->wv = add_layer(m, cap, l, "self_attn.v_proj.weight", 2, d->KD, d->D, 0);
    if (c->attention_bias) o->bv = add_layer(m, cap, l, "self_attn.v_proj.bias", 1, d->KD, 0, 0);
    o->wo = add_layer(m, cap, l, "self_attn.o_proj.weight", 2, d->D, d->QD, 0);
    if (c->qk_norm) {
        o->qn = add_layer(m, cap, l, "self_attn.q_norm.weight", 1, d->hd, 0, 0);
        o->kn = add_layer(m, cap, l, "self_attn.k_norm.weight", 1, d->hd, 0, 0);
    }
    o->ln2 = add_layer(m, cap, l, "post_attention_layernorm.weight", 1, d->D, 0, 0);
    if (!m->priv->layer_moe[l]) {
        o->gate = add_layer(m, cap, l, "mlp.gate_proj.weight", 2, d->F, d->D, 0);
        o->up = add_layer(m, cap, l, "mlp.up_proj.weight", 2, d->F, d->D, 0);
        o->down = add_layer(m, cap, l, "mlp.down_proj.weight", 2, d->D, d->F, 0);
        return;
    }
    o->router = add_layer(m, cap, l, "mlp.gate.weight", 2, d->E, d->D, 0);
    o->egate = add_layer(m, cap, l, "mlp.experts.gate_proj", 3, d->E, d->Fe, d->D);
    o->eup = add_layer(m, cap, l, "mlp.experts.up_proj", 3, d->E, d->Fe, d->D);
    o->edown = add_layer(m, cap, l, "mlp.experts.down_proj", 3, d->E, d->D, d->Fe);
    if (d->S > 0) {
        o->sgate = add_layer(m, cap, l, "mlp.shared_expert.gate_proj.weight", 2, d->S, d->D, 0);
        o->sup = add_layer(m, cap, l, "mlp.shared_expert.up_proj.weight", 2, d->S, d->D, 0);
        o->sdown = add_layer(m, cap, l, "mlp.shared_expert.down_proj.weight", 2, d->D, d->S, 0);
        o->sexp_gate = add_layer(m, cap, l, "mlp.shared_expert_gate.weight", 2, 1, d->D, 0);
    }
}

int model_config_moe_layers(const ModelConfig *c, bool *layer_moe, Err *e) {
    int L = c->num_hidden_layers;
    if (c->decoder_sparse_step < 1)
        return err_set(e, "model: decoder_sparse_step must be >= 1 (got %d)", c->decoder_sparse_step);
    for (int l = 0; l < L; l++) layer_moe[l] = (l + 1) % c->decoder_sparse_step == 0;
    for (const char *p = c->mlp_only_layers; *p;) {
        char *end;
        while (*p == ' ') p++;
        long l = strtol(p, &end, 10);
        if (end == p || l < 0 || l >= L)
            return err_set(e, "model: mlp_only_layers \"%s\": expected comma-separated layer indices in [0, %d)",
                           c->mlp_only_layers, L);
        layer_moe[l] = false;
        for (p = end; *p == ' '; p++) {}
        if (*p == ',') p++;
        else if (*p) return err_set(e, "model: mlp_only_layers \"%s\": expected comma-separated layer indices in "
                                    "[0, %d)", c->mlp_only_layers, L);
    }
    for (int l = 0; l < L; l++)
        if (layer_moe[l]) return 0;
    return err_set(e, "model: decoder_sparse_step %d and mlp_only_layers \"%s\" leave none of the %d layers a MoE "
                   "layer (a dense type has none)", c->decoder_sparse_step, c->mlp_only_layers, L);
}

bool model_layer_is_moe(const Model *m, int l) { return m->priv->layer_moe[l]; }

int model_n_moe_layers(const Model *m) {
    int n = 0;
    for (int l = 0; l < m->cfg.num_hidden_layers; l++) n += m->priv->layer_moe[l];
    return n;
}

static int create(Model *m, const ModelConfig *cfg, bool alloc, Err *e) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->backend = backend_cpu();
    m->head_chunk = MODEL_HEAD_CHUNK;
    m->skip_zero_backward = true;
    m->moe = cfg->type == MODEL_QWEN2_MOE || cfg->type == MODEL_QWEN3_MOE;
    m->head_dim = cfg->head_dim ? cfg->head_dim : cfg->hidden_size / cfg->num_attention_heads;
    if (cfg->num_attention_heads % cfg->num_key_value_heads || m->head_dim % 2 || m->head_dim < 2)
        return err_set(e, "model: %d query heads, %d key/value heads, head_dim %d: heads must divide evenly and "
                       "head_dim be even", cfg->num_attention_heads, cfg->num_key_value_heads, m->head_dim);
    if (m->moe && (cfg->num_experts < 1 || cfg->num_experts_per_tok < 1 ||
                   cfg->num_experts_per_tok > cfg->num_experts || cfg->moe_intermediate_size < 1))
        return err_set(e, "model: MoE needs 1 <= num_experts_per_tok <= num_experts and moe_intermediate_size >= 1");
    Dims d = model_dims(m);
    int cap = 0;
    m->priv = xcalloc(1, sizeof *m->priv);
    m->priv->layers = xcalloc((size_t)d.L, sizeof *m->priv->layers);
    m->priv->layer_moe = xcalloc((size_t)d.L, sizeof *m->priv->layer_moe);
    if (m->moe && model_config_moe_layers(cfg, m->priv->layer_moe, e)) {
        model_free(m);
        return -1;
    }
    m->priv->embed = add(m, &cap, "model.embed_tokens.weight", 2, d.V, d.D, 0);
    for (int l = 0; l < d.L; l++) build_layer(m, &cap, l, &d, &m->priv->layers[l]);
    m->priv->final_norm = add(m, &cap, "model.norm.weight", 1, d.D, 0, 0);
    m->priv->lm_head = cfg->tie_word_embeddings ? m->priv->embed : add(m, &cap, "lm_head.weight", 2, d.V, d.D, 0);
    if (!alloc) return 0;
    m->params = calloc(m->n_params, sizeof(float));
    if (!m->params) {
        size_t n = m->n_params;
        model_free(m);
        return err_set(e, "model: cannot allocate %zu parameters (%.1f GiB)", n, n * 4.0 / (1 << 30));
    }
    return 0;
}

int model_create(Model *m, const ModelConfig *cfg, Err *e) { return create(m, cfg, true, e); }
int model_layout(Model *m, const ModelConfig *cfg, Err *e) { return create(m, cfg, false, e); }

int model_set_backend(Model *m, const Backend *be, Err *e) {
    TRY(be->load_params(be, m, e));
    m->backend = be;
    return 0;
}

void model_free(Model *m) {
    if (m->priv) free(m->priv->layers), free(m->priv->layer_moe);
    free(m->priv);
    free(m->params);
    free(m->tensors);
    free(m->hf_config);
    memset(m, 0, sizeof *m);
}

static int is_norm(const char *name) { return strstr(name, "norm.weight") || strstr(name, "layernorm.weight"); }
static int is_bias(const char *name) { return strstr(name, ".bias") != NULL; }

// Each 4096-float chunk of tensor i draws from its own Philox stream (seed, i, chunk): thread-count independent.
void model_init_random(Model *m, uint64_t seed) {
    enum { CHUNK = 4096 };
    double std = m->cfg.init_std;
    for (int i = 0; i < m->n_tensors; i++) {
        const ModelTensor *t = &m->tensors[i];
        float *p = m->params + t->offset;
        int norm = is_norm(t->name), bias = is_bias(t->name);
        long n_chunks = (long)((t->numel + CHUNK - 1) / CHUNK);
#pragma omp parallel for schedule(static)
        for (long c = 0; c < n_chunks; c++) {
            Rng r = rng_at(seed, (uint32_t)i, (uint32_t)c, 0);
            size_t end = (size_t)(c + 1) * CHUNK < t->numel ? (size_t)(c + 1) * CHUNK : t->numel;
            for (size_t k = (size_t)c * CHUNK; k < end; k++)
                p[k] = norm ? 1.0f : bias ? 0.0f : (float)(std * rng_normal(&r));
        }
    }
}

const ModelTensor *model_tensor(const Model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

// ~2 FLOPs per multiply-add: every weight once per token (only top-k experts), plus QK^T and PV over the context.
double model_flops_per_token(const Model *m, double mean_context) {
    Dims d = model_dims(m);
    double attn = (double)d.D * (d.QD + 2.0 * d.KD) + (double)d.QD * d.D, layers = 0;
    double moe = (double)d.D * d.E + 3.0 * d.K * d.D * d.Fe + (d.S ? 3.0 * d.D * d.S + d.D : 0);
    for (int l = 0; l < d.L; l++) layers += attn + (model_layer_is_moe(m, l) ? moe : 3.0 * d.D * d.F);
    double attention = 2.0 * d.QD * mean_context;  // scores and weighted values
    return 2.0 * (layers + d.L * attention) + model_head_flops_per_row(m);
}

double model_head_flops_per_row(const Model *m) {
    Dims d = model_dims(m);
    return 2.0 * (double)d.V * d.D;
}
