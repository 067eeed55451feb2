// Hugging Face config.json <-> ModelConfig. Absent keys take transformers' own defaults for the model type, so a
// config.json means here what it means to transformers; model_hf_config_check rejects what the model would not
// compute exactly as transformers does.
#include <cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/jsonl.h"
#include "model/model.h"

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
    cJSON_AddItemToObject(o, "rms_norm_eps", json_exact_number(c->rms_norm_eps));
    cJSON_AddItemToObject(o, "rope_theta", json_exact_number(c->rope_theta));
    cJSON_AddBoolToObject(o, "tie_word_embeddings", c->tie_word_embeddings);
    cJSON_AddBoolToObject(o, "attention_bias", c->attention_bias);
    if (c->type == MODEL_QWEN2_MOE) cJSON_AddBoolToObject(o, "qkv_bias", c->attention_bias);
    cJSON_AddBoolToObject(o, "use_sliding_window", 0);
    cJSON_AddNumberToObject(o, "attention_dropout", 0);
    cJSON_AddItemToObject(o, "initializer_range", json_exact_number(c->init_std));
    cJSON_AddStringToObject(o, "torch_dtype", "float32");
    cJSON_AddBoolToObject(o, "use_cache", 1);
    if (m->moe) {
        cJSON_AddNumberToObject(o, "num_experts", c->num_experts);
        cJSON_AddNumberToObject(o, "num_experts_per_tok", c->num_experts_per_tok);
        cJSON_AddNumberToObject(o, "moe_intermediate_size", c->moe_intermediate_size);
        cJSON_AddNumberToObject(o, "shared_expert_intermediate_size", c->shared_expert_intermediate_size);
        cJSON_AddBoolToObject(o, "norm_topk_prob", c->norm_topk_prob);
        cJSON_AddItemToObject(o, "router_aux_loss_coef", json_exact_number(c->router_aux_loss_coef));
        cJSON_AddNumberToObject(o, "decoder_sparse_step", c->decoder_sparse_step);
        cJSON *dense = cJSON_AddArrayToObject(o, "mlp_only_layers");
        for (int l = 0; l < c->num_hidden_layers; l++)
            if (!model_layer_is_moe(m, l) && (l + 1) % c->decoder_sparse_step == 0)
                cJSON_AddItemToArray(dense, cJSON_CreateNumber(l));
        cJSON_AddBoolToObject(o, "output_router_logits", 0);
    }
    // Keys Hugging Face derives from model_type; kept so the exact architecture round-trips.
    cJSON_AddBoolToObject(o, "rlvr_qk_norm", c->qk_norm);
    cJSON_AddNumberToObject(o, "rlvr_init_seed", (double)c->init_seed);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

// Reads keys of one JSON object; the first problem is kept in e and makes every later read a no-op.
typedef struct {
    const cJSON *o;
    Err *e;
    int bad;
} Reader;

static const cJSON *item(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNull(v) ? NULL : v;  // config.json writes null for "not set"
}

// Number (or bool) at key; def when absent unless required.
static double num(Reader *r, const char *key, double def, int required) {
    const cJSON *v = item(r->o, key);
    if (r->bad) return def;
    if (!v && required) r->bad = 1, err_set(r->e, "missing key \"%s\"", key);
    if (!v) return def;
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && isfinite(v->valuedouble)) return v->valuedouble;
    r->bad = 1;
    err_set(r->e, "\"%s\" must be a non-negative number or a boolean", key);
    return def;
}

// A whole number in [0, INT_MAX].
static int whole(Reader *r, const char *key, int def, int required) {
    double x = num(r, key, def, required);
    if (r->bad || (x == floor(x) && x <= INT_MAX)) return (int)x;
    r->bad = 1;
    err_set(r->e, "\"%s\" must be a whole number in [0, %d] (got %g)", key, INT_MAX, x);
    return def;
}

