// Zero-filled buffers of whole pages of anonymous memory whose ranges can be handed back to the operating system
// while the buffer stays in use: the gradient reducer keeps the parameter table's layout (the backward writes at
// the tensors' offsets) while only the ranges still needed are resident (results/sharding.md).
#ifndef RLVR_PAGES_H
#define RLVR_PAGES_H

#include <stdbool.h>
#include <stddef.h>

// A zeroed buffer of `bytes`; no page is resident until written. Aborts like xmalloc when the mapping fails.
#define pages_alloc(bytes) pages_alloc_at((bytes), false, __FILE__, __LINE__)
// The same in transparent huge pages (where the kernel's THP setting allows), for a buffer that ends resident in full
// anyway: from 2 MiB on, it starts on a huge-page boundary, and one fault maps the 2 MiB around a write. Handing back
// part of a huge page splits it: pages_release keeps its 4 KiB granularity.
#define pages_alloc_huge(bytes) pages_alloc_at((bytes), true, __FILE__, __LINE__)
void *pages_alloc_at(size_t bytes, bool huge, const char *file, int line);
// pages_alloc (huge: pages_alloc_huge) that returns NULL when the mapping fails.
void *pages_map(size_t bytes, bool huge);
// A pages_alloc_huge buffer resident at once (pages_populate).
#define pages_alloc_resident(bytes) pages_alloc_resident_at((bytes), __FILE__, __LINE__)
void *pages_alloc_resident_at(size_t bytes, const char *file, int line);
// pages_alloc_resident that returns NULL when the mapping fails.
void *pages_map_resident(size_t bytes);
// pages_map_resident for a large buffer that lives for one phase of a step (a rollout's KV cache, a generation's packed
// weights). The heap keeps the pages of what it frees (src/cli/rlvr.c), so such a buffer would be resident beside the
// last phase's freed memory rather than in its place: from 64 MiB on, the heap first hands its free pages back
// (malloc_trim), and the next phase faults them in again.
void *pages_map_apart(size_t bytes);
void pages_free(void *p, size_t bytes);  // p from any of the three (NULL: nothing)

// Hands back the whole pages inside [p, p + bytes) (p anywhere in a pages_alloc buffer); they read as zero from then
// on. The partial pages at either end keep their contents.
void pages_release(void *p, size_t bytes);
// Lets the kernel take back the whole pages inside [p, p + bytes) when it runs short of memory (Linux MADV_FREE), and
// leaves them in place until then: from now on they read as their old contents or as zero, and a write keeps a page
// that is still there at no page fault. For a buffer written whole before it is read again; where MADV_FREE is
// missing, the pages stay as they are.
void pages_lazy_release(void *p, size_t bytes);
// Zeroes [p, p + bytes): the whole pages handed back, the partial pages at either end written.
void pages_zero(void *p, size_t bytes);
// Makes the pages around [p, p + bytes) resident for writing, contents kept, in huge pages where the buffer has them
// (Linux 5.14 on; before, it does nothing and returns false). For a range the next pass reads and then writes, as the
// backward adds to a gradient: touched by that pass instead, the first read maps the shared zero page, and the write
// after it faults in each 4 KiB page on its own, huge pages or not.
bool pages_populate(void *p, size_t bytes);

#endif
