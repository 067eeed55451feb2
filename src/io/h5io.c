#include "io/h5io.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/dist.h"

void h5io_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

void h5io_library_start(void) {
    H5dont_atexit();  // only before the library starts: H5open's start then registers no exit handler
    H5open();
}

// File name of an object, for messages.
static const char *file_of(hid_t loc, char *buf, size_t len) {
    if (H5Fget_name(loc, buf, len) < 0) snprintf(buf, len, "?");
    return buf;
}

// The 1.10 file format or newer: object headers, attributes, compact (scalar) datasets and the chunk index (a fixed
// array, where 1.8 had an unchecked B-tree whose damaged keys moved chunks silently) carry checksums.
static hid_t new_fapl(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_LATEST);
    return fapl;
}

// Why H5Fcreate failed, as far as the file system tells (HDF5's own error stack is silenced).
static void create_failed(const char *path, Err *e) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    const char *why = access(dirname(dir), W_OK) ? strerror(errno) : "HDF5 refused it";
    err_set(e, "%s: cannot create HDF5 file (%s: %s)", path, dir, why);
}

hid_t h5io_create(const char *path, Err *e) {
    h5io_quiet();
    hid_t fapl = new_fapl();
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0) create_failed(path, e);
    return f;
}

hid_t h5io_output_create(AtomicFile *a, const char *path, uint64_t bytes, int flags, Err *e) {
    if (h5io_check_target(path, e) || h5io_check_room(path, bytes, e) ||
        atomic_file_open(a, path, flags | ATOMIC_NO_STREAM, e))
        return -1;
    hid_t f = h5io_create(a->tmp, e);
    if (f < 0) atomic_file_end(a, -1, e);  // the message names path, not the temporary name HDF5 was given
    return f;
}

int h5io_output_end(AtomicFile *a, hid_t file, int rc, Err *e) {
    if (file >= 0 && H5Fclose(file) < 0 && !rc)
        rc = err_set(e, "%s: cannot write the HDF5 file (a full disk, a quota or a file size limit?)", a->path);
    return atomic_file_end(a, rc, e);
}

hid_t h5io_create_parallel(const char *path, Err *e) {
    const void *comm = dist_mpi_comm();
    if (dist_size() == 1 || !comm) return h5io_create(path, e);
    h5io_quiet();
    hid_t fapl = new_fapl();
    H5Pset_fapl_mpio(fapl, *(const MPI_Comm *)comm, MPI_INFO_NULL);
    H5Pset_coll_metadata_write(fapl, 1);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0) err_set(e, "%s: cannot create HDF5 file (parallel, through MPI-IO)", path);
    return f;
}

int h5io_check_target(const char *path, Err *e) {
    struct stat st;
    if (stat(path, &st) || S_ISREG(st.st_mode)) return 0;  // a new file, or one to replace
    return err_set(e, "%s: %s; expected a new or regular file to write HDF5 to", path,
                   S_ISDIR(st.st_mode) ? "a directory" : "not a regular file (a device, pipe or socket)");
}

int h5io_check_room(const char *path, uint64_t bytes, Err *e) {
    char dir[4096];
    struct statvfs fs;
    snprintf(dir, sizeof dir, "%s", path);
    if (statvfs(dirname(dir), &fs)) return 0;  // no answer here: the write itself will tell
    uint64_t room = (uint64_t)fs.f_bavail * fs.f_frsize;
    if (room >= bytes) return 0;
    return err_set(e, "%s: %.1f MB free on its file system, the file needs about %.1f MB", path, room / 1e6,
                   bytes / 1e6);
}

