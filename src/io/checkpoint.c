#include "io/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/atomic_file.h"
#include "base/dist.h"
#include "base/blas_kernel.h"
#include "base/revision.h"
#include "io/h5io.h"
#include "io/model_h5.h"

// The /state fields, in one table so save, load and validation cannot drift apart.
typedef struct {
    const char *name;
    size_t offset;
    bool is_double;
    bool optional;  // absent in older checkpoints: read as 0
} StateField;

#define SF(field, dbl, opt) {#field, offsetof(TrainState, field), dbl, opt}
static const StateField STATE_FIELDS[] = {
    SF(step, false, false),         SF(data_cursor, false, false),  SF(bad_steps, false, false),
    SF(train_seed, false, false),   SF(rollout_seed, false, false), SF(tokens_total, false, false),
    SF(elapsed_s, true, false),     SF(data_records, false, true),  SF(data_hash, false, true),
};
#define N_STATE_FIELDS (int)(sizeof STATE_FIELDS / sizeof STATE_FIELDS[0])

static int write_scalar_i64(hid_t f, const char *name, int64_t x, Err *e) {
    return h5io_write(f, name, H5T_NATIVE_INT64, &x, 0, NULL, e);
}

static int write_meta(hid_t f, const Model *layout, const TrainState *st, const int64_t *opt_step,
                      const CheckpointMeta *meta, Err *e) {
    TRY(model_h5_write_hf_config(layout, f, e));
    int64_t step = st ? st->step : opt_step ? *opt_step : 0;
    TRY(h5io_attr_write_i64(f, "meta", "format_version", CHECKPOINT_FORMAT_VERSION, e));
    TRY(h5io_attr_write_i64(f, "meta", "step", step, e));
    TRY(h5io_attr_write_i64(f, "meta", "world_size", meta->world_size, e));
    TRY(h5io_attr_write_str(f, "meta", "git_revision", meta->git_rev ? meta->git_rev : rlvr_revision(), e));
    TRY(h5io_attr_write_str(f, "meta", "kind", meta->kind ? meta->kind : "train", e));
    TRY(h5io_attr_write_str(f, "meta", "build_march", rlvr_build_march(), e));
    TRY(h5io_attr_write_str(f, "meta", "blas_kernel", blas_kernel(), e));  // fast mode's backward sums depend on it
    TRY(h5io_attr_write_str(f, "meta", "config", meta->config_text ? meta->config_text : "", e));
    if (meta->given_keys) TRY(h5io_attr_write_str(f, "meta", "given_keys", meta->given_keys, e));
    return 0;
}

static int write_state(hid_t f, const TrainState *st, Err *e) {
    char name[64];
    for (int i = 0; i < N_STATE_FIELDS; i++) {
        const StateField *sf = &STATE_FIELDS[i];
        const char *p = (const char *)st + sf->offset;
        snprintf(name, sizeof name, "state/%s", sf->name);
        if (sf->is_double) TRY(h5io_write_scalar_f64(f, name, *(const double *)p, e));
        else TRY(write_scalar_i64(f, name, *(const int64_t *)p, e));
    }
    return 0;
}

// Test hook for the crash-during-save tests: RLVR_TEST_CKPT_SLEEP=S pauses S seconds mid-write (every rank,
// after /model).
static void test_pause_mid_write(hid_t f) {
    const char *s = getenv("RLVR_TEST_CKPT_SLEEP");
    if (!s || atoi(s) <= 0) return;
    H5Fflush(f, H5F_SCOPE_GLOBAL);
    sleep((unsigned)atoi(s));
}

typedef struct {
    const Model *layout;
    const CkptPiece *mine;
    int n_mine;
    const int64_t *opt_step;
    const TrainState *st;
    const CheckpointMeta *meta;
    bool parallel;   // every rank writes (collective); else this process alone
    int64_t *calls;  // per tensor: the most pieces of it any rank has (each rank makes that many writes)
} SaveJob;

static int by_tensor_begin(const void *a, const void *b) {
    const int64_t *x = a, *y = b;
    return x[0] != y[0] ? (x[0] > y[0]) - (x[0] < y[0]) : (x[1] > y[1]) - (x[1] < y[1]);
}

