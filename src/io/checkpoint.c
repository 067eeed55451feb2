#include "io/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/revision.h"
#include "io/h5io.h"
#include "io/model_h5.h"

// The /state fields, in one table so save, load and validation cannot drift apart.
typedef struct {
    const char *name;
    size_t offset;
    bool is_double;
} StateField;

#define SF(field, dbl) {#field, offsetof(TrainState, field), dbl}
static const StateField STATE_FIELDS[] = {
    SF(step, false),       SF(data_cursor, false),  SF(bad_steps, false), SF(train_seed, false),
    SF(rollout_seed, false), SF(tokens_total, false), SF(elapsed_s, true),
};
#define N_STATE_FIELDS (int)(sizeof STATE_FIELDS / sizeof STATE_FIELDS[0])

static int write_scalar_i64(hid_t f, const char *name, int64_t x, Err *e) {
    return h5io_write(f, name, H5T_NATIVE_INT64, &x, 0, NULL, e);
}

static int write_moments(hid_t f, const char *group, const float *x, const Model *m, Err *e) {
    char name[256];
    for (int k = 0; k < m->n_tensors; k++) {
        const ModelTensor *t = &m->tensors[k];
        hsize_t dims[MODEL_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) dims[d] = (hsize_t)t->shape[d];
        snprintf(name, sizeof name, "%s/%s", group, t->name);
        TRY(h5io_write(f, name, H5T_NATIVE_FLOAT, x + t->offset, t->ndim, dims, e));
    }
    return 0;
}

static int write_meta(hid_t f, const TrainState *st, const AdamW *opt, const CheckpointMeta *meta, Err *e) {
    if (!h5io_exists(f, "meta")) {
        hid_t g = H5Gcreate2(f, "meta", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0) return err_set(e, "cannot create group /meta");
        H5Gclose(g);
    }
    int64_t step = st ? st->step : opt ? opt->step : 0;
    TRY(h5io_attr_write_i64(f, "meta", "format_version", CHECKPOINT_FORMAT_VERSION, e));
    TRY(h5io_attr_write_i64(f, "meta", "step", step, e));
    TRY(h5io_attr_write_i64(f, "meta", "world_size", meta->world_size, e));
    TRY(h5io_attr_write_str(f, "meta", "git_revision", meta->git_rev ? meta->git_rev : rlvr_revision(), e));
    TRY(h5io_attr_write_str(f, "meta", "kind", meta->kind ? meta->kind : "train", e));
    TRY(h5io_attr_write_str(f, "meta", "build_march", rlvr_build_march(), e));
    TRY(h5io_attr_write_str(f, "meta", "config", meta->config_text ? meta->config_text : "", e));
    return 0;
}

// Test hook for the crash-during-save test: RLVR_TEST_CKPT_SLEEP=S pauses S seconds mid-write.
static void test_pause_mid_write(hid_t f) {
    const char *s = getenv("RLVR_TEST_CKPT_SLEEP");
    if (!s || atoi(s) <= 0) return;
    H5Fflush(f, H5F_SCOPE_GLOBAL);
    sleep((unsigned)atoi(s));
}

static int write_all(hid_t f, const Model *m, const AdamW *opt, const TrainState *st, const CheckpointMeta *meta,
                     Err *e) {
    TRY(model_save_h5(m, f, e));
    TRY(write_meta(f, st, opt, meta, e));
    test_pause_mid_write(f);
    if (opt) {
        TRY(write_moments(f, "optim/m", opt->m, m, e));
        TRY(write_moments(f, "optim/v", opt->v, m, e));
        TRY(write_scalar_i64(f, "optim/step", opt->step, e));
    }
    if (st) {
        char name[64];
        for (int i = 0; i < N_STATE_FIELDS; i++) {
            const StateField *sf = &STATE_FIELDS[i];
            const char *p = (const char *)st + sf->offset;
            snprintf(name, sizeof name, "state/%s", sf->name);
            if (sf->is_double) TRY(h5io_write_scalar_f64(f, name, *(const double *)p, e));
            else TRY(write_scalar_i64(f, name, *(const int64_t *)p, e));
        }
    }
    return 0;
}

