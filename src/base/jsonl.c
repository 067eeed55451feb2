#include "base/jsonl.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int jsonl_open(JsonlReader *r, const char *path, Err *e) {
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s", path);
    r->f = fopen(path, "r");
    if (!r->f) return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;  // fopen opens a directory for reading; its first read would fail as a bare "read error"
    if (!fstat(fileno(r->f), &st) && S_ISDIR(st.st_mode)) {
        fclose(r->f), r->f = NULL;
        return err_set(e, "%s: a directory; expected a JSONL file", path);
    }
    return 0;
}

void jsonl_close(JsonlReader *r) {
    if (r->f) fclose(r->f);
    free(r->line);
    memset(r, 0, sizeof *r);
}

static int blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i])) return 0;
    return 1;
}

// Whether a string of the line holds the escape \u0000 (backslashes appear only in strings; "\\u0000" is text).
static bool escaped_nul(const char *s, size_t n) {
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == '\\') {
            if (s[i + 1] == 'u' && i + 6 <= n && !memcmp(s + i + 2, "0000", 4)) return true;
            i++;  // the escaped character
        }
    return false;
}

int jsonl_next(JsonlReader *r, cJSON **obj, Err *e) {
    *obj = NULL;
    for (;;) {
        ssize_t n = getline(&r->line, &r->cap, r->f);
        if (n < 0) return ferror(r->f) ? err_set(e, "%s: read error: %s", r->path, strerror(errno)) : 0;
        r->lineno++;
        if (blank(r->line, (size_t)n)) continue;
        if (memchr(r->line, 0, (size_t)n))
            return err_set(e, "%s:%lld: NUL byte in line; expected one JSON object per line", r->path, (long long)r->lineno);
        if (escaped_nul(r->line, (size_t)n))  // cJSON's C strings would end there and drop the rest silently
            return err_set(e, "%s:%lld: \\u0000 in a string; expected text without NUL characters", r->path,
                           (long long)r->lineno);
        const char *end = NULL;
        cJSON *o = cJSON_ParseWithLengthOpts(r->line, (size_t)n, &end, 0);
        if (!o) {
            long col = end ? (long)(end - r->line) + 1 : 0;
            return err_set(e, "%s:%lld: invalid JSON near column %ld; expected one JSON object per line", r->path,
                           (long long)r->lineno, col);
        }
        if (end && !blank(end, (size_t)(r->line + n - end))) {
            cJSON_Delete(o);
            return err_set(e, "%s:%lld: text after the JSON object; expected one object per line", r->path,
                           (long long)r->lineno);
        }
        if (!cJSON_IsObject(o)) {
            cJSON_Delete(o);
            return err_set(e, "%s:%lld: expected a JSON object", r->path, (long long)r->lineno);
        }
        const char *again = json_repeated_key(o);
        if (again) {
            err_set(e, "%s:%lld: key \"%s\" appears more than once", r->path, (long long)r->lineno, again);
            cJSON_Delete(o);
            return -1;
        }
        *obj = o;
        return 1;
    }
}

const char *json_repeated_key(const cJSON *o) {
    for (const cJSON *a = o->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (!strcmp(a->string, b->string)) return a->string;
    return NULL;
}

const char *jsonl_where(const JsonlReader *r, char *buf, size_t len) {
    snprintf(buf, len, "%s:%lld", r->path, (long long)r->lineno);
    return buf;
}

int json_get_string(const cJSON *obj, const char *key, const char **out, const char *where, Err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return err_set(e, "%s: missing key \"%s\" (a string)", where, key);
    if (!cJSON_IsString(v)) return err_set(e, "%s: \"%s\" must be a string", where, key);
    *out = v->valuestring;
    return 0;
}

int json_get_int_array(const cJSON *obj, const char *key, int64_t min, int64_t max, int32_t **out, int *n,
                       const char *where, Err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return err_set(e, "%s: missing key \"%s\" (an array of integers)", where, key);
    if (!cJSON_IsArray(v)) return err_set(e, "%s: \"%s\" must be an array of integers", where, key);
    int len = cJSON_GetArraySize(v), i = 0;
    int32_t *x = xmalloc((size_t)len * sizeof *x);
    const cJSON *item;
    cJSON_ArrayForEach(item, v) {
        double d = item->valuedouble;
        if (!cJSON_IsNumber(item) || d != floor(d) || d < (double)min || d > (double)max) {
            free(x);
            return err_set(e, "%s: \"%s\"[%d] must be an integer in [%lld, %lld]", where, key, i, (long long)min,
                           (long long)max);
        }
        x[i++] = (int32_t)d;
    }
    *out = x;
    *n = len;
    return 0;
}

cJSON *json_exact_number(double x) {
    char buf[32];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, x);
        if (strtod(buf, NULL) == x) break;  // %.17g always does
    }
    return cJSON_CreateRaw(buf);
}

void json_number_text(double x, char *buf, size_t cap) {
    if (x == floor(x) && fabs(x) < 1e15) {
        snprintf(buf, cap, "%.0f", x);
        return;
    }
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, cap, "%.*g", digits, x);
        if (strtod(buf, NULL) == x) break;  // %.17g always does
    }
}

int jsonl_write(FILE *f, const cJSON *obj, Err *e) {
    char *s = cJSON_PrintUnformatted(obj);
    if (!s) return err_set(e, "cannot serialise JSON (out of memory)");
    int rc = fputs(s, f) < 0 || fputc('\n', f) < 0;
    free(s);
    return rc ? err_set(e, "write error: %s", strerror(errno)) : 0;
}

char *json_quote(const char *s) {
    cJSON *x = cJSON_CreateString(s);
    char *q = x ? cJSON_PrintUnformatted(x) : NULL;
    cJSON_Delete(x);
    if (!q) {
        fprintf(stderr, "rlvr: json_quote: out of memory\n");
        abort();
    }
    return q;
}
