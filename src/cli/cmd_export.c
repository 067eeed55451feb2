// `rlvr export C.h5 --out DIR`: a checkpoint's model as a Hugging Face directory (io/hf).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "base/jsonl.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "io/hf.h"

typedef struct {
    const char *ckpt, *out, *dtype, *shard;
} ExportArgs;

static const CliOpt OPTS[] = {
    CLI_ARG("CKPT.h5", ExportArgs, ckpt, CLI_REQUIRED, "the checkpoint whose model is exported"),
    CLI_OPT_STRING("--out", "DIR", ExportArgs, out, CLI_REQUIRED, "the directory to write: new (parents made as needed) or empty"),
    CLI_OPT_STRING("--dtype", "bf16|f32", ExportArgs, dtype, 0, "weight dtype (default bf16, rounded to nearest even)"),
    CLI_OPT_STRING("--shard-size", "SIZE", ExportArgs, shard, 0, "largest shard, e.g. 5GB (the default) or 500MB"),
};

static const CliSpec SPEC = CLI_SPEC(
    "rlvr export",
    "Writes DIR: config.json (the checkpoint's /meta hf_config, dtype set), generation_config.json,\n"
    "model.safetensors, or model-0000K-of-0000N.safetensors shards of at most --shard-size with\n"
    "model.safetensors.index.json, MoE experts under their per-expert Hugging Face names, and the tokenizer files when\n"
    "the checkpoint's config names a bpe tokenizer.json.",
    OPTS, NULL);

int cmd_export(int argc, char **argv) {
    ExportArgs a = {.dtype = "bf16", .shard = "5GB"};
    int rc;
    if (!cli_parse(&SPEC, argc, argv, &a, &rc)) return rc;
    char q[ERR_ABBREV_SIZE];
    if (strcmp(a.dtype, "bf16") && strcmp(a.dtype, "f32"))
        return cli_usage_error(&SPEC, "--dtype %s: expected bf16 or f32", err_abbrev(a.dtype, q));
    Err e = {{0}};
    uint64_t shard_bytes;
    if (hf_parse_size(a.shard, &shard_bytes, &e)) return cli_usage_error(&SPEC, "--shard-size: %s", e.msg);
    if (!dist_is_root()) return 0;
    if (hf_export(a.ckpt, a.out, !strcmp(a.dtype, "bf16") ? ST_BF16 : ST_F32, shard_bytes, &e))
        return fprintf(stderr, "rlvr: %s\n", e.msg), 1;
    char *dir = json_quote(a.out);  // a path may hold a quote or a backslash
    printf("{\"export\":%s,\"dtype\":\"%s\"}\n", dir, a.dtype);
    free(dir);
    return 0;
}
