// The /model part of an HDF5 checkpoint (README.md "Checkpoints"): /model/<tensor name> datasets in full
// shape (float32) and the Hugging Face config.json text as the /meta attribute hf_config.
#ifndef RLVR_MODEL_H5_H
#define RLVR_MODEL_H5_H

#include "base/error.h"
#include "io/h5io.h"
#include "model/model.h"

// Writes /model/<name> for every tensor (full shape, float32) and the /meta attribute hf_config (m->hf_config,
// else model_hf_config_json).
int model_save_h5(const Model *m, hid_t file, Err *e);
// Rebuilds m (model_create) from /meta hf_config (kept in m->hf_config) and reads every tensor, checking presence
// and shape; errors name the file and the dataset.
int model_load_h5(Model *m, hid_t file, Err *e);
// model_load_h5 on a path (opened read-only, closed again).
int model_load_path(Model *m, const char *path, Err *e);

#endif
