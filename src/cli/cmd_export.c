// `rlvr export C.h5 --out DIR`: a checkpoint's model as a Hugging Face directory (io/hf).
#include <stdio.h>
#include <string.h>

#include "base/dist.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "io/hf.h"

static const char USAGE[] =
    "usage: rlvr export CKPT.h5 --out DIR [--dtype bf16|f32] [--shard-size 5GB]\n"
    "Writes DIR (new or empty): config.json (the checkpoint's /meta hf_config, dtype set), generation_config.json,\n"
    "model.safetensors, or model-0000K-of-0000N.safetensors shards of at most --shard-size with\n"
    "model.safetensors.index.json, MoE experts under their per-expert Hugging Face names, and the tokenizer files when\n"
    "the checkpoint's config names a bpe tokenizer.json. bf16 (the default) rounds to nearest even.\n";

int cmd_export(int argc, char **argv) {
    const char *ckpt = NULL, *out = NULL, *dtype = "bf16", *shard = "5GB";
    Err e = {{0}};
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) return fputs(USAGE, stdout), 0;
        const char **slot = NULL, *v = NULL;
        if ((v = cli_value("--out", argc, argv, &i, &e))) slot = &out;
        else if (!e.msg[0] && (v = cli_value("--dtype", argc, argv, &i, &e))) slot = &dtype;
        else if (!e.msg[0] && (v = cli_value("--shard-size", argc, argv, &i, &e))) slot = &shard;
        else if (!e.msg[0] && argv[i][0] != '-' && !ckpt) slot = &ckpt, v = argv[i];
        if (e.msg[0]) return fprintf(stderr, "rlvr export: %s\n", e.msg), 2;
        if (!slot) return fprintf(stderr, "rlvr export: unknown option '%s'\n%s", argv[i], USAGE), 2;
        *slot = v;
    }
    if (!ckpt || !out) return fprintf(stderr, "rlvr export: CKPT.h5 and --out are required\n%s", USAGE), 2;
    StDtype dt = !strcmp(dtype, "bf16") ? ST_BF16 : ST_F32;
    if (strcmp(dtype, "bf16") && strcmp(dtype, "f32"))
        return fprintf(stderr, "rlvr export: --dtype %s: expected bf16 or f32\n", dtype), 2;
    uint64_t shard_bytes;
    if (hf_parse_size(shard, &shard_bytes, &e)) return fprintf(stderr, "rlvr export: --shard-size: %s\n", e.msg), 2;
    if (!dist_is_root()) return 0;
    if (hf_export(ckpt, out, dt, shard_bytes, &e)) return fprintf(stderr, "rlvr: %s\n", e.msg), 1;
    printf("{\"export\":\"%s\",\"dtype\":\"%s\"}\n", out, dtype);
    return 0;
}
