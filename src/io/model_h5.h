// The /model part of an HDF5 checkpoint (README.md "Checkpoints"): /model/<tensor name> datasets in full
// shape (float32) and the Hugging Face config.json text as the /meta attribute hf_config. Every tensor dataset
// (here and in /optim) is chunked along its first dimension, a stack of experts one expert per chunk, with a
// Fletcher32 checksum per chunk that every read verifies.
#ifndef RLVR_MODEL_H5_H
#define RLVR_MODEL_H5_H

#include "base/error.h"
#include "io/h5io.h"
#include "model/model.h"

// A stack of experts [E, ...] (".experts." in the name, rank 3): stored one expert per chunk.
bool model_h5_expert_stack(const ModelTensor *t);
// Rows of t's first dimension per chunk.
int64_t model_h5_chunk_rows(const ModelTensor *t);
// An upper bound of the bytes t's dataset takes in a file (for h5io_check_room).
uint64_t model_h5_dataset_bytes(const ModelTensor *t);
// Creates the dataset GROUP/<t->name> (group "/model", "/optim/m", ...) chunked and checksummed as above.
hid_t model_h5_tensor_create(hid_t file, const char *group, const ModelTensor *t, Err *e);
// Checks that GROUP/<t->name> exists with t's shape; errors name the file and the dataset.
int model_h5_check_tensor(hid_t file, const char *group, const ModelTensor *t, Err *e);
// Reads elements [begin, end) of GROUP/<t->name> (flattened, row-major) into x; a checksum mismatch is an error
// naming the dataset.
int model_h5_read_range(hid_t file, const char *group, const ModelTensor *t, int64_t begin, int64_t end, float *x,
                        Err *e);

// Writes the /meta attribute hf_config (m->hf_config, else model_hf_config_json).
int model_h5_write_hf_config(const Model *m, hid_t file, Err *e);
// Writes /model/<name> for every tensor (full shape, float32) and hf_config, from this process alone.
int model_save_h5(const Model *m, hid_t file, Err *e);
// Rebuilds m (model_create) from /meta hf_config (kept in m->hf_config) and reads every tensor, checking presence
// and shape; errors name the file and the dataset.
int model_load_h5(Model *m, hid_t file, Err *e);
// model_load_h5 on a path (opened read-only, closed again).
int model_load_path(Model *m, const char *path, Err *e);

#endif
