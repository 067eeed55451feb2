// Heap buffers whose starts are spread over the offsets of a 4 KiB page. Large heap blocks of equal size, allocated one
// after the other, start 16 or 32 bytes apart modulo their size; where that size is a multiple of 2 MiB (a T x F
// activation at T F = 512Ki) and the heap is in huge pages (src/cli/rlvr.c), a loop that reads one such buffer and
// writes the next sees each load wait on the store just before it: SwiGLU's element step ran 4x slower
// (results/cpu-bench-history.md, "Buffers at spread page offsets"). Here every large buffer starts at 256 x c bytes
// into a page, c = 0..15 in turn, so any two of them are 0 or at least 256 bytes apart modulo 4 KiB (and so
// modulo 2 MiB).
#ifndef RLVR_SPREAD_ALLOC_H
#define RLVR_SPREAD_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

// From this size on, a buffer is placed at its page offset (and aligned to 256 bytes); smaller ones are 16-aligned.
#define SPREAD_MIN_BYTES ((size_t)64 << 10)

// `bytes` of heap memory, zeroed or as found; NULL when out of memory. Free with spread_free, never free().
void *spread_alloc(size_t bytes, bool zeroed);
void spread_free(void *p);  // NULL: nothing
// spread_alloc for buffers a computation cannot do without: out of memory aborts with file and line, as xmalloc does.
#define xspread_alloc(bytes, zeroed) xspread_alloc_at((bytes), (zeroed), __FILE__, __LINE__)
void *xspread_alloc_at(size_t bytes, bool zeroed, const char *file, int line);

#endif
