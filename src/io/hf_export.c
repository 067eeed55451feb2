// rlvr export: a checkpoint's model -> a Hugging Face directory (config.json, generation_config.json, safetensors
// with per-expert names, the shard index, the tokenizer files), streamed.
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "base/config.h"
#include "io/checkpoint.h"
#include "io/h5io.h"
#include "io/hf_internal.h"
#include "io/run_dir.h"

// Files written so far and the directories made for them, removed again if the export fails.
typedef struct {
    const char *dir;
    RunDirMade made;
    char **names;
    int n;
} Written;

static void written_add(Written *w, const char *name) {
    w->names = xrealloc(w->names, (size_t)(w->n + 1) * sizeof *w->names);
    w->names[w->n++] = strdup(name);
}

static void written_end(Written *w, bool failed) {
    char path[PATH_MAX];
    for (int i = 0; i < w->n; i++) {
        if (failed && snprintf(path, sizeof path, "%s/%s", w->dir, w->names[i]) < (int)sizeof path) remove(path);
        free(w->names[i]);
    }
    if (failed) run_dir_undo(&w->made);
    else run_dir_made_free(&w->made);
    free(w->names);
}

// DIR and its missing parents, as a run directory is made (models/NAME in a fresh checkout); an existing DIR must be
// empty.
static int prepare_dir(Written *w, const char *dir, Err *e) {
    TRY(make_dirs_noting(dir, &w->made, e));
    DIR *d = opendir(dir);
    if (!d) return err_set(e, "%s: exists and is not a readable directory", dir);
    struct dirent *x;
    int entries = 0;
    while ((x = readdir(d)))
        entries += strcmp(x->d_name, ".") && strcmp(x->d_name, "..");
    closedir(d);
    return entries ? err_set(e, "%s: directory is not empty (export writes into an empty or new directory)", dir) : 0;
}

// Each file whole or absent, fsynced (base/atomic_file.h): an export is what users keep, or ship, once the
// checkpoint is gone. Named in w only once it is there.
static int output_open(Written *w, const char *name, int flags, AtomicFile *a, Err *e) {
    char path[PATH_MAX];
    TRY(hf_join(path, sizeof path, w->dir, name, e));
    return atomic_file_open(a, path, flags | ATOMIC_DURABLE, e);
}

static int output_end(Written *w, const char *name, AtomicFile *a, int rc, Err *e) {
    TRY(atomic_file_end(a, rc, e));
    written_add(w, name);
    return 0;
}

static int write_file(Written *w, const char *name, const char *text, Err *e) {
    AtomicFile a;
    TRY(output_open(w, name, 0, &a, e));
    fputs(text, a.f), fputc('\n', a.f);  // a write error shows at the commit
    return output_end(w, name, &a, 0, e);
}

static int copy_file(Written *w, const char *src, const char *name, Err *e) {
    FILE *in = fopen(src, "rb");
    if (!in) return err_set(e, "%s: cannot open: %s", src, strerror(errno));
    AtomicFile a;
    if (output_open(w, name, 0, &a, e)) return fclose(in), -1;
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, a.f);  // a write error shows at the commit
    int rc = ferror(in) ? err_set(e, "%s: read error", src) : 0;
    fclose(in);
    return output_end(w, name, &a, rc, e);
}

// One safetensors tensor per piece of each rlvr tensor, in table order.
typedef struct {
    StSpec spec;
    int tensor, piece;
    char name[256];
} Out;

static int write_shard(Written *w, hid_t f, const Model *m, Out *o, int n, const char *name, float *buf, Err *e) {
    AtomicFile a;
    TRY(output_open(w, name, ATOMIC_NO_STREAM, &a, e));
    StSpec *specs = xmalloc((size_t)n * sizeof *specs);
    for (int i = 0; i < n; i++) specs[i] = o[i].spec, specs[i].name = o[i].name;
    static const char *const META[] = {"format", "pt", NULL};
    StWriter sw;
    int rc = st_write_begin(&sw, a.tmp, specs, n, META, e);
    for (int i = 0; i < n && !rc; i++) {
        const ModelTensor *t = &m->tensors[o[i].tensor];
        char dname[160];
        snprintf(dname, sizeof dname, "/model/%s", t->name);
        hid_t d = H5Dopen2(f, dname, H5P_DEFAULT);
        if (d < 0) rc = err_set(e, "cannot open dataset '%s'", dname);
        HfPiece pc = hf_piece(t);
        int64_t step = HF_CHUNK_FLOATS / pc.row_len > 0 ? HF_CHUNK_FLOATS / pc.row_len : 1;
        for (int64_t r0 = 0; !rc && r0 < pc.rows; r0 += step) {
            int64_t nr = pc.rows - r0 < step ? pc.rows - r0 : step;
            rc = hf_h5_rows(d, t, o[i].piece, r0, nr, buf, false, e);
            if (!rc) rc = st_write_f32(&sw, buf, (uint64_t)(nr * pc.row_len), e);
        }
        if (d >= 0) H5Dclose(d);
    }
    if (rc) st_write_abort(&sw);
    else rc = st_write_end(&sw, e);
    free(specs);
    return output_end(w, name, &a, rc, e);
}