// fsync of a file or directory by path, so the rename publishes complete data.
static int fsync_path(const char *path, int flags, Err *e) {
    int fd = open(path, flags);
    if (fd < 0) return err_set(e, "%s: cannot open for fsync: %s", path, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    return rc ? err_set(e, "%s: fsync failed: %s", path, strerror(errno)) : 0;
}

int checkpoint_save(const char *path, const Model *m, const AdamW *opt, const TrainState *st, const CheckpointMeta *meta,
                    Err *e) {
    char tmp[4096], dir[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    hid_t f = h5io_create(tmp, e);
    if (f < 0) return -1;
    int rc = write_all(f, m, opt, st, meta, e);
    if (H5Fclose(f) < 0 && !rc) rc = err_set(e, "%s: cannot close HDF5 file", tmp);
    if (!rc) rc = fsync_path(tmp, O_RDONLY, e);
    if (!rc && rename(tmp, path)) rc = err_set(e, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (rc) {
        unlink(tmp);
        return err_prefix(e, "saving checkpoint %s", path);
    }
    snprintf(dir, sizeof dir, "%s", path);
    return fsync_path(dirname(dir), O_RDONLY | O_DIRECTORY, e);
}

// ---- loading: everything is read and checked into temporaries first ----

static void shape_str(char *buf, size_t len, int ndim, const int64_t *shape) {
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < ndim && used < len; d++) used += (size_t)snprintf(buf + used, len - used, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (used < len) snprintf(buf + used, len - used, "]");
}

// The checkpoint's architecture must be the live model's: type, every hyper-parameter, every tensor.
static int check_same_model(const char *path, const Model *have, const Model *want, Err *e) {
    const ModelConfig *a = &have->cfg, *b = &want->cfg;
    if (a->type != b->type)
        return err_set(e, "%s: model type is %s, expected %s", path, config_enum_name("model", "type", a->type),
                       config_enum_name("model", "type", b->type));
#define SAME_INT(f)                                                                                                \
    if (a->f != b->f) return err_set(e, "%s: model %s is %lld, expected %lld", path, #f, (long long)a->f, (long long)b->f)
#define SAME_DBL(f)                                                                                                \
    if (a->f != b->f) return err_set(e, "%s: model %s is %g, expected %g", path, #f, a->f, b->f)
    SAME_INT(vocab_size);
    SAME_INT(hidden_size);
    SAME_INT(num_hidden_layers);
    SAME_INT(num_attention_heads);
    SAME_INT(num_key_value_heads);
    SAME_INT(tie_word_embeddings);
    SAME_INT(attention_bias);
    SAME_INT(qk_norm);
    SAME_INT(num_experts);
    SAME_INT(num_experts_per_tok);
    SAME_INT(norm_topk_prob);
    SAME_DBL(rope_theta);
    SAME_DBL(rms_norm_eps);
#undef SAME_INT
#undef SAME_DBL
    for (int l = 0; l < a->num_hidden_layers; l++)
        if (model_layer_is_moe(have, l) != model_layer_is_moe(want, l))
            return err_set(e, "%s: layer %d has a %s, expected a %s (decoder_sparse_step, mlp_only_layers)", path, l,
                           model_layer_is_moe(have, l) ? "MoE block" : "dense MLP",
                           model_layer_is_moe(want, l) ? "MoE block" : "dense MLP");
    char s1[128], s2[128];
    for (int k = 0; k < want->n_tensors; k++) {
        const ModelTensor *w = &want->tensors[k], *h = model_tensor(have, w->name);
        if (!h) return err_set(e, "%s: missing dataset '/model/%s'", path, w->name);
        if (h->ndim != w->ndim || memcmp(h->shape, w->shape, (size_t)w->ndim * sizeof w->shape[0])) {
            shape_str(s1, sizeof s1, h->ndim, h->shape);
            shape_str(s2, sizeof s2, w->ndim, w->shape);
            return err_set(e, "%s: dataset '/model/%s' has shape %s, expected %s", path, w->name, s1, s2);
        }
    }
    if (have->n_tensors != want->n_tensors)
        return err_set(e, "%s: /model has %d tensors, expected %d", path, have->n_tensors, want->n_tensors);
    return 0;
}

// Reads every /optim/<group>/<name> into x (laid out like the parameters), checking shapes.
static int read_moments(hid_t f, const char *path, const char *group, const Model *m, float *x, Err *e) {
    char name[256], s1[128], s2[128];
    for (int k = 0; k < m->n_tensors; k++) {
        const ModelTensor *t = &m->tensors[k];
        snprintf(name, sizeof name, "%s/%s", group, t->name);
        if (!h5io_exists(f, name)) return err_set(e, "%s: missing dataset '/%s'", path, name);
        int rank;
        hsize_t dims[H5IO_MAX_RANK];
        float *buf = h5io_read(f, name, H5T_NATIVE_FLOAT, &rank, dims, e);
        if (!buf) return -1;
        int64_t shape[H5IO_MAX_RANK];
        for (int d = 0; d < rank; d++) shape[d] = (int64_t)dims[d];
        if (rank != t->ndim || memcmp(shape, t->shape, (size_t)rank * sizeof shape[0])) {
            free(buf);
            shape_str(s1, sizeof s1, rank, shape);
            shape_str(s2, sizeof s2, t->ndim, t->shape);
            return err_set(e, "%s: dataset '/%s' has shape %s, expected %s", path, name, s1, s2);
        }
        memcpy(x + t->offset, buf, t->numel * sizeof *x);
        free(buf);
    }
    return 0;
}

static int read_scalar(hid_t f, const char *path, const char *name, bool is_double, void *out, Err *e) {
    if (!h5io_exists(f, name)) return err_set(e, "%s: missing dataset '/%s'", path, name);
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
    void *x = h5io_read(f, name, is_double ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64, &rank, dims, e);
    if (!x) return -1;
    int ok = rank == 0 || (rank == 1 && dims[0] == 1);
    if (ok) memcpy(out, x, 8);
    free(x);
    return ok ? 0 : err_set(e, "%s: dataset '/%s' must be a scalar", path, name);
}

static int read_state(hid_t f, const char *path, TrainState *st, Err *e) {
    char name[64];
    for (int i = 0; i < N_STATE_FIELDS; i++) {
        snprintf(name, sizeof name, "state/%s", STATE_FIELDS[i].name);
        TRY(read_scalar(f, path, name, STATE_FIELDS[i].is_double, (char *)st + STATE_FIELDS[i].offset, e));
    }
    return 0;
}

static int check_format(hid_t f, const char *path, Err *e) {
    int64_t version;
    if (!h5io_exists(f, "meta")) return err_set(e, "%s: missing group '/meta' (not an rlvr checkpoint?)", path);
    TRY(h5io_attr_read_i64(f, "meta", "format_version", &version, e));
    if (version != CHECKPOINT_FORMAT_VERSION)
        return err_set(e, "%s: checkpoint format_version %lld, expected %d", path, (long long)version,
                       CHECKPOINT_FORMAT_VERSION);
    return 0;
}

typedef struct {
    Model model;
    float *m, *v;
    int64_t opt_step;
    TrainState st;
} Staged;

static int stage(hid_t f, const char *path, const Model *live, bool want_opt, bool want_state, Staged *s, Err *e) {
    TRY(check_format(f, path, e));
    if (model_load_h5(&s->model, f, e)) return err_prefix(e, "%s", path);
    TRY(check_same_model(path, &s->model, live, e));
    if (want_opt) {
        s->m = xmalloc(live->n_params * sizeof *s->m);
        s->v = xmalloc(live->n_params * sizeof *s->v);
        TRY(read_moments(f, path, "optim/m", live, s->m, e));
        TRY(read_moments(f, path, "optim/v", live, s->v, e));
        TRY(read_scalar(f, path, "optim/step", false, &s->opt_step, e));
    }
    if (want_state) TRY(read_state(f, path, &s->st, e));
    return 0;
}

int checkpoint_load(const char *path, Model *m, AdamW *opt, TrainState *st, Err *e) {
    hid_t f = h5io_open(path, 0, e);
    if (f < 0) return -1;
    Staged s;
    memset(&s, 0, sizeof s);
    int rc = stage(f, path, m, opt != NULL, st != NULL, &s, e);
    h5io_close(f);
    if (!rc) {  // commit: nothing above touched the live objects
        memcpy(m->params, s.model.params, m->n_params * sizeof *m->params);
        free(m->hf_config);  // the file's config.json goes with its weights (export writes it back)
        m->hf_config = s.model.hf_config;
        s.model.hf_config = NULL;
        if (opt) {
            memcpy(opt->m, s.m, m->n_params * sizeof *s.m);
            memcpy(opt->v, s.v, m->n_params * sizeof *s.v);
            opt->step = s.opt_step;
        }
        if (st) *st = s.st;
    }
    if (s.model.params) model_free(&s.model);
    free(s.m);
    free(s.v);
    return rc;
}

int checkpoint_read_meta(const char *path, int64_t *step, int64_t *world_size, char **config, Err *e) {
    hid_t f = h5io_open(path, 0, e);
    if (f < 0) return -1;
    int rc = check_format(f, path, e);
    if (!rc && step) rc = h5io_attr_read_i64(f, "meta", "step", step, e);
    if (!rc && world_size) rc = h5io_attr_read_i64(f, "meta", "world_size", world_size, e);
    if (!rc && config && !(*config = h5io_attr_read_str(f, "meta", "config", e))) rc = -1;
    h5io_close(f);
    return rc;
}

// ---- run directory ----

void checkpoint_path(char *buf, size_t len, const char *run_dir, int64_t step) {
    snprintf(buf, len, "%s/ckpt/step-%06lld.h5", run_dir, (long long)step);
}

// Step of a file name "step-NNNNNN.h5", or -1.
static int64_t step_of(const char *name) {
    long long step;
    int used = 0;
    if (sscanf(name, "step-%lld.h5%n", &step, &used) != 1 || name[used] || step < 0) return -1;
    return step;
}

// Steps of the complete checkpoints in RUN_DIR/ckpt, ascending (malloc'd).
static int list_steps(const char *run_dir, int64_t **steps, int *n, Err *e) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/ckpt", run_dir);
    *steps = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : err_set(e, "%s: cannot list: %s", dir, strerror(errno));
    int cap = 0;
    for (struct dirent *ent; (ent = readdir(d));) {
        int64_t s = step_of(ent->d_name);
        if (s < 0) continue;
        if (*n == cap) *steps = xrealloc(*steps, (size_t)(cap = cap ? 2 * cap : 16) * sizeof **steps);
        (*steps)[(*n)++] = s;
    }
    closedir(d);
    for (int i = 1; i < *n; i++)  // insertion sort: a handful of files
        for (int j = i; j > 0 && (*steps)[j - 1] > (*steps)[j]; j--) {
            int64_t t = (*steps)[j];
            (*steps)[j] = (*steps)[j - 1], (*steps)[j - 1] = t;
        }
    return 0;
}

int checkpoint_latest(const char *run_dir, char *path, size_t len, int64_t *step, Err *e) {
    int64_t *steps;
    int n;
    TRY(list_steps(run_dir, &steps, &n, e));
    if (n) {
        *step = steps[n - 1];
        checkpoint_path(path, len, run_dir, *step);
    }
    free(steps);
    return n > 0;
}

// A *.tmp left by a save that crashed is never a checkpoint; remove it.
static int remove_stale_tmp(const char *run_dir, Err *e) {
    char dir[4096], path[8192];
    snprintf(dir, sizeof dir, "%s/ckpt", run_dir);
    DIR *d = opendir(dir);
    if (!d) return 0;
    int rc = 0;
    for (struct dirent *ent; (ent = readdir(d)) && !rc;) {
        size_t n = strlen(ent->d_name);
        if (n < 8 || strcmp(ent->d_name + n - 7, ".h5.tmp")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        if (unlink(path)) rc = err_set(e, "cannot delete %s: %s", path, strerror(errno));
    }
    closedir(d);
    return rc;
}

int checkpoint_prune(const char *run_dir, int keep, Err *e) {
    int64_t *steps;
    int n;
    char path[4096];
    TRY(list_steps(run_dir, &steps, &n, e));
    int rc = 0;
    for (int i = 0; i < n - keep && !rc; i++) {
        checkpoint_path(path, sizeof path, run_dir, steps[i]);
        if (unlink(path)) rc = err_set(e, "cannot delete old checkpoint %s: %s", path, strerror(errno));
    }
    free(steps);
    return rc ? rc : remove_stale_tmp(run_dir, e);
}

// config_resolve reads files: the stored text goes through a private temporary file.
int checkpoint_read_config(const char *path, const char *const *sets, int n_sets, Config *c, Err *e) {
    char *text = NULL, tmp[] = "/tmp/rlvr-ckpt-config-XXXXXX";
    TRY(checkpoint_read_meta(path, NULL, NULL, &text, e));
    int fd = mkstemp(tmp);
    int rc = fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text);
    if (fd >= 0) close(fd);
    free(text);
    if (rc) return unlink(tmp), err_set(e, "cannot write a temporary config file %s", tmp);
    rc = config_resolve(c, tmp, sets, n_sets, e);
    unlink(tmp);
    return rc ? err_prefix(e, "%s: /meta config", path) : 0;
}
