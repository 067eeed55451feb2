#include "io/safetensors.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *name;
    size_t size;
} DTYPES[ST_N_DTYPES] = {
    [ST_BOOL] = {"BOOL", 1}, [ST_U8] = {"U8", 1},   [ST_I8] = {"I8", 1},     [ST_F8_E5M2] = {"F8_E5M2", 1},
    [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_I16] = {"I16", 2}, [ST_U16] = {"U16", 2}, [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2}, [ST_I32] = {"I32", 4}, [ST_U32] = {"U32", 4},   [ST_F32] = {"F32", 4},
    [ST_F64] = {"F64", 8},   [ST_I64] = {"I64", 8}, [ST_U64] = {"U64", 8},
};

const char *st_dtype_name(StDtype d) { return (unsigned)d < ST_N_DTYPES ? DTYPES[d].name : "?"; }
size_t st_dtype_size(StDtype d) { return (unsigned)d < ST_N_DTYPES ? DTYPES[d].size : 0; }

int st_dtype_parse(const char *name) {
    for (int i = 0; i < ST_N_DTYPES; i++)
        if (!strcmp(name, DTYPES[i].name)) return i;
    return -1;
}

// ---- conversions ----

float st_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

float st_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0x1f) {
        u = sign | 0x7f800000u | (man << 13);  // inf / NaN (payload kept)
    } else if (exp) {
        u = sign | ((exp + 112) << 23) | (man << 13);
    } else if (!man) {
        u = sign;
    } else {  // subnormal: normalise
        int shift = 0;
        while (!(man & 0x400)) man <<= 1, shift++;
        u = sign | ((uint32_t)(113 - shift) << 23) | ((man & 0x3ff) << 13);
    }
    float x;
    memcpy(&x, &u, 4);
    return x;
}

uint16_t st_f32_to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  // NaN stays a (quiet) NaN
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);                 // nearest, ties to even
}

// ---- reading ----

// Full pread; -1 with errno on failure, 0 at a premature end of file.
static int read_at(int fd, void *buf, uint64_t n, uint64_t off) {
    char *p = buf;
    while (n) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : (size_t)n;
        ssize_t r = pread(fd, p, chunk, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return (int)r;
        p += r, off += (uint64_t)r, n -= (uint64_t)r;
    }
    return 1;
}

// Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), no raw control characters other than JSON
// whitespace, and no \u0000 escape inside a string (it would cut a name short).
static int header_text_ok(const unsigned char *s, size_t n, const char **why) {
    int in_string = 0;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c < 0x20 && c != ' ' && c != '\t' && c != '\n' && c != '\r') return *why = "a control character", 0;
            if (in_string && c == '\\') {
                if (i + 1 < n && s[i + 1] == 'u' && i + 5 < n && !memcmp(s + i + 2, "0000", 4))
                    return *why = "a \\u0000 escape", 0;
                i += 2;
                continue;
            }
            if (c == '"') in_string = !in_string;
            i++;
            continue;
        }
        int len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (!len || i + (size_t)len > n) return *why = "invalid UTF-8", 0;
        unsigned c1 = s[i + 1];
        if ((c1 & 0xc0) != 0x80 || (c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 > 0x9f) || (c == 0xf0 && c1 < 0x90) ||
            (c == 0xf4 && c1 > 0x8f))
            return *why = "invalid UTF-8", 0;
        for (int k = 2; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80) return *why = "invalid UTF-8", 0;
        i += (size_t)len;
    }
    return 1;
}

#define MAX_EXACT 9007199254740992.0  // 2^53: every integer up to it is exact in a JSON number read as double

static int whole_number(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > MAX_EXACT ||
        v->valuedouble != floor(v->valuedouble))
        return 0;
    *out = (uint64_t)v->valuedouble;
    return 1;
}