static int cmp_out_name(const void *a, const void *b) {
    return strcmp((*(const Out *const *)a)->name, (*(const Out *const *)b)->name);
}

// model.safetensors.index.json: total_size and the weight map sorted by name, as transformers writes it.
static int write_index(Written *w, Out *o, int n, const int *shard_of, int n_shards, uint64_t total, Err *e) {
    Out **sorted = xmalloc((size_t)n * sizeof *sorted);
    for (int i = 0; i < n; i++) sorted[i] = &o[i];
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_out_name);
    cJSON *root = cJSON_CreateObject(), *map = cJSON_CreateObject();
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(root, "metadata"), "total_size", (double)total);
    cJSON_AddItemToObject(root, "weight_map", map);
    char shard[64];
    for (int i = 0; i < n; i++) {
        snprintf(shard, sizeof shard, "model-%05d-of-%05d.safetensors", shard_of[sorted[i] - o] + 1, n_shards);
        cJSON_AddStringToObject(map, sorted[i]->name, shard);
    }
    char *text = cJSON_Print(root);
    int rc = write_file(w, "model.safetensors.index.json", text, e);
    free(text), free(sorted);
    cJSON_Delete(root);
    return rc;
}

static void set_string(cJSON *o, const char *key, const char *value) {
    if (cJSON_GetObjectItemCaseSensitive(o, key)) cJSON_ReplaceItemInObjectCaseSensitive(o, key, cJSON_CreateString(value));
    else cJSON_AddStringToObject(o, key, value);
}

// config.json with the exported dtype; generation_config.json as imported, else its token ids from config.json.
static int write_configs(Written *w, hid_t f, const char *hf_config, StDtype dtype, Err *e) {
    cJSON *c = cJSON_Parse(hf_config);
    const char *name = dtype == ST_BF16 ? "bfloat16" : "float32";
    bool has_dtype = cJSON_GetObjectItemCaseSensitive(c, "dtype"), has_torch = cJSON_GetObjectItemCaseSensitive(c, "torch_dtype");
    if (has_dtype || !has_torch) set_string(c, has_dtype ? "dtype" : "torch_dtype", name);
    if (has_torch) set_string(c, "torch_dtype", name);
    char *text = cJSON_Print(c);
    int rc = write_file(w, "config.json", text, e);
    free(text);
    char *gen = h5io_exists(f, "meta") && H5Aexists_by_name(f, "meta", "hf_generation_config", H5P_DEFAULT) > 0
                    ? h5io_attr_read_str(f, "meta", "hf_generation_config", e)
                    : NULL;
    if (!rc && !gen) {
        cJSON *g = cJSON_CreateObject();
        cJSON_AddBoolToObject(g, "_from_model_config", 1);
        static const char *const KEYS[] = {"bos_token_id", "eos_token_id", "pad_token_id"};
        for (int i = 0; i < 3; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, KEYS[i]);
            if (v && !cJSON_IsNull(v)) cJSON_AddItemToObject(g, KEYS[i], cJSON_Duplicate(v, 1));
        }
        gen = cJSON_Print(g);
        cJSON_Delete(g);
    }
    if (!rc) rc = write_file(w, "generation_config.json", gen, e);
    free(gen);
    cJSON_Delete(c);
    return rc;
}

