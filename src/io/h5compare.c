#include "io/h5compare.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5io.h"

// One object ("/model/x") or attribute ("/meta@step") of a file.
typedef struct {
    char *path;
    bool is_attr, is_dataset;
} Entry;

typedef struct {
    Entry *x;
    int n, cap;
    hid_t file;
} Entries;

static void add(Entries *es, const char *path, bool is_attr, bool is_dataset) {
    if (es->n == es->cap) es->x = xrealloc(es->x, (size_t)(es->cap = es->cap ? 2 * es->cap : 64) * sizeof *es->x);
    es->x[es->n++] = (Entry){strdup(path), is_attr, is_dataset};
}

typedef struct {
    Entries *es;
    const char *obj;
} AttrCtx;

static herr_t add_attr(hid_t loc, const char *name, const H5A_info_t *info, void *user) {
    (void)loc, (void)info;
    AttrCtx *c = user;
    char path[1024];
    snprintf(path, sizeof path, "%s@%s", c->obj, name);
    add(c->es, path, true, false);
    return 0;
}

static herr_t add_object(hid_t loc, const char *name, const H5O_info_t *info, void *user) {
    Entries *es = user;
    char path[1024];
    snprintf(path, sizeof path, "/%s", strcmp(name, ".") ? name : "");
    if (strcmp(name, ".")) add(es, path, false, info->type == H5O_TYPE_DATASET);
    AttrCtx c = {es, path};
    return H5Aiterate_by_name(loc, name, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, add_attr, &c, H5P_DEFAULT) < 0 ? -1 : 0;
}

static int by_path(const void *a, const void *b) { return strcmp(((const Entry *)a)->path, ((const Entry *)b)->path); }

static void entries_free(Entries *es) {
    for (int i = 0; i < es->n; i++) free(es->x[i].path);
    free(es->x);
    if (es->file >= 0) h5io_close(es->file);
}

static int list_entries(const char *path, Entries *es, Err *e) {
    memset(es, 0, sizeof *es);
    if ((es->file = h5io_open(path, 0, e)) < 0) return -1;
    // In the file's own order, sorted below: HDF5 1.10 sorts first into a table whose clean-up, when a damaged link
    // heap stops the walk, frees entries it never filled (a crash).
    if (H5Ovisit2(es->file, H5_INDEX_NAME, H5_ITER_NATIVE, add_object, es, H5O_INFO_BASIC) < 0)
        return err_set(e, "%s: cannot list its objects (damaged file?)", path);
    qsort(es->x, (size_t)es->n, sizeof *es->x, by_path);
    return 0;
}

static bool ignored(const char *path, const char *const *ignore) {
    for (int i = 0; ignore && ignore[i]; i++)
        if (!strcmp(path, ignore[i])) return true;
    return false;
}

// A dataset's values as its native type (malloc'd) with its element count, type and shape.
typedef struct {
    void *x;
    hid_t type;  // native
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
    int64_t n;
} Values;

static int read_values(hid_t f, const char *path, Values *v, Err *e) {
    memset(v, 0, sizeof *v);
    v->type = -1;
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0) return err_set(e, "cannot open dataset '%s'", path);
    hid_t ft = H5Dget_type(d), space = H5Dget_space(d);
    v->type = H5Tget_native_type(ft, H5T_DIR_DEFAULT);
    v->rank = H5Sget_simple_extent_ndims(space);
    int rc = 0;
    if (v->rank < 0 || v->rank > H5IO_MAX_RANK || H5Tdetect_class(ft, H5T_VLEN) > 0 || H5Tis_variable_str(ft) > 0)
        rc = err_set(e, "dataset '%s': unsupported shape or variable-length type", path);
    else {
        H5Sget_simple_extent_dims(space, v->dims, NULL);
        v->n = H5Sget_simple_extent_npoints(space);
        v->x = xmalloc((size_t)(v->n ? v->n : 1) * H5Tget_size(v->type));
        rc = h5io_read_range(d, v->type, 0, v->n, v->x, e);
    }
    H5Tclose(ft), H5Sclose(space), H5Dclose(d);
    return rc;
}

static void values_free(Values *v) {
    free(v->x);
    if (v->type >= 0) H5Tclose(v->type);
}

static void shape_str(const Values *v, char *buf, size_t len) {
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int k = 0; k < v->rank && used < len; k++)
        used += (size_t)snprintf(buf + used, len - used, "%s%llu", k ? ", " : "", (unsigned long long)v->dims[k]);
    if (used < len) snprintf(buf + used, len - used, "]");
}

static double as_double(const Values *v, int64_t i) {
    return H5Tget_size(v->type) == sizeof(float) ? ((const float *)v->x)[i] : ((const double *)v->x)[i];
}

