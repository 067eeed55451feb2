#include "base/keyed_sum.h"

#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "base/error.h"

static int by_key(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void keyed_sum_f64(const int64_t *keys, const double *rows, int n, int width, double *out) {
    // A record is the key followed by the row, both 8-byte words, so it is gathered and sorted as one unit.
    size_t rec = (size_t)(width + 1) * sizeof(double);
    char *mine = xmalloc((size_t)(n > 0 ? n : 1) * rec);
    for (int i = 0; i < n; i++) {
        memcpy(mine + i * rec, &keys[i], sizeof keys[i]);
        memcpy(mine + i * rec + sizeof(double), rows + (size_t)i * width, (size_t)width * sizeof(double));
    }
    size_t n_bytes;
    char *all = dist_allgatherv_bytes(mine, (size_t)n * rec, &n_bytes, NULL);
    size_t total = n_bytes / rec;
    qsort(all, total, rec, by_key);
    memset(out, 0, (size_t)width * sizeof *out);
    for (size_t i = 0; i < total; i++) {
        const double *row = (const double *)(all + i * rec + sizeof(double));
        for (int c = 0; c < width; c++) out[c] += row[c];
    }
    free(mine), free(all);
}