hid_t h5io_open(const char *path, int writable, Err *e) {
    h5io_quiet();
    struct stat st;
    if (!stat(path, &st) && S_ISDIR(st.st_mode))
        return err_set(e, "%s: a directory; expected a checkpoint file (a run's are in DIR/ckpt/step-NNNNNN.h5)", path);
    if (H5Fis_hdf5(path) <= 0) {
        FILE *probe = fopen(path, "rb");
        if (!probe) return err_set(e, "%s: cannot open (no such file or no permission)", path);
        fclose(probe);
        return err_set(e, "%s: not an HDF5 file (or truncated/damaged)", path);
    }
    hid_t f = H5Fopen(path, writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) err_set(e, "%s: cannot open HDF5 file (truncated or damaged?)", path);
    return f;
}

void h5io_close(hid_t file) {
    if (file >= 0) H5Fclose(file);
}

// A lookup of name that failed at its prefix `at`: the links of the group holding at's last component do not read.
static int lookup_failed(hid_t loc, const char *name, const char *at, Err *e) {
    char fname[PATH_MAX], group[1024] = "/";
    const char *parent = strrchr(at, '/');
    if (parent && parent > at) snprintf(group, sizeof group, "%s%.*s", at[0] == '/' ? "" : "/", (int)(parent - at), at);
    bool from_root = name[0] != '/' && H5Iget_type(loc) == H5I_FILE;  // "state/step" is "/state/step" in messages
    if (e)
        err_set(e, "%s: cannot look up '%s%s': the links of group '%s' do not read (the file is damaged)",
                file_of(loc, fname, sizeof fname), from_root ? "/" : "", name, group);
    return -1;
}

// Whether the object holding at's last component is something other than a group (a dataset): H5Lexists fails under
// one too, and there the name is absent, not damaged.
static bool under_non_group(hid_t loc, const char *at) {
    char parent[1024];
    const char *slash = strrchr(at, '/');
    snprintf(parent, sizeof parent, "%.*s", slash ? (int)(slash - at) : 0, at);
    H5O_info_t info;
    return H5Oget_info_by_name2(loc, parent[0] ? parent : ".", &info, H5O_INFO_BASIC, H5P_DEFAULT) >= 0 &&
           info.type != H5O_TYPE_GROUP;
}

int h5io_lookup(hid_t loc, const char *name, Err *e) {
    // Walk the path one component at a time: H5Lexists fails on a missing intermediate group, and it fails (< 0)
    // apart from that only when a group's links do not read: its header or its link heap or name index.
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", name);
    for (char *p = buf + (buf[0] == '/'); ; p++) {
        char *slash = strchr(p, '/');
        if (slash) *slash = 0;
        htri_t has = H5Lexists(loc, buf, H5P_DEFAULT);
        if (has < 0) return under_non_group(loc, buf) ? 0 : lookup_failed(loc, name, buf, e);
        if (!has) return 0;
        if (!slash) return 1;
        *slash = '/';
        p = slash;
    }
}

int h5io_exists(hid_t loc, const char *name) { return h5io_lookup(loc, name, NULL); }

int h5io_write(hid_t loc, const char *name, hid_t mem_type, const void *data, int rank, const hsize_t *dims, Err *e) {
    char fname[PATH_MAX];
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    if (!rank) H5Pset_layout(dcpl, H5D_COMPACT);  // a scalar lives in its object header, under its checksum
    hid_t space = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(loc, name, mem_type, space, lcpl, dcpl, H5P_DEFAULT);
    int rc = d < 0 || H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0;
    if (d >= 0) H5Dclose(d);
    H5Sclose(space);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    return rc ? err_set(e, "%s: cannot write dataset '%s'", file_of(loc, fname, sizeof fname), name) : 0;
}

hsize_t h5io_chunk_rows(int rank, const hsize_t *dims, size_t item_bytes, bool one_per_row) {
    if (rank == 0 || dims[0] == 0) return 1;
    size_t row_bytes = item_bytes;
    for (int k = 1; k < rank; k++) row_bytes *= dims[k];
    hsize_t rows = one_per_row ? 1 : (hsize_t)(H5IO_CHUNK_BYTES / (row_bytes ? row_bytes : 1));
    if (rows < 1) return 1;
    // As few chunks as that allows, of equal rows: HDF5 stores the last chunk whole, so a 2048-row tensor in chunks
    // of 1365 rows took 2730 rows on disk, where two of 1024 take 2048.
    hsize_t chunks = (dims[0] + rows - 1) / rows;
    return (dims[0] + chunks - 1) / chunks;
}

