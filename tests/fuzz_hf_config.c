// libFuzzer target: Hugging Face config.json text as `rlvr import` reads it (model_hf_config_check) and as a
// checkpoint's /meta hf_config is read (model_config_from_hf_json). Either fails with a message, or the
// configuration's tensor table builds (model_layout) or fails with one; a config.json the check accepts builds and
// round-trips: written back (model_hf_config_json), it reads back to the same configuration.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// model_layout stores this pointer and never calls through it; the CPU backend's GCC vector code does not build
// with clang, the fuzzer's compiler.
const Backend *backend_cpu(void) { return NULL; }

static void expect_message(const Err *e) {
    if (!e->msg[0]) abort();  // a failure always says why
}

// A parsed configuration (checked or not) must lay out or say why not.
static void lay_out(const ModelConfig *cfg) {
    Model m;
    Err e = {{0}};
    if (model_layout(&m, cfg, &e)) return expect_message(&e);
    model_free(&m);
}

// The same model: the configurations with head_dim resolved, mlp_only_layers as the layers it leaves dense (export
// lists them in order, once each) and, for a dense model, without the router's keys (not exported: it has no
// router), and the same tensor table.
static void same_model(const Model *a, const Model *b) {
    ModelConfig x, y;
    memcpy(&x, &a->cfg, sizeof x), memcpy(&y, &b->cfg, sizeof y);
    x.head_dim = a->head_dim, y.head_dim = b->head_dim;
    memset(x.mlp_only_layers, 0, sizeof x.mlp_only_layers), memset(y.mlp_only_layers, 0, sizeof y.mlp_only_layers);
    if (!a->moe) x.norm_topk_prob = y.norm_topk_prob, x.router_aux_loss_coef = y.router_aux_loss_coef;
    if (memcmp(&x, &y, sizeof x) || a->n_tensors != b->n_tensors || a->n_params != b->n_params) abort();
    for (int l = 0; l < a->cfg.num_hidden_layers; l++)
        if (model_layer_is_moe(a, l) != model_layer_is_moe(b, l)) abort();
    for (int i = 0; i < a->n_tensors; i++) {
        const ModelTensor *s = &a->tensors[i], *t = &b->tensors[i];
        if (strcmp(s->name, t->name) || s->ndim != t->ndim || memcmp(s->shape, t->shape, sizeof s->shape)) abort();
    }
}

static void round_trip(const ModelConfig *cfg) {
    Model m, back;
    Err e = {{0}};
    if (model_layout(&m, cfg, &e)) abort();  // what the check accepts, the model builds
    char *json = model_hf_config_json(&m);
    ModelConfig again;
    if (model_hf_config_check(json, &again, &e) || model_layout(&back, &again, &e)) abort();  // export -> import
    same_model(&m, &back);
    free(json);
    model_free(&m), model_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *json = malloc(size + 1);
    memcpy(json, data, size);
    json[size] = 0;
    ModelConfig cfg;
    Err e = {{0}};
    if (model_config_from_hf_json(json, &cfg, &e)) expect_message(&e);
    else lay_out(&cfg);
    memset(&e, 0, sizeof e);
    if (model_hf_config_check(json, &cfg, &e)) expect_message(&e);
    else round_trip(&cfg);
    free(json);
    return 0;
}
