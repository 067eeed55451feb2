// Hugging Face config.json: transformers' defaults per model type, and model_hf_config_check's one clear error
// for every architecture, rotary embedding or field the model does not compute as transformers does.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

#define DIMS "\"vocab_size\":64,\"hidden_size\":32,\"intermediate_size\":48,\"num_hidden_layers\":4," \
             "\"num_attention_heads\":4,\"num_key_value_heads\":2"
#define MOE "\"num_experts\":4,\"num_experts_per_tok\":2,\"moe_intermediate_size\":8"

static void accepts(const char *json, ModelConfig *c) {
    Err e = {{0}};
    cr_assert_eq(model_hf_config_check(json, c, &e), 0, "%s: %s", json, e.msg);
}

static void rejects(const char *json, const char *needle) {
    ModelConfig c;
    Err e = {{0}};
    cr_assert_neq(model_hf_config_check(json, &c, &e), 0, "accepted: %s", json);
    cr_assert(strstr(e.msg, needle), "'%s' does not name '%s'", e.msg, needle);
}

Test(hf_config, transformers_defaults_per_type) {
    ModelConfig c;
    accepts("{\"architectures\":[\"Qwen3ForCausalLM\"],\"model_type\":\"qwen3\"," DIMS "}", &c);
    cr_assert(c.head_dim == 128 && c.qk_norm && !c.attention_bias && c.rope_theta == 10000 && !c.tie_word_embeddings);
    accepts("{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\"," DIMS ",\"head_dim\":null,"
            "\"rope_parameters\":{\"rope_type\":\"default\",\"rope_theta\":1000000.0},\"tie_word_embeddings\":true}",
            &c);
    cr_assert(c.head_dim == 0 && c.attention_bias && !c.qk_norm && c.rope_theta == 1e6 && c.tie_word_embeddings);
    // transformers 5 writes num_local_experts; Qwen2-MoE defaults to a 5632-wide shared expert, no renormalisation.
    accepts("{\"architectures\":[\"Qwen2MoeForCausalLM\"],\"model_type\":\"qwen2_moe\"," DIMS
            ",\"num_local_experts\":4,\"num_experts_per_tok\":2,\"moe_intermediate_size\":8,\"qkv_bias\":false}", &c);
    cr_assert(c.num_experts == 4 && c.shared_expert_intermediate_size == 5632 && !c.norm_topk_prob &&
              !c.attention_bias && c.decoder_sparse_step == 1 && !c.mlp_only_layers[0]);
    accepts("{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"model_type\":\"qwen3_moe\"," DIMS "," MOE
            ",\"decoder_sparse_step\":2,\"mlp_only_layers\":[3,0],\"norm_topk_prob\":true,\"rope_scaling\":null,"
            "\"use_sliding_window\":false,\"sliding_window\":null,\"layer_types\":[\"full_attention\"],"
            "\"dtype\":\"bfloat16\",\"hidden_act\":\"silu\",\"attention_dropout\":0.0}", &c);
    cr_assert(c.decoder_sparse_step == 2 && !strcmp(c.mlp_only_layers, "3,0") && c.norm_topk_prob);
}

