#include "text/utf8.h"

#include <string.h>
#include <utf8proc.h>

#include "base/error.h"

char *utf8_sanitize(const char *s, size_t n) {
    char *out = xmalloc(3 * n + 1), *o = out;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0 || cp == 0) {
            memcpy(o, "\xEF\xBF\xBD", 3), o += 3, i++;
        } else {
            memcpy(o, s + i, (size_t)k), o += k, i += (size_t)k;
        }
    }
    *o = 0;
    return out;
}