hid_t h5io_tensor_create(hid_t loc, const char *name, int rank, const hsize_t *dims, hsize_t rows_per_chunk, Err *e) {
    char fname[PATH_MAX];
    hsize_t chunk[H5IO_MAX_RANK];
    for (int k = 0; k < rank; k++) chunk[k] = dims[k];
    chunk[0] = rows_per_chunk;
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    H5Pset_chunk(dcpl, rank, chunk);
    H5Pset_fletcher32(dcpl);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);  // every element is written
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t d = rank > 0 ? H5Dcreate2(loc, name, H5T_NATIVE_FLOAT, space, lcpl, dcpl, H5P_DEFAULT) : -1;
    H5Sclose(space);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    if (d < 0) err_set(e, "%s: cannot create dataset '%s'", file_of(loc, fname, sizeof fname), name);
    return d;
}

// Adds to the selection of `space` the elements [a, b) (row-major) of the block at the leading indices
// start[0..dim); `first` says whether the selection is still empty.
static void select_range(hid_t space, int ndim, const hsize_t *dims, int dim, hsize_t *start, hsize_t a, hsize_t b,
                         bool *first) {
    if (a >= b) return;
    hsize_t inner = 1;
    for (int k = dim + 1; k < ndim; k++) inner *= dims[k];
    hsize_t r0 = a / inner, r1 = b / inner;
    if (a % inner) {  // the partial row it starts in
        hsize_t stop = (r0 + 1) * inner < b ? (r0 + 1) * inner : b;
        start[dim] = r0;
        select_range(space, ndim, dims, dim + 1, start, a - r0 * inner, stop - r0 * inner, first);
        a = stop, r0++;
    }
    if (r1 > r0) {  // whole rows
        hsize_t st[H5IO_MAX_RANK], count[H5IO_MAX_RANK];
        for (int k = 0; k < ndim; k++)
            st[k] = k < dim ? start[k] : k == dim ? r0 : 0, count[k] = k < dim ? 1 : k == dim ? r1 - r0 : dims[k];
        H5Sselect_hyperslab(space, *first ? H5S_SELECT_SET : H5S_SELECT_OR, st, NULL, count, NULL);
        *first = false;
    }
    if (b % inner && r1 * inner >= a) {  // the partial row it ends in
        start[dim] = r1;
        select_range(space, ndim, dims, dim + 1, start, 0, b - r1 * inner, first);
    }
}

// File and memory selections of elements [begin, end) of dataset d; -1 when out of range. Whole rows (of the
// first dimension) get a memory space of the same shape as the file selection: HDF5 then maps chunks by blocks
// rather than element by element.
static int range_spaces(hid_t d, int64_t begin, int64_t end, hid_t *fspace, hid_t *mspace) {
    hsize_t dims[H5IO_MAX_RANK], start[H5IO_MAX_RANK] = {0}, n = 1;
    *fspace = H5Dget_space(d);
    int ndim = H5Sget_simple_extent_ndims(*fspace);
    if (ndim < 0 || ndim > H5IO_MAX_RANK) return H5Sclose(*fspace), -1;
    H5Sget_simple_extent_dims(*fspace, dims, NULL);
    for (int k = 0; k < ndim; k++) n *= dims[k];
    if (begin < 0 || end < begin || (hsize_t)end > n) return H5Sclose(*fspace), -1;
    hsize_t row = ndim && dims[0] ? n / dims[0] : 1, len = end > begin ? (hsize_t)(end - begin) : 1;
    bool first = true;
    if (end == begin) {
        *mspace = H5Screate_simple(1, &len, NULL);
        H5Sselect_none(*fspace), H5Sselect_none(*mspace);
    } else if (ndim == 0) {
        *mspace = H5Screate(H5S_SCALAR);
    } else if ((hsize_t)begin % row == 0 && (hsize_t)end % row == 0) {
        hsize_t count[H5IO_MAX_RANK];
        for (int k = 0; k < ndim; k++) count[k] = dims[k];
        start[0] = (hsize_t)begin / row, count[0] = len / row;
        *mspace = H5Screate_simple(ndim, count, NULL);
        H5Sselect_hyperslab(*fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    } else {
        *mspace = H5Screate_simple(1, &len, NULL);
        select_range(*fspace, ndim, dims, 0, start, (hsize_t)begin, (hsize_t)end, &first);
    }
    return 0;
}

// Collective transfers in a parallel file (required for its filtered datasets), the default otherwise.
static hid_t transfer_plist(hid_t d) {
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER), f = H5Iget_file_id(d), fapl = H5Fget_access_plist(f);
    if (H5Pget_driver(fapl) == H5FD_MPIO) H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    H5Pclose(fapl);
    H5Fclose(f);
    return dxpl;
}

