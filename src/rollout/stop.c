#include "rollout/stop.h"

#include <stdlib.h>
#include <string.h>

static int unescape(char c, char *out) {
    switch (c) {
        case 'n': *out = '\n'; return 0;
        case 't': *out = '\t'; return 0;
        case '|': *out = '|'; return 0;
        case '\\': *out = '\\'; return 0;
        default: return -1;
    }
}

static void push(StopList *s, const char *buf, size_t n) {
    s->str = xrealloc(s->str, (size_t)(s->n + 1) * sizeof *s->str);
    s->len = xrealloc(s->len, (size_t)(s->n + 1) * sizeof *s->len);
    s->str[s->n] = xmalloc(n + 1);
    memcpy(s->str[s->n], buf, n);
    s->str[s->n][n] = 0;
    s->len[s->n++] = n;
    if (n > s->max_len) s->max_len = n;
}

int stop_parse(StopList *s, const char *spec, Err *e) {
    memset(s, 0, sizeof *s);
    if (!spec[0]) return 0;
    size_t cap = strlen(spec) + 1, n = 0;
    char *buf = xmalloc(cap);
    for (const char *p = spec;; p++) {
        if (*p == '|' || *p == 0) {
            if (n == 0) {
                free(buf);
                stop_free(s);
                return err_set(e, "[rollout] stop = '%s': empty stop string (use \\| for a literal '|')", spec);
            }
            push(s, buf, n);
            n = 0;
            if (*p == 0) break;
        } else if (*p == '\\') {
            if (unescape(p[1], &buf[n]) != 0) {
                free(buf);
                stop_free(s);
                return err_set(e, "[rollout] stop = '%s': expected one of \\n \\t \\| \\\\ after a backslash", spec);
            }
            n++, p++;
        } else {
            buf[n++] = *p;
        }
    }
    free(buf);
    return 0;
}

void stop_free(StopList *s) {
    for (int i = 0; i < s->n; i++) free(s->str[i]);
    free(s->str);
    free(s->len);
    memset(s, 0, sizeof *s);
}

bool stop_completed(const StopList *s, const char *text, size_t old_len, size_t new_len) {
    for (int i = 0; i < s->n; i++) {
        size_t L = s->len[i];
        // An occurrence ending at end (exclusive) with old_len < end <= new_len.
        for (size_t end = old_len + 1; end <= new_len; end++)
            if (end >= L && !memcmp(text + end - L, s->str[i], L)) return true;
    }
    return false;
}