// rope_theta at the top level (transformers 4) or in rope_parameters (transformers 5).
static double rope_theta(Reader *r) {
    if (item(r->o, "rope_theta")) return num(r, "rope_theta", 10000, 0);
    const cJSON *p = item(r->o, "rope_parameters");
    if (!cJSON_IsObject(p) || !item(p, "rope_theta")) return 10000;
    Reader sub = {p, r->e, r->bad};
    double x = num(&sub, "rope_theta", 10000, 0);
    if (sub.bad) r->bad = 1, err_prefix(r->e, "rope_parameters");
    return x;
}

// mlp_only_layers [i, j, ...] -> "i,j,..." (indices checked against the layer count).
static void mlp_only_layers(Reader *r, ModelConfig *cfg) {
    const cJSON *a = item(r->o, "mlp_only_layers");
    if (r->bad || !a) return;
    if (!cJSON_IsArray(a)) {
        r->bad = 1, err_set(r->e, "\"mlp_only_layers\" must be an array of layer indices");
        return;
    }
    size_t used = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, a) {
        if (!cJSON_IsNumber(x) || x->valuedouble != floor(x->valuedouble) || x->valuedouble < 0 ||
            x->valuedouble >= cfg->num_hidden_layers) {
            r->bad = 1, err_set(r->e, "\"mlp_only_layers\": every entry must be a layer index in [0, %d)",
                                cfg->num_hidden_layers);
            return;
        }
        int n = snprintf(cfg->mlp_only_layers + used, sizeof cfg->mlp_only_layers - used, "%s%d", used ? "," : "",
                         (int)x->valuedouble);
        if (n < 0 || used + (size_t)n >= sizeof cfg->mlp_only_layers) {
            r->bad = 1, err_set(r->e, "\"mlp_only_layers\": more entries than rlvr keeps (%zu characters)",
                                sizeof cfg->mlp_only_layers - 1);
            return;
        }
        used += (size_t)n;
    }
}

// Ranges of rlvr's [model] keys (src/base/config.c), so the imported model is also a valid configuration.
static int check_sizes(const ModelConfig *c, int head_dim, Err *e) {
    struct {
        const char *key;
        long long value, max;
    } lim[] = {{"vocab_size", c->vocab_size, 1 << 22},          {"hidden_size", c->hidden_size, 1 << 16},
               {"intermediate_size", c->intermediate_size, 1 << 18}, {"num_hidden_layers", c->num_hidden_layers, 1024},
               {"num_attention_heads", c->num_attention_heads, 1024}, {"num_key_value_heads", c->num_key_value_heads, 1024},
               {"head_dim", head_dim, 4096},                         {"max_position_embeddings", c->max_position_embeddings, 1 << 24},
               {"num_experts", c->num_experts, 4096},                {"moe_intermediate_size", c->moe_intermediate_size, 1 << 18},
               {"num_experts_per_tok", c->num_experts_per_tok, MODEL_MAX_EXPERTS_PER_TOK},
               {"shared_expert_intermediate_size", c->shared_expert_intermediate_size, 1 << 18}};
    for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++)
        if (lim[i].value > lim[i].max)
            return err_set(e, "\"%s\" = %lld is larger than rlvr supports (%lld)", lim[i].key, lim[i].value, lim[i].max);
    if (c->num_attention_heads % c->num_key_value_heads)
        return err_set(e, "num_attention_heads (%d) must be a multiple of num_key_value_heads (%d)",
                       c->num_attention_heads, c->num_key_value_heads);
    if (head_dim < 2 || head_dim % 2) return err_set(e, "head_dim %d must be even for rotary embeddings", head_dim);
    // rms_norm_eps 0 makes RMSNorm's x / sqrt(mean(x^2) + eps) 0/0 for a zero row (src/base/config.c).
    if (!(c->rms_norm_eps > 0) || c->rms_norm_eps > 1 || c->rope_theta < 1 || c->rope_theta > 1e18)
        return err_set(e, "rms_norm_eps must be in (0, 1] and rope_theta in [1, 1e18]");
    return 0;
}