// The tokenizer named by the checkpoint's config ([tokenizer] type = bpe, path), with its sibling files.
static int copy_tokenizer(Written *w, hid_t f, const char *ckpt, Err *e) {
    if (H5Aexists_by_name(f, "meta", "config", H5P_DEFAULT) <= 0) return 0;
    char *text = h5io_attr_read_str(f, "meta", "config", e);
    if (!text) return -1;
    Config c;
    int rc = checkpoint_parse_config(ckpt, text, NULL, 0, &c, e);
    free(text);
    if (rc) return -1;
    if (c.tokenizer.type != TOKENIZER_BPE) return 0;
    TRY(copy_file(w, c.tokenizer.path, "tokenizer.json", e) ? err_prefix(e, "[tokenizer] path of %s", ckpt) : 0);
    char dir[PATH_MAX], src[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", c.tokenizer.path);
    dirname(dir);
    static const char *const SIBLINGS[] = {"tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                                           "merges.txt", "added_tokens.json", "chat_template.jinja"};
    for (size_t i = 0; i < sizeof SIBLINGS / sizeof SIBLINGS[0]; i++)
        if (!hf_join(src, sizeof src, dir, SIBLINGS[i], e) && access(src, R_OK) == 0)
            TRY(copy_file(w, src, SIBLINGS[i], e));
    return 0;
}

static int export_model(Written *w, hid_t f, const char *ckpt, StDtype dtype, uint64_t shard_bytes, Err *e) {
    char *json = h5io_attr_read_str(f, "meta", "hf_config", e);  // h5io's messages name the file
    if (!json) return -1;
    ModelConfig cfg;
    Model m = {0};
    int rc = model_hf_config_check(json, &cfg, e) ? err_prefix(e, "%s: /meta hf_config", ckpt) : 0;
    if (!rc) rc = model_layout(&m, &cfg, e) ? err_prefix(e, "%s: /meta hf_config", ckpt) : 0;
    int n = 0;
    for (int i = 0; !rc && i < m.n_tensors; i++) n += hf_n_pieces(&m.tensors[i]);
    Out *o = xcalloc((size_t)n + 1, sizeof *o);
    n = 0;
    for (int i = 0; !rc && i < m.n_tensors; i++) {
        const ModelTensor *t = &m.tensors[i];
        char dname[160];
        hsize_t dims[H5IO_MAX_RANK];
        snprintf(dname, sizeof dname, "/model/%s", t->name);
        int rank = h5io_shape(f, dname, dims, e);
        bool ok = rank == t->ndim;
        for (int d = 0; ok && d < rank; d++) ok = dims[d] == (hsize_t)t->shape[d];
        if (!ok) {
            rc = rank < 0 ? -1 : err_set(e, "%s: dataset '%s' does not have the shape /meta hf_config gives it", ckpt, dname);
            break;
        }
        HfPiece pc = hf_piece(t);
        for (int p = 0; p < hf_n_pieces(t); p++, n++) {
            o[n].tensor = i, o[n].piece = p;
            hf_piece_name(t, p, o[n].name, sizeof o[n].name);
            o[n].spec = (StSpec){NULL, dtype, pc.ndim, {0}};
            memcpy(o[n].spec.shape, pc.shape, sizeof pc.shape);
        }
    }
    // Shards in table order, each at most shard_bytes unless one tensor alone is larger.
    int *shard_of = xcalloc((size_t)n + 1, sizeof *shard_of), n_shards = n ? 1 : 0;
    uint64_t in_shard = 0, total = 0;
    for (int i = 0; i < n; i++) {
        uint64_t b = st_spec_bytes(&o[i].spec);
        if (in_shard && in_shard + b > shard_bytes) n_shards++, in_shard = 0;
        shard_of[i] = n_shards - 1;
        in_shard += b, total += b;
    }
    float *buf = xmalloc((size_t)HF_CHUNK_FLOATS * sizeof *buf);
    char name[64];
    for (int s = 0, first = 0; !rc && s < n_shards; s++) {
        int last = first;
        while (last < n && shard_of[last] == s) last++;
        if (n_shards == 1) snprintf(name, sizeof name, "model.safetensors");
        else snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, n_shards);
        rc = write_shard(w, f, &m, o + first, last - first, name, buf, e);
        first = last;
    }
    if (!rc && n_shards > 1) rc = write_index(w, o, n, shard_of, n_shards, total, e);
    if (!rc) rc = write_configs(w, f, json, dtype, e);
    if (!rc) rc = copy_tokenizer(w, f, ckpt, e);
    free(buf), free(shard_of), free(o), free(json);
    model_free(&m);
    return rc;
}

int hf_export(const char *ckpt, const char *dir, StDtype dtype, uint64_t shard_bytes, Err *e) {
    if (dtype != ST_F32 && dtype != ST_BF16) return err_set(e, "export: dtype must be F32 or BF16");
    if (!shard_bytes) return err_set(e, "export: the shard size must be positive");
    hid_t f = h5io_open(ckpt, 0, e);
    if (f < 0) return -1;
    Written w = {.dir = dir};
    int rc = prepare_dir(&w, dir, e);
    if (!rc) rc = export_model(&w, f, ckpt, dtype, shard_bytes, e);
    h5io_close(f);
    written_end(&w, rc != 0);
    return rc;
}