// One tensor entry {"dtype", "shape", "data_offsets"} -> t (name already set).
static int parse_entry(const StFile *f, const cJSON *v, StTensor *t, Err *e) {
    const char *p = f->path, *n = t->name;
    if (!cJSON_IsObject(v)) return err_set(e, "%s: tensor '%s': entry is not a JSON object", p, n);
    const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL, *x;
    cJSON_ArrayForEach(x, v) {
        const cJSON **slot = !strcmp(x->string, "dtype") ? &dtype : !strcmp(x->string, "shape") ? &shape
                           : !strcmp(x->string, "data_offsets") ? &offsets : NULL;
        if (!slot) return err_set(e, "%s: tensor '%s': unknown field '%s'", p, n, x->string);
        if (*slot) return err_set(e, "%s: tensor '%s': field '%s' appears twice", p, n, x->string);
        *slot = x;
    }
    if (!dtype || !shape || !offsets)
        return err_set(e, "%s: tensor '%s': missing '%s'", p, n, !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
    int d = cJSON_IsString(dtype) ? st_dtype_parse(dtype->valuestring) : -1;
    if (d < 0)
        return err_set(e, "%s: tensor '%s': unknown dtype %s", p, n, cJSON_IsString(dtype) ? dtype->valuestring : "(not a string)");
    t->dtype = (StDtype)d;
    if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) > ST_MAX_DIMS)
        return err_set(e, "%s: tensor '%s': shape must be an array of at most %d sizes", p, n, ST_MAX_DIMS);
    uint64_t numel = 1, bytes;
    t->ndim = 0;
    cJSON_ArrayForEach(x, shape) {
        uint64_t s;
        if (!whole_number(x, &s)) return err_set(e, "%s: tensor '%s': shape entries must be whole numbers", p, n);
        if (__builtin_mul_overflow(numel, s, &numel))
            return err_set(e, "%s: tensor '%s': the shape's element count overflows", p, n);
        t->shape[t->ndim++] = (int64_t)s;
    }
    if (__builtin_mul_overflow(numel, (uint64_t)st_dtype_size(t->dtype), &bytes))
        return err_set(e, "%s: tensor '%s': the shape's byte size overflows", p, n);
    t->numel = numel;
    uint64_t b, en;
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 || !whole_number(offsets->child, &b) ||
        !whole_number(offsets->child->next, &en) || b > en)
        return err_set(e, "%s: tensor '%s': data_offsets must be [begin, end] with whole numbers begin <= end", p, n);
    t->begin = b, t->end = en;
    if (en - b != bytes)
        return err_set(e, "%s: tensor '%s': shape and dtype %s need %" PRIu64 " bytes, data_offsets [%" PRIu64
                       ", %" PRIu64 "] hold %" PRIu64, p, n, st_dtype_name(t->dtype), bytes, b, en, en - b);
    return 0;
}

static int parse_metadata(StFile *f, const cJSON *v, Err *e) {
    if (!cJSON_IsObject(v)) return err_set(e, "%s: __metadata__ is not a JSON object", f->path);
    int n = cJSON_GetArraySize(v), i = 0;
    f->meta = xcalloc((size_t)n * 2 + 1, sizeof *f->meta);
    const cJSON *x;
    cJSON_ArrayForEach(x, v) {
        if (!cJSON_IsString(x)) return err_set(e, "%s: __metadata__ value of '%s' is not a string", f->path, x->string);
        f->meta[i++] = strdup(x->string);
        f->meta[i++] = strdup(x->valuestring);
        f->n_meta++;
    }
    return 0;
}

static int cmp_name(const void *a, const void *b, void *file) {
    const StTensor *t = ((const StFile *)file)->tensors;
    return strcmp(t[*(const int *)a].name, t[*(const int *)b].name);
}

