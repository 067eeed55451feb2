// Checkpoint round trip (bit-exact) and every rejection path: truncated file, wrong shape, missing dataset,
// wrong model type, wrong format version, a bad or missing hf_config (the file named once), a flipped byte
// (checksum), a damaged chunk index, damaged link storage (not a missing dataset), a damaged dataset header, a flip
// every 31 bytes; the stored config's errors and /meta given_keys.
// A rejected load must leave the live model untouched. Also the storage: every tensor chunked (experts one per
// chunk) and checksummed, and element ranges (the pieces parallel saves write) as flat slices of the tensor.
// tests/mpi_checkpoint.c tests the parallel side.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/checkpoint.h"
#include "io/h5io.h"
#include "io/hf.h"
#include "io/model_h5.h"

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

static const CheckpointMeta META = {"train", "[train]\nsteps = 3\n", "test-rev", 2, NULL};

// Saves a MoE model with non-trivial optimizer moments and state; returns the path.
static void save_sample(const char *path, Model *m, AdamW *o, TrainState *st) {
    make_model(m, MODEL_QWEN3_MOE, 5);
    adamw_init(o, m->n_params);
    for (size_t i = 0; i < m->n_params; i++) o->m[i] = (float)i * 1e-3f, o->v[i] = (float)i * 1e-6f;
    o->step = 7;
    *st = (TrainState){.step = 3, .data_cursor = 96, .bad_steps = 1, .train_seed = 11, .rollout_seed = 12,
                       .tokens_total = 12345, .elapsed_s = 1.25, .data_records = 40, .data_hash = -3};
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

// A directory given as a checkpoint, and a file in a directory that does not exist: the message says which.
Test(checkpoint, directory_and_missing_directory_named) {
    Err e = {0};
    cr_expect_lt(h5io_open(dir, 0, &e), 0);
    cr_expect(strstr(e.msg, ": a directory; expected a checkpoint file"), "%s", e.msg);
    char path[160];
    snprintf(path, sizeof path, "%s/no-such-dir/x.h5", dir);
    cr_expect_lt(h5io_create(path, &e), 0);
    cr_expect(strstr(e.msg, "cannot create HDF5 file (") && strstr(e.msg, "no-such-dir: No such file or directory)"),
              "%s", e.msg);
}

// A checkpoint is written to PATH.tmp and renamed over PATH: over a device node (rlvr init --out /dev/null, as root)
// that rename would put a file in the device's place. A pipe stands for one here (any user can make it).
Test(checkpoint, a_path_that_is_no_regular_file_is_refused_and_kept) {
    char fifo[160];
    snprintf(fifo, sizeof fifo, "%s/pipe", dir);
    cr_assert_eq(mkfifo(fifo, 0644), 0);
    Model m;
    make_model(&m, MODEL_QWEN3_MOE, 5);
    Err e = {{0}};
    cr_expect_eq(checkpoint_save(fifo, &m, NULL, NULL, &META, &e), -1, "a pipe was replaced by a checkpoint");
    cr_expect(strstr(e.msg, "/pipe: not a regular file (a device, pipe or socket); expected a new or regular file"),
              "%s", e.msg);
    struct stat st;
    cr_assert_eq(lstat(fifo, &st), 0);
    cr_expect(S_ISFIFO(st.st_mode), "the pipe is still a pipe");
    cr_expect_neq(access(fifo, F_OK), -1);
    char tmp[200];
    snprintf(tmp, sizeof tmp, "%s.tmp", fifo);
    cr_expect_eq(access(tmp, F_OK), -1, "no temporary file left");
    model_free(&m);
}

// The stored config is read from memory (no temporary file), and its errors name the checkpoint's attribute and the
// line: "PATH /meta config:LINE: ...". A --set error names the --set alone: it is not in the stored text.
Test(checkpoint, stored_config_errors_name_the_checkpoint_and_line) {
    char path[128], want[256];
    snprintf(path, sizeof path, "%s/c.h5", dir);
    Model m;
    make_model(&m, MODEL_QWEN3, 3);
    CheckpointMeta meta = META;
    meta.config_text = "[train]\nsteps = 3\n\nold_key = 1\n";
    Err e = {{0}};
    cr_assert_eq(checkpoint_save(path, &m, NULL, NULL, &meta, &e), 0, "%s", e.msg);
    Config c;
    cr_expect_eq(checkpoint_read_config(path, NULL, 0, &c, &e), -1);
    snprintf(want, sizeof want, "%s /meta config:4: unknown key 'old_key' in [train]", path);
    cr_expect_str_eq(e.msg, want);
    meta.config_text = META.config_text;
    cr_assert_eq(checkpoint_save(path, &m, NULL, NULL, &meta, &e), 0, "%s", e.msg);
    const char *sets[] = {"train.lr=0.5"}, *bad[] = {"train.lr=x"};
    cr_assert_eq(checkpoint_read_config(path, sets, 1, &c, &e), 0, "%s", e.msg);
    cr_expect(c.train.steps == 3 && c.train.lr == 0.5);
    cr_expect_eq(checkpoint_read_config(path, bad, 1, &c, &e), -1);
    cr_expect_str_eq(e.msg, "--set train.lr=x: [train] lr = 'x': expected a number in [0, 10]");
    model_free(&m);
}

// /meta given_keys: written when the meta has them, read back as written; absent (older checkpoints) reads as none.
Test(checkpoint, given_keys_written_and_read_back) {
    char path[128];
    snprintf(path, sizeof path, "%s/g.h5", dir);
    Model m;
    make_model(&m, MODEL_QWEN3, 3);
    CheckpointMeta meta = META;
    meta.given_keys = "algo.name\nalgo.eps_low\n";
    Err e = {{0}};
    cr_assert_eq(checkpoint_save(path, &m, NULL, NULL, &meta, &e), 0, "%s", e.msg);
    char *keys = NULL;
    cr_expect_eq(checkpoint_read_given_keys(path, &keys, &e), 1, "%s", e.msg);
    cr_expect_str_eq(keys, "algo.name\nalgo.eps_low\n");
    free(keys);
    cr_assert_eq(checkpoint_save(path, &m, NULL, NULL, &META, &e), 0, "%s", e.msg);
    keys = (char *)1;
    cr_expect_eq(checkpoint_read_given_keys(path, &keys, &e), 0, "%s", e.msg);
    cr_expect_null(keys);
    snprintf(path, sizeof path, "%s/none.h5", dir);
    cr_expect_eq(checkpoint_read_given_keys(path, &keys, &e), -1);
    cr_expect(strstr(e.msg, "none.h5: cannot open"), "%s", e.msg);
    model_free(&m);
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

// /state/data_records and data_hash came later: a checkpoint without them loads with 0 and 0 (io/checkpoint.h),
// whole (checkpoint_load) or the state alone (checkpoint_read_state).
Test(checkpoint, state_without_the_data_identity_reads_as_zero) {
    char path[128];
    snprintf(path, sizeof path, "%s/old.h5", dir);
    Model m, m2;
    AdamW o, o2;
    TrainState st, got, alone;
    save_sample(path, &m, &o, &st);
    Err e;
    cr_assert_eq(checkpoint_read_state(path, &alone, &e), 0, "%s", e.msg);
    cr_expect(memcmp(&st, &alone, sizeof st) == 0, "the state alone differs from the saved one");
    tamper(path, "/state/data_records", 0, 0);
    tamper(path, "/state/data_hash", 0, 0);
    make_model(&m2, MODEL_QWEN3_MOE, 77);
    adamw_init(&o2, m2.n_params);
    cr_assert_eq(checkpoint_load(path, &m2, &o2, &got, &e), 0, "%s", e.msg);
    cr_assert_eq(checkpoint_read_state(path, &alone, &e), 0, "%s", e.msg);
    TrainState want = st;
    want.data_records = 0, want.data_hash = 0;
    cr_expect(memcmp(&want, &got, sizeof st) == 0, "loaded state differs");
    cr_expect(memcmp(&want, &alone, sizeof st) == 0, "state read alone differs");
    // The fields before them stay required.
    tamper(path, "/state/rollout_seed", 0, 0);
    cr_expect_eq(checkpoint_read_state(path, &alone, &e), -1);
    cr_expect(strstr(e.msg, "missing dataset '/state/rollout_seed'"), "%s", e.msg);
    model_free(&m), model_free(&m2);
    adamw_free(&o), adamw_free(&o2);
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
    expect_rejected(path, MODEL_QWEN3, "the checkpoint's [model] type is qwen3_moe, the config's qwen3");
    Err e;
    hid_t f = h5io_open(path, 1, &e);
    cr_assert_eq(h5io_attr_write_i64(f, "meta", "format_version", 99, &e), 0);
    h5io_close(f);
    expect_rejected(path, MODEL_QWEN3_MOE, "format_version 99, expected 1");
    expect_rejected("/nonexistent/x.h5", MODEL_QWEN3_MOE, "/nonexistent/x.h5: cannot open");
    model_free(&m), adamw_free(&o);
}

// Every reader of /meta hf_config names the file once: a bad one (eval, sample, score, ckpt stats) and a missing one
// (export).
Test(checkpoint, hf_config_errors_name_the_file_once) {
    char path[128], out[160], twice[300];
    snprintf(path, sizeof path, "%s/h.h5", dir);
    snprintf(out, sizeof out, "%s/hf", dir);
    snprintf(twice, sizeof twice, "%s: %s", path, path);
    Model m, back;
    AdamW o;
    TrainState st;
    save_sample(path, &m, &o, &st);
    Err e;
    hid_t f = h5io_open(path, 1, &e);
    cr_assert_eq(h5io_attr_write_str(f, "meta", "hf_config", "not json", &e), 0, "%s", e.msg);
    h5io_close(f);
    cr_assert_neq(model_load_path(&back, path, &e), 0);
    cr_expect(strstr(e.msg, path) && strstr(e.msg, "/meta hf_config"), "message '%s' lacks the file", e.msg);
    f = h5io_open(path, 1, &e);
    cr_assert(H5Adelete_by_name(f, "meta", "hf_config", H5P_DEFAULT) >= 0);
    h5io_close(f);
    cr_assert_neq(hf_export(path, out, ST_F32, 1 << 30, &e), 0);
    cr_expect(strstr(e.msg, "missing attribute 'hf_config'") && !strstr(e.msg, twice), "message '%s'", e.msg);
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

// File offset of the first chunk holding element `row` (first dimension) of dataset name.
static long long chunk_offset(const char *path, const char *name, hsize_t row) {
    Err e;
    hid_t f = h5io_open(path, 0, &e);
    cr_assert(f >= 0, "%s", e.msg);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    cr_assert(d >= 0, "no dataset %s", name);
    hsize_t coord[H5IO_MAX_RANK] = {row}, size = 0;
    haddr_t addr = HADDR_UNDEF;
    unsigned mask;
    cr_assert(H5Dget_chunk_info_by_coord(d, coord, &mask, &addr, &size) >= 0 && addr != HADDR_UNDEF);
    H5Dclose(d);
    h5io_close(f);
    return (long long)addr;
}

static void flip(const char *path, long long at) {
    FILE *f = fopen(path, "r+b");
    cr_assert(f);
    cr_assert_eq(fseek(f, at, SEEK_SET), 0);
    int c = fgetc(f);
    cr_assert_eq(fseek(f, at, SEEK_SET), 0);
    fputc(c ^ 0x01, f);
    fclose(f);
}

Test(checkpoint, flipped_byte_rejected_naming_the_tensor) {
    char path[128];
    snprintf(path, sizeof path, "%s/c.h5", dir);
    Model m;
    AdamW o;
    TrainState st;
    save_sample(path, &m, &o, &st);
    flip(path, chunk_offset(path, "/optim/m/model.layers.0.self_attn.o_proj.weight", 0) + 7);
    expect_rejected(path, MODEL_QWEN3_MOE, "checksum mismatch in dataset '/optim/m/model.layers.0.self_attn.o_proj.weight'");
    model_free(&m), adamw_free(&o);
    save_sample(path, &m, &o, &st);
    flip(path, chunk_offset(path, "/model/model.layers.1.mlp.experts.gate_proj", 3) + 1);
    expect_rejected(path, MODEL_QWEN3_MOE, "checksum mismatch in dataset '/model/model.layers.1.mlp.experts.gate_proj'");
    model_free(&m), adamw_free(&o);
}

// libhdf5 1.10 leaks inside its own error paths on some damaged metadata. Under LeakSanitizer (make test SAN=1) the
// sweep's damaged loads below run unwatched; the other tests (each its own process) watch checkpoint_load's paths.
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#define LEAKS_UNWATCHED() __lsan_disable()
#define LEAKS_WATCHED() __lsan_enable()
#else
#define LEAKS_UNWATCHED() ((void)0)
#define LEAKS_WATCHED() ((void)0)
#endif

static unsigned char *read_bytes(const char *path, long *size) {
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    *size = ftell(f);
    unsigned char *b = malloc((size_t)*size);
    rewind(f);
    cr_assert_eq(fread(b, 1, (size_t)*size, f), (size_t)*size);
    fclose(f);
    return b;
}

static void write_bytes(const char *path, const unsigned char *b, long size) {
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(b, 1, (size_t)size, f), (size_t)size);
    cr_assert_eq(fclose(f), 0);
}

// Overwrites every occurrence of the 8 bytes `from` (a file address, little-endian) with `to`; returns how many.
static int replace_address(const char *path, uint64_t from, uint64_t to) {
    long size;
    unsigned char *b = read_bytes(path, &size);
    int n = 0;
    for (long i = 0; i + 8 <= size; i++)
        if (!memcmp(b + i, &from, 8)) memcpy(b + i, &to, 8), n++;
    write_bytes(path, b, size);
    free(b);
    return n;
}

// A damaged chunk index that sends expert 0's reads to expert 1's chunk: each chunk's own checksum still holds, so
// only a checksummed index (the 1.10 file format's fixed array) catches it. In the 1.8 format it loaded silently.
Test(checkpoint, chunk_index_pointing_at_another_chunk_rejected) {
    char path[128];
    snprintf(path, sizeof path, "%s/i.h5", dir);
    Model m;
    AdamW o;
    TrainState st;
    save_sample(path, &m, &o, &st);
    const char *name = "/model/model.layers.1.mlp.experts.up_proj";
    uint64_t expert0 = (uint64_t)chunk_offset(path, name, 0), expert1 = (uint64_t)chunk_offset(path, name, 1);
    cr_assert_eq(replace_address(path, expert0, expert1), 1, "expert 0's chunk address is not in the file once");
    expect_rejected(path, MODEL_QWEN3_MOE, "checksum mismatch in the chunk index of dataset '/model/model.layers.1.mlp.experts.up_proj'");
    model_free(&m), adamw_free(&o);
}

// Offset of the structure with this 4-byte signature whose address the object header of `group` holds: the fractal
// heap ("FRHP") or the name index ("BTHD") of the group's dense link storage; -1 if none. Addresses are little-endian
// in the file, as on the hosts this runs on.
static long link_storage_offset(const char *path, const char *group, const char *signature) {
    Err e;
    hid_t f = h5io_open(path, 0, &e);
    cr_assert(f >= 0, "%s", e.msg);
    H5O_info_t info;
    cr_assert(H5Oget_info_by_name2(f, group, &info, H5O_INFO_BASIC | H5O_INFO_HDR, H5P_DEFAULT) >= 0);
    h5io_close(f);
    long size, found = -1;
    unsigned char *b = read_bytes(path, &size);
    for (long at = 0; at + 4 <= size && found < 0; at++) {
        if (memcmp(b + at, signature, 4)) continue;
        for (haddr_t h = info.addr; h + 8 <= info.addr + info.hdr.space.total && found < 0; h++) {
            uint64_t held;
            memcpy(&held, b + h, 8);
            if (held == (uint64_t)at) found = at;
        }
    }
    free(b);
    return found;
}

// /model's link storage damaged (a byte of its link heap's header, of its name index's header): the load says the file
// is damaged, naming the file, the dataset looked up and the group; never that the dataset is missing, which is what
// a well-formed file that lacks it gets (missing_dataset_rejected).
Test(checkpoint, damaged_link_storage_is_not_a_missing_dataset) {
    char path[128], want[384];
    snprintf(path, sizeof path, "%s/l.h5", dir);
    const char *signatures[] = {"FRHP", "BTHD"};
    for (int i = 0; i < 2; i++) {
        Model m;
        AdamW o;
        TrainState st;
        save_sample(path, &m, &o, &st);
        long at = link_storage_offset(path, "/model", signatures[i]);
        cr_assert_geq(at, 0, "no %s of /model's links found in the file", signatures[i]);
        flip(path, at + 20);
        snprintf(want, sizeof want, "%s: cannot look up '/model/model.embed_tokens.weight': the links of group '/model' "
                                    "do not read (the file is damaged)", path);
        expect_rejected(path, MODEL_QWEN3_MOE, want);
        model_free(&m), adamw_free(&o);
    }
}

// h5io_lookup of a well-formed file: present, absent, and a name under a dataset (H5Lexists fails there, as on damaged
// links): absent, with no message.
Test(checkpoint, lookup_of_a_well_formed_file) {
    char path[128];
    snprintf(path, sizeof path, "%s/w.h5", dir);
    Model m;
    AdamW o;
    TrainState st;
    save_sample(path, &m, &o, &st);
    Err e = {{0}};
    hid_t f = h5io_open(path, 0, &e);
    cr_assert(f >= 0, "%s", e.msg);
    cr_expect_eq(h5io_lookup(f, "/model/model.norm.weight", &e), 1);
    cr_expect_eq(h5io_lookup(f, "state/step", &e), 1);
    cr_expect_eq(h5io_lookup(f, "/model/no.such.weight", &e), 0);
    cr_expect_eq(h5io_lookup(f, "/nothing/here", &e), 0);
    cr_expect_eq(h5io_lookup(f, "/optim/step/x", &e), 0, "%s", e.msg);
    cr_expect_eq(h5io_lookup(f, "/model/model.norm.weight/x/y", &e), 0, "%s", e.msg);
    cr_expect_eq(e.msg[0], 0, "no message: %s", e.msg);
    h5io_close(f);
    model_free(&m), adamw_free(&o);
}

// A dataset's object header damaged (its link reads): the file is damaged; it said "'...' is not a dataset".
Test(checkpoint, damaged_dataset_header_is_a_damaged_file) {
    char path[128], want[256];
    snprintf(path, sizeof path, "%s/h.h5", dir);
    Model m;
    AdamW o;
    TrainState st;
    save_sample(path, &m, &o, &st);
    Err e;
    hid_t f = h5io_open(path, 0, &e);
    cr_assert(f >= 0, "%s", e.msg);
    H5O_info_t info;
    cr_assert(H5Oget_info_by_name2(f, "/optim/v/model.norm.weight", &info, H5O_INFO_BASIC, H5P_DEFAULT) >= 0);
    h5io_close(f);
    flip(path, (long long)info.addr + 20);
    snprintf(want, sizeof want, "%s: cannot read the object header of '/optim/v/model.norm.weight' (the file is damaged)",
             path);
    // libhdf5 1.10.8 leaks 456 bytes in each call that meets the damaged header (H5Dopen2 too): its free lists emptied
    // first, so what the load loses it allocated unwatched.
    H5garbage_collect();
    LEAKS_UNWATCHED();
    expect_rejected(path, MODEL_QWEN3_MOE, want);
    LEAKS_WATCHED();
    model_free(&m), adamw_free(&o);
}

// Every 31st byte of a checkpoint flipped in turn, the bit varying with the position: each load is refused or, for
// a flip in unused space, reads back exactly what was saved. Never different content, never a crash, and no HDF5
// object left open either way.
Test(checkpoint, no_flipped_byte_loads_as_different_content) {
    char path[128], damaged[128];
    snprintf(path, sizeof path, "%s/s.h5", dir);
    snprintf(damaged, sizeof damaged, "%s/s-damaged.h5", dir);
    Model m, live;
    AdamW o, lo;
    TrainState st, ls;
    save_sample(path, &m, &o, &st);
    make_model(&live, MODEL_QWEN3_MOE, 99);
    adamw_init(&lo, live.n_params);
    long size;
    unsigned char *b = read_bytes(path, &size);
    int refused = 0, intact = 0;
    H5garbage_collect();  // HDF5's free lists emptied, so what the damaged loads lose they allocated unwatched
    LEAKS_UNWATCHED();
    for (long i = 0; i < size; i += 31) {
        unsigned char bit = (unsigned char)(1u << (i / 31 % 8));
        b[i] ^= bit;
        write_bytes(damaged, b, size);
        b[i] ^= bit;
        Err e = {{0}};
        int rc = checkpoint_load(damaged, &live, &lo, &ls, &e);
        cr_assert_eq(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0, "byte %ld: HDF5 objects left open (%s)", i, e.msg);
        if (rc) {
            refused++;
            continue;
        }
        size_t bytes = m.n_params * sizeof(float);
        cr_assert(!memcmp(live.params, m.params, bytes) && !memcmp(lo.m, o.m, bytes) && !memcmp(lo.v, o.v, bytes) &&
                      lo.step == o.step && !memcmp(&ls, &st, sizeof st),
                  "byte %ld of %ld, bit %u flipped: loaded without error as different content", i, size, bit);
        intact++;
    }
    LEAKS_WATCHED();
    cr_log_info("%d flips refused, %d in unused space", refused, intact);
    cr_expect_gt(refused, 10 * intact, "most of the file should be checked: %d refused, %d loaded", refused, intact);
    free(b);
    model_free(&m), model_free(&live), adamw_free(&o), adamw_free(&lo);
}

// Every tensor dataset is chunked along its first dimension (a stack of experts one expert per chunk) and has a
// Fletcher32 checksum.
Test(checkpoint, tensors_chunked_and_checksummed) {
    char path[128], name[256];
    snprintf(path, sizeof path, "%s/k.h5", dir);
    Model m;
    AdamW o;
    TrainState st;
    save_sample(path, &m, &o, &st);
    Err e;
    hid_t f = h5io_open(path, 0, &e);
    cr_assert(f >= 0, "%s", e.msg);
    const char *groups[] = {"model", "optim/m", "optim/v"};
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < m.n_tensors; i++) {
            const ModelTensor *t = &m.tensors[i];
            snprintf(name, sizeof name, "/%s/%s", groups[g], t->name);
            hid_t d = H5Dopen2(f, name, H5P_DEFAULT), dcpl = H5Dget_create_plist(d);
            hsize_t chunk[H5IO_MAX_RANK];
            cr_assert_eq(H5Pget_chunk(dcpl, H5IO_MAX_RANK, chunk), t->ndim, "%s is not chunked", name);
            bool experts = strstr(t->name, ".experts.") != NULL;
            cr_expect_eq(chunk[0], experts ? 1 : (hsize_t)t->shape[0], "%s: %llu rows a chunk", name,
                         (unsigned long long)chunk[0]);  // the tiny tensors fit one chunk
            for (int k = 1; k < t->ndim; k++) cr_expect_eq(chunk[k], (hsize_t)t->shape[k], "%s", name);
            unsigned flags;
            size_t n = 0;
            cr_expect(H5Pget_filter_by_id2(dcpl, H5Z_FILTER_FLETCHER32, &flags, &n, NULL, 0, NULL, NULL) >= 0,
                      "%s has no checksum", name);
            H5Pclose(dcpl), H5Dclose(d);
        }
    h5io_close(f);
    model_free(&m), adamw_free(&o);
}

// Rows per chunk at real shapes: the fewest chunks of at most 4 MiB, split into equal rows, since HDF5 stores the last
// chunk whole (an MLP's [2048, 768] in chunks of 1365 rows took 2730 rows on disk; two of 1024 take 2048).
Test(checkpoint, chunks_of_equal_rows) {
    static const struct {
        hsize_t rows, cols, want;
    } cases[] = {{2048, 768, 1024},   // 6 MiB: two chunks
                 {768, 2048, 384},    // 6 MiB in rows of 8 KiB
                 {768, 768, 768},     // 2.25 MiB: one chunk
                 {50257, 768, 1359},  // 147 MiB: 37 chunks (1365 rows fit 4 MiB)
                 {3, 1 << 21, 1},     // a row of 8 MiB: one a chunk
                 {1365, 768, 1365}};  // exactly the rows that fit
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hsize_t dims[2] = {cases[i].rows, cases[i].cols}, got = h5io_chunk_rows(2, dims, sizeof(float), false);
        cr_expect_eq(got, cases[i].want, "[%llu, %llu]: %llu rows a chunk", (unsigned long long)dims[0],
                     (unsigned long long)dims[1], (unsigned long long)got);
        hsize_t chunks = (dims[0] + got - 1) / got;
        cr_expect(got * dims[1] * sizeof(float) <= H5IO_CHUNK_BYTES || got == 1, "a chunk over 4 MiB");
        cr_expect(chunks * got - dims[0] < chunks, "[%llu, %llu]: %llu rows stored", (unsigned long long)dims[0],
                  (unsigned long long)dims[1], (unsigned long long)(chunks * got));
    }
    hsize_t stack[3] = {8, 16, 32};
    cr_expect_eq(h5io_chunk_rows(3, stack, sizeof(float), true), 1);  // a stack of experts: one each
}

