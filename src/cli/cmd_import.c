// `rlvr import --hf DIR --out C.h5`: a Hugging Face model directory as an rlvr checkpoint (io/hf).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "base/jsonl.h"
#include "base/revision.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "io/hf.h"

typedef struct {
    const char *dir, *out, *dtype;
} ImportArgs;

static const CliOpt OPTS[] = {
    CLI_OPT_STRING("--hf", "DIR", ImportArgs, dir, CLI_REQUIRED, "the model directory: config.json and safetensors"),
    CLI_OPT_STRING("--out", "CKPT.h5", ImportArgs, out, CLI_REQUIRED, "the checkpoint to write"),
    CLI_OPT_STRING("--dtype", "f32", ImportArgs, dtype, 0, "the checkpoint's dtype (f32, the only one)"),
};

static const CliSpec SPEC = CLI_SPEC(
    "rlvr import",
    "Reads DIR/config.json (Qwen2ForCausalLM, Qwen3ForCausalLM, Qwen2MoeForCausalLM or Qwen3MoeForCausalLM) and\n"
    "DIR/model.safetensors or the shards of DIR/model.safetensors.index.json (BF16, F16 or F32), and writes an rlvr\n"
    "checkpoint (float32; MoE experts fused per layer) with /meta hf_config = DIR/config.json and a config whose\n"
    "[model] section matches it. Tensors stream one chunk at a time. Written beside CKPT.h5 under a temporary name\n"
    "and renamed.",
    OPTS, NULL);

int cmd_import(int argc, char **argv) {
    ImportArgs a = {.dtype = "f32"};
    int rc;
    if (!cli_parse(&SPEC, argc, argv, &a, &rc)) return rc;
    char q[ERR_ABBREV_SIZE];
    if (strcmp(a.dtype, "f32"))
        return cli_usage_error(&SPEC, "--dtype %s: checkpoints hold f32 only", err_abbrev(a.dtype, q));
    if (!dist_is_root()) return 0;
    HfImportStats st;
    Err e = {{0}};
    if (hf_import(a.dir, a.out, rlvr_revision(), &st, &e)) return fprintf(stderr, "rlvr: %s\n", e.msg), 1;
    char *ck = json_quote(a.out);
    printf("{\"checkpoint\":%s,\"n_params\":%lld,\"n_tensors\":%lld,\"source_bytes\":%llu,\"seconds\":%.3f}\n", ck,
           (long long)st.n_params, (long long)st.n_tensors, (unsigned long long)st.source_bytes, st.seconds);
    free(ck);
    return 0;
}
