// rlvr import --hf DIR: config.json + safetensors (one file or shards) -> an rlvr checkpoint, streamed.
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "base/config.h"
#include "base/walltime.h"
#include "io/h5io.h"
#include "io/hf_internal.h"
#include "io/model_h5.h"

#define MAX_JSON_BYTES (100u << 20)

// Every tensor of the source files, sorted by name; file indexes Sources.files.
typedef struct {
    const char *name;
    int file;
    const StTensor *t;
    bool used;
} Src;

typedef struct {
    const char *dir;
    StFile *files;
    char **file_names;
    int n_files;
    Src *src;
    int n_src;
} Sources;

static int cmp_src(const void *a, const void *b) { return strcmp(((const Src *)a)->name, ((const Src *)b)->name); }

static Src *find_src(const Sources *s, const char *name) {
    Src key = {.name = name};
    return bsearch(&key, s->src, (size_t)s->n_src, sizeof *s->src, cmp_src);
}

static void sources_free(Sources *s) {
    for (int i = 0; i < s->n_files; i++) {
        if (s->files[i].path) st_close(&s->files[i]);
        free(s->file_names[i]);
    }
    free(s->files), free(s->file_names), free(s->src);
    memset(s, 0, sizeof *s);
}

static int open_file(Sources *s, const char *name, Err *e) {
    char path[PATH_MAX];
    TRY(hf_join(path, sizeof path, s->dir, name, e));
    s->files = xrealloc(s->files, (size_t)(s->n_files + 1) * sizeof *s->files);
    s->file_names = xrealloc(s->file_names, (size_t)(s->n_files + 1) * sizeof *s->file_names);
    s->file_names[s->n_files] = strdup(name);
    memset(&s->files[s->n_files], 0, sizeof s->files[0]);
    int i = s->n_files++;
    return st_open(&s->files[i], path, e);
}

static int shard_index(const Sources *s, const char *name) {
    for (int i = 0; i < s->n_files; i++)
        if (!strcmp(s->file_names[i], name)) return i;
    return -1;
}

// model.safetensors.index.json: weight_map {tensor: shard}; each shard opened once, both directions checked.
static int open_sharded(Sources *s, const char *index_path, Err *e) {
    char *text = hf_read_text(index_path, MAX_JSON_BYTES, e);
    if (!text) return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map"), *x;
    int rc = cJSON_IsObject(map) ? 0 : err_set(e, "%s: no \"weight_map\" object", index_path);
    int n = rc ? 0 : cJSON_GetArraySize(map);
    s->src = xcalloc((size_t)n + 1, sizeof *s->src);
    const cJSON *entries = rc ? NULL : map;
    cJSON_ArrayForEach(x, entries) {
        const char *shard = cJSON_IsString(x) ? x->valuestring : "";
        if (!shard[0] || strchr(shard, '/') || shard[0] == '.' || strlen(shard) > 255) {
            rc = err_set(e, "%s: tensor '%s' maps to '%s', which is not a plain file name in the directory",
                         index_path, x->string, shard);
            break;
        }
        int f = shard_index(s, shard);
        if (f < 0 && (rc = open_file(s, shard, e)) != 0) break;
        if (f < 0) f = s->n_files - 1;
        const StTensor *t = st_find(&s->files[f], x->string);
        if (!t) {
            rc = err_set(e, "%s: tensor '%s' is mapped to %s, which has no such tensor", index_path, x->string, shard);
            break;
        }
        s->src[s->n_src++] = (Src){t->name, f, t, false};
    }
    cJSON_Delete(root);
    if (rc) return -1;
    qsort(s->src, (size_t)s->n_src, sizeof *s->src, cmp_src);
    for (int i = 1; i < s->n_src; i++)
        if (!strcmp(s->src[i].name, s->src[i - 1].name))
            return err_set(e, "%s: tensor '%s' is listed twice", index_path, s->src[i].name);
    for (int f = 0; f < s->n_files; f++)
        for (int i = 0; i < s->files[f].n_tensors; i++) {
            const Src *x2 = find_src(s, s->files[f].tensors[i].name);
            if (!x2 || x2->file != f)
                return err_set(e, "%s: tensor '%s' is not mapped to this shard by %s", s->files[f].path,
                               s->files[f].tensors[i].name, index_path);
        }
    return 0;
}