static int cmp_offset(const void *a, const void *b) {
    const StTensor *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int parse_header(StFile *f, const char *text, size_t len, Err *e) {
    const char *why = NULL;
    if (!header_text_ok((const unsigned char *)text, len, &why))
        return err_set(e, "%s: header is not valid JSON text (%s)", f->path, why);
    if (text[0] != '{') return err_set(e, "%s: header does not start with '{'", f->path);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return err_set(e, "%s: header is not a valid JSON object", f->path);
    }
    for (const char *q = end; q < text + len; q++)
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
            cJSON_Delete(root);
            return err_set(e, "%s: header has text after its JSON object", f->path);
        }
    int n = cJSON_GetArraySize(root), rc = 0, seen_meta = 0;
    f->tensors = xcalloc((size_t)n + 1, sizeof *f->tensors);
    const cJSON *x;
    cJSON_ArrayForEach(x, root) {
        if (!strcmp(x->string, "__metadata__")) {
            if (seen_meta++) rc = err_set(e, "%s: __metadata__ appears twice", f->path);
            else rc = parse_metadata(f, x, e);
        } else {
            StTensor *t = &f->tensors[f->n_tensors++];
            t->name = strdup(x->string);
            if (!t->name[0]) rc = err_set(e, "%s: a tensor has an empty name", f->path);
            else rc = parse_entry(f, x, t, e);
        }
        if (rc) break;
    }
    cJSON_Delete(root);
    if (rc) return -1;
    // Names: sorted index, duplicates rejected.
    f->by_name = xmalloc(((size_t)f->n_tensors + 1) * sizeof *f->by_name);
    for (int i = 0; i < f->n_tensors; i++) f->by_name[i] = i;
    qsort_r(f->by_name, (size_t)f->n_tensors, sizeof *f->by_name, cmp_name, f);
    for (int i = 1; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[f->by_name[i]].name, f->tensors[f->by_name[i - 1]].name))
            return err_set(e, "%s: tensor '%s' appears twice", f->path, f->tensors[f->by_name[i]].name);
    // Data: contiguous from 0, no hole or overlap, ending exactly at the end of the file.
    qsort(f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, cmp_offset);
    qsort_r(f->by_name, (size_t)f->n_tensors, sizeof *f->by_name, cmp_name, f);  // the same indices, new places
    uint64_t at = 0;
    for (int i = 0; i < f->n_tensors; i++) {
        const StTensor *t = &f->tensors[i];
        if (t->begin > at)
            return err_set(e, "%s: tensor '%s' starts at byte %" PRIu64 " of the data, leaving a hole after byte %" PRIu64,
                           f->path, t->name, t->begin, at);
        if (t->begin < at)
            return err_set(e, "%s: tensor '%s' [%" PRIu64 ", %" PRIu64 ") overlaps tensor '%s'", f->path, t->name,
                           t->begin, t->end, f->tensors[i - 1].name);
        at = t->end;
    }
    uint64_t data = f->size - f->data_start;
    if (at > data)
        return err_set(e, "%s: tensor '%s' ends at byte %" PRIu64 " of the data, past the end of the file (%" PRIu64
                       " data bytes)", f->path, f->tensors[f->n_tensors - 1].name, at, data);
    if (at < data)
        return err_set(e, "%s: %" PRIu64 " trailing bytes after the last tensor%s%s%s", f->path, data - at,
                       f->n_tensors ? " ('" : "", f->n_tensors ? f->tensors[f->n_tensors - 1].name : "",
                       f->n_tensors ? "')" : "");
    return 0;
}

int st_open(StFile *f, const char *path, Err *e) {
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    f->fd = -1;
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        err_set(e, "%s: cannot open: %s", path, strerror(errno));
        st_close(f);
        return -1;
    }
    struct stat st;
    int rc = 0;
    uint8_t len8[8];
    char *text = NULL;
    if (fstat(f->fd, &st) || !S_ISREG(st.st_mode)) {
        rc = err_set(e, "%s: not a regular file", path);
    } else if ((f->size = (uint64_t)st.st_size) < 8) {
        rc = err_set(e, "%s: %" PRIu64 " bytes, too short for a safetensors header length", path, f->size);
    } else if (read_at(f->fd, len8, 8, 0) != 1) {
        rc = err_set(e, "%s: cannot read the header length", path);
    } else {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = n << 8 | len8[i];
        if (n > ST_MAX_HEADER)
            rc = err_set(e, "%s: header length %" PRIu64 " exceeds %llu bytes", path, n, ST_MAX_HEADER);
        else if (n < 2)
            rc = err_set(e, "%s: header length %" PRIu64 " is too small for a JSON object", path, n);
        else if (n > f->size - 8)
            rc = err_set(e, "%s: header of %" PRIu64 " bytes runs past the end of the file (%" PRIu64 " bytes)", path,
                         n, f->size);
        else if (read_at(f->fd, text = xmalloc(n + 1), n, 8) != 1)
            rc = err_set(e, "%s: cannot read the %" PRIu64 "-byte header", path, n);
        else {
            text[n] = 0;
            f->data_start = 8 + n;
            rc = parse_header(f, text, n, e);
        }
    }
    free(text);
    if (rc) st_close(f);
    return rc;
}

