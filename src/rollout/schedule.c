#include "rollout/schedule.h"

#include <stdlib.h>

#include "base/error.h"

typedef struct {
    int len, pos;
} Item;

static int longer_first(const void *a, const void *b) {
    const Item *x = a, *y = b;
    if (x->len != y->len) return (x->len < y->len) - (x->len > y->len);
    return (x->pos > y->pos) - (x->pos < y->pos);
}

void schedule_longest_first(const int *prompt_len, int n, int *order) {
    Item *it = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *it);
    for (int i = 0; i < n; i++) it[i] = (Item){prompt_len[i], i};
    qsort(it, (size_t)n, sizeof *it, longer_first);
    for (int i = 0; i < n; i++) order[i] = it[i].pos;
    free(it);
}

int schedule_chunks(int n, int world, int *start) {
    int k = 0, at = 0;
    start[0] = 0;
    while (at < n) {
        int c = (n - at) / (2 * world);
        at += c > 1 ? c : 1;
        start[++k] = at;
    }
    return k;
}
