// Caller-visible error messages and checked-call macros (src/README.md "Conventions").
#ifndef RLVR_ERROR_H
#define RLVR_ERROR_H

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

// A failing function fills an Err and returns -1 (or NULL); only main and dist exit.
typedef struct {
    char msg[1024];
} Err;

// Room for a place named in a message before it reaches an Err: a whole path (PATH_MAX bytes with its NUL) and
// ":LINE" or a dataset's name. A shorter buffer would cut the path's end, its file name.
#define ERR_PLACE_SIZE (PATH_MAX + 256)

// Formats the message into e (if non-NULL) and returns -1, so `return err_set(e, ...)` reads naturally. A message
// longer than msg (a path of up to 4 KB) keeps its first quarter, "..." and its end, which says what was expected.
int err_set(Err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Prefixes an existing message with context ("loading ckpt.h5: <old message>"), cut as err_set cuts; returns -1.
int err_prefix(Err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// A user value short enough to quote in a message: s itself, or its first ERR_ABBREV_BYTES bytes (never half
// a UTF-8 character) and "..." in buf, so the part of a message after the quote (what was expected) always fits.
// Control bytes are written \n, \r, \t or \xNN, so the message stays one line.
#define ERR_ABBREV_BYTES 40
#define ERR_ABBREV_SIZE (4 * ERR_ABBREV_BYTES + 4)
const char *err_abbrev(const char *s, char buf[ERR_ABBREV_SIZE]);
// Whether s's first n bytes hold a control byte (< 0x20 or 0x7F), which err_abbrev escapes.
bool err_has_control(const char *s, size_t n);

// Out of memory is not recoverable: print file:line and the call, then abort the process.
void *xmalloc_at(size_t n, const char *file, int line);
void *xcalloc_at(size_t n, size_t size, const char *file, int line);
void *xrealloc_at(void *p, size_t n, const char *file, int line);
#define xmalloc(n) xmalloc_at((n), __FILE__, __LINE__)
#define xcalloc(n, s) xcalloc_at((n), (s), __FILE__, __LINE__)
#define xrealloc(p, n) xrealloc_at((p), (n), __FILE__, __LINE__)

// Checks a call that returns non-zero on failure; on failure fills e and returns -1 from the caller.
#define TRY(call)                                                                                  \
    do {                                                                                           \
        if ((call) != 0) return -1;                                                                \
    } while (0)

#ifdef __cplusplus
}
#endif

#endif
