#include "io/hf_init.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/atomic_file.h"
#include "base/dist.h"
#include "base/revision.h"
#include "io/hf.h"

#define STAMP_MAX (1 << 16)

static int is_weight_file(const struct dirent *d) {
    size_t n = strlen(d->d_name);
    return (n > 12 && !strcmp(d->d_name + n - 12, ".safetensors")) || !strcmp(d->d_name, "model.safetensors.index.json");
}

static void stamp_line(char *stamp, size_t cap, const char *dir, const char *name) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t used = strlen(stamp);
    if (stat(path, &st)) snprintf(stamp + used, cap - used, "%s missing\n", name);
    else
        snprintf(stamp + used, cap - used, "%s %lld %lld.%09ld\n", name, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                 st.st_mtim.tv_nsec);
}

// What the cached import depends on: the directory, and the size and mtime of config.json and each weight file.
static int source_stamp(const char *dir, char *stamp, size_t cap, Err *e) {
    char real[4096];
    if (!realpath(dir, real)) return err_set(e, "%s: %s", dir, strerror(errno));
    snprintf(stamp, cap, "source %s\n", real);
    stamp_line(stamp, cap, dir, "config.json");
    struct dirent **names;
    int n = scandir(dir, &names, is_weight_file, alphasort);
    if (n < 0) return err_set(e, "%s: cannot list: %s", dir, strerror(errno));
    for (int i = 0; i < n; i++) stamp_line(stamp, cap, dir, names[i]->d_name), free(names[i]);
    free(names);
    return 0;
}

static int is_step_file(const struct dirent *d) {
    int step, end = 0;
    return sscanf(d->d_name, "step-%d.h5%n", &step, &end) == 1 && end == (int)strlen(d->d_name);
}

// A run directory's newest checkpoint (its name sorts last) into newest; 0 when dir holds none.
static int newest_checkpoint(const char *dir, char *newest, size_t len) {
    char ckpt[4096];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt", dir);
    struct dirent **names;
    int n = scandir(ckpt, &names, is_step_file, alphasort);
    if (n > 0) snprintf(newest, len, "%s/%s", ckpt, names[n - 1]->d_name);
    for (int i = 0; i < n; i++) free(names[i]);
    if (n >= 0) free(names);
    return n > 0;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *s = xmalloc(STAMP_MAX);
    size_t n = fread(s, 1, STAMP_MAX - 1, f);
    fclose(f);
    s[n] = 0;
    return s;
}

static int write_text(const char *path, const char *text, Err *e) {
    AtomicFile f;  // durable: it says whether the run directory's init.h5 is current
    TRY(atomic_file_open(&f, path, ATOMIC_DURABLE, e));
    fputs(text, f.f);  // a write error shows at the commit
    return atomic_file_commit(&f, e);
}

// Rank 0: the checkpoint for init, importing a Hugging Face directory when its cache is missing or stale.
static int resolve_here(const char *init, const char *what, const char *run_dir, char *path, size_t path_len,
                        char *note, size_t note_len, Err *e) {
    struct stat st;
    note[0] = 0;
    if (stat(init, &st)) return err_set(e, "%s %s: %s", what, init, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return snprintf(path, path_len, "%s", init), 0;
    char config[4096], source[4200];
    snprintf(config, sizeof config, "%s/config.json", init);
    char newest[4400];
    if (stat(config, &st) && newest_checkpoint(init, newest, sizeof newest))  // rlvr sft's, as launch/slurm.sbatch's INIT
        return err_set(e, "%s %s: a run directory; expected one of its checkpoints, as its newest %s", what, init,
                       newest);
    if (stat(config, &st))
        return err_set(e, "%s %s: a directory without config.json; expected a Hugging Face model directory or an rlvr "
                       "checkpoint (.h5)", what, init);
    snprintf(path, path_len, "%s/init.h5", run_dir);
    snprintf(source, sizeof source, "%s.source", path);
    char *now = xmalloc(STAMP_MAX), *before = read_text(source);
    int rc = source_stamp(init, now, STAMP_MAX, e);
    bool cached = !rc && before && !strcmp(now, before) && !stat(path, &st);
    if (!rc && cached) snprintf(note, note_len, "init: %s unchanged since its import: loading %s", init, path);
    if (!rc && !cached) {
        HfImportStats hs;
        rc = hf_import(init, path, rlvr_revision(), &hs, e);
        if (!rc) rc = write_text(source, now, e);
        if (!rc)
            snprintf(note, note_len, "init: %s %s into %s (%lld parameters, %.1f s)", init,
                     before ? "changed since its import (config.json or safetensors size/mtime): imported again"
                            : "imported",
                     path, (long long)hs.n_params, hs.seconds);
    }
    free(now), free(before);
    return rc;
}

int hf_init_resolve(const char *init, const char *what, const char *run_dir, char *path, size_t path_len, char *note,
                    size_t note_len, Err *e) {
    int rc = dist_is_root() ? resolve_here(init, what, run_dir, path, path_len, note, note_len, e) : 0;
    TRY(dist_root_outcome(rc, e));
    dist_bcast(path, path_len, 0);
    return 0;
}
