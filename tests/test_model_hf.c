// The forward against Hugging Face transformers' own Qwen2 / Qwen3 / Qwen2-MoE / Qwen3-MoE: logits committed by
// tests/hf_reference.py in tests/fixtures/hf_<type>.h5 (checkpoint + tokens + logits), max-norm relative
// error <= 1e-5 per sequence. The C side runs all sequences in one packed batch.
#include <criterion/criterion.h>
#include <math.h>

#include "io/h5io.h"
#include "io/model_h5.h"
#include "model/model.h"

static void compare_with_hf(const char *type) {
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/hf_%s.h5", type);
    Err e = {{0}};
    hid_t f = h5io_open(path, 0, &e);
    cr_assert(f >= 0, "%s", e.msg);
    Model m;
    cr_assert_eq(model_load_h5(&m, f, &e), 0, "%s", e.msg);
    int64_t n_off, T;
    int64_t *off = h5io_read_i64(f, "fixture/seq_offsets", -1, &n_off, &e);
    int64_t *tok64 = h5io_read_i64(f, "fixture/tokens", -1, &T, &e);
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
    float *want = h5io_read(f, "fixture/logits", H5T_NATIVE_FLOAT, &rank, dims, &e);
    cr_assert(off && tok64 && want, "%s", e.msg);
    int V = m.cfg.vocab_size;
    cr_assert(rank == 2 && dims[0] == (hsize_t)T && dims[1] == (hsize_t)V);
    int32_t *tok = xmalloc((size_t)T * sizeof(int32_t));
    for (int64_t t = 0; t < T; t++) tok[t] = (int32_t)tok64[t];
    float *got = xmalloc((size_t)T * V * sizeof(float));
    cr_assert_eq(model_forward(&m, (int)n_off - 1, off, tok, got, NULL, NULL, NULL, &e), 0, "%s", e.msg);
    for (int s = 0; s + 1 < n_off; s++) {
        double diff = 0, scale = 0;
        for (int64_t i = off[s] * V; i < off[s + 1] * V; i++) {
            diff = fmax(diff, fabs((double)got[i] - want[i]));
            scale = fmax(scale, fabs((double)want[i]));
        }
        cr_expect(scale > 0.1, "%s sequence %d: reference logits are degenerate (max %g)", type, s, scale);
        cr_expect(diff <= 1e-5 * scale, "%s sequence %d: max |diff| %.3g, relative %.3g > 1e-5", type, s, diff,
                  diff / scale);
    }
    free(off), free(tok64), free(want), free(tok), free(got);
    h5io_close(f);
    model_free(&m);
}

Test(model_hf, qwen2) { compare_with_hf("qwen2"); }
Test(model_hf, qwen3) { compare_with_hf("qwen3"); }
Test(model_hf, qwen2_moe_shared_expert) { compare_with_hf("qwen2_moe"); }
Test(model_hf, qwen3_moe) { compare_with_hf("qwen3_moe"); }