static int open_sources(Sources *s, const char *dir, Err *e) {
    char single[PATH_MAX], index[PATH_MAX];
    memset(s, 0, sizeof *s);
    s->dir = dir;
    TRY(hf_join(single, sizeof single, dir, "model.safetensors", e));
    TRY(hf_join(index, sizeof index, dir, "model.safetensors.index.json", e));
    if (access(single, F_OK) == 0) {
        TRY(open_file(s, "model.safetensors", e));
        const StFile *f = &s->files[0];
        s->src = xcalloc((size_t)f->n_tensors + 1, sizeof *s->src);
        for (int i = 0; i < f->n_tensors; i++) s->src[s->n_src++] = (Src){f->tensors[i].name, 0, &f->tensors[i], false};
        qsort(s->src, (size_t)s->n_src, sizeof *s->src, cmp_src);
        return 0;
    }
    if (access(index, F_OK) == 0) return open_sharded(s, index, e);
    return err_set(e, "%s: no model.safetensors or model.safetensors.index.json", dir);
}

static void shape_text(char *buf, size_t len, int ndim, const int64_t *shape) {
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < ndim && used < len; d++)
        used += (size_t)snprintf(buf + used, len - used, "%s%" PRId64, d ? ", " : "", shape[d]);
    if (used < len) snprintf(buf + used, len - used, "]");
}

// plan[i][p]: the source of piece p of tensor i, checked for presence, shape and dtype; every source used.
static int plan(const Model *m, Sources *s, const char *arch, Src ***plan_out, Src **tied_head, Err *e) {
    Src **plan = xcalloc((size_t)m->n_tensors, sizeof *plan);
    *plan_out = plan;
    char name[256], s1[96], s2[96];
    for (int i = 0; i < m->n_tensors; i++) {
        const ModelTensor *t = &m->tensors[i];
        HfPiece pc = hf_piece(t);
        plan[i] = xcalloc((size_t)hf_n_pieces(t), sizeof **plan);
        for (int p = 0; p < hf_n_pieces(t); p++) {
            hf_piece_name(t, p, name, sizeof name);
            Src *x = find_src(s, name);
            if (!x) return err_set(e, "%s: tensor '%s' is missing (a %s with this config.json has it)", s->dir, name, arch);
            const StTensor *st = x->t;
            const char *file = s->files[x->file].path;
            if (st->ndim != pc.ndim || memcmp(st->shape, pc.shape, (size_t)pc.ndim * sizeof pc.shape[0])) {
                shape_text(s1, sizeof s1, st->ndim, st->shape);
                shape_text(s2, sizeof s2, pc.ndim, pc.shape);
                return err_set(e, "%s: tensor '%s' has shape %s, expected %s for this config.json", file, name, s1, s2);
            }
            if (st->dtype != ST_F32 && st->dtype != ST_BF16 && st->dtype != ST_F16)
                return err_set(e, "%s: tensor '%s' has dtype %s (expected BF16, F16 or F32)", file, name,
                               st_dtype_name(st->dtype));
            x->used = true;
            plan[i][p] = *x;
        }
    }
    *tied_head = NULL;
    for (int i = 0; i < s->n_src; i++) {
        Src *x = &s->src[i];
        size_t n = strlen(x->name);
        if (x->used || (n > 20 && !strcmp(x->name + n - 20, ".rotary_emb.inv_freq")))  // derived, not a weight
            continue;
        if (m->cfg.tie_word_embeddings && !strcmp(x->name, "lm_head.weight") && x->t->numel == m->tensors[0].numel) {
            *tied_head = x;  // must equal the embedding (checked while copying)
            continue;
        }
        return err_set(e, "%s: unexpected tensor '%s' (not part of a %s with this config.json)",
                       s->files[x->file].path, x->name, arch);
    }
    return 0;
}

