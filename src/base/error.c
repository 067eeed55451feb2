#include "base/error.h"

#include <stdbool.h>
#include <string.h>

// A message longer than the buffer keeps its first quarter, "..." and its end, never half a UTF-8 character: the end
// says what was expected, the start where; a long path between them (PATH_MAX is 4096) loses its middle.
static void fit(char *dst, size_t size, const char *full, size_t len) {
    if (len < size) {
        memcpy(dst, full, len + 1);
        return;
    }
    size_t head = (size - 4) / 4, tail = size - 4 - head, from = len - tail;
    while (head > 0 && ((unsigned char)full[head] & 0xC0) == 0x80) head--;  // full[head] continues a character
    while (from < len && ((unsigned char)full[from] & 0xC0) == 0x80) from++;
    memcpy(dst, full, head);
    memcpy(dst + head, "...", 3);
    memcpy(dst + head + 3, full + from, len - from + 1);
}

// The whole text of fmt, which fit then cuts to the message buffer; NULL if it cannot be formatted.
static char *format_all(const char *fmt, va_list ap, size_t *len) {
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0) return NULL;
    char *s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    *len = (size_t)n;
    return s;
}

int err_set(Err *e, const char *fmt, ...) {
    if (!e) return -1;
    va_list ap;
    va_start(ap, fmt);
    size_t len = 0;
    char *s = format_all(fmt, ap, &len);
    va_end(ap);
    if (s) fit(e->msg, sizeof e->msg, s, len);
    free(s);
    return -1;
}

int err_prefix(Err *e, const char *fmt, ...) {
    if (!e) return -1;
    va_list ap;
    va_start(ap, fmt);
    size_t len = 0, old = strlen(e->msg);
    char *p = format_all(fmt, ap, &len);
    va_end(ap);
    if (!p) return -1;
    char *s = xmalloc(len + 2 + old + 1);
    memcpy(s, p, len), memcpy(s + len, ": ", 2), memcpy(s + len + 2, e->msg, old + 1);
    fit(e->msg, sizeof e->msg, s, len + 2 + old);
    free(p), free(s);
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
