// A long run saves, loads and inspects checkpoints hundreds of times: each of those file operations must leave the
// process as it found it, with no HDF5 identifier (file, group, dataset, dataspace, attribute, datatype, property
// list) and no file descriptor left open. results/long-run.md measures the whole program over a long run.
#include <criterion/criterion.h>
#include <dirent.h>
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/checkpoint.h"
#include "io/hf.h"
#include "io/model_h5.h"

static char dir[64];

static void setup_dir(void) {
    snprintf(dir, sizeof dir, "/tmp/rlvr-ids-XXXXXX");
    cr_assert(mkdtemp(dir));
}

static void teardown_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(hdf5_ids, .init = setup_dir, .fini = teardown_dir);

// HDF5 1.10 counts the open objects of files (H5Fget_obj_count), not dataspaces, datatypes or property lists. Those
// are numbered in sequence per type, so the ones a call made lie between a probe's id made before it and one made
// after; the call left open those that are still valid.
typedef struct {
    hid_t space, type, plist;
} Probes;

static Probes probe(void) {
    Probes p = {H5Screate(H5S_SCALAR), H5Tcopy(H5T_NATIVE_INT), H5Pcreate(H5P_DATASET_XFER)};
    cr_assert(p.space >= 0 && p.type >= 0 && p.plist >= 0);
    H5Sclose(p.space), H5Tclose(p.type), H5Pclose(p.plist);
    return p;
}

static long still_valid(hid_t from, hid_t to) {
    long n = 0;
    for (hid_t id = from + 1; id < to; id++) n += H5Iis_valid(id) > 0;
    return n;
}

static long open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    cr_assert(d);
    long n = 0;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

// Around the calls that begin with a Before: nothing of HDF5's and no file descriptor more than before.
typedef struct {
    Probes probes;
    long fds;
} Before;

static Before before(void) {
    cr_assert_eq(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0, "HDF5 objects open before the calls");
    return (Before){probe(), open_fds()};
}

static void expect_nothing_left(Before b, const char *what) {
    Probes now = probe();
    cr_expect_eq(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0, "%s left HDF5 files or objects open", what);
    cr_expect_eq(still_valid(b.probes.space, now.space), 0, "%s left dataspaces open", what);
    cr_expect_eq(still_valid(b.probes.type, now.type), 0, "%s left datatypes open", what);
    cr_expect_eq(still_valid(b.probes.plist, now.plist), 0, "%s left property lists open", what);
    cr_expect_eq(open_fds(), b.fds, "%s left file descriptors open", what);
}

static const CheckpointMeta META = {"train", "[train]\nsteps = 3\n", "test-rev", 1, NULL};

// Each round: a save, a prune, a load, every read of /meta and /state the commands make, a model-only load.
static void round_of_checkpoint_calls(Model *m, AdamW *o, TrainState *st, int round) {
    char path[128];
    Err e = {{0}};
    snprintf(path, sizeof path, "%s/ckpt/step-%06d.h5", dir, round);
    st->step = round;
    cr_assert_eq(checkpoint_save(path, m, o, st, &META, &e), 0, "%s", e.msg);
    cr_assert_eq(checkpoint_prune(dir, 2, &e), 0, "%s", e.msg);
    cr_assert_eq(checkpoint_load(path, m, o, st, &e), 0, "%s", e.msg);
    TrainState only = {0};
    cr_assert_eq(checkpoint_read_state(path, &only, &e), 0, "%s", e.msg);
    int64_t step, world;
    char *text = NULL, *kind = checkpoint_read_kind(path, &e);
    cr_assert(kind, "%s", e.msg);
    cr_assert_eq(checkpoint_read_meta(path, &step, &world, &text, &e), 0, "%s", e.msg);
    cr_expect_eq(step, round);
    free(text), free(kind);
    Config c;
    cr_assert_eq(checkpoint_read_config(path, NULL, 0, &c, &e), 0, "%s", e.msg);
    Model loaded;
    cr_assert_eq(model_load_path(&loaded, path, &e), 0, "%s", e.msg);
    model_free(&loaded);
    // A refused load (a file that is not there) closes what it opened too.
    snprintf(path, sizeof path, "%s/ckpt/absent.h5", dir);
    cr_expect_eq(checkpoint_load(path, m, o, st, &e), -1);
}

Test(hdf5_ids, checkpoint_rounds_leave_nothing_open) {
    Config c;
    config_defaults(&c);
    ModelConfig mc = c.model;
    mc.type = MODEL_QWEN3_MOE;
    mc.vocab_size = 64, mc.hidden_size = 16, mc.intermediate_size = 32, mc.num_hidden_layers = 2;
    mc.num_attention_heads = 2, mc.num_key_value_heads = 1, mc.max_position_embeddings = 64;
    mc.num_experts = 4, mc.num_experts_per_tok = 2, mc.moe_intermediate_size = 8;
    Model m;
    Err e;
    cr_assert_eq(model_create(&m, &mc, &e), 0, "%s", e.msg);
    model_init_random(&m, 3);
    AdamW o;
    adamw_init(&o, m.n_params);
    TrainState st = {.train_seed = 1, .rollout_seed = 2};
    char ckpt_dir[96];
    snprintf(ckpt_dir, sizeof ckpt_dir, "%s/ckpt", dir);
    cr_assert_eq(mkdir(ckpt_dir, 0755), 0);
    round_of_checkpoint_calls(&m, &o, &st, 1);  // the library's first use opens what it keeps for the process
    long fds = open_fds();
    for (int round = 2; round <= 20; round++) {
        char what[64];
        snprintf(what, sizeof what, "checkpoint round %d", round);
        Before b = before();
        round_of_checkpoint_calls(&m, &o, &st, round);
        expect_nothing_left(b, what);
    }
    cr_expect_eq(open_fds(), fds);
    adamw_free(&o), model_free(&m);
}

// rlvr import and rlvr export of a Hugging Face directory, several times over.
Test(hdf5_ids, import_and_export_leave_nothing_open) {
    char ckpt[96], out[96];
    snprintf(ckpt, sizeof ckpt, "%s/imported.h5", dir);
    HfImportStats hs;
    Err e = {{0}};
    cr_assert_eq(hf_import("tests/fixtures/hf/qwen3_moe_bf16", ckpt, "test", &hs, &e), 0, "%s", e.msg);
    for (int round = 0; round < 5; round++) {
        Before b = before();
        cr_assert_eq(hf_import("tests/fixtures/hf/qwen3_moe_bf16", ckpt, "test", &hs, &e), 0, "%s", e.msg);
        expect_nothing_left(b, "an import");
        snprintf(out, sizeof out, "%s/export-%d", dir, round);
        b = before();
        cr_assert_eq(hf_export(ckpt, out, round % 2 ? ST_F32 : ST_BF16, 8000, &e), 0, "%s", e.msg);
        expect_nothing_left(b, "an export");
    }
}
