// Checkpoint round trip (bit-exact) and every rejection path: truncated file, wrong shape, missing dataset,
// wrong model type, wrong format version. A rejected load must leave the live model untouched.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/checkpoint.h"
#include "io/h5io.h"

static char dir[64];

static void setup_dir(void) {
    snprintf(dir, sizeof dir, "/tmp/rlvr-ckpt-XXXXXX");
    cr_assert(mkdtemp(dir));
}

static void teardown_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

static ModelConfig tiny(ModelType type) {
    Config c;
    config_defaults(&c);
    ModelConfig m = c.model;
    m.type = type;
    m.vocab_size = 64, m.hidden_size = 16, m.intermediate_size = 32, m.num_hidden_layers = 2;
    m.num_attention_heads = 2, m.num_key_value_heads = 1, m.max_position_embeddings = 64;
    if (type == MODEL_QWEN3_MOE) m.num_experts = 4, m.num_experts_per_tok = 2, m.moe_intermediate_size = 8;
    return m;
}

static void make_model(Model *m, ModelType type, uint64_t seed) {
    Err e;
    ModelConfig cfg = tiny(type);
    cr_assert_eq(model_create(m, &cfg, &e), 0, "%s", e.msg);
    model_init_random(m, seed);
}

static const CheckpointMeta META = {"train", "[train]\nsteps = 3\n", "test-rev", 2};

// Saves a MoE model with non-trivial optimizer moments and state; returns the path.
static void save_sample(const char *path, Model *m, AdamW *o, TrainState *st) {
    make_model(m, MODEL_QWEN3_MOE, 5);
    adamw_init(o, m->n_params);
    for (size_t i = 0; i < m->n_params; i++) o->m[i] = (float)i * 1e-3f, o->v[i] = (float)i * 1e-6f;
    o->step = 7;
    *st = (TrainState){.step = 3, .data_cursor = 96, .bad_steps = 1, .train_seed = 11, .rollout_seed = 12,
                       .tokens_total = 12345, .elapsed_s = 1.25};
    Err e;
    cr_assert_eq(checkpoint_save(path, m, o, st, &META, &e), 0, "%s", e.msg);
}

// Loads path into a fresh MoE model, expecting failure with `want` in the message and no change.
static void expect_rejected(const char *path, ModelType type, const char *want) {
    Model live;
    AdamW o;
    TrainState st = {.step = -5};
    make_model(&live, type, 99);
    adamw_init(&o, live.n_params);
    float *before = malloc(live.n_params * sizeof *before);
    memcpy(before, live.params, live.n_params * sizeof *before);
    Err e = {{0}};
    cr_expect_eq(checkpoint_load(path, &live, &o, &st, &e), -1, "loaded a bad checkpoint");
    cr_expect(strstr(e.msg, want), "message '%s' lacks '%s'", e.msg, want);
    cr_expect(memcmp(before, live.params, live.n_params * sizeof *before) == 0, "live model modified");
    cr_expect(o.step == 0 && o.m[0] == 0 && st.step == -5, "optimizer or state modified");
    free(before);
    adamw_free(&o);
    model_free(&live);
}

TestSuite(checkpoint, .init = setup_dir, .fini = teardown_dir);

Test(checkpoint, round_trip_is_bit_exact) {
    char path[128];
    snprintf(path, sizeof path, "%s/a.h5", dir);
    Model m, m2;
    AdamW o, o2;
    TrainState st, st2;
    save_sample(path, &m, &o, &st);
    cr_expect(access(path, F_OK) == 0);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    cr_expect(access(tmp, F_OK) != 0, "temporary file left behind");
    make_model(&m2, MODEL_QWEN3_MOE, 77);
    adamw_init(&o2, m2.n_params);
    Err e;
    cr_assert_eq(checkpoint_load(path, &m2, &o2, &st2, &e), 0, "%s", e.msg);
    cr_expect(memcmp(m.params, m2.params, m.n_params * sizeof(float)) == 0);
    cr_expect(memcmp(o.m, o2.m, m.n_params * sizeof(float)) == 0);
    cr_expect(memcmp(o.v, o2.v, m.n_params * sizeof(float)) == 0);
    cr_expect_eq(o2.step, 7);
    cr_expect(memcmp(&st, &st2, sizeof st) == 0);
    int64_t step, world;
    char *config;
    cr_assert_eq(checkpoint_read_meta(path, &step, &world, &config, &e), 0, "%s", e.msg);
    cr_expect(step == 3 && world == 2);
    cr_expect_str_eq(config, META.config_text);
    free(config);
    // Model-only load (an --init) ignores the optimizer and state.
    Model m3;
    make_model(&m3, MODEL_QWEN3_MOE, 1);
    cr_assert_eq(checkpoint_load(path, &m3, NULL, NULL, &e), 0, "%s", e.msg);
    cr_expect(memcmp(m.params, m3.params, m.n_params * sizeof(float)) == 0);
    model_free(&m), model_free(&m2), model_free(&m3);
    adamw_free(&o), adamw_free(&o2);
}

Test(checkpoint, truncated_file_rejected) {
    char path[128];
    snprintf(path, sizeof path, "%s/t.h5", dir);
    Model m;
    AdamW o;
    TrainState st;
    save_sample(path, &m, &o, &st);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(truncate(path, sb.st_size / 2), 0);
    expect_rejected(path, MODEL_QWEN3_MOE, "truncated");
    model_free(&m), adamw_free(&o);
}