// Compares dataset `path`; returns the number of differences (0 or 1) or -1.
static int compare_dataset(hid_t fa, hid_t fb, const char *path, FILE *out, Err *e) {
    Values a, b;
    int rc = read_values(fa, path, &a, e);
    if (!rc) rc = read_values(fb, path, &b, e);
    else b.x = NULL, b.type = -1;
    if (rc) return values_free(&a), values_free(&b), -1;
    char sa[128], sb[128];
    size_t item = H5Tget_size(a.type);
    int diff = 1;
    if (H5Tequal(a.type, b.type) <= 0) fprintf(out, "%s: other type in B\n", path);
    else if (a.rank != b.rank || memcmp(a.dims, b.dims, (size_t)a.rank * sizeof a.dims[0]))
        shape_str(&a, sa, sizeof sa), shape_str(&b, sb, sizeof sb), fprintf(out, "%s: shape %s vs %s\n", path, sa, sb);
    else {
        int64_t n_diff = 0;
        double max_abs = 0;
        bool is_float = H5Tget_class(a.type) == H5T_FLOAT && (item == sizeof(float) || item == sizeof(double));
        for (int64_t i = 0; i < a.n; i++) {
            if (!memcmp((char *)a.x + i * item, (char *)b.x + i * item, item)) continue;
            n_diff++;
            if (is_float) max_abs = fmax(max_abs, fabs(as_double(&b, i) - as_double(&a, i)));
        }
        diff = n_diff > 0;
        if (diff && is_float)
            fprintf(out, "%s: %lld of %lld values differ (max |B-A| %.6e)\n", path, (long long)n_diff, (long long)a.n,
                    max_abs);
        else if (diff) fprintf(out, "%s: %lld of %lld values differ\n", path, (long long)n_diff, (long long)a.n);
    }
    values_free(&a), values_free(&b);
    return diff;
}

// Compares attribute "OBJ@NAME"; returns 0, 1 or -1.
static int compare_attr(hid_t fa, hid_t fb, const char *path, FILE *out, Err *e) {
    char obj[1024];
    snprintf(obj, sizeof obj, "%s", path);
    char *at = strrchr(obj, '@');
    *at = 0;
    const char *name = at + 1, *o = obj[0] ? obj : "/";
    hid_t a = H5Aopen_by_name(fa, o, name, H5P_DEFAULT, H5P_DEFAULT), b = H5Aopen_by_name(fb, o, name, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 || b < 0 ? err_set(e, "cannot open attribute '%s'", path) : 0;
    hid_t ta = a >= 0 ? H5Aget_type(a) : -1, tb = b >= 0 ? H5Aget_type(b) : -1;
    if (!rc && (H5Tget_class(ta) == H5T_STRING || H5Tget_class(tb) == H5T_STRING)) {
        char *sa = h5io_attr_read_str(fa, o, name, e), *sb = sa ? h5io_attr_read_str(fb, o, name, e) : NULL;
        rc = !sa || !sb ? -1 : strcmp(sa, sb) != 0;
        free(sa), free(sb);
    } else if (!rc) {
        hid_t na = H5Tget_native_type(ta, H5T_DIR_DEFAULT), nb = H5Tget_native_type(tb, H5T_DIR_DEFAULT);
        hid_t spa = H5Aget_space(a), spb = H5Aget_space(b);
        hssize_t n = H5Sget_simple_extent_npoints(spa);
        if (H5Tequal(na, nb) <= 0 || n != H5Sget_simple_extent_npoints(spb)) rc = 1;
        else {
            size_t bytes = (size_t)(n > 0 ? n : 1) * H5Tget_size(na);
            char *xa = xcalloc(1, bytes), *xb = xcalloc(1, bytes);
            if (H5Aread(a, na, xa) < 0 || H5Aread(b, na, xb) < 0) rc = err_set(e, "cannot read attribute '%s'", path);
            else rc = memcmp(xa, xb, bytes) != 0;
            free(xa), free(xb);
        }
        H5Tclose(na), H5Tclose(nb), H5Sclose(spa), H5Sclose(spb);
    }
    if (rc == 1) fprintf(out, "%s: values differ\n", path);
    if (ta >= 0) H5Tclose(ta);
    if (tb >= 0) H5Tclose(tb);
    if (a >= 0) H5Aclose(a);
    if (b >= 0) H5Aclose(b);
    return rc;
}

static int compare_entry(const Entries *A, const Entries *B, const Entry *x, const Entry *y, const char *const *ignore,
                         FILE *out, Err *e) {
    if (x->is_dataset != y->is_dataset) {
        fprintf(out, "%s: a %s in A, a %s in B\n", x->path, x->is_dataset ? "dataset" : "group",
                y->is_dataset ? "dataset" : "group");
        return 1;
    }
    if (ignored(x->path, ignore)) return 0;
    if (x->is_attr) return compare_attr(A->file, B->file, x->path, out, e);
    return x->is_dataset ? compare_dataset(A->file, B->file, x->path, out, e) : 0;
}

int64_t h5compare(const char *pa, const char *pb, const char *const *ignore, FILE *out, Err *e) {
    Entries A, B;
    B.file = -1, B.x = NULL, B.n = 0;
    int64_t diffs = 0;
    int rc = list_entries(pa, &A, e);
    if (!rc) rc = list_entries(pb, &B, e);
    for (int i = 0, j = 0; !rc && (i < A.n || j < B.n);) {
        int c = i == A.n ? 1 : j == B.n ? -1 : strcmp(A.x[i].path, B.x[j].path);
        if (c) {
            fprintf(out, "%s: only in %s\n", c < 0 ? A.x[i].path : B.x[j].path, c < 0 ? pa : pb);
            diffs++, c < 0 ? i++ : j++;
            continue;
        }
        int d = compare_entry(&A, &B, &A.x[i], &B.x[j], ignore, out, e);
        if (d < 0) rc = err_prefix(e, "comparing %s and %s", pa, pb);
        diffs += d > 0, i++, j++;
    }
    entries_free(&A), entries_free(&B);
    return rc ? -1 : diffs;
}
