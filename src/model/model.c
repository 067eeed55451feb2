// Model parameter layout (Hugging Face names, [out, in]), creation, seeded init and config.json text.
#include "model/model.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/model_internal.h"
#include "base/rng.h"

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
    if (!m->moe) {
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

int model_create(Model *m, const ModelConfig *cfg, Err *e) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
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
    m->priv->embed = add(m, &cap, "model.embed_tokens.weight", 2, d.V, d.D, 0);
    for (int l = 0; l < d.L; l++) build_layer(m, &cap, l, &d, &m->priv->layers[l]);
    m->priv->final_norm = add(m, &cap, "model.norm.weight", 1, d.D, 0, 0);
    m->priv->lm_head = cfg->tie_word_embeddings ? m->priv->embed : add(m, &cap, "lm_head.weight", 2, d.V, d.D, 0);
    m->params = calloc(m->n_params, sizeof(float));
    if (!m->params) {
        size_t n = m->n_params;
        model_free(m);
        return err_set(e, "model: cannot allocate %zu parameters (%.1f GiB)", n, n * 4.0 / (1 << 30));
    }
    return 0;
}

void model_free(Model *m) {
    if (m->priv) free(m->priv->layers);
    free(m->priv);
    free(m->params);
    free(m->tensors);
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

static const char *const HF_TYPES[] = {"qwen2", "qwen3", "qwen2_moe", "qwen3_moe"};
static const char *const HF_ARCHS[] = {"Qwen2ForCausalLM", "Qwen3ForCausalLM", "Qwen2MoeForCausalLM",
                                       "Qwen3MoeForCausalLM"};

char *model_hf_config_json(const Model *m) {
    const ModelConfig *c = &m->cfg;
    cJSON *o = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(HF_ARCHS[c->type]));
    cJSON_AddStringToObject(o, "model_type", HF_TYPES[c->type]);
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(o, "hidden_size", c->hidden_size);
    cJSON_AddNumberToObject(o, "intermediate_size", c->intermediate_size);
    cJSON_AddNumberToObject(o, "num_hidden_layers", c->num_hidden_layers);
    cJSON_AddNumberToObject(o, "num_attention_heads", c->num_attention_heads);
    cJSON_AddNumberToObject(o, "num_key_value_heads", c->num_key_value_heads);
    cJSON_AddNumberToObject(o, "head_dim", m->head_dim);
    cJSON_AddStringToObject(o, "hidden_act", "silu");
    cJSON_AddNumberToObject(o, "max_position_embeddings", c->max_position_embeddings);
    cJSON_AddNumberToObject(o, "rms_norm_eps", c->rms_norm_eps);
    cJSON_AddNumberToObject(o, "rope_theta", c->rope_theta);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", c->tie_word_embeddings);
    cJSON_AddBoolToObject(o, "attention_bias", c->attention_bias);
    cJSON_AddBoolToObject(o, "use_sliding_window", 0);
    cJSON_AddNumberToObject(o, "attention_dropout", 0);
    cJSON_AddNumberToObject(o, "initializer_range", c->init_std);
    cJSON_AddStringToObject(o, "torch_dtype", "float32");
    cJSON_AddBoolToObject(o, "use_cache", 1);
    if (m->moe) {
        cJSON_AddNumberToObject(o, "num_experts", c->num_experts);
        cJSON_AddNumberToObject(o, "num_experts_per_tok", c->num_experts_per_tok);
        cJSON_AddNumberToObject(o, "moe_intermediate_size", c->moe_intermediate_size);
        cJSON_AddNumberToObject(o, "shared_expert_intermediate_size", c->shared_expert_intermediate_size);
        cJSON_AddBoolToObject(o, "norm_topk_prob", c->norm_topk_prob);
        cJSON_AddNumberToObject(o, "router_aux_loss_coef", c->router_aux_loss_coef);
        cJSON_AddNumberToObject(o, "decoder_sparse_step", 1);
        cJSON_AddItemToObject(o, "mlp_only_layers", cJSON_CreateArray());
        cJSON_AddBoolToObject(o, "output_router_logits", 0);
    }
    // Keys Hugging Face derives from model_type; kept so the exact architecture round-trips.
    cJSON_AddBoolToObject(o, "rlvr_qk_norm", c->qk_norm);
    cJSON_AddNumberToObject(o, "rlvr_init_seed", (double)c->init_seed);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

// Number (or bool) at key; def when absent unless required. Sets *bad (and e) on a missing or malformed value.
static double num(const cJSON *o, const char *key, double def, int required, int *bad, Err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsNull(v)) v = NULL;  // config.json writes null for "not set"
    if (*bad) return def;
    if (!v && required) *bad = 1, err_set(e, "hf_config: missing key \"%s\"", key);
    if (!v) return def;
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    if (cJSON_IsNumber(v) && v->valuedouble >= 0) return v->valuedouble;
    *bad = 1;
    err_set(e, "hf_config: \"%s\" must be a non-negative number or a boolean", key);
    return def;
}