// Element ranges of a [5, 6, 7] dataset (partial rows at both ends, inside one row, whole blocks, empty): what
// h5io_read_range returns and h5io_write_range stores are the same elements of the flattened array.
Test(checkpoint, element_ranges_are_flat_slices) {
    char path[128];
    snprintf(path, sizeof path, "%s/r.h5", dir);
    enum { N = 5 * 6 * 7 };
    float full[N], got[N];
    for (int i = 0; i < N; i++) full[i] = (float)i;
    hsize_t dims[3] = {5, 6, 7};
    Err e;
    hid_t f = h5io_create(path, &e);
    hid_t d = h5io_tensor_create(f, "/x", 3, dims, 2, &e);
    cr_assert(d >= 0, "%s", e.msg);
    const int64_t cuts[] = {0, 3, 3, 10, 41, 42, 84, 85, 100, 101, 209, N};  // consecutive pairs tile [0, N)
    for (int i = 0; i + 1 < (int)(sizeof cuts / sizeof cuts[0]); i++)
        cr_assert_eq(h5io_write_range(d, H5T_NATIVE_FLOAT, cuts[i], cuts[i + 1], full + cuts[i], &e), 0, "%s", e.msg);
    H5Dclose(d);
    h5io_close(f);
    f = h5io_open(path, 0, &e);
    d = H5Dopen2(f, "/x", H5P_DEFAULT);
    cr_assert_eq(h5io_read_range(d, H5T_NATIVE_FLOAT, 0, N, got, &e), 0, "%s", e.msg);
    cr_expect(memcmp(got, full, sizeof got) == 0, "the tiled writes did not store the flat array");
    const int64_t ranges[][2] = {{0, 1}, {5, 9}, {6, 50}, {7, 49}, {40, 170}, {42, 84}, {1, N - 1}, {17, 17}, {0, N}};
    for (int i = 0; i < (int)(sizeof ranges / sizeof ranges[0]); i++) {
        int64_t a = ranges[i][0], b = ranges[i][1];
        memset(got, 0xff, sizeof got);
        cr_assert_eq(h5io_read_range(d, H5T_NATIVE_FLOAT, a, b, got, &e), 0, "%s", e.msg);
        cr_expect(memcmp(got, full + a, (size_t)(b - a) * sizeof *got) == 0, "elements [%lld, %lld)", (long long)a,
                  (long long)b);
    }
    cr_expect_eq(h5io_read_range(d, H5T_NATIVE_FLOAT, 3, N + 1, got, &e), -1);
    cr_expect(strstr(e.msg, "elements [3, 211) are outside dataset '/x'"), "%s", e.msg);
    H5Dclose(d);
    h5io_close(f);
}

