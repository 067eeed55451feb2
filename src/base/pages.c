#include "base/pages.h"

#include <malloc.h>
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

#define HUGE_PAGE ((size_t)2 << 20)

void *pages_map(size_t bytes, bool huge) {
    size_t n = bytes ? bytes : 1, slack = huge && n >= HUGE_PAGE ? HUGE_PAGE : 0;  // room to start on a boundary
    if (n > SIZE_MAX - HUGE_PAGE) return NULL;
    char *p = mmap(NULL, n + slack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    if (!slack) return p;
    char *a = (char *)(((uintptr_t)p + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE);
    size_t used = (n + page_size() - 1) / page_size() * page_size();
    if (a > p) munmap(p, (size_t)(a - p));
    if (p + slack > a) munmap(a + used, (size_t)(p + slack - a));
#ifdef MADV_HUGEPAGE
    madvise(a, n, MADV_HUGEPAGE);  // advice: where the kernel has transparent huge pages off, plain pages
#endif
    return a;
}

// p, or out of memory: abort naming the caller's place.
static void *mapped_or_abort(void *p, size_t bytes, const char *file, int line) {
    if (!p) {
        fprintf(stderr, "rlvr: %s:%d: mmap(%zu bytes) failed: out of memory\n", file, line, bytes);
        abort();
    }
    return p;
}

void *pages_alloc_at(size_t bytes, bool huge, const char *file, int line) {
    return mapped_or_abort(pages_map(bytes, huge), bytes, file, line);
}

void *pages_map_resident(size_t bytes) {
    void *p = pages_map(bytes, true);
    if (p) pages_populate(p, bytes);
    return p;
}

// From this size on, a buffer apart first has the heap hand its free pages back: below it the overlap is too small to
// matter beside the phase the buffer is for.
#define APART_TRIM_BYTES ((size_t)64 << 20)

void *pages_map_apart(size_t bytes) {
    if (bytes >= APART_TRIM_BYTES) malloc_trim(0);
    return pages_map_resident(bytes);
}

void *pages_alloc_resident_at(size_t bytes, const char *file, int line) {
    return mapped_or_abort(pages_map_resident(bytes), bytes, file, line);
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

void pages_lazy_release(void *p, size_t bytes) {
#ifdef MADV_FREE  // Linux 4.5
    uintptr_t a, b;
    inner_pages(p, bytes, &a, &b);
    if (b > a) madvise((void *)a, b - a, MADV_FREE);  // advice: refused, the pages simply stay
#else
    (void)p, (void)bytes;
#endif
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

bool pages_populate(void *p, size_t bytes) {
#ifdef MADV_POPULATE_WRITE  // Linux 5.14; before it, the pages fault in when touched, as without this call
    uintptr_t ps = page_size(), a = (uintptr_t)p / ps * ps, b = ((uintptr_t)p + bytes + ps - 1) / ps * ps;
    return b > a && madvise((void *)a, b - a, MADV_POPULATE_WRITE) == 0;
#else
    (void)p, (void)bytes;
    return false;
#endif
}
