// Shared by hf_import.c and hf_export.c: the geometry of a tensor's Hub pieces, row transfers between an HDF5
// dataset and memory, and small whole-file reads.
#ifndef RLVR_HF_INTERNAL_H
#define RLVR_HF_INTERNAL_H

#include <hdf5.h>
#include <stdbool.h>

#include "io/hf.h"

// Floats moved per transfer (rows are grouped up to this; a longer row moves alone).
#define HF_CHUNK_FLOATS ((int64_t)1 << 23)

// A piece (the whole tensor, or one expert of a fused one) as rows x row_len, and its Hub shape.
typedef struct {
    int64_t rows, row_len;
    int ndim;
    int64_t shape[MODEL_MAX_DIMS];
} HfPiece;
HfPiece hf_piece(const ModelTensor *t);

// Rows [r0, r0 + nr) of piece p of t in dataset dset, to (write) or from buf.
int hf_h5_rows(hid_t dset, const ModelTensor *t, int p, int64_t r0, int64_t nr, float *buf, bool write, Err *e);

// The whole of a small text file (at most max bytes; NUL-terminated); NULL with a message naming path.
char *hf_read_text(const char *path, size_t max, Err *e);
// dir + "/" + name into buf; an error naming both if it does not fit.
int hf_join(char *buf, size_t len, const char *dir, const char *name, Err *e);

#endif
