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

static void file_name(hid_t file, char *buf, size_t len) {
    if (H5Fget_name(file, buf, len) < 0) snprintf(buf, len, "checkpoint");
}

static int dims_of(const ModelTensor *t, hsize_t *dims) {
    for (int k = 0; k < t->ndim; k++) dims[k] = (hsize_t)t->shape[k];
    return t->ndim;
}

bool model_h5_expert_stack(const ModelTensor *t) { return t->ndim == 3 && strstr(t->name, ".experts."); }

int64_t model_h5_chunk_rows(const ModelTensor *t) {
    hsize_t dims[MODEL_MAX_DIMS];
    return (int64_t)h5io_chunk_rows(dims_of(t, dims), dims, sizeof(float), model_h5_expert_stack(t));
}

// Whole chunks (the last one takes a full chunk's bytes too), each chunk's checksum and index entry, and about 1 KB
// of the dataset's metadata.
uint64_t model_h5_dataset_bytes(const ModelTensor *t) {
    uint64_t rows = t->ndim ? (uint64_t)t->shape[0] : 1, per_chunk = (uint64_t)model_h5_chunk_rows(t);
    uint64_t chunks = (rows + per_chunk - 1) / per_chunk, row_floats = rows ? t->numel / rows : 0;
    return 4 * chunks * per_chunk * row_floats + 32 * chunks + 1024;
}

hid_t model_h5_tensor_create(hid_t file, const char *group, const ModelTensor *t, Err *e) {
    char name[256];
    hsize_t dims[MODEL_MAX_DIMS];
    snprintf(name, sizeof name, "%s/%s", group, t->name);
    return h5io_tensor_create(file, name, dims_of(t, dims), dims, (hsize_t)model_h5_chunk_rows(t), e);
}

int model_h5_check_tensor(hid_t file, const char *group, const ModelTensor *t, Err *e) {
    char name[256], fname[PATH_MAX];
    snprintf(name, sizeof name, "%s/%s", group, t->name);
    file_name(file, fname, sizeof fname);
    if (!h5io_exists(file, name)) return err_set(e, "%s: missing dataset '%s'", fname, name);
    hsize_t dims[H5IO_MAX_RANK];
    int rank = h5io_shape(file, name, dims, e);
    if (rank < 0) return -1;
    int ok = rank == t->ndim;
    for (int k = 0; ok && k < rank; k++) ok = dims[k] == (hsize_t)t->shape[k];
    if (ok) return 0;
    char want[96] = "", have[96] = "";
    for (int k = 0; k < t->ndim; k++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", k ? ", " : "", (long long)t->shape[k]);
    for (int k = 0; k < rank; k++)
        snprintf(have + strlen(have), sizeof have - strlen(have), "%s%llu", k ? ", " : "", (unsigned long long)dims[k]);
    return err_set(e, "%s: dataset '%s' has shape [%s], expected [%s]", fname, name, have, want);
}

int model_h5_read_range(hid_t file, const char *group, const ModelTensor *t, int64_t begin, int64_t end, float *x,
                        Err *e) {
    char name[256], fname[PATH_MAX];
    snprintf(name, sizeof name, "%s/%s", group, t->name);
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    if (d < 0) return file_name(file, fname, sizeof fname), err_set(e, "%s: cannot open dataset '%s'", fname, name);
    hid_t type = H5Dget_type(d);
    int is_float = H5Tget_class(type) == H5T_FLOAT;
    H5Tclose(type);
    int rc = is_float ? h5io_read_range(d, H5T_NATIVE_FLOAT, begin, end, x, e)
                      : (file_name(file, fname, sizeof fname), err_set(e, "%s: dataset '%s' is not float", fname, name));
    H5Dclose(d);
    return rc;
}

int model_h5_write_hf_config(const Model *m, hid_t file, Err *e) {
    TRY(ensure_group(file, "/meta", e));
    char *json = m->hf_config ? m->hf_config : model_hf_config_json(m);
    int rc = h5io_attr_write_str(file, "/meta", "hf_config", json, e);
    if (json != m->hf_config) free(json);
    return rc;
}

int model_save_h5(const Model *m, hid_t file, Err *e) {
    TRY(model_h5_write_hf_config(m, file, e));
    for (int i = 0; i < m->n_tensors; i++) {
        const ModelTensor *t = &m->tensors[i];
        hid_t d = model_h5_tensor_create(file, "/model", t, e);
        if (d < 0) return -1;
        int rc = h5io_write_range(d, H5T_NATIVE_FLOAT, 0, (int64_t)t->numel, m->params + t->offset, e);
        H5Dclose(d);
        if (rc) return -1;
    }
    return 0;
}

int model_load_h5(Model *m, hid_t file, Err *e) {
    char *json = h5io_attr_read_str(file, "/meta", "hf_config", e);
    if (!json) return -1;
    ModelConfig cfg;
    if (model_config_from_hf_json(json, &cfg, e) || model_create(m, &cfg, e)) {
        char fname[PATH_MAX];
        file_name(file, fname, sizeof fname);
        free(json);
        return err_prefix(e, "%s: /meta hf_config", fname);
    }
    m->hf_config = json;
    for (int i = 0; i < m->n_tensors; i++) {
        const ModelTensor *t = &m->tensors[i];
        if (model_h5_check_tensor(file, "/model", t, e) ||
            model_h5_read_range(file, "/model", t, 0, (int64_t)t->numel, m->params + t->offset, e)) {
            model_free(m);
            return -1;
        }
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
