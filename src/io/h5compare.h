// Exact comparison of two HDF5 files' trees (`rlvr ckpt diff --exact`): every dataset by type, shape and bytes,
// every attribute of every object by value, one line per difference.
#ifndef RLVR_H5COMPARE_H
#define RLVR_H5COMPARE_H

#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

// Writes to `out` one line per difference between files pa and pb: an object or attribute present in only one
// of them ("PATH: only in FILE"), a dataset of another type or shape, values that differ (bitwise; floats with
// the largest |B - A|). `ignore` (NULL-terminated, may be NULL) names datasets ("/state/elapsed_s") and
// attributes ("/meta@world_size") whose values are not compared (their presence still is). Returns the number of
// differences, or -1 with the message in e when a file cannot be read (a checksum mismatch included).
int64_t h5compare(const char *pa, const char *pb, const char *const *ignore, FILE *out, Err *e);

#endif