static const char *dataset_name(hid_t d, char *buf, size_t len) {
    if (H5Iget_name(d, buf, len) <= 0) snprintf(buf, len, "?");
    return buf;
}

int h5io_write_range(hid_t d, hid_t mem_type, int64_t begin, int64_t end, const void *x, Err *e) {
    char fname[PATH_MAX], dname[256];
    hid_t fspace, mspace;
    if (range_spaces(d, begin, end, &fspace, &mspace))
        return err_set(e, "%s: elements [%lld, %lld) are outside dataset '%s'", file_of(d, fname, sizeof fname),
                       (long long)begin, (long long)end, dataset_name(d, dname, sizeof dname));
    hid_t dxpl = transfer_plist(d);
    herr_t rc = H5Dwrite(d, mem_type, mspace, fspace, dxpl, x);
    H5Pclose(dxpl), H5Sclose(mspace), H5Sclose(fspace);
    return rc < 0 ? err_set(e, "%s: cannot write dataset '%s'", file_of(d, fname, sizeof fname),
                            dataset_name(d, dname, sizeof dname))
                  : 0;
}

static bool has_checksum(hid_t d) {
    hid_t dcpl = H5Dget_create_plist(d);
    unsigned flags;
    size_t n = 0;
    bool yes = H5Pget_filter_by_id2(dcpl, H5Z_FILTER_FLETCHER32, &flags, &n, NULL, 0, NULL, NULL) >= 0;
    H5Pclose(dcpl);
    return yes;
}

static herr_t find_checksum_error(unsigned n, const H5E_error2_t *err, void *found) {
    (void)n;
    if (err->desc && strstr(err->desc, "metadata checksum")) *(bool *)found = true;  // 1.10 has no minor code for it
    return 0;
}

// A failed read: a checksum mismatch in the file's structure when HDF5 reports one (the chunk index), in the data
// when the same read without checksum verification succeeds.
static int read_failed(hid_t d, hid_t mem_type, hid_t mspace, hid_t fspace, void *x, Err *e) {
    bool metadata = false;  // walked first: every later HDF5 call clears the error stack
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, find_checksum_error, &metadata);
    char fname[PATH_MAX], dname[256];
    file_of(d, fname, sizeof fname), dataset_name(d, dname, sizeof dname);
    if (metadata)
        return err_set(e, "%s: checksum mismatch in the chunk index of dataset '%s' (the file is damaged)", fname, dname);
    if (has_checksum(d)) {
        hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
        H5Pset_edc_check(dxpl, H5Z_DISABLE_EDC);
        herr_t rc = H5Dread(d, mem_type, mspace, fspace, dxpl, x);
        H5Pclose(dxpl);
        if (rc >= 0) return err_set(e, "%s: checksum mismatch in dataset '%s' (the file is damaged)", fname, dname);
    }
    return err_set(e, "%s: cannot read dataset '%s' (truncated or damaged file?)", fname, dname);
}