// The head size and every size within the ranges of rlvr's [model] keys, so that a config.json from a file (import,
// a checkpoint's /meta hf_config) never lays out a model rlvr would refuse as a configuration.
static int check_shape(const ModelConfig *c, Err *e) {
    if (!c->head_dim && c->hidden_size % c->num_attention_heads)
        return err_set(e, "hidden_size (%d) must be a multiple of num_attention_heads (%d) without head_dim",
                       c->hidden_size, c->num_attention_heads);
    return check_sizes(c, c->head_dim ? c->head_dim : c->hidden_size / c->num_attention_heads, e);
}

// rlvr_init_seed: a whole number in the [model] init_seed range, [0, 1e18].
static int64_t init_seed(Reader *r) {
    double x = num(r, "rlvr_init_seed", 1, 0);
    if (r->bad || (x == floor(x) && x <= 1e18)) return (int64_t)x;
    r->bad = 1;
    err_set(r->e, "\"rlvr_init_seed\" must be a whole number in [0, 1e18] (got %g)", x);
    return 1;
}

// A repeated key would mean one thing to transformers and another here (base/jsonl.h).
static int check_unique_keys(const cJSON *o, Err *e) {
    const char *again = json_repeated_key(o);
    return again ? err_set(e, "key \"%s\" appears more than once", again) : 0;
}

int model_config_from_hf_json(const char *json, ModelConfig *cfg, Err *e) {
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return err_set(e, "not a JSON object");
    }
    if (check_unique_keys(o, e)) {
        cJSON_Delete(o);
        return -1;
    }
    memset(cfg, 0, sizeof *cfg);
    const cJSON *type = item(o, "model_type");
    int t = -1;
    for (int i = 0; i < 4 && cJSON_IsString(type); i++)
        if (!strcmp(type->valuestring, HF_TYPES[i])) t = i;
    if (t < 0) {
        err_set(e, "\"model_type\" %s%s%s is not supported (expected qwen2, qwen3, qwen2_moe or qwen3_moe)",
                cJSON_IsString(type) ? "'" : "", cJSON_IsString(type) ? type->valuestring : "(missing)",
                cJSON_IsString(type) ? "'" : "");
        cJSON_Delete(o);
        return -1;
    }
    Reader r = {o, e, 0};
    cfg->type = (ModelType)t;
    int moe = t == MODEL_QWEN2_MOE || t == MODEL_QWEN3_MOE, qwen2 = t == MODEL_QWEN2 || t == MODEL_QWEN2_MOE;
    cfg->vocab_size = whole(&r, "vocab_size", 0, 1);
    cfg->hidden_size = whole(&r, "hidden_size", 0, 1);
    cfg->intermediate_size = whole(&r, "intermediate_size", 0, 1);
    cfg->num_hidden_layers = whole(&r, "num_hidden_layers", 0, 1);
    cfg->num_attention_heads = whole(&r, "num_attention_heads", 0, 1);
    cfg->num_key_value_heads = whole(&r, "num_key_value_heads", cfg->num_attention_heads, 0);
    cfg->head_dim = whole(&r, "head_dim", t == MODEL_QWEN3 ? 128 : 0, 0);  // Qwen3Config's default is 128
    cfg->rope_theta = rope_theta(&r);
    cfg->rms_norm_eps = num(&r, "rms_norm_eps", 1e-6, 0);
    cfg->tie_word_embeddings = num(&r, "tie_word_embeddings", 0, 0) != 0;
    // Qwen2: q/k/v biases always; Qwen2-MoE: qkv_bias; Qwen3 families: attention_bias (rlvr's own files may
    // set attention_bias on any type).
    double bias = num(&r, "attention_bias", qwen2, 0);
    if (t == MODEL_QWEN2_MOE) bias = num(&r, "qkv_bias", bias, 0);
    cfg->attention_bias = bias != 0;
    cfg->qk_norm = num(&r, "rlvr_qk_norm", !qwen2, 0) != 0;  // Qwen3 families: q/k norms
    cfg->max_position_embeddings = whole(&r, "max_position_embeddings", 32768, 0);
    if (moe) {
        const char *experts = item(o, "num_experts") ? "num_experts" : "num_local_experts";  // transformers 5
        cfg->num_experts = whole(&r, experts, 0, 1);
        cfg->num_experts_per_tok = whole(&r, "num_experts_per_tok", 0, 1);
        cfg->moe_intermediate_size = whole(&r, "moe_intermediate_size", 0, 1);
        cfg->shared_expert_intermediate_size =
            whole(&r, "shared_expert_intermediate_size", t == MODEL_QWEN2_MOE ? 5632 : 0, 0);
        cfg->decoder_sparse_step = whole(&r, "decoder_sparse_step", 1, 0);
        mlp_only_layers(&r, cfg);
    } else {
        cfg->decoder_sparse_step = 1;
    }
    cfg->norm_topk_prob = num(&r, "norm_topk_prob", 0, 0) != 0;
    cfg->router_aux_loss_coef = num(&r, "router_aux_loss_coef", 0.001, 0);
    cfg->init_std = num(&r, "initializer_range", 0.02, 0);
    cfg->init_seed = init_seed(&r);
    cJSON_Delete(o);
    if (r.bad) return -1;
    if (cfg->vocab_size < 2 || cfg->hidden_size < 1 || cfg->num_hidden_layers < 1 || cfg->num_attention_heads < 1 ||
        cfg->num_key_value_heads < 1)
        return err_set(e, "vocab_size, hidden_size, num_hidden_layers and head counts must be positive");
    if (moe && cfg->decoder_sparse_step < 1) return err_set(e, "\"decoder_sparse_step\" must be >= 1");
    return check_shape(cfg, e);
}