void st_close(StFile *f) {
    if (f->fd >= 0) close(f->fd);
    for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    for (int i = 0; i < 2 * f->n_meta; i++) free(f->meta[i]);
    free(f->tensors), free(f->by_name), free(f->meta), free(f->path);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

const StTensor *st_find(const StFile *f, const char *name) {
    int lo = 0, hi = f->n_tensors - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(name, f->tensors[f->by_name[mid]].name);
        if (!c) return &f->tensors[f->by_name[mid]];
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

const char *st_meta(const StFile *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta[2 * i], key)) return f->meta[2 * i + 1];
    return NULL;
}

// bf16 -> f32 in place (h is the upper half of out), front to back, 8 values at a time so that the compiler
// vectorises it: a block's 16 bytes are loaded before its 32 are stored, and the store ends where the next block's
// values begin or before (4i + 32 <= 2n + 2(i + 8) while i + 8 <= n).
static void widen_bf16(float *out, const uint16_t *h, uint64_t n) {
    uint64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint16_t v[8];
        uint32_t u[8];
        memcpy(v, h + i, sizeof v);
        for (int k = 0; k < 8; k++) u[k] = (uint32_t)v[k] << 16;
        memcpy(out + i, u, sizeof u);
    }
    for (; i < n; i++) out[i] = st_bf16_to_f32(h[i]);
}

int st_read_f32(const StFile *f, const StTensor *t, uint64_t first, uint64_t n, float *out, Err *e) {
    if (t->dtype != ST_F32 && t->dtype != ST_BF16 && t->dtype != ST_F16)
        return err_set(e, "%s: tensor '%s' has dtype %s (expected F32, BF16 or F16)", f->path, t->name,
                       st_dtype_name(t->dtype));
    if (first > t->numel || n > t->numel - first)
        return err_set(e, "%s: tensor '%s': elements [%" PRIu64 ", %" PRIu64 ") are outside its %" PRIu64, f->path,
                       t->name, first, first + n, t->numel);
    size_t es = st_dtype_size(t->dtype);
    // Two-byte values are read into the upper half of out and widened front to back: element i's 4 bytes never
    // reach a value not yet read (4i + 4 <= 2n + 2(i + 1)).
    char *dst = (char *)out + (es == 2 ? 2 * n : 0);
    int r = read_at(f->fd, dst, n * es, f->data_start + t->begin + first * es);
    if (r != 1)
        return err_set(e, "%s: tensor '%s': cannot read %" PRIu64 " bytes (%s)", f->path, t->name, n * es,
                       r < 0 ? strerror(errno) : "the file was truncated");
    const uint16_t *h = (const uint16_t *)dst;
    if (t->dtype == ST_BF16)
        widen_bf16(out, h, n);
    else if (t->dtype == ST_F16)
        for (uint64_t i = 0; i < n; i++) out[i] = st_f16_to_f32(h[i]);
    return 0;
}

// ---- writing ----

uint64_t st_spec_bytes(const StSpec *s) {
    uint64_t n = st_dtype_size(s->dtype);
    for (int d = 0; d < s->ndim; d++) n *= (uint64_t)s->shape[d];
    return n;
}

// A JSON string (names are ours, but escaped all the same).
static void put_json_string(FILE *m, const char *s) {
    fputc('"', m);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(m, "\\%c", *p);
        else if (*p < 0x20) fprintf(m, "\\u%04x", *p);
        else fputc(*p, m);
    }
    fputc('"', m);
}

