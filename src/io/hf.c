#include "io/hf_internal.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

// Fused expert tensors are the 3-D "....mlp.experts.<proj>" ones (src/model/model.c build_layer).
static bool fused(const ModelTensor *t) { return t->ndim == 3 && strstr(t->name, ".mlp.experts.") != NULL; }

int hf_n_pieces(const ModelTensor *t) { return fused(t) ? (int)t->shape[0] : 1; }

void hf_piece_name(const ModelTensor *t, int p, char *buf, size_t len) {
    if (!fused(t)) {
        snprintf(buf, len, "%s", t->name);
        return;
    }
    const char *proj = strrchr(t->name, '.') + 1;  // gate_proj, up_proj, down_proj
    snprintf(buf, len, "%.*s%d.%s.weight", (int)(proj - t->name), t->name, p, proj);
}

HfPiece hf_piece(const ModelTensor *t) {
    HfPiece pc = {0};
    int skip = fused(t);
    pc.ndim = t->ndim - skip;
    for (int d = 0; d < pc.ndim; d++) pc.shape[d] = t->shape[d + skip];
    pc.rows = pc.ndim >= 2 ? pc.shape[0] : 1;
    pc.row_len = 1;
    for (int d = pc.ndim >= 2 ? 1 : 0; d < pc.ndim; d++) pc.row_len *= pc.shape[d];
    return pc;
}

int hf_h5_rows(hid_t dset, const ModelTensor *t, int p, int64_t r0, int64_t nr, float *buf, bool write, Err *e) {
    hsize_t start[MODEL_MAX_DIMS] = {0}, count[MODEL_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) count[d] = (hsize_t)t->shape[d];
    int row_dim = 0;
    if (fused(t)) start[0] = (hsize_t)p, count[0] = 1, row_dim = 1;
    if (t->ndim - row_dim >= 2) start[row_dim] = (hsize_t)r0, count[row_dim] = (hsize_t)nr;
    hid_t fspace = H5Dget_space(dset);
    hsize_t n = (hsize_t)(nr * hf_piece(t).row_len);
    hid_t mspace = H5Screate_simple(1, &n, NULL);
    herr_t rc = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    if (rc >= 0)
        rc = write ? H5Dwrite(dset, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, buf)
                   : H5Dread(dset, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, buf);
    H5Sclose(mspace);
    H5Sclose(fspace);
    if (rc < 0)
        return err_set(e, "cannot %s rows %" PRId64 "..%" PRId64 " of dataset '/model/%s'", write ? "write" : "read", r0,
                       r0 + nr, t->name);
    return 0;
}

char *hf_read_text(const char *path, size_t max, Err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set(e, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = xmalloc(max + 1);
    size_t n = fread(buf, 1, max + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > max) {
        free(buf);
        err_set(e, bad ? "%s: read error" : "%s: larger than %zu bytes", path, max);
        return NULL;
    }
    buf[n] = 0;
    if (strlen(buf) != n) {
        free(buf);
        err_set(e, "%s: contains a NUL byte (not a text file)", path);
        return NULL;
    }
    return buf;
}

int hf_join(char *buf, size_t len, const char *dir, const char *name, Err *e) {
    int n = snprintf(buf, len, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= len) return err_set(e, "path too long: %s/%s", dir, name);
    return 0;
}

int hf_parse_size(const char *text, uint64_t *bytes, Err *e) {
    static const struct {
        const char *unit;
        double scale;
    } UNITS[] = {{"", 1},      {"B", 1},           {"KB", 1e3},      {"MB", 1e6},           {"GB", 1e9},
                 {"TB", 1e12}, {"KIB", 1024.0},    {"MIB", 1048576.0}, {"GIB", 1073741824.0}, {"TIB", 1099511627776.0}};
    char *end = NULL, q[ERR_ABBREV_SIZE];
    errno = 0;
    double x = strtod(text, &end);
    const char *number_end = end;
    while (end && *end == ' ') end++;  // "5 GB"
    // strtod also reads leading white space and hexadecimal ("0x10" as 16): a size starts with a decimal digit (after
    // a '+', as an integer option may), and a space only parts it from its unit ("3 " is refused as " 3" is).
    const char *digits = text + (text[0] == '+');
    bool decimal = (isdigit((unsigned char)digits[0]) || digits[0] == '.') && strncasecmp(digits, "0x", 2) &&
                   (*end || end == number_end);
    for (size_t i = 0; decimal && !errno && x > 0 && i < sizeof UNITS / sizeof UNITS[0]; i++) {
        double b = x * UNITS[i].scale;
        // A fraction of a byte ("1.5", "0.1KiB") would be cut off silently.
        if (!strcasecmp(end, UNITS[i].unit) && b >= 1 && b < 1.8e19 && b == floor(b)) {
            *bytes = (uint64_t)b;
            return 0;
        }
    }
    return err_set(e, "size '%s': expected a positive whole number of bytes, with an optional unit (B, KB, MB, GB, TB, "
                   "KiB, MiB, GiB, TiB), e.g. 5GB or 1.5MB", err_abbrev(text, q));
}