// Elements in one index of the first dimension of d (1 for a scalar), and in all of d.
static int64_t row_elems(hid_t d, int64_t *total) {
    hsize_t dims[H5IO_MAX_RANK], n = 1;
    hid_t space = H5Dget_space(d);
    int ndim = H5Sget_simple_extent_ndims(space);
    *total = 1;
    if (ndim > 0 && ndim <= H5IO_MAX_RANK) {
        H5Sget_simple_extent_dims(space, dims, NULL);
        for (int k = 1; k < ndim; k++) n *= dims[k];
        *total = (int64_t)(n * dims[0]);
    }
    H5Sclose(space);
    return n ? (int64_t)n : 1;  // an empty dataset has no rows to split at
}

int h5io_read_range(hid_t d, hid_t mem_type, int64_t begin, int64_t end, void *x, Err *e) {
    char fname[PATH_MAX], dname[256];
    hid_t fspace, mspace;
    int64_t total, row = row_elems(d, &total), lo = (begin + row - 1) / row * row, hi = end / row * row;
    // The whole rows inside the range read on the fast path, the partial rows at its ends apart.
    if (begin >= 0 && end <= total && lo < hi && (lo != begin || hi != end)) {
        size_t item = H5Tget_size(mem_type);
        return h5io_read_range(d, mem_type, begin, lo, x, e) ||
                       h5io_read_range(d, mem_type, lo, hi, (char *)x + (size_t)(lo - begin) * item, e) ||
                       h5io_read_range(d, mem_type, hi, end, (char *)x + (size_t)(hi - begin) * item, e)
                   ? -1
                   : 0;
    }
    if (range_spaces(d, begin, end, &fspace, &mspace))
        return err_set(e, "%s: elements [%lld, %lld) are outside dataset '%s'", file_of(d, fname, sizeof fname),
                       (long long)begin, (long long)end, dataset_name(d, dname, sizeof dname));
    int rc = H5Dread(d, mem_type, mspace, fspace, H5P_DEFAULT, x) < 0 ? read_failed(d, mem_type, mspace, fspace, x, e) : 0;
    H5Sclose(mspace), H5Sclose(fspace);
    return rc;
}

int h5io_write_f64(hid_t loc, const char *name, const double *x, hsize_t n, Err *e) {
    return h5io_write(loc, name, H5T_NATIVE_DOUBLE, x, 1, &n, e);
}
int h5io_write_i64(hid_t loc, const char *name, const int64_t *x, hsize_t n, Err *e) {
    return h5io_write(loc, name, H5T_NATIVE_INT64, x, 1, &n, e);
}
int h5io_write_u8(hid_t loc, const char *name, const uint8_t *x, hsize_t n, Err *e) {
    return h5io_write(loc, name, H5T_NATIVE_UINT8, x, 1, &n, e);
}
int h5io_write_scalar_f64(hid_t loc, const char *name, double x, Err *e) {
    return h5io_write(loc, name, H5T_NATIVE_DOUBLE, &x, 0, NULL, e);
}