int st_write_begin(StWriter *w, const char *path, const StSpec *specs, int n, const char *const *meta, Err *e) {
    memset(w, 0, sizeof *w);
    for (int i = 0; i < n; i++)
        if (specs[i].dtype != ST_F32 && specs[i].dtype != ST_BF16)
            return err_set(e, "%s: tensor '%s': can only write F32 or BF16", path, specs[i].name);
    char *hdr = NULL;
    size_t hlen = 0;
    FILE *m = open_memstream(&hdr, &hlen);
    if (!m) return err_set(e, "%s: out of memory for the header", path);
    fputc('{', m);
    int first = 1;
    if (meta && meta[0]) {
        fputs("\"__metadata__\":{", m);
        for (int i = 0; meta[i] && meta[i + 1]; i += 2) {
            if (i) fputc(',', m);
            put_json_string(m, meta[i]);
            fputc(':', m);
            put_json_string(m, meta[i + 1]);
        }
        fputc('}', m);
        first = 0;
    }
    w->bytes = xcalloc((size_t)n + 1, sizeof *w->bytes);
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        const StSpec *s = &specs[i];
        w->bytes[i] = st_spec_bytes(s);
        if (!first) fputc(',', m);
        first = 0;
        put_json_string(m, s->name);
        fprintf(m, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype_name(s->dtype));
        for (int d = 0; d < s->ndim; d++) fprintf(m, "%s%" PRId64, d ? "," : "", s->shape[d]);
        fprintf(m, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", at, at + w->bytes[i]);
        at += w->bytes[i];
    }
    fputc('}', m);
    while ((ftell(m) + 8) % 8) fputc(' ', m);  // data 8-byte aligned, as the reference writer pads
    fclose(m);
    w->data_bytes = at;
    w->specs = specs, w->n = n;
    w->path = strdup(path);
    w->fp = fopen(path, "wb");
    if (!w->fp) {
        free(hdr);
        int rc = err_set(e, "%s: cannot create: %s", path, strerror(errno));
        st_write_abort(w);
        return rc;
    }
    setvbuf(w->fp, NULL, _IOFBF, 1 << 22);
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    int ok = fwrite(len8, 1, 8, w->fp) == 8 && fwrite(hdr, 1, hlen, w->fp) == hlen;
    free(hdr);
    w->buf = xmalloc((1 << 20) * sizeof *w->buf);
    if (!ok) {
        int rc = err_set(e, "%s: cannot write the header: %s", path, strerror(errno));
        st_write_abort(w);
        return rc;
    }
    return 0;
}

int st_write_f32(StWriter *w, const float *x, uint64_t n, Err *e) {
    while (n) {
        while (w->cur < w->n && w->cur_written == w->bytes[w->cur]) w->cur++, w->cur_written = 0;
        if (w->cur == w->n) return err_set(e, "%s: more data than the header announced", w->path);
        const StSpec *s = &w->specs[w->cur];
        size_t es = st_dtype_size(s->dtype);
        uint64_t room = (w->bytes[w->cur] - w->cur_written) / es, k = n < room ? n : room;
        int ok;
        if (s->dtype == ST_F32) {
            ok = fwrite(x, 4, k, w->fp) == k;
        } else {
            if (k > (1 << 20)) k = 1 << 20;
            for (uint64_t i = 0; i < k; i++) w->buf[i] = st_f32_to_bf16(x[i]);
            ok = fwrite(w->buf, 2, k, w->fp) == k;
        }
        if (!ok) return err_set(e, "%s: tensor '%s': write failed: %s", w->path, s->name, strerror(errno));
        w->cur_written += k * es, x += k, n -= k;
    }
    return 0;
}

int st_write_end(StWriter *w, Err *e) {
    while (w->cur < w->n && w->cur_written == w->bytes[w->cur]) w->cur++, w->cur_written = 0;
    int rc = 0;
    if (w->cur < w->n) rc = err_set(e, "%s: tensor '%s' was not written completely", w->path, w->specs[w->cur].name);
    else if (fflush(w->fp) || fsync(fileno(w->fp)))
        rc = err_set(e, "%s: cannot write: %s", w->path, strerror(errno));
    if (rc) {
        st_write_abort(w);
        return rc;
    }
    rc = fclose(w->fp);
    w->fp = NULL;
    if (rc) rc = err_set(e, "%s: cannot close: %s", w->path, strerror(errno));
    if (rc) remove(w->path);
    free(w->path), free(w->bytes), free(w->buf);
    memset(w, 0, sizeof *w);
    return rc ? -1 : 0;
}

void st_write_abort(StWriter *w) {
    if (w->fp) fclose(w->fp), remove(w->path);
    free(w->path), free(w->bytes), free(w->buf);
    memset(w, 0, sizeof *w);
}