// A tied checkpoint that still stores lm_head.weight: it must be the embedding, value for value.
static int check_tied(const Sources *s, const Src *head, const Src *embed, float *buf, Err *e) {
    uint64_t n = head->t->numel, step = (uint64_t)HF_CHUNK_FLOATS / 2;
    for (uint64_t a = 0; a < n; a += step) {
        uint64_t k = n - a < step ? n - a : step;
        TRY(st_read_f32(&s->files[head->file], head->t, a, k, buf, e));
        TRY(st_read_f32(&s->files[embed->file], embed->t, a, k, buf + step, e));
        if (memcmp(buf, buf + step, k * sizeof *buf))
            return err_set(e, "%s: lm_head.weight differs from model.embed_tokens.weight, but config.json has "
                           "tie_word_embeddings = true", s->files[head->file].path);
    }
    return 0;
}

// The rlvr configuration recorded in /meta config: defaults with [model] from config.json and the directory's
// tokenizer.json when it has one.
static char *config_text(const ModelConfig *cfg, const char *dir) {
    Config c;
    config_defaults(&c);
    c.model = *cfg;
    char tok[PATH_MAX], abs[PATH_MAX];
    Err e = {{0}};
    if (!hf_join(tok, sizeof tok, dir, "tokenizer.json", &e) && access(tok, R_OK) == 0 && realpath(tok, abs) &&
        strlen(abs) < sizeof c.tokenizer.path) {
        c.tokenizer.type = TOKENIZER_BPE;
        snprintf(c.tokenizer.path, sizeof c.tokenizer.path, "%s", abs);
    }
    return config_to_string(&c);
}

static int write_meta(hid_t f, const char *hf_config, const char *gen_config, const char *cfg_text, const char *dir,
                      const char *revision, Err *e) {
    char abs[PATH_MAX];
    const char *source = realpath(dir, abs) ? abs : dir;
    TRY(h5io_attr_write_str(f, "/meta", "hf_config", hf_config, e));
    if (gen_config) TRY(h5io_attr_write_str(f, "/meta", "hf_generation_config", gen_config, e));
    TRY(h5io_attr_write_str(f, "/meta", "hf_source", source, e));
    TRY(h5io_attr_write_str(f, "/meta", "config", cfg_text, e));
    TRY(h5io_attr_write_str(f, "/meta", "kind", "init", e));
    TRY(h5io_attr_write_str(f, "/meta", "git_revision", revision ? revision : "unknown", e));
    TRY(h5io_attr_write_i64(f, "/meta", "format_version", 1, e));
    TRY(h5io_attr_write_i64(f, "/meta", "step", 0, e));
    TRY(h5io_attr_write_i64(f, "/meta", "world_size", 1, e));
    return 0;
}

// One transfer: rows [r0, r0 + nr) of piece p of tensor i.
typedef struct {
    int tensor, piece;
    int64_t r0, nr;
} Job;

// Every transfer in file order, in chunks of whole rows of at most HF_CHUNK_FLOATS.
static Job *list_jobs(const Model *m, int *n_jobs) {
    int n = 0, cap = 64;
    Job *jobs = xmalloc((size_t)cap * sizeof *jobs);
    for (int i = 0; i < m->n_tensors; i++) {
        HfPiece pc = hf_piece(&m->tensors[i]);
        int64_t step = HF_CHUNK_FLOATS / pc.row_len > 0 ? HF_CHUNK_FLOATS / pc.row_len : 1;
        for (int p = 0; p < hf_n_pieces(&m->tensors[i]); p++)
            for (int64_t r0 = 0; r0 < pc.rows; r0 += step) {
                if (n == cap) jobs = xrealloc(jobs, (size_t)(cap *= 2) * sizeof *jobs);
                jobs[n++] = (Job){i, p, r0, pc.rows - r0 < step ? pc.rows - r0 : step};
            }
    }
    *n_jobs = n;
    return jobs;
}

