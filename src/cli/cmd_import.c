// `rlvr import --hf DIR --out C.h5`: a Hugging Face model directory as an rlvr checkpoint (io/hf).
#include <stdio.h>
#include <string.h>

#include "base/dist.h"
#include "base/revision.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "io/hf.h"

static const char USAGE[] =
    "usage: rlvr import --hf DIR --out CKPT.h5 [--dtype f32]\n"
    "Reads DIR/config.json (Qwen2ForCausalLM, Qwen3ForCausalLM, Qwen2MoeForCausalLM or Qwen3MoeForCausalLM) and\n"
    "DIR/model.safetensors or the shards of DIR/model.safetensors.index.json (BF16, F16 or F32), and writes an rlvr\n"
    "checkpoint (float32; MoE experts fused per layer) with /meta hf_config = DIR/config.json and a config whose\n"
    "[model] section matches it. Tensors stream one chunk at a time. Written to CKPT.h5.tmp and renamed.\n";

int cmd_import(int argc, char **argv) {
    const char *dir = NULL, *out = NULL, *dtype = "f32";
    Err e = {{0}};
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) return fputs(USAGE, stdout), 0;
        const char **slot = NULL, *v = NULL;
        if ((v = cli_value("--hf", argc, argv, &i, &e))) slot = &dir;
        else if (!e.msg[0] && (v = cli_value("--out", argc, argv, &i, &e))) slot = &out;
        else if (!e.msg[0] && (v = cli_value("--dtype", argc, argv, &i, &e))) slot = &dtype;
        if (e.msg[0]) return fprintf(stderr, "rlvr import: %s\n", e.msg), 2;
        if (!slot) return fprintf(stderr, "rlvr import: unknown option '%s'\n%s", argv[i], USAGE), 2;
        *slot = v;
    }
    if (!dir || !out) return fprintf(stderr, "rlvr import: --hf and --out are required\n%s", USAGE), 2;
    if (strcmp(dtype, "f32")) return fprintf(stderr, "rlvr import: --dtype %s: checkpoints hold f32 only\n", dtype), 2;
    if (!dist_is_root()) return 0;
    HfImportStats st;
    if (hf_import(dir, out, rlvr_revision(), &st, &e)) return fprintf(stderr, "rlvr: %s\n", e.msg), 1;
    printf("{\"checkpoint\":\"%s\",\"n_params\":%lld,\"n_tensors\":%lld,\"source_bytes\":%llu,\"seconds\":%.3f}\n", out,
           (long long)st.n_params, (long long)st.n_tensors, (unsigned long long)st.source_bytes, st.seconds);
    return 0;
}
