// Zero-filled buffers of whole pages of anonymous memory whose ranges can be handed back to the operating system
// while the buffer stays in use: the gradient reducer keeps the parameter table's layout (the backward writes at
// the tensors' offsets) while only the ranges still needed are resident (results/sharding.md).
#ifndef RLVR_PAGES_H
#define RLVR_PAGES_H

#include <stddef.h>

// A zeroed buffer of `bytes`; no page is resident until written. Aborts like xmalloc when the mapping fails.
#define pages_alloc(bytes) pages_alloc_at((bytes), __FILE__, __LINE__)
void *pages_alloc_at(size_t bytes, const char *file, int line);
void pages_free(void *p, size_t bytes);  // p from pages_alloc (NULL: nothing)

// Hands back the whole pages inside [p, p + bytes) (p anywhere in a pages_alloc buffer); they read as zero from then
// on. The partial pages at either end keep their contents.
void pages_release(void *p, size_t bytes);
// Zeroes [p, p + bytes): the whole pages handed back, the partial pages at either end written.
void pages_zero(void *p, size_t bytes);

#endif