// Why dataset `name` (whose link exists) does not open: its object header does not read, or it is something else.
static int open_failed(hid_t loc, const char *name, Err *e) {
    char fname[PATH_MAX];
    H5O_info_t info;
    file_of(loc, fname, sizeof fname);
    if (H5Oget_info_by_name2(loc, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
        return err_set(e, "%s: cannot read the object header of '%s' (the file is damaged)", fname, name);
    if (info.type != H5O_TYPE_DATASET) return err_set(e, "%s: '%s' is not a dataset", fname, name);
    return err_set(e, "%s: cannot open dataset '%s' (the file is damaged)", fname, name);
}

int h5io_shape(hid_t loc, const char *name, hsize_t dims[H5IO_MAX_RANK], Err *e) {
    char fname[PATH_MAX];
    int has = h5io_lookup(loc, name, e);
    if (has < 0) return -1;
    if (!has) return err_set(e, "%s: missing dataset '%s'", file_of(loc, fname, sizeof fname), name);
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) return open_failed(loc, name, e);
    hid_t space = H5Dget_space(d);
    int rank = H5Sget_simple_extent_ndims(space);
    if (rank > H5IO_MAX_RANK) rank = -1;
    else if (rank >= 0) H5Sget_simple_extent_dims(space, dims, NULL);
    H5Sclose(space);
    H5Dclose(d);
    if (rank < 0) return err_set(e, "%s: dataset '%s' has an unsupported shape", file_of(loc, fname, sizeof fname), name);
    return rank;
}

void *h5io_read(hid_t loc, const char *name, hid_t mem_type, int *rank_out, hsize_t dims_out[H5IO_MAX_RANK], Err *e) {
    char fname[PATH_MAX];
    hsize_t dims[H5IO_MAX_RANK];
    int rank = h5io_shape(loc, name, dims, e);
    if (rank < 0) return NULL;
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    hid_t ftype = H5Dget_type(d);
    H5T_class_t want = H5Tget_class(mem_type), have = H5Tget_class(ftype);
    H5Tclose(ftype);
    if (want != have) {
        H5Dclose(d);
        err_set(e, "%s: dataset '%s' has type class %s, expected %s", file_of(loc, fname, sizeof fname), name,
                have == H5T_FLOAT ? "float" : have == H5T_INTEGER ? "integer" : "other",
                want == H5T_FLOAT ? "float" : "integer");
        return NULL;
    }
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    void *buf = xmalloc((n ? n : 1) * H5Tget_size(mem_type));
    if (H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        read_failed(d, mem_type, H5S_ALL, H5S_ALL, buf, e);
        free(buf);
        H5Dclose(d);
        return NULL;
    }
    H5Dclose(d);
    if (rank_out) *rank_out = rank;
    if (dims_out) memcpy(dims_out, dims, sizeof dims);
    return buf;
}

// 1-D read with a length check.
static void *read_vector(hid_t loc, const char *name, hid_t type, int64_t expect_n, int64_t *n_out, Err *e) {
    char fname[PATH_MAX];
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
    void *x = h5io_read(loc, name, type, &rank, dims, e);
    if (!x) return NULL;
    int64_t n = rank == 0 ? 1 : (int64_t)dims[0];
    if (rank > 1 || (expect_n >= 0 && n != expect_n)) {
        free(x);
        if (rank > 1) err_set(e, "%s: dataset '%s' must be 1-D, has rank %d", file_of(loc, fname, sizeof fname), name, rank);
        else err_set(e, "%s: dataset '%s' has %lld items, expected %lld", file_of(loc, fname, sizeof fname), name,
                     (long long)n, (long long)expect_n);
        return NULL;
    }
    if (n_out) *n_out = n;
    return x;
}

double *h5io_read_f64(hid_t loc, const char *name, int64_t expect_n, int64_t *n, Err *e) {
    return read_vector(loc, name, H5T_NATIVE_DOUBLE, expect_n, n, e);
}
int64_t *h5io_read_i64(hid_t loc, const char *name, int64_t expect_n, int64_t *n, Err *e) {
    return read_vector(loc, name, H5T_NATIVE_INT64, expect_n, n, e);
}
uint8_t *h5io_read_u8(hid_t loc, const char *name, int64_t expect_n, int64_t *n, Err *e) {
    return read_vector(loc, name, H5T_NATIVE_UINT8, expect_n, n, e);
}

// Creates (replacing) attribute `name` on object `obj` with the given type and data.
static int attr_write(hid_t loc, const char *obj, const char *name, hid_t type, const void *data, Err *e) {
    char fname[PATH_MAX];
    if (H5Aexists_by_name(loc, obj, name, H5P_DEFAULT) > 0) H5Adelete_by_name(loc, obj, name, H5P_DEFAULT);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate_by_name(loc, obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 || H5Awrite(a, type, data) < 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    return rc ? err_set(e, "%s: cannot write attribute '%s' on '%s'", file_of(loc, fname, sizeof fname), name, obj) : 0;
}

int h5io_attr_write_str(hid_t loc, const char *obj, const char *name, const char *value, Err *e) {
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, strlen(value) + 1);
    H5Tset_cset(type, H5T_CSET_UTF8);
    int rc = attr_write(loc, obj, name, type, value, e);
    H5Tclose(type);
    return rc;
}
int h5io_attr_write_f64(hid_t loc, const char *obj, const char *name, double value, Err *e) {
    return attr_write(loc, obj, name, H5T_NATIVE_DOUBLE, &value, e);
}
int h5io_attr_write_i64(hid_t loc, const char *obj, const char *name, int64_t value, Err *e) {
    return attr_write(loc, obj, name, H5T_NATIVE_INT64, &value, e);
}

static hid_t attr_open(hid_t loc, const char *obj, const char *name, Err *e) {
    char fname[PATH_MAX];
    htri_t has = H5Aexists_by_name(loc, obj, name, H5P_DEFAULT);
    if (has < 0 && h5io_exists(loc, obj)) {  // the object is there, its header does not read
        err_set(e, "%s: cannot read the attributes of '%s' (the file is damaged)", file_of(loc, fname, sizeof fname), obj);
        return -1;
    }
    if (has <= 0) {
        err_set(e, "%s: missing attribute '%s' on '%s'", file_of(loc, fname, sizeof fname), name, obj);
        return -1;
    }
    return H5Aopen_by_name(loc, obj, name, H5P_DEFAULT, H5P_DEFAULT);
}

char *h5io_attr_read_str(hid_t loc, const char *obj, const char *name, Err *e) {
    char fname[PATH_MAX];
    hid_t a = attr_open(loc, obj, name, e);
    if (a < 0) return NULL;
    hid_t type = H5Aget_type(a);
    char *out = NULL;
    if (H5Tget_class(type) == H5T_STRING && !H5Tis_variable_str(type)) {
        size_t n = H5Tget_size(type);
        out = xcalloc(n + 1, 1);
        if (H5Aread(a, type, out) < 0) free(out), out = NULL;
    } else if (H5Tget_class(type) == H5T_STRING) {  // variable-length (as h5py writes)
        char *vl = NULL;
        hid_t mem = H5Tcopy(H5T_C_S1);
        H5Tset_size(mem, H5T_VARIABLE);
        if (H5Aread(a, mem, &vl) >= 0 && vl) out = strdup(vl);
        if (vl) H5free_memory(vl);
        H5Tclose(mem);
    }
    H5Tclose(type);
    H5Aclose(a);
    if (!out) err_set(e, "%s: attribute '%s' on '%s' is not a readable string", file_of(loc, fname, sizeof fname), name, obj);
    return out;
}

static int attr_read_num(hid_t loc, const char *obj, const char *name, hid_t type, void *out, Err *e) {
    char fname[PATH_MAX];
    hid_t a = attr_open(loc, obj, name, e);
    if (a < 0) return -1;
    hid_t ftype = H5Aget_type(a);
    int ok = H5Tget_class(ftype) == H5Tget_class(type) && H5Aread(a, type, out) >= 0;
    H5Tclose(ftype);
    H5Aclose(a);
    return ok ? 0 : err_set(e, "%s: attribute '%s' on '%s' has the wrong type", file_of(loc, fname, sizeof fname), name, obj);
}

int h5io_attr_read_f64(hid_t loc, const char *obj, const char *name, double *value, Err *e) {
    return attr_read_num(loc, obj, name, H5T_NATIVE_DOUBLE, value, e);
}
int h5io_attr_read_i64(hid_t loc, const char *obj, const char *name, int64_t *value, Err *e) {
    return attr_read_num(loc, obj, name, H5T_NATIVE_INT64, value, e);
}