// Reading and converting overlap with writing: a reader thread fills buffer j % 2 with transfer j (pread, then
// bf16/f16 -> f32) while the caller writes transfer j - 1 to HDF5, which stays on the caller's thread.
typedef struct {
    const Model *m;
    const Sources *s;
    Src **pl;
    const Job *jobs;
    int n_jobs;
    float *buf[2];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int filled, written;  // transfers read so far, written so far
    bool failed, stop;
    Err err;  // the reader's failure
} Pipe;

// A NaN or an infinity among a model's weights means a damaged file; it would reach every forward.
static int check_finite(const StFile *file, const StTensor *t, uint64_t first, const float *v, uint64_t n, Err *e) {
    for (uint64_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return err_set(e, "%s: tensor '%s' element %llu is %g; expected finite weights (a damaged file?)",
                           file->path, t->name, (unsigned long long)(first + i), v[i]);
    return 0;
}

static void *reader(void *arg) {
    Pipe *q = arg;
    for (int j = 0; j < q->n_jobs; j++) {
        pthread_mutex_lock(&q->mu);
        while (j - q->written >= 2 && !q->stop) pthread_cond_wait(&q->cv, &q->mu);
        bool stop = q->stop;
        pthread_mutex_unlock(&q->mu);
        if (stop) break;
        const Job *jb = &q->jobs[j];
        const Src *x = &q->pl[jb->tensor][jb->piece];
        int64_t row = hf_piece(&q->m->tensors[jb->tensor]).row_len;
        const StFile *file = &q->s->files[x->file];
        uint64_t first = (uint64_t)(jb->r0 * row), n = (uint64_t)(jb->nr * row);
        int rc = st_read_f32(file, x->t, first, n, q->buf[j % 2], &q->err) ||
                 check_finite(file, x->t, first, q->buf[j % 2], n, &q->err);
        pthread_mutex_lock(&q->mu);
        if (rc) q->failed = true;
        else q->filled = j + 1;
        pthread_cond_signal(&q->cv);
        pthread_mutex_unlock(&q->mu);
        if (rc) break;
    }
    return NULL;
}

// Waits for transfer j to be read; -1 with the reader's message if it failed first.
static int wait_filled(Pipe *q, int j, Err *e) {
    pthread_mutex_lock(&q->mu);
    while (q->filled <= j && !q->failed) pthread_cond_wait(&q->cv, &q->mu);
    bool failed = q->filled <= j;
    pthread_mutex_unlock(&q->mu);
    return failed ? err_set(e, "%s", q->err.msg) : 0;
}

static void set_written(Pipe *q, int n, bool stop) {
    pthread_mutex_lock(&q->mu);
    q->written = n, q->stop = stop;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

static int write_jobs(hid_t f, Pipe *q, HfImportStats *st, Err *e) {
    hid_t d = -1;
    int rc = 0;
    for (int j = 0; j < q->n_jobs && !rc; j++) {
        const Job *jb = &q->jobs[j];
        const ModelTensor *t = &q->m->tensors[jb->tensor];
        if ((rc = wait_filled(q, j, e))) break;
        if (j == 0 || jb->tensor != q->jobs[j - 1].tensor) {
            if (d >= 0) H5Dclose(d);
            if ((d = model_h5_tensor_create(f, "/model", t, e)) < 0) rc = -1;  // chunked and checksummed like every checkpoint
        }
        if (!rc && jb->r0 == 0) st->source_bytes += q->pl[jb->tensor][jb->piece].t->end - q->pl[jb->tensor][jb->piece].t->begin;
        if (!rc) rc = hf_h5_rows(d, t, jb->piece, jb->r0, jb->nr, q->buf[j % 2], true, e);
        set_written(q, j + 1, false);
    }
    if (d >= 0) H5Dclose(d);
    return rc;
}

static int write_all(hid_t f, const Model *m, const Sources *s, Src **pl, const Src *tied_head, HfImportStats *st,
                     Err *e) {
    Pipe q = {.m = m, .s = s, .pl = pl, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    q.jobs = list_jobs(m, &q.n_jobs);
    for (int k = 0; k < 2; k++) q.buf[k] = xmalloc((size_t)HF_CHUNK_FLOATS * sizeof(float));
    pthread_t th;
    int rc = pthread_create(&th, NULL, reader, &q) ? err_set(e, "cannot start the reader thread") : 0;
    if (!rc) {
        rc = write_jobs(f, &q, st, e);
        set_written(&q, q.n_jobs, true);
        pthread_join(th, NULL);
    }
    if (!rc && tied_head) rc = check_tied(s, tied_head, &pl[0][0], q.buf[0], e);
    free(q.buf[0]), free(q.buf[1]), free((void *)q.jobs);
    return rc;
}

int hf_import(const char *dir, const char *out, const char *revision, HfImportStats *st, Err *e) {
    double t0 = walltime_s();
    memset(st, 0, sizeof *st);
    char path[PATH_MAX];
    TRY(hf_join(path, sizeof path, dir, "config.json", e));
    char *json = hf_read_text(path, MAX_JSON_BYTES, e), *gen = NULL, *cfg_text = NULL;
    if (!json) return -1;
    ModelConfig cfg;
    Model m = {0};
    Sources s = {0};
    Src **pl = NULL, *tied_head = NULL;
    int rc = model_hf_config_check(json, &cfg, e) ? err_prefix(e, "%s", path) : 0;
    if (!rc) rc = model_layout(&m, &cfg, e) ? err_prefix(e, "%s", path) : 0;
    if (!rc) rc = open_sources(&s, dir, e);
    const cJSON *arch = NULL;
    cJSON *root = cJSON_Parse(json);
    arch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "architectures"), 0);
    if (!rc) rc = plan(&m, &s, cJSON_IsString(arch) ? arch->valuestring : "model", &pl, &tied_head, e);
    cJSON_Delete(root);
    if (!rc && hf_join(path, sizeof path, dir, "generation_config.json", e) == 0 && access(path, F_OK) == 0) {
        cJSON *g = (gen = hf_read_text(path, MAX_JSON_BYTES, e)) ? cJSON_Parse(gen) : NULL;
        if (!cJSON_IsObject(g)) rc = gen ? err_set(e, "%s: not a JSON object", path) : -1;
        cJSON_Delete(g);
    }
    if (!rc) {
        cfg_text = config_text(&cfg, dir);
        uint64_t bytes = H5IO_OVERHEAD_BYTES + strlen(json) + strlen(cfg_text);  // /meta's text
        for (int t = 0; t < m.n_tensors; t++) bytes += model_h5_dataset_bytes(&m.tensors[t]);
        AtomicFile af;  // durable: a run's init.h5 is imported once and read by every resume
        hid_t f = h5io_output_create(&af, out, bytes, ATOMIC_DURABLE, e);
        if (f < 0) {
            rc = -1;
        } else {
            hid_t g = H5Gcreate2(f, "/meta", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            if (g >= 0) H5Gclose(g);
            rc = g < 0 ? err_set(e, "%s: cannot create /meta", af.path)
                       : write_meta(f, json, gen, cfg_text, dir, revision, e);
            if (!rc) rc = write_all(f, &m, &s, pl, tied_head, st, e);
            rc = h5io_output_end(&af, f, rc, e);
        }
    }
    st->n_params = (int64_t)m.n_params;
    st->n_tensors = m.n_tensors;
    for (int i = 0; pl && i < m.n_tensors; i++) free(pl[i]);
    free(pl), free(json), free(gen), free(cfg_text);
    sources_free(&s);
    model_free(&m);
    st->seconds = walltime_s() - t0;
    return rc;
}