// The rotary embedding described by rope_scaling / rope_parameters must be the plain one.
static int check_rope(const cJSON *o, const char *key, Err *e) {
    const cJSON *p = item(o, key);
    if (!p) return 0;
    if (!cJSON_IsObject(p)) return err_set(e, "\"%s\" must be an object or null", key);
    const cJSON *f;
    cJSON_ArrayForEach(f, p) {
        if (!strcmp(f->string, "rope_type") || !strcmp(f->string, "type")) {
            if (!cJSON_IsString(f) || strcmp(f->valuestring, "default"))
                return err_set(e, "%s type '%s' is not supported (only the default rotary embedding)", key,
                               cJSON_IsString(f) ? f->valuestring : "?");
        } else if (strcmp(f->string, "rope_theta")) {
            return err_set(e, "%s field '%s' is not supported (only rope_type = default and rope_theta)", key,
                           f->string);
        }
    }
    return 0;
}

static int check_parsed(const cJSON *o, const ModelConfig *c, Err *e) {
    int moe = c->type == MODEL_QWEN2_MOE || c->type == MODEL_QWEN3_MOE;
    const cJSON *v = item(o, "hidden_act");
    if (v && (!cJSON_IsString(v) || strcmp(v->valuestring, "silu")))
        return err_set(e, "hidden_act '%s' is not supported (only silu)", cJSON_IsString(v) ? v->valuestring : "?");
    if (!cJSON_IsNumber(item(o, "num_key_value_heads")))  // absent: transformers takes a per-class number
        return err_set(e, "missing key \"num_key_value_heads\"");
    TRY(check_rope(o, "rope_scaling", e));
    TRY(check_rope(o, "rope_parameters", e));
    const cJSON *p = item(o, "rope_parameters");
    if (item(o, "rope_theta") && cJSON_IsObject(p) && cJSON_IsNumber(item(p, "rope_theta")) &&
        item(p, "rope_theta")->valuedouble != c->rope_theta)
        return err_set(e, "rope_theta %g and rope_parameters.rope_theta %g disagree", c->rope_theta,
                       item(p, "rope_theta")->valuedouble);
    if (cJSON_IsTrue(item(o, "use_sliding_window")))
        return err_set(e, "use_sliding_window = true is not supported (sliding-window attention)");
    const cJSON *x;
    cJSON_ArrayForEach(x, item(o, "layer_types")) {
        if (!cJSON_IsString(x) || strcmp(x->valuestring, "full_attention"))
            return err_set(e, "layer_types entry '%s' is not supported (only full_attention)",
                           cJSON_IsString(x) ? x->valuestring : "?");
    }
    if (item(o, "quantization_config")) return err_set(e, "quantization_config: quantized weights are not supported");
    v = item(o, "attention_dropout");
    if (v && (!cJSON_IsNumber(v) || v->valuedouble != 0))
        return err_set(e, "attention_dropout must be 0 (rlvr has no dropout)");
    bool qwen2 = c->type == MODEL_QWEN2 || c->type == MODEL_QWEN2_MOE;
    if (c->type == MODEL_QWEN2 && !c->attention_bias)
        return err_set(e, "attention_bias = false: Qwen2ForCausalLM always has q/k/v biases");
    if (!qwen2 && c->attention_bias)
        return err_set(e, "attention_bias = true is not supported for %s (it adds an o_proj bias)", HF_TYPES[c->type]);
    if (c->qk_norm != !qwen2)
        return err_set(e, "rlvr_qk_norm = %s has no Hugging Face equivalent for %s", c->qk_norm ? "true" : "false",
                       HF_TYPES[c->type]);
    if (c->type == MODEL_QWEN2_MOE && c->shared_expert_intermediate_size < 1)
        return err_set(e, "shared_expert_intermediate_size must be >= 1 for qwen2_moe (it always has a shared expert)");
    if (c->type == MODEL_QWEN3_MOE && c->shared_expert_intermediate_size)
        return err_set(e, "shared_expert_intermediate_size = %d: qwen3_moe has no shared expert",
                       c->shared_expert_intermediate_size);
    if (moe && (c->num_experts < 1 || c->num_experts_per_tok < 1 || c->num_experts_per_tok > c->num_experts ||
                c->moe_intermediate_size < 1))
        return err_set(e, "MoE needs 1 <= num_experts_per_tok (%d) <= num_experts (%d) and moe_intermediate_size >= 1",
                       c->num_experts_per_tok, c->num_experts);
    if (moe) {  // a decoder_sparse_step past the layers or mlp_only_layers may leave none: as the model checks it
        bool *layer_moe = xcalloc((size_t)c->num_hidden_layers, sizeof *layer_moe);
        int rc = model_config_moe_layers(c, layer_moe, e);
        free(layer_moe);
        TRY(rc);
    }
    return 0;
}

int model_hf_config_check(const char *json, ModelConfig *cfg, Err *e) {
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return err_set(e, "not a JSON object");
    }
    const cJSON *a = item(o, "architectures"), *name = cJSON_IsArray(a) ? cJSON_GetArrayItem(a, 0) : NULL;
    int rc = 0;
    if (!cJSON_IsString(name) || cJSON_GetArraySize(a) != 1) {
        rc = err_set(e, "\"architectures\" must list exactly one architecture");
    } else {
        int t = -1;
        for (int i = 0; i < 4; i++)
            if (!strcmp(name->valuestring, HF_ARCHS[i])) t = i;
        if (t < 0)
            rc = err_set(e, "architecture '%s' is not supported (expected Qwen2ForCausalLM, Qwen3ForCausalLM, "
                         "Qwen2MoeForCausalLM or Qwen3MoeForCausalLM)", name->valuestring);
        else if (model_config_from_hf_json(json, cfg, e))
            rc = -1;
        else if ((int)cfg->type != t)
            rc = err_set(e, "architecture %s does not match model_type '%s'", HF_ARCHS[t], HF_TYPES[cfg->type]);
        else
            rc = check_parsed(o, cfg, e);
    }
    cJSON_Delete(o);
    return rc;
}
