// libFuzzer target: the safetensors reader on arbitrary file contents. What opens must be laid out as promised
// (contiguous from 0 to the end of the file, names unique and findable) and every float tensor must read; files of
// F32/BF16 tensors are written back with the writer and must read back to the same values.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void path_for(char *buf, size_t len, const char *what) {
    snprintf(buf, len, "%s/rlvr-fuzz-st-%s-%d", access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm", what, (int)getpid());
}

static int same_value(float a, float b) { return (isnan(a) && isnan(b)) || !memcmp(&a, &b, sizeof a); }

static void round_trip(const StFile *f, float **vals) {
    StSpec *specs = calloc((size_t)f->n_tensors + 1, sizeof *specs);
    for (int i = 0; i < f->n_tensors; i++) {
        const StTensor *t = &f->tensors[i];
        if (t->dtype != ST_F32 && t->dtype != ST_BF16) goto done;
        specs[i] = (StSpec){t->name, t->dtype, t->ndim, {0}};
        memcpy(specs[i].shape, t->shape, sizeof t->shape);
    }
    char path[256];
    path_for(path, sizeof path, "out");
    StWriter w;
    Err e = {{0}};
    if (st_write_begin(&w, path, specs, f->n_tensors, NULL, &e)) abort();
    for (int i = 0; i < f->n_tensors; i++)
        if (st_write_f32(&w, vals[i], f->tensors[i].numel, &e)) abort();
    if (st_write_end(&w, &e)) abort();
    StFile g;
    if (st_open(&g, path, &e)) abort();  // what the writer writes, the reader accepts
    if (g.n_tensors != f->n_tensors) abort();
    for (int i = 0; i < g.n_tensors; i++) {
        const StTensor *t = st_find(&g, f->tensors[i].name);
        if (!t || t->numel != f->tensors[i].numel || t->dtype != f->tensors[i].dtype) abort();
        float *x = malloc(t->numel * sizeof *x + 1);
        if (st_read_f32(&g, t, 0, t->numel, x, &e)) abort();
        for (uint64_t k = 0; k < t->numel; k++)
            if (!same_value(x[k], vals[i][k])) abort();
        free(x);
    }
    st_close(&g);
    remove(path);
done:
    free(specs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[256];
    path_for(path, sizeof path, "in");
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    fwrite(data, 1, size, fp);
    fclose(fp);
    StFile f;
    Err e = {{0}};
    if (st_open(&f, path, &e)) {
        if (!strstr(e.msg, path)) abort();  // every rejection names the file
        return 0;
    }
    uint64_t at = 0;
    float **vals = calloc((size_t)f.n_tensors + 1, sizeof *vals);
    for (int i = 0; i < f.n_tensors; i++) {
        const StTensor *t = &f.tensors[i];
        if (t->begin != at || st_find(&f, t->name) != t) abort();
        at = t->end;
        if (t->dtype != ST_F32 && t->dtype != ST_BF16 && t->dtype != ST_F16) continue;
        vals[i] = malloc(t->numel * sizeof(float) + 1);
        if (st_read_f32(&f, t, 0, t->numel, vals[i], &e)) abort();
    }
    if (f.data_start + at != f.size) abort();
    round_trip(&f, vals);
    for (int i = 0; i < f.n_tensors; i++) free(vals[i]);
    free(vals);
    st_close(&f);
    return 0;
}