// All ranks' pieces, as (tensor, begin, end) sorted, must tile every tensor: no gap, no overlap.
static int check_tiling(const Model *L, int64_t *r, size_t n, Err *e) {
    qsort(r, n, 3 * sizeof *r, by_tensor_begin);
    size_t i = 0;
    for (int t = 0; t < L->n_tensors; t++) {
        int64_t next = 0;
        for (; i < n && r[3 * i] == t; i++) {
            if (r[3 * i + 1] == r[3 * i + 2]) continue;
            if (r[3 * i + 1] != next) break;
            next = r[3 * i + 2];
        }
        if (next != (int64_t)L->tensors[t].numel || (i < n && r[3 * i] == t))
            return err_set(e, "the ranks' checkpoint pieces of %s do not cover its %zu elements exactly once (first "
                           "gap or overlap at element %lld)", L->tensors[t].name, L->tensors[t].numel, (long long)next);
    }
    return 0;
}

// The pieces are in range and hold what the file needs, and all ranks' pieces together tile every tensor; fills
// j->calls.
static int check_pieces(SaveJob *j, Err *e) {
    const Model *L = j->layout;
    int T = L->n_tensors, rc = 0;
    int64_t *mine = xmalloc((size_t)(3 * j->n_mine + 1) * sizeof *mine);
    for (int i = 0; i < j->n_mine && !rc; i++) {
        const CkptPiece *p = &j->mine[i];
        if (p->tensor < 0 || p->tensor >= T || p->begin < 0 || p->end < p->begin ||
            p->end > (int64_t)L->tensors[p->tensor].numel)
            rc = err_set(e, "checkpoint piece %d: elements [%lld, %lld) of tensor %d are outside the model", i,
                         (long long)p->begin, (long long)p->end, p->tensor);
        else if (p->end > p->begin && (!p->param || (j->opt_step && (!p->m || !p->v))))
            rc = err_set(e, "checkpoint piece %d of %s lacks its data", i, L->tensors[p->tensor].name);
        mine[3 * i] = p->tensor, mine[3 * i + 1] = p->begin, mine[3 * i + 2] = p->end;
        j->calls[p->tensor < 0 || p->tensor >= T ? 0 : p->tensor]++;
    }
    size_t n = (size_t)j->n_mine * 3;
    int64_t *all = mine;
    if (j->parallel) {
        rc = dist_agree(rc, e);
        all = dist_allgatherv_i64(mine, rc ? 0 : n, &n, NULL);
        dist_allreduce_max_i64(j->calls, (size_t)T);
    }
    if (!rc) rc = check_tiling(L, all, n / 3, e);
    if (all != mine) free(all);
    free(mine);
    return rc;
}

// Writes every tensor of group `group` from the pieces' param (which 0), m (1) or v (2). Collective calls go on
// after a failure so that no rank waits on another; the first message is kept.
static int write_group(hid_t f, const SaveJob *j, const char *group, int which, Err *e) {
    int rc = 0;
    Err scratch;
    for (int t = 0; t < j->layout->n_tensors; t++) {
        hid_t d = model_h5_tensor_create(f, group, &j->layout->tensors[t], rc ? &scratch : e);
        if (d < 0) {  // creation is collective: it failed on every rank
            rc = -1;
            continue;
        }
        int64_t k = 0;
        for (int i = 0; i < j->n_mine; i++) {
            const CkptPiece *p = &j->mine[i];
            if (p->tensor != t) continue;
            const float *x = which == 0 ? p->param : which == 1 ? p->m : p->v;
            if (h5io_write_range(d, H5T_NATIVE_FLOAT, p->begin, p->end, x, rc ? &scratch : e)) rc = -1;
            k++;
        }
        for (; k < j->calls[t]; k++)
            if (h5io_write_range(d, H5T_NATIVE_FLOAT, 0, 0, NULL, rc ? &scratch : e)) rc = -1;
        H5Dclose(d);
    }
    return rc;
}