int model_config_from_hf_json(const char *json, ModelConfig *cfg, Err *e) {
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return err_set(e, "hf_config: not a JSON object");
    }
    memset(cfg, 0, sizeof *cfg);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "model_type");
    int t = -1, bad = 0;
    for (int i = 0; i < 4 && cJSON_IsString(type); i++)
        if (!strcmp(type->valuestring, HF_TYPES[i])) t = i;
    if (t < 0) {
        cJSON_Delete(o);
        return err_set(e, "hf_config: \"model_type\" must be one of qwen2, qwen3, qwen2_moe, qwen3_moe");
    }
    cfg->type = (ModelType)t;
    int moe = t == MODEL_QWEN2_MOE || t == MODEL_QWEN3_MOE, qwen2 = t == MODEL_QWEN2 || t == MODEL_QWEN2_MOE;
    cfg->vocab_size = (int)num(o, "vocab_size", 0, 1, &bad, e);
    cfg->hidden_size = (int)num(o, "hidden_size", 0, 1, &bad, e);
    cfg->intermediate_size = (int)num(o, "intermediate_size", 0, 1, &bad, e);
    cfg->num_hidden_layers = (int)num(o, "num_hidden_layers", 0, 1, &bad, e);
    cfg->num_attention_heads = (int)num(o, "num_attention_heads", 0, 1, &bad, e);
    cfg->num_key_value_heads = (int)num(o, "num_key_value_heads", cfg->num_attention_heads, 0, &bad, e);
    cfg->head_dim = (int)num(o, "head_dim", 0, 0, &bad, e);
    cfg->rope_theta = num(o, "rope_theta", 10000, 0, &bad, e);
    cfg->rms_norm_eps = num(o, "rms_norm_eps", 1e-6, 0, &bad, e);
    cfg->tie_word_embeddings = num(o, "tie_word_embeddings", 0, 0, &bad, e) != 0;
    cfg->attention_bias = num(o, "attention_bias", qwen2, 0, &bad, e) != 0;  // Qwen2 families: q/k/v biases
    cfg->qk_norm = num(o, "rlvr_qk_norm", !qwen2, 0, &bad, e) != 0;          // Qwen3 families: q/k norms
    cfg->max_position_embeddings = (int)num(o, "max_position_embeddings", 32768, 0, &bad, e);
    if (moe) {
        cfg->num_experts = (int)num(o, "num_experts", 0, 1, &bad, e);
        cfg->num_experts_per_tok = (int)num(o, "num_experts_per_tok", 0, 1, &bad, e);
        cfg->moe_intermediate_size = (int)num(o, "moe_intermediate_size", 0, 1, &bad, e);
        cfg->shared_expert_intermediate_size = (int)num(o, "shared_expert_intermediate_size", 0, 0, &bad, e);
    }
    cfg->norm_topk_prob = num(o, "norm_topk_prob", !qwen2, 0, &bad, e) != 0;
    cfg->router_aux_loss_coef = num(o, "router_aux_loss_coef", 0.001, 0, &bad, e);
    cfg->init_std = num(o, "initializer_range", 0.02, 0, &bad, e);
    cfg->init_seed = (int64_t)num(o, "rlvr_init_seed", 1, 0, &bad, e);
    cJSON_Delete(o);
    if (bad) return -1;
    if (cfg->vocab_size < 2 || cfg->hidden_size < 1 || cfg->num_hidden_layers < 1 || cfg->num_attention_heads < 1 ||
        cfg->num_key_value_heads < 1)
        return err_set(e, "hf_config: vocab_size, hidden_size, num_hidden_layers and head counts must be positive");
    return 0;
}

// ~2 FLOPs per multiply-add: every weight once per token (only top-k experts), plus QK^T and PV over the context.
double model_flops_per_token(const Model *m, double mean_context) {
    Dims d = model_dims(m);
    double per_layer = (double)d.D * (d.QD + 2.0 * d.KD) + (double)d.QD * d.D;
    if (m->moe)
        per_layer += (double)d.D * d.E + 3.0 * d.K * d.D * d.Fe + (d.S ? 3.0 * d.D * d.S + d.D : 0);
    else
        per_layer += 3.0 * d.D * d.F;
    double attention = 2.0 * d.QD * mean_context;  // scores and weighted values
    return 2.0 * (d.L * (per_layer + attention) + (double)d.V * d.D);
}