Test(hf_config, one_error_per_unsupported_thing) {
    rejects("{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\"," DIMS "}",
            "architecture 'LlamaForCausalLM' is not supported");
    rejects("{\"model_type\":\"qwen3\"," DIMS "}", "architectures");
    rejects("{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen3\"," DIMS "}", "does not match");
    rejects("{\"architectures\":[\"Qwen3ForCausalLM\"],\"model_type\":\"qwen3\"," DIMS
            ",\"rope_scaling\":{\"type\":\"yarn\",\"factor\":4.0}}", "rope_scaling type 'yarn'");
    rejects("{\"architectures\":[\"Qwen3ForCausalLM\"],\"model_type\":\"qwen3\"," DIMS
            ",\"rope_parameters\":{\"rope_type\":\"linear\",\"factor\":2.0,\"rope_theta\":10000}}",
            "rope_parameters type 'linear'");
    rejects("{\"architectures\":[\"Qwen3ForCausalLM\"],\"model_type\":\"qwen3\"," DIMS
            ",\"rope_parameters\":{\"rope_type\":\"default\",\"rope_theta\":1e6,\"partial_rotary_factor\":0.5}}",
            "rope_parameters field 'partial_rotary_factor'");
    rejects("{\"architectures\":[\"Qwen3ForCausalLM\"],\"model_type\":\"qwen3\"," DIMS
            ",\"rope_theta\":5,\"rope_parameters\":{\"rope_type\":\"default\",\"rope_theta\":6}}", "disagree");
    rejects("{\"architectures\":[\"Qwen3ForCausalLM\"],\"model_type\":\"qwen3\"," DIMS ",\"rms_norm_eps\":0}",
            "rms_norm_eps must be in (0, 1]");
    rejects("{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\"," DIMS ",\"use_sliding_window\":true}",
            "use_sliding_window");
    rejects("{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\"," DIMS
            ",\"layer_types\":[\"full_attention\",\"sliding_attention\"]}", "layer_types entry 'sliding_attention'");
    rejects("{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\"," DIMS ",\"hidden_act\":\"gelu\"}",
            "hidden_act 'gelu'");
    rejects("{\"architectures\":[\"Qwen3ForCausalLM\"],\"model_type\":\"qwen3\"," DIMS
            ",\"quantization_config\":{\"quant_method\":\"fp8\"}}", "quantization_config");
    rejects("{\"architectures\":[\"Qwen3ForCausalLM\"],\"model_type\":\"qwen3\"," DIMS ",\"attention_bias\":true}",
            "attention_bias = true");
    rejects("{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\"," DIMS ",\"attention_bias\":false}",
            "always has q/k/v biases");
    rejects("{\"architectures\":[\"Qwen3ForCausalLM\"],\"model_type\":\"qwen3\"," DIMS ",\"rlvr_qk_norm\":false}",
            "rlvr_qk_norm");
    rejects("{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"model_type\":\"qwen3_moe\"," DIMS "," MOE
            ",\"shared_expert_intermediate_size\":16}", "qwen3_moe has no shared expert");
    rejects("{\"architectures\":[\"Qwen2MoeForCausalLM\"],\"model_type\":\"qwen2_moe\"," DIMS "," MOE
            ",\"shared_expert_intermediate_size\":0}", "shared_expert_intermediate_size must be >= 1");
    rejects("{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"model_type\":\"qwen3_moe\"," DIMS "," MOE
            ",\"mlp_only_layers\":[4]}", "mlp_only_layers");
    rejects("{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"model_type\":\"qwen3_moe\"," DIMS "," MOE
            ",\"decoder_sparse_step\":0}", "decoder_sparse_step");
    // Layers 1 and 3 would be sparse, and mlp_only_layers makes both dense: a MoE type without a MoE layer.
    rejects("{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"model_type\":\"qwen3_moe\"," DIMS "," MOE
            ",\"decoder_sparse_step\":2,\"mlp_only_layers\":[3,1]}", "leave none of the 4 layers a MoE layer");
    rejects("{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"model_type\":\"qwen3_moe\"," DIMS "," MOE
            ",\"decoder_sparse_step\":5}", "decoder_sparse_step 5 and mlp_only_layers \"\" leave none");
    rejects("{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"model_type\":\"qwen3_moe\"," DIMS
            ",\"num_experts\":4,\"num_experts_per_tok\":5,\"moe_intermediate_size\":8}", "num_experts_per_tok");
    // More experts a token than the MoE backward's per-token arrays hold (MODEL_MAX_EXPERTS_PER_TOK).
    rejects("{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"model_type\":\"qwen3_moe\"," DIMS
            ",\"num_experts\":128,\"num_experts_per_tok\":65,\"moe_intermediate_size\":8}",
            "\"num_experts_per_tok\" = 65 is larger than rlvr supports (64)");
    rejects("{\"architectures\":[\"Qwen3ForCausalLM\"],\"model_type\":\"qwen3\"," DIMS ",\"head_dim\":7}",
            "head_dim 7");
    rejects("{\"architectures\":[\"Qwen3ForCausalLM\"],\"model_type\":\"qwen3\",\"vocab_size\":1e12,"
            "\"hidden_size\":32,\"intermediate_size\":48,\"num_hidden_layers\":4,\"num_attention_heads\":4,\"num_key_value_heads\":4}",
            "vocab_size");
    rejects("{\"architectures\":[\"Qwen3ForCausalLM\"],\"model_type\":\"qwen3\",\"vocab_size\":8388608,"
            "\"hidden_size\":32,\"intermediate_size\":48,\"num_hidden_layers\":4,\"num_attention_heads\":4,\"num_key_value_heads\":4}",
            "\"vocab_size\" = 8388608 is larger than rlvr supports");
    rejects("{\"architectures\":[\"Qwen3ForCausalLM\"],\"model_type\":\"qwen3\",\"hidden_size\":32}",
            "missing key \"vocab_size\"");
    rejects("[1]", "not a JSON object");
}