// Replaces dataset `name` with a float dataset of shape [rows, cols] (or deletes it when rows = 0).
static void tamper(const char *path, const char *name, hsize_t rows, hsize_t cols) {
    Err e;
    hid_t f = h5io_open(path, 1, &e);
    cr_assert(f >= 0, "%s", e.msg);
    cr_assert(H5Ldelete(f, name, H5P_DEFAULT) >= 0, "cannot delete %s", name);
    if (rows) {
        float *zeros = calloc(rows * cols, sizeof *zeros);
        hsize_t dims[2] = {rows, cols};
        cr_assert_eq(h5io_write(f, name, H5T_NATIVE_FLOAT, zeros, 2, dims, &e), 0, "%s", e.msg);
        free(zeros);
    }
    h5io_close(f);
}

Test(checkpoint, shape_mismatch_rejected) {
    char path[128];
    snprintf(path, sizeof path, "%s/s.h5", dir);
    Model m;
    AdamW o;
    TrainState st;
    save_sample(path, &m, &o, &st);
    tamper(path, "/model/model.layers.1.self_attn.q_proj.weight", 3, 16);
    expect_rejected(path, MODEL_QWEN3_MOE, "dataset '/model/model.layers.1.self_attn.q_proj.weight' has shape [3, 16], expected [");
    model_free(&m), adamw_free(&o);
    save_sample(path, &m, &o, &st);
    tamper(path, "/optim/v/model.embed_tokens.weight", 64, 15);
    expect_rejected(path, MODEL_QWEN3_MOE, "dataset '/optim/v/model.embed_tokens.weight' has shape [64, 15], expected [64, 16]");
    model_free(&m), adamw_free(&o);
}

Test(checkpoint, missing_dataset_rejected) {
    char path[128];
    snprintf(path, sizeof path, "%s/d.h5", dir);
    Model m;
    AdamW o;
    TrainState st;
    save_sample(path, &m, &o, &st);
    tamper(path, "/state/data_cursor", 0, 0);
    expect_rejected(path, MODEL_QWEN3_MOE, "missing dataset '/state/data_cursor'");
    model_free(&m), adamw_free(&o);
    save_sample(path, &m, &o, &st);
    tamper(path, "/optim/m/model.norm.weight", 0, 0);
    expect_rejected(path, MODEL_QWEN3_MOE, "missing dataset '/optim/m/model.norm.weight'");
    model_free(&m), adamw_free(&o);
    save_sample(path, &m, &o, &st);
    tamper(path, "/model/model.layers.0.mlp.experts.up_proj", 0, 0);
    expect_rejected(path, MODEL_QWEN3_MOE, "missing dataset '/model/model.layers.0.mlp.experts.up_proj'");
    model_free(&m), adamw_free(&o);
}

Test(checkpoint, wrong_model_type_and_version_rejected) {
    char path[128];
    snprintf(path, sizeof path, "%s/w.h5", dir);
    Model m;
    AdamW o;
    TrainState st;
    save_sample(path, &m, &o, &st);
    expect_rejected(path, MODEL_QWEN3, "model type is qwen3_moe, expected qwen3");
    Err e;
    hid_t f = h5io_open(path, 1, &e);
    cr_assert_eq(h5io_attr_write_i64(f, "meta", "format_version", 99, &e), 0);
    h5io_close(f);
    expect_rejected(path, MODEL_QWEN3_MOE, "format_version 99, expected 1");
    expect_rejected("/nonexistent/x.h5", MODEL_QWEN3_MOE, "/nonexistent/x.h5: cannot open");
    model_free(&m), adamw_free(&o);
}

Test(checkpoint, run_dir_latest_and_prune) {
    char ckdir[128], path[160];
    snprintf(ckdir, sizeof ckdir, "%s/ckpt", dir);
    cr_assert_eq(mkdir(ckdir, 0755), 0);
    int64_t step;
    Err e;
    cr_expect_eq(checkpoint_latest(dir, path, sizeof path, &step, &e), 0);
    long steps[] = {2, 10, 4, 6};
    for (int i = 0; i < 4; i++) {
        checkpoint_path(path, sizeof path, dir, steps[i]);
        FILE *f = fopen(path, "w");
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/step-000012.h5.tmp", ckdir);  // a crashed save
    fclose(fopen(path, "w"));
    cr_expect_eq(checkpoint_latest(dir, path, sizeof path, &step, &e), 1);
    cr_expect_eq(step, 10);
    char want[160];
    snprintf(want, sizeof want, "%s/ckpt/step-000010.h5", dir);
    cr_expect_str_eq(path, want);
    cr_assert_eq(checkpoint_prune(dir, 2, &e), 0, "%s", e.msg);
    for (int i = 0; i < 4; i++) {
        checkpoint_path(path, sizeof path, dir, steps[i]);
        cr_expect_eq(access(path, F_OK) == 0, steps[i] >= 6, "step %ld", steps[i]);
    }
    snprintf(path, sizeof path, "%s/step-000012.h5.tmp", ckdir);
    cr_expect(access(path, F_OK) != 0, "stale .tmp kept");
}
