#include "base/pages.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t page_size(void) {
    static size_t size;  // the same for the whole process; a race writes the same value
    if (!size) size = (size_t)sysconf(_SC_PAGESIZE);
    return size;
}

void *pages_alloc_at(size_t bytes, const char *file, int line) {
    void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "rlvr: %s:%d: mmap(%zu bytes) failed: out of memory\n", file, line, bytes);
        abort();
    }
    return p;
}

void pages_free(void *p, size_t bytes) {
    if (p) munmap(p, bytes ? bytes : 1);
}

// [*a, *b): the whole pages inside [p, p + bytes) (empty when there is none).
static void inner_pages(void *p, size_t bytes, uintptr_t *a, uintptr_t *b) {
    uintptr_t ps = page_size(), lo = (uintptr_t)p, hi = lo + bytes;
    *a = (lo + ps - 1) / ps * ps;
    *b = hi / ps * ps;
    if (*b < *a) *b = *a;
}

void pages_release(void *p, size_t bytes) {
    uintptr_t a, b;
    inner_pages(p, bytes, &a, &b);
    // Linux: private anonymous pages given up with MADV_DONTNEED read as zero when next touched.
    if (b > a && madvise((void *)a, b - a, MADV_DONTNEED) != 0) memset((void *)a, 0, b - a);
}

void pages_zero(void *p, size_t bytes) {
    uintptr_t a, b, lo = (uintptr_t)p, hi = lo + bytes;
    inner_pages(p, bytes, &a, &b);
    if (b == a) {
        memset(p, 0, bytes);
        return;
    }
    memset(p, 0, a - lo);
    memset((void *)b, 0, hi - b);
    pages_release((void *)a, b - a);
}
