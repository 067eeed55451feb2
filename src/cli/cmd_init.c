// `rlvr init`: a seeded random model written as an HDF5 checkpoint (/model tensors, /meta attributes).
#include <stdio.h>
#include <stdlib.h>

#include "base/dist.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "io/model_h5.h"
#include "model/model.h"

typedef struct {
    ConfigArgs cfg;
    const char *out;
} InitArgs;

static const CliOpt OPTS[] = {
    CLI_OPT_STRING("--config", "F", InitArgs, cfg.config, CLI_REQUIRED,
                   "configuration file (INI): the [model] sizes and init"),
    CLI_OPT_STRING("--out", "CKPT.h5", InitArgs, out, CLI_REQUIRED, "checkpoint to write"),
    CLI_OPT_LIST("--set", "section.key=value", InitArgs, cfg.sets, 0,
                 "override one key after the file; repeatable, applied in order"),
};

static const CliSpec SPEC = CLI_SPEC(
    "rlvr init",
    "Writes a seeded random model ([model] init_std, init_seed) as an HDF5 checkpoint: /model/<tensor> datasets\n"
    "(Hugging Face names and shapes, float32) and /meta attributes hf_config, config, format_version, step.\n"
    "The file is written to CKPT.h5.tmp and renamed, so a failure never leaves a partial checkpoint.",
    OPTS, NULL);

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
    InitArgs a = {0};
    int rc;
    if (!cli_parse(&SPEC, argc, argv, &a, &rc)) return rc;
    const char *out = a.out;
    Config c;
    Model m;
    Err e = {{0}};
    if (cli_resolve_config(&a.cfg, &c, &e)) return fprintf(stderr, "rlvr: %s\n", e.msg), 1;
    if (model_create(&m, &c.model, &e)) return fprintf(stderr, "rlvr: %s\n", e.msg), 1;
    model_init_random(&m, (uint64_t)c.model.init_seed);
    rc = dist_is_root() ? write_checkpoint(&m, &c, out, &e) : 0;
    if (rc) fprintf(stderr, "rlvr: %s\n", e.msg);
    else if (dist_is_root())
        printf("{\"checkpoint\":\"%s\",\"n_params\":%zu,\"n_tensors\":%d}\n", out, m.n_params, m.n_tensors);
    model_free(&m);
    return rc ? 1 : 0;
}