// A checkpoint's /meta hf_config is read without the transformers-equivalence check, and bounded all the same: a
// damaged or hostile file must not lay out 2e9 layers nor cast 1e300 to a seed (tests/fuzz_hf_config.c found both).
Test(hf_config, file_configs_are_bounded_without_the_check) {
    static const struct {
        const char *extra, *needle;
    } cases[] = {
        {"\"num_hidden_layers\":2000000000", "\"num_hidden_layers\" = 2000000000 is larger than rlvr supports (1024)"},
        {"\"num_hidden_layers\":4,\"rlvr_init_seed\":1e300",
         "\"rlvr_init_seed\" must be a whole number in [0, 1e18] (got 1e+300)"},
        {"\"num_hidden_layers\":4,\"rlvr_init_seed\":2.5", "\"rlvr_init_seed\" must be a whole number"},
        {"\"num_hidden_layers\":4,\"hidden_size\":30",
         "hidden_size (30) must be a multiple of num_attention_heads (4) without head_dim"},
        // Python's json keeps a repeated key's last value, cJSON its first: such a file means two things.
        {"\"num_hidden_layers\":4,\"vocab_size\":96", "key \"vocab_size\" appears more than once"},
    };
    char json[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(json, sizeof json, "{\"model_type\":\"qwen2\",\"vocab_size\":64,\"intermediate_size\":48,"
                 "\"num_attention_heads\":4,\"num_key_value_heads\":2,%s%s}", cases[i].extra,
                 strstr(cases[i].extra, "hidden_size") ? "" : ",\"hidden_size\":32");
        ModelConfig c;
        Err e = {{0}};
        cr_assert_neq(model_config_from_hf_json(json, &c, &e), 0, "accepted: %s", json);
        cr_assert(strstr(e.msg, cases[i].needle), "'%s' does not name '%s'", e.msg, cases[i].needle);
    }
    ModelConfig c;
    Err e = {{0}};
    snprintf(json, sizeof json, "{\"model_type\":\"qwen2\"," DIMS ",\"rlvr_init_seed\":1e18}");
    cr_assert_eq(model_config_from_hf_json(json, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(c.init_seed, 1000000000000000000LL);
}

// Exported and read back, every float of the configuration keeps its bits: cJSON's own printing of these numbers
// (15 digits, accepted within a relative DBL_EPSILON) changed rope_theta's last bit (found by fuzz_hf_config).
Test(hf_config, export_keeps_every_bit_of_the_floats) {
    ModelConfig c, back;
    accepts("{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"model_type\":\"qwen3_moe\"," DIMS "," MOE
            ",\"rope_theta\":77777777777777.77777777775,\"rms_norm_eps\":1.0000000000000002e-06,"
            "\"initializer_range\":0.020000000000000004,\"router_aux_loss_coef\":0.0010000000000000002}", &c);
    Model m;
    Err e = {{0}};
    cr_assert_eq(model_layout(&m, &c, &e), 0, "%s", e.msg);
    char *json = model_hf_config_json(&m);
    accepts(json, &back);
    cr_assert(c.rope_theta == back.rope_theta && c.rms_norm_eps == back.rms_norm_eps && c.init_std == back.init_std &&
                  c.router_aux_loss_coef == back.router_aux_loss_coef,
              "%s", json);
    cr_assert(strstr(json, "\"rms_norm_eps\":\t1.0000000000000002e-06"), "%s", json);  // as short as exact allows
    free(json);
    model_free(&m);
}