static int write_all(hid_t f, const SaveJob *j, Err *e) {
    Err scratch;
    int rc = write_meta(f, j->layout, j->st, j->opt_step, j->meta, e);
    if (write_group(f, j, "/model", 0, rc ? &scratch : e)) rc = -1;
    test_pause_mid_write(f);
    if (j->opt_step) {
        if (write_group(f, j, "/optim/m", 1, rc ? &scratch : e)) rc = -1;
        if (write_group(f, j, "/optim/v", 2, rc ? &scratch : e)) rc = -1;
        if (write_scalar_i64(f, "optim/step", *j->opt_step, rc ? &scratch : e)) rc = -1;
    }
    if (j->st && write_state(f, j->st, rc ? &scratch : e)) rc = -1;
    return rc;
}

// Rank 0 (or the lone writer) publishes the complete temporary file under its name: fsync, rename, fsync of the
// directory (base/atomic_file.h). All ranks write NAME.tmp, so the name is fixed, not atomic_file's fresh one.
static int publish(const char *tmp, const char *path, int rc, Err *e) {
    if (rc) unlink(tmp);
    else rc = atomic_file_publish(tmp, path, e);
    return rc ? err_prefix(e, "saving checkpoint %s", path) : 0;
}

// An upper bound of the file's size: every dataset (three per tensor with the moments) and /meta's texts.
static uint64_t file_bytes(const SaveJob *j) {
    const CheckpointMeta *m = j->meta;
    uint64_t groups = j->opt_step ? 3 : 1, b = 65536 + (m->config_text ? strlen(m->config_text) : 0) +
                                               (m->given_keys ? strlen(m->given_keys) : 0);
    for (int t = 0; t < j->layout->n_tensors; t++) b += groups * model_h5_dataset_bytes(&j->layout->tensors[t]);
    return b;
}

// A parallel file's write that fails on some rank parts the ranks inside one HDF5 call (H5Dcreate2's chunk
// allocation: one rank in a barrier, the other in MPI_File_set_view's allreduce) and they wait forever: nothing
// between two calls can agree on it. So each rank first checks its own file size limit (ulimit -f, which mpirun's
// ranks may each set apart) against the file's upper bound, as h5io_check_room does the free space.
static int check_size_limit(const char *tmp, uint64_t bytes, Err *e) {
    struct rlimit lim;
    if (getrlimit(RLIMIT_FSIZE, &lim) || lim.rlim_cur == RLIM_INFINITY || (uint64_t)lim.rlim_cur >= bytes) return 0;
    return err_set(e, "%s: the file needs about %.1f MB, over this process's file size limit (ulimit -f) of %.1f MB",
                   tmp, bytes / 1e6, (double)lim.rlim_cur / 1e6);
}

static int save(SaveJob *j, const char *path, Err *e) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    j->calls = xcalloc((size_t)j->layout->n_tensors, sizeof *j->calls);
    int rc = check_pieces(j, e);
    if (!rc && (!j->parallel || dist_is_root()))  // the target: publish renames over it, a device node too
        rc = h5io_check_target(path, e) || h5io_check_room(tmp, file_bytes(j), e) ? -1 : 0;
    if (!rc && j->parallel) rc = check_size_limit(tmp, file_bytes(j), e);  // serial: its close reports the failure
    if (j->parallel) rc = dist_agree(rc, e);
    hid_t f = -1;
    if (!rc) {
        f = j->parallel ? h5io_create_parallel(tmp, e) : h5io_create(tmp, e);
        rc = f < 0 ? -1 : write_all(f, j, e);
    }
    if (f >= 0) {
        bool flushed = H5Fflush(f, H5F_SCOPE_GLOBAL) >= 0, closed = H5Fclose(f) >= 0;  // closed after a failed flush too
        if (!(flushed && closed) && !rc)
            rc = err_set(e, "%s: cannot write the HDF5 file (a full disk, a quota or a file size limit?)", tmp);
    }
    free(j->calls);
    if (!j->parallel) return publish(tmp, path, rc, e);
    rc = dist_agree(rc, e);  // after it, every rank has closed the file: its write is complete
    if (dist_is_root()) rc = publish(tmp, path, rc, e);
    return dist_root_outcome(rc, e);
}

int checkpoint_save_pieces(const char *path, const Model *layout, const CkptPiece *mine, int n_mine,
                           const int64_t *opt_step, const TrainState *st, const CheckpointMeta *meta, Err *e) {
    SaveJob j = {layout, mine, n_mine, opt_step, st, meta, dist_size() > 1, NULL};
    return save(&j, path, e);
}

