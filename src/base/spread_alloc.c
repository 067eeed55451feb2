#include "base/spread_alloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum { PAGE = 4096, STEP = 256, OFFSETS = PAGE / STEP, SMALL_ALIGN = 16 };

static atomic_uint next_offset;  // the page offset, in steps, of the next large buffer

// Each buffer keeps the block it lies in just below its start.
static void *keep_block(char *block, uintptr_t at) {
    ((void **)at)[-1] = block;
    return (void *)at;
}

void *spread_alloc(size_t bytes, bool zeroed) {
    bool large = bytes >= SPREAD_MIN_BYTES;
    size_t slack = large ? PAGE + sizeof(void *) : SMALL_ALIGN;  // the largest distance from block to start
    if (bytes > SIZE_MAX - slack) return NULL;
    char *block = zeroed ? calloc(1, bytes + slack) : malloc(bytes + slack);
    if (!block) return NULL;
    if (!large) return keep_block(block, (uintptr_t)block + SMALL_ALIGN);  // malloc's blocks are 16-aligned
    uintptr_t first = (uintptr_t)block + sizeof(void *);                     // room for the block pointer
    uintptr_t at = (first & ~(uintptr_t)(PAGE - 1)) + (uintptr_t)STEP * (atomic_fetch_add(&next_offset, 1) % OFFSETS);
    return keep_block(block, at >= first ? at : at + PAGE);
}

void spread_free(void *p) {
    if (p) free(((void **)p)[-1]);
}

void *xspread_alloc_at(size_t bytes, bool zeroed, const char *file, int line) {
    void *p = spread_alloc(bytes, zeroed);
    if (!p) {
        fprintf(stderr, "rlvr: %s:%d: spread_alloc(%zu bytes) failed: out of memory\n", file, line, bytes);
        abort();
    }
    return p;
}
