#include "base/error.h"

#include <stdbool.h>
#include <string.h>

int err_set(Err *e, const char *fmt, ...) {
    if (!e) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int err_prefix(Err *e, const char *fmt, ...) {
    if (!e) return -1;
    char old[sizeof e->msg];
    memcpy(old, e->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof e->msg) snprintf(e->msg + n, sizeof e->msg - (size_t)n, ": %s", old);
    return -1;
}

// A control byte (a newline, a carriage return, an escape) would break the message's one line or the terminal.
static bool is_control(unsigned char c) { return c < 0x20 || c == 0x7F; }

bool err_has_control(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (is_control((unsigned char)s[i])) return true;
    return false;
}

const char *err_abbrev(const char *s, char buf[ERR_ABBREV_SIZE]) {
    size_t len = strlen(s), n = len <= ERR_ABBREV_BYTES ? len : ERR_ABBREV_BYTES;
    while (n < len && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;  // s[n] continues a character: cut before it
    if (n == len && !err_has_control(s, n)) return s;
    size_t used = 0;
    static const char ESCAPED[] = "\n\r\t", LETTER[] = "nrt";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *k = strchr(ESCAPED, c);  // c is not 0 here
        if (!is_control(c)) buf[used++] = (char)c;
        else if (k) buf[used++] = '\\', buf[used++] = LETTER[k - ESCAPED];
        else used += (size_t)snprintf(buf + used, 5, "\\x%02X", c);
    }
    memcpy(buf + used, n < len ? "..." : "", n < len ? 4 : 1);
    return buf;
}

static void *checked(void *p, size_t n, const char *call, const char *file, int line) {
    if (!p && n) {
        fprintf(stderr, "rlvr: %s:%d: %s(%zu bytes) failed: out of memory\n", file, line, call, n);
        abort();
    }
    return p;
}

void *xmalloc_at(size_t n, const char *file, int line) {
    return checked(malloc(n ? n : 1), n, "malloc", file, line);
}

void *xcalloc_at(size_t n, size_t size, const char *file, int line) {
    return checked(calloc(n ? n : 1, size ? size : 1), n * size, "calloc", file, line);
}

void *xrealloc_at(void *p, size_t n, const char *file, int line) {
    return checked(realloc(p, n ? n : 1), n, "realloc", file, line);
}
