// Safetensors files, the Hugging Face weight format: an 8-byte little-endian header length N, N bytes of JSON
//   {"NAME": {"dtype": "BF16", "shape": [d0, ...], "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}}
// (padded with spaces), then the tensors' bytes, offsets relative to the end of the header.
// st_open trusts nothing: N <= 100 MB, the header valid UTF-8 JSON starting with '{', no duplicate names, known
// dtypes, shape x element size (without overflow) = end - begin, tensors contiguous from offset 0 with no hole or
// overlap, the last one ending exactly at the end of the file, __metadata__ values strings. Every rejection is one
// message naming the file and, where there is one, the tensor.
#ifndef RLVR_SAFETENSORS_H
#define RLVR_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

#define ST_MAX_HEADER 100000000ULL
#define ST_MAX_DIMS 8

typedef enum {
    ST_BOOL, ST_U8, ST_I8, ST_F8_E5M2, ST_F8_E4M3, ST_I16, ST_U16, ST_F16, ST_BF16, ST_I32, ST_U32, ST_F32, ST_F64,
    ST_I64, ST_U64, ST_N_DTYPES
} StDtype;

typedef struct {
    char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t numel;
    uint64_t begin, end;  // bytes, relative to the data section
} StTensor;

typedef struct {
    char *path;
    int fd;
    uint64_t data_start, size;  // data_start = 8 + header length; size of the file
    StTensor *tensors;          // in data order
    int n_tensors;
    int *by_name;               // tensor indices sorted by name (st_find)
    char **meta;                // __metadata__ as key, value, key, value, ...
    int n_meta;
} StFile;

const char *st_dtype_name(StDtype d);
size_t st_dtype_size(StDtype d);
// "F32", "BF16", ... -> dtype; -1 if unknown.
int st_dtype_parse(const char *name);

// Opens and validates path (the header only; data is read on demand). On error nothing is left open.
int st_open(StFile *f, const char *path, Err *e);
void st_close(StFile *f);
const StTensor *st_find(const StFile *f, const char *name);  // NULL if absent
const char *st_meta(const StFile *f, const char *key);       // NULL if absent

// Elements [first, first + n) of t (row-major) as float32: F32 as stored, BF16 and F16 converted exactly.
// Other dtypes are an error naming the tensor.
int st_read_f32(const StFile *f, const StTensor *t, uint64_t first, uint64_t n, float *out, Err *e);

// Conversions (exact, except f32 -> bf16: round to nearest, ties to even; NaN stays NaN).
float st_bf16_to_f32(uint16_t h);
float st_f16_to_f32(uint16_t h);
uint16_t st_f32_to_bf16(float x);

// Writing: the header is written first from the full list of tensors (in data order), then their data in that
// order through st_write_f32, converted to each tensor's dtype (F32 or BF16).
typedef struct {
    const char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
} StSpec;

typedef struct {
    char *path;
    FILE *fp;
    uint64_t *bytes;  // per tensor
    const StSpec *specs;
    int n, cur;
    uint64_t cur_written, data_bytes;
    uint16_t *buf;    // conversion scratch
} StWriter;

// meta: NULL-terminated key, value, ... list (may be NULL).
int st_write_begin(StWriter *w, const char *path, const StSpec *specs, int n, const char *const *meta, Err *e);
// The next n elements of the data, in tensor order (a call may span tensors).
int st_write_f32(StWriter *w, const float *x, uint64_t n, Err *e);
// Checks every tensor got all its elements, flushes, fsyncs and closes; on error the file is removed.
int st_write_end(StWriter *w, Err *e);
void st_write_abort(StWriter *w);  // closes and removes the partial file
// Bytes of one tensor / the sum over specs.
uint64_t st_spec_bytes(const StSpec *s);

#endif
