// `rlvr init`: a seeded random model written as an HDF5 checkpoint (/model tensors, /meta attributes).
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "base/dist.h"
#include "model/model.h"
#include "io/model_h5.h"

static const char USAGE[] =
    "usage: rlvr init --config F --out CKPT.h5 [--set section.key=value ...]\n"
    "Writes a seeded random model ([model] init_std, init_seed) as an HDF5 checkpoint: /model/<tensor> datasets\n"
    "(Hugging Face names and shapes, float32) and /meta attributes hf_config, config, format_version, step.\n"
    "The file is written to CKPT.h5.tmp and renamed, so a failure never leaves a partial checkpoint.\n";

// /model and /meta of a fresh checkpoint, to path.tmp then renamed.
static int write_checkpoint(const Model *m, const Config *c, const char *path, Err *e) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    hid_t f = h5io_create(tmp, e);
    if (f < 0) return -1;
    char *text = config_to_string(c);
    int rc = model_save_h5(m, f, e) || h5io_attr_write_str(f, "/meta", "config", text, e) ||
             h5io_attr_write_i64(f, "/meta", "format_version", 1, e) || h5io_attr_write_i64(f, "/meta", "step", 0, e);
    free(text);
    if (H5Fclose(f) < 0 && !rc) rc = err_set(e, "%s: cannot close HDF5 file (disk full?)", tmp);
    if (!rc && rename(tmp, path)) rc = err_set(e, "cannot rename %s to %s", tmp, path);
    if (rc) remove(tmp);
    return rc ? -1 : 0;
}

int cmd_init(int argc, char **argv) {
    ConfigArgs args = {0};
    const char *out = NULL;
    Err e = {{0}};
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) return fputs(USAGE, stdout), 0;
        int r = cli_config_arg(&args, argc, argv, &i, &e);
        if (r < 0) return fprintf(stderr, "rlvr init: %s\n", e.msg), 2;
        if (r) continue;
        const char *v = cli_value("--out", argc, argv, &i, &e);
        if (!v && e.msg[0]) return fprintf(stderr, "rlvr init: %s\n", e.msg), 2;
        if (!v) return fprintf(stderr, "rlvr init: unknown option '%s'\n%s", argv[i], USAGE), 2;
        out = v;
    }
    if (!args.config || !out) return fprintf(stderr, "rlvr init: --config and --out are required\n%s", USAGE), 2;
    Config c;
    Model m;
    if (cli_resolve_config(&args, &c, 1, &e)) return fprintf(stderr, "rlvr: %s\n", e.msg), 1;
    if (model_create(&m, &c.model, &e)) return fprintf(stderr, "rlvr: %s\n", e.msg), 1;
    model_init_random(&m, (uint64_t)c.model.init_seed);
    int rc = dist_is_root() ? write_checkpoint(&m, &c, out, &e) : 0;
    if (rc) fprintf(stderr, "rlvr: %s\n", e.msg);
    else if (dist_is_root())
        printf("{\"checkpoint\":\"%s\",\"n_params\":%zu,\"n_tensors\":%d}\n", out, m.n_params, m.n_tensors);
    model_free(&m);
    return rc ? 1 : 0;
}
