// The weights a run starts from ([model] init or --init): an rlvr checkpoint, or a Hugging Face directory that is
// imported on first use into RUN_DIR/init.h5 and reused while the directory's config.json and safetensors files keep
// their sizes and modification times (recorded next to it in RUN_DIR/init.h5.source).
#ifndef RLVR_HF_INIT_H
#define RLVR_HF_INIT_H

#include <stddef.h>

#include "base/error.h"

// what names the setting in messages ("--init", "[model] init"). Only rank 0 looks and imports; every rank gets
// the same outcome and the checkpoint to load in path. note: rank 0's console line about the import ("" when init
// is a checkpoint).
int hf_init_resolve(const char *init, const char *what, const char *run_dir, char *path, size_t path_len, char *note,
                    size_t note_len, Err *e);

#endif
