// Thin HDF5 helpers: whole datasets and attributes in and out, errors naming the file and dataset.
// The checkpoint, init, score and loss modules build on these.
#ifndef RLVR_H5IO_H
#define RLVR_H5IO_H

#include <hdf5.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/atomic_file.h"
#include "base/error.h"

#define H5IO_MAX_RANK 8
// Room for a small file's metadata beside its datasets' bytes (h5io_check_room).
#define H5IO_OVERHEAD_BYTES 65536

// Silences HDF5's own error stack printing (our messages say what failed); idempotent.
void h5io_quiet(void);

// Starts HDF5 with no shutdown of its own, neither at exit nor at MPI_Finalize; call it before dist_init (HDF5
// ties its shutdown to MPI_Finalize when it starts after MPI_Init). HDF5 1.10 frees a file whose close failed (a
// write refused at the close: a file size limit, a quota) but keeps its id, and its shutdown closes that id again
// and crashes (HDF5 issue 2257). Every file is closed by its writer, so the shutdown had nothing left to do.
void h5io_library_start(void);

hid_t h5io_create(const char *path, Err *e);     // truncates; returns < 0 on error
hid_t h5io_open(const char *path, int writable, Err *e);
void h5io_close(hid_t file);

// An output file whole or absent (base/atomic_file.h): h5io_output_create checks there is room for about `bytes`
// (h5io_check_room) and makes it under a fresh temporary name beside path (fsynced at the end with ATOMIC_DURABLE
// in flags); h5io_output_end closes it and, when rc == 0 and the close succeeds, renames it over path, else
// removes it. Returns 0 or -1 (rc's message stays in e).
hid_t h5io_output_create(AtomicFile *a, const char *path, uint64_t bytes, int flags, Err *e);
int h5io_output_end(AtomicFile *a, hid_t file, int rc, Err *e);

// One file written by all ranks of base/dist at once through MPI-IO (the serial h5io_create on one rank).
// Collective: every rank makes the same calls on it in the same order (datasets, attributes, writes, close),
// writing identical values into attributes and whole-dataset writes.
hid_t h5io_create_parallel(const char *path, Err *e);

// Fails, naming path, when path exists and is not a regular file (or a link to one). HDF5 reads back what it
// writes, so a device or a pipe fails mid-file or swallows it, and a rename over the path (a checkpoint's) would
// replace /dev/null itself; run before writing any HDF5 output.
int h5io_check_target(const char *path, Err *e);

// Fails, naming path, when its file system has less than `bytes` free. Run before writing a file of that size:
// the ranks of a parallel file that runs out of space mid-file part ways in HDF5 1.10's collective calls and wait
// on each other forever (a serial file's failed writes are reported at its close).
int h5io_check_room(const char *path, uint64_t bytes, Err *e);

// Tensor datasets as checkpoints store them: float32, chunked along the first dimension with rows_per_chunk
// rows a chunk, and a Fletcher32 checksum on every chunk that every read verifies.
#define H5IO_CHUNK_BYTES ((size_t)4 << 20)
hid_t h5io_tensor_create(hid_t loc, const char *name, int rank, const hsize_t *dims, hsize_t rows_per_chunk, Err *e);
// Rows per chunk: one when one_per_row (a stack of experts: reading one expert touches only its chunk), else the
// fewest chunks of at most H5IO_CHUNK_BYTES (a row at least) split into equal rows, the last one possibly shorter.
hsize_t h5io_chunk_rows(int rank, const hsize_t *dims, size_t item_bytes, bool one_per_row);
// Elements [begin, end) of a dataset in row-major order, to or from the contiguous x (as mem_type). In a file of
// h5io_create_parallel the write is collective: every rank calls it for every dataset, with begin == end when
// it holds nothing of it. Ranges of whole rows (first dimension) are fast; a write of any other range maps its
// elements one by one.
int h5io_write_range(hid_t d, hid_t mem_type, int64_t begin, int64_t end, const void *x, Err *e);
int h5io_read_range(hid_t d, hid_t mem_type, int64_t begin, int64_t end, void *x, Err *e);

// Writes a dataset (intermediate groups created). mem_type: H5T_NATIVE_DOUBLE, _FLOAT, _INT64, _UINT8, ...
int h5io_write(hid_t loc, const char *name, hid_t mem_type, const void *data, int rank, const hsize_t *dims, Err *e);
int h5io_write_f64(hid_t loc, const char *name, const double *x, hsize_t n, Err *e);
int h5io_write_i64(hid_t loc, const char *name, const int64_t *x, hsize_t n, Err *e);
int h5io_write_u8(hid_t loc, const char *name, const uint8_t *x, hsize_t n, Err *e);
int h5io_write_scalar_f64(hid_t loc, const char *name, double x, Err *e);

// Whether name (a path under loc, intermediate groups checked) exists: 1, or 0 when the file's links say it does not.
// -1 when a group's links on the way do not read (its header, link heap or name index damaged), with e (if non-NULL)
// naming the file, name and that group "(the file is damaged)", so that damage does not read as a missing object.
int h5io_lookup(hid_t loc, const char *name, Err *e);
// h5io_lookup without a message: -1 (damaged) is true, so a caller that then opens the object hears of the damage
// from h5io_shape or h5io_read, not as a missing object.
int h5io_exists(hid_t loc, const char *name);

// Shape of a dataset; returns its rank or -1: missing, damaged (a link or object header that does not read), not a
// dataset, or an unsupported shape.
int h5io_shape(hid_t loc, const char *name, hsize_t dims[H5IO_MAX_RANK], Err *e);

// Reads a whole dataset converted to mem_type into a malloc'd buffer; rank/dims out (either may be NULL).
// Fails unless the stored type class matches (integer vs float).
void *h5io_read(hid_t loc, const char *name, hid_t mem_type, int *rank, hsize_t dims[H5IO_MAX_RANK], Err *e);
// Reads a 1-D dataset of exactly `expect_n` items (expect_n < 0: any length, returned in *n).
double *h5io_read_f64(hid_t loc, const char *name, int64_t expect_n, int64_t *n, Err *e);
int64_t *h5io_read_i64(hid_t loc, const char *name, int64_t expect_n, int64_t *n, Err *e);
uint8_t *h5io_read_u8(hid_t loc, const char *name, int64_t expect_n, int64_t *n, Err *e);

// Attributes on an object (path relative to loc, "." for loc itself).
int h5io_attr_write_str(hid_t loc, const char *obj, const char *name, const char *value, Err *e);
int h5io_attr_write_f64(hid_t loc, const char *obj, const char *name, double value, Err *e);
int h5io_attr_write_i64(hid_t loc, const char *obj, const char *name, int64_t value, Err *e);
char *h5io_attr_read_str(hid_t loc, const char *obj, const char *name, Err *e);  // malloc'd
int h5io_attr_read_f64(hid_t loc, const char *obj, const char *name, double *value, Err *e);
int h5io_attr_read_i64(hid_t loc, const char *obj, const char *name, int64_t *value, Err *e);

#endif