int checkpoint_even_pieces(const Model *m, const AdamW *opt, int rank, int size, CkptPiece **out) {
    CkptPiece *p = xcalloc((size_t)m->n_tensors, sizeof *p);
    int n = 0;
    uint64_t base = 0, total = m->n_params ? m->n_params : 1;  // base: the tensor's first element over all tensors
    for (int t = 0; t < m->n_tensors; base += m->tensors[t].numel, t++) {
        const ModelTensor *x = &m->tensors[t];
        int64_t numel = (int64_t)x->numel, step = model_h5_chunk_rows(x) * (x->ndim ? numel / x->shape[0] : 1);
        int64_t begin = -1, end = -1;
        for (int64_t c = 0; c < numel; c += step) {
            if ((int)((base + (uint64_t)c) * (uint64_t)size / total) != rank) continue;  // a chunk's first element decides
            if (begin < 0) begin = c;
            end = c + step < numel ? c + step : numel;
        }
        if (begin < 0) continue;
        size_t off = x->offset + (size_t)begin;
        p[n++] = (CkptPiece){t, begin, end, m->params + off, opt ? opt->m + off : NULL, opt ? opt->v + off : NULL};
    }
    *out = p;
    return n;
}

// Pieces holding the whole of every tensor (one per tensor).
static CkptPiece *whole_pieces(const Model *m, float *params, float *mo, float *vo) {
    CkptPiece *p = xcalloc((size_t)m->n_tensors, sizeof *p);
    for (int t = 0; t < m->n_tensors; t++) {
        size_t off = m->tensors[t].offset;
        p[t] = (CkptPiece){t, 0, (int64_t)m->tensors[t].numel, params + off, mo ? mo + off : NULL, vo ? vo + off : NULL};
    }
    return p;
}

int checkpoint_save_parallel(const char *path, const Model *m, const AdamW *opt, const TrainState *st,
                             const CheckpointMeta *meta, Err *e) {
    CkptPiece *mine;
    int n = checkpoint_even_pieces(m, opt, dist_rank(), dist_size(), &mine);
    int rc = checkpoint_save_pieces(path, m, mine, n, opt ? &opt->step : NULL, st, meta, e);
    free(mine);
    return rc;
}

