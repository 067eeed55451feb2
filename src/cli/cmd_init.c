// `rlvr init`: a seeded random model written as an HDF5 checkpoint (/model tensors, /meta attributes).
#include <stdio.h>
#include <stdlib.h>

#include "base/dist.h"
#include "base/jsonl.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "io/checkpoint.h"
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
    "(Hugging Face names and shapes, float32, checksummed) and the /meta attributes of every checkpoint, kind init.\n"
    "The file is written to CKPT.h5.tmp and renamed, so a failure never leaves a partial checkpoint.",
    OPTS, NULL);

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
    char *text = config_to_string(&c);
    CheckpointMeta meta = {.kind = "init", .config_text = text, .world_size = 1};
    rc = dist_is_root() ? checkpoint_save(out, &m, NULL, NULL, &meta, &e) : 0;
    free(text);
    if (rc) fprintf(stderr, "rlvr: %s\n", e.msg);
    else if (dist_is_root()) {
        char *q = json_quote(out);
        printf("{\"checkpoint\":%s,\"n_params\":%zu,\"n_tensors\":%d}\n", q, m.n_params, m.n_tensors);
        free(q);
    }
    model_free(&m);
    return rc ? 1 : 0;
}