// Pieces must tile every tensor: an overlap (with the element count still right) and a gap are both refused.
Test(checkpoint, pieces_must_tile_each_tensor) {
    char path[128];
    snprintf(path, sizeof path, "%s/p.h5", dir);
    Model m;
    make_model(&m, MODEL_QWEN3_MOE, 3);
    CkptPiece *p = calloc((size_t)m.n_tensors + 1, sizeof *p);
    for (int t = 0; t < m.n_tensors; t++)
        p[t] = (CkptPiece){t, 0, (int64_t)m.tensors[t].numel, m.params + m.tensors[t].offset, NULL, NULL};
    Err e = {{0}};
    cr_assert_eq(checkpoint_save_pieces(path, &m, p, m.n_tensors, NULL, NULL, &META, &e), 0, "%s", e.msg);
    const ModelTensor *x = &m.tensors[2];
    p[2].end = 10, p[m.n_tensors] = (CkptPiece){2, 5, (int64_t)x->numel - 5, m.params + x->offset + 5, NULL, NULL};
    cr_expect_eq(checkpoint_save_pieces(path, &m, p, m.n_tensors + 1, NULL, NULL, &META, &e), -1, "overlap accepted");
    cr_expect(strstr(e.msg, x->name) && strstr(e.msg, "first gap or overlap at element 10"), "%s", e.msg);
    p[m.n_tensors].begin = 11, p[m.n_tensors].end = (int64_t)x->numel;
    cr_expect_eq(checkpoint_save_pieces(path, &m, p, m.n_tensors + 1, NULL, NULL, &META, &e), -1, "gap accepted");
    cr_expect(strstr(e.msg, "first gap or overlap at element 10"), "%s", e.msg);
    free(p);
    model_free(&m);
}