int checkpoint_save(const char *path, const Model *m, const AdamW *opt, const TrainState *st, const CheckpointMeta *meta,
                    Err *e) {
    CkptPiece *all = whole_pieces(m, m->params, opt ? opt->m : NULL, opt ? opt->v : NULL);
    SaveJob j = {m, all, m->n_tensors, opt ? &opt->step : NULL, st, meta, false, NULL};
    int rc = save(&j, path, e);
    free(all);
    return rc;
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
        return err_set(e, "%s: the checkpoint's [model] type is %s, the config's %s", path, config_enum_name("model", "type", a->type),
                       config_enum_name("model", "type", b->type));
#define SAME_INT(f)                                                                                                \
    if (a->f != b->f) return err_set(e, "%s: the checkpoint's [model] %s is %lld, the config's %lld", path, #f, (long long)a->f, (long long)b->f)
#define SAME_DBL(f)                                                                                                \
    if (a->f != b->f) return err_set(e, "%s: the checkpoint's [model] %s is %g, the config's %g", path, #f, a->f, b->f)
    SAME_INT(vocab_size);
    SAME_INT(hidden_size);
    SAME_INT(num_hidden_layers);
    SAME_INT(num_attention_heads);
    SAME_INT(num_key_value_heads);
    SAME_INT(tie_word_embeddings);
    SAME_INT(attention_bias);
    SAME_INT(qk_norm);
    SAME_INT(num_experts);
    if (b->num_experts > 0) {  // a dense model stores no routing (its config's routing keys are unused)
        SAME_INT(num_experts_per_tok);
        SAME_INT(norm_topk_prob);
    }
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

static int read_scalar(hid_t f, const char *path, const char *name, bool is_double, void *out, Err *e) {
    int has = h5io_lookup(f, name, e);
    if (!has) return err_set(e, "%s: missing dataset '/%s'", path, name);
    if (has < 0) return -1;  // the file is damaged, said by h5io_lookup
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
        const StateField *sf = &STATE_FIELDS[i];
        snprintf(name, sizeof name, "state/%s", sf->name);
        if (sf->optional && !h5io_exists(f, name)) memset((char *)st + sf->offset, 0, 8);
        else TRY(read_scalar(f, path, name, sf->is_double, (char *)st + sf->offset, e));
    }
    return 0;
}

static int check_format(hid_t f, const char *path, Err *e) {
    int64_t version;
    int has = h5io_lookup(f, "meta", e);
    if (!has) return err_set(e, "%s: missing group '/meta' (not an rlvr checkpoint?)", path);
    if (has < 0) return -1;
    TRY(h5io_attr_read_i64(f, "meta", "format_version", &version, e));
    if (version != CHECKPOINT_FORMAT_VERSION)
        return err_set(e, "%s: checkpoint format_version %lld, expected %d", path, (long long)version,
                       CHECKPOINT_FORMAT_VERSION);
    return 0;
}

// What a load reads before it commits anything: the file's architecture and each piece's elements.
typedef struct {
    Model have;     // the file's tensor table (model_layout of its hf_config)
    char *hf_config;
    float *buf;     // per piece: param, then m and v when loading /optim
    int64_t opt_step;
    TrainState st;
} Staged;

static int check_groups(hid_t f, const Model *layout, bool want_opt, Err *e) {
    static const char *const GROUPS[] = {"/model", "/optim/m", "/optim/v"};
    for (int g = 0; g < (want_opt ? 3 : 1); g++)
        for (int t = 0; t < layout->n_tensors; t++) TRY(model_h5_check_tensor(f, GROUPS[g], &layout->tensors[t], e));
    return 0;
}

static int stage(hid_t f, const char *path, const Model *layout, const CkptPiece *mine, int n_mine, bool want_opt,
                 bool want_state, Staged *s, Err *e) {
    TRY(check_format(f, path, e));
    if (!(s->hf_config = h5io_attr_read_str(f, "/meta", "hf_config", e))) return -1;
    ModelConfig cfg;
    if (model_config_from_hf_json(s->hf_config, &cfg, e) || model_layout(&s->have, &cfg, e))
        return err_prefix(e, "%s: /meta hf_config", path);
    TRY(check_same_model(path, &s->have, layout, e));
    TRY(check_groups(f, layout, want_opt, e));
    size_t total = 0;
    for (int i = 0; i < n_mine; i++) total += (size_t)(mine[i].end - mine[i].begin) * (want_opt ? 3 : 1);
    s->buf = xmalloc((total ? total : 1) * sizeof *s->buf);
    float *x = s->buf;
    for (int i = 0; i < n_mine; i++) {
        const CkptPiece *p = &mine[i];
        if (p->tensor < 0 || p->tensor >= layout->n_tensors || p->begin < 0 || p->end < p->begin ||
            p->end > (int64_t)layout->tensors[p->tensor].numel)
            return err_set(e, "checkpoint piece %d: elements [%lld, %lld) of tensor %d are outside the model", i,
                           (long long)p->begin, (long long)p->end, p->tensor);
        const ModelTensor *t = &layout->tensors[p->tensor];
        int64_t n = p->end - p->begin;
        TRY(model_h5_read_range(f, "/model", t, p->begin, p->end, x, e));
        x += n;
        if (!want_opt) continue;
        TRY(model_h5_read_range(f, "/optim/m", t, p->begin, p->end, x, e));
        TRY(model_h5_read_range(f, "/optim/v", t, p->begin, p->end, x + n, e));
        x += 2 * n;
    }
    if (want_opt) TRY(read_scalar(f, path, "optim/step", false, &s->opt_step, e));
    if (want_state) TRY(read_state(f, path, &s->st, e));
    return 0;
}

// Copies the staged pieces into the live buffers (nothing before this touched them).
static void commit(const Staged *s, const CkptPiece *mine, int n_mine, bool want_opt) {
    const float *x = s->buf;
    for (int i = 0; i < n_mine; i++) {
        size_t n = (size_t)(mine[i].end - mine[i].begin);
        memcpy(mine[i].param, x, n * sizeof *x), x += n;
        if (!want_opt) continue;
        memcpy(mine[i].m, x, n * sizeof *x), x += n;
        memcpy(mine[i].v, x, n * sizeof *x), x += n;
    }
}

// Loads the pieces; on success *hf_config (if non-NULL) gets the file's config.json text (malloc'd).
static int load(const char *path, const Model *layout, const CkptPiece *mine, int n_mine, int64_t *opt_step,
                TrainState *st, char **hf_config, Err *e) {
    for (int i = 0; i < n_mine; i++)
        if (!mine[i].param || (opt_step && (!mine[i].m || !mine[i].v)))
            return err_set(e, "checkpoint piece %d lacks its buffers", i);
    hid_t f = h5io_open(path, 0, e);
    if (f < 0) return -1;
    Staged s;
    memset(&s, 0, sizeof s);
    int rc = stage(f, path, layout, mine, n_mine, opt_step != NULL, st != NULL, &s, e);
    h5io_close(f);
    if (!rc) {
        commit(&s, mine, n_mine, opt_step != NULL);
        if (opt_step) *opt_step = s.opt_step;
        if (st) *st = s.st;
        if (hf_config) *hf_config = s.hf_config, s.hf_config = NULL;
    }
    if (s.have.tensors) model_free(&s.have);
    free(s.hf_config);
    free(s.buf);
    return rc;
}

int checkpoint_load_pieces(const char *path, const Model *layout, const CkptPiece *mine, int n_mine,
                           int64_t *opt_step, TrainState *st, Err *e) {
    return load(path, layout, mine, n_mine, opt_step, st, NULL, e);
}

int checkpoint_load(const char *path, Model *m, AdamW *opt, TrainState *st, Err *e) {
    CkptPiece *all = whole_pieces(m, m->params, opt ? opt->m : NULL, opt ? opt->v : NULL);
    char *hf_config = NULL;
    int rc = load(path, m, all, m->n_tensors, opt ? &opt->step : NULL, st, &hf_config, e);
    free(all);
    if (!rc) {  // the file's config.json goes with its weights (export writes it back)
        free(m->hf_config);
        m->hf_config = hf_config;
    }
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

int checkpoint_read_state(const char *path, TrainState *st, Err *e) {
    hid_t f = h5io_open(path, 0, e);
    if (f < 0) return -1;
    int rc = check_format(f, path, e) ? -1 : read_state(f, path, st, e);
    h5io_close(f);
    return rc;
}

char *checkpoint_read_kind(const char *path, Err *e) {
    hid_t f = h5io_open(path, 0, e);
    if (f < 0) return NULL;
    char *kind = check_format(f, path, e) ? NULL : h5io_attr_read_str(f, "meta", "kind", e);
    h5io_close(f);
    return kind;
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

int checkpoint_config_or_file(const char *config_path, const char *ckpt, const char *const *sets, int n_sets, Config *c,
                              Err *e) {
    if (config_path || !ckpt) return config_resolve(c, config_path, sets, n_sets, e);
    return checkpoint_read_config(ckpt, sets, n_sets, c, e);
}

int checkpoint_parse_config(const char *path, const char *text, const char *const *sets, int n_sets, Config *c,
                            Err *e) {
    char name[4200];
    snprintf(name, sizeof name, "%s /meta config", path);
    return config_resolve_text(c, text, name, sets, n_sets, e);
}

int checkpoint_read_config(const char *path, const char *const *sets, int n_sets, Config *c, Err *e) {
    char *text = NULL;
    TRY(checkpoint_read_meta(path, NULL, NULL, &text, e));
    int rc = checkpoint_parse_config(path, text, sets, n_sets, c, e);
    free(text);
    return rc;
}

int checkpoint_read_given_keys(const char *path, char **keys, Err *e) {
    *keys = NULL;
    hid_t f = h5io_open(path, 0, e);
    if (f < 0) return -1;
    int rc = check_format(f, path, e);
    htri_t has = rc ? 0 : H5Aexists_by_name(f, "meta", "given_keys", H5P_DEFAULT);
    if (has < 0) rc = err_set(e, "%s: cannot read the attributes of 'meta' (the file is damaged)", path);
    else if (has > 0 && !(*keys = h5io_attr_read_str(f, "meta", "given_keys", e))) rc = -1;
    h5io_close(f);
    return rc ? -1 : has > 0;
}
