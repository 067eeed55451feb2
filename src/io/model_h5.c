#include "io/model_h5.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ensure_group(hid_t file, const char *name, Err *e) {
    if (h5io_exists(file, name)) return 0;
    hid_t g = H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return err_set(e, "cannot create HDF5 group '%s'", name);
    H5Gclose(g);
    return 0;
}

int model_save_h5(const Model *m, hid_t file, Err *e) {
    TRY(ensure_group(file, "/meta", e));
    char *json = m->hf_config ? m->hf_config : model_hf_config_json(m);
    int rc = h5io_attr_write_str(file, "/meta", "hf_config", json, e);
    if (json != m->hf_config) free(json);
    if (rc) return -1;
    for (int i = 0; i < m->n_tensors; i++) {
        const ModelTensor *t = &m->tensors[i];
        char name[160];
        hsize_t dims[MODEL_MAX_DIMS];
        for (int k = 0; k < t->ndim; k++) dims[k] = (hsize_t)t->shape[k];
        snprintf(name, sizeof name, "/model/%s", t->name);
        TRY(h5io_write(file, name, H5T_NATIVE_FLOAT, m->params + t->offset, t->ndim, dims, e));
    }
    return 0;
}

// Reads one tensor after checking its presence and shape.
static int load_tensor(Model *m, hid_t file, const ModelTensor *t, Err *e) {
    char name[160], fname[512];
    snprintf(name, sizeof name, "/model/%s", t->name);
    if (H5Fget_name(file, fname, sizeof fname) < 0) snprintf(fname, sizeof fname, "checkpoint");
    if (!h5io_exists(file, name))
        return err_set(e, "%s: missing dataset '%s' (the architecture in /meta hf_config needs it)", fname, name);
    hsize_t dims[H5IO_MAX_RANK];
    int rank = h5io_shape(file, name, dims, e);
    if (rank < 0) return -1;
    int ok = rank == t->ndim;
    for (int k = 0; ok && k < rank; k++) ok = dims[k] == (hsize_t)t->shape[k];
    if (!ok) {
        char want[96] = "", have[96] = "";
        for (int k = 0; k < t->ndim; k++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", k ? ", " : "", (long long)t->shape[k]);
        for (int k = 0; k < rank; k++)
            snprintf(have + strlen(have), sizeof have - strlen(have), "%s%llu", k ? ", " : "",
                     (unsigned long long)dims[k]);
        return err_set(e, "%s: dataset '%s' has shape [%s], expected [%s]", fname, name, have, want);
    }
    float *x = h5io_read(file, name, H5T_NATIVE_FLOAT, NULL, NULL, e);
    if (!x) return -1;
    memcpy(m->params + t->offset, x, t->numel * sizeof(float));
    free(x);
    return 0;
}

int model_load_h5(Model *m, hid_t file, Err *e) {
    char *json = h5io_attr_read_str(file, "/meta", "hf_config", e);
    if (!json) return -1;
    ModelConfig cfg;
    if (model_config_from_hf_json(json, &cfg, e) || model_create(m, &cfg, e)) {
        free(json);
        return err_prefix(e, "/meta hf_config");
    }
    m->hf_config = json;
    for (int i = 0; i < m->n_tensors; i++)
        if (load_tensor(m, file, &m->tensors[i], e)) {
            model_free(m);
            return -1;
        }
    return 0;
}

int model_load_path(Model *m, const char *path, Err *e) {
    hid_t f = h5io_open(path, 0, e);
    if (f < 0) return -1;
    int rc = model_load_h5(m, f, e);
    h5io_close(f);
    return rc;
}
