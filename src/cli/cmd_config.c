// `rlvr config`: resolve a config file plus overrides and print every key.
#include <stdio.h>
#include <stdlib.h>

#include "algo/shard.h"
#include "base/config.h"
#include "base/config_effect.h"
#include "base/dist.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "model/expert_map.h"
#include "model/model.h"

typedef struct {
    ConfigArgs cfg;
    int64_t ranks;
} ConfigCmdArgs;

static const CliOpt OPTS[] = {
    CLI_CONFIG_OPTS(ConfigCmdArgs, cfg, 0),
    CLI_OPT_INT("--ranks", "N", ConfigCmdArgs, ranks, 1, 1 << 20, 0,
                "data-parallel ranks the ownership map is printed for (default: this run's)"),
};

static const CliSpec SPEC = CLI_SPEC(
    "rlvr config",
    "Prints the resolved configuration (defaults, then F, then each --set, then presets) as INI, then as\n"
    "comments the ZeRO ownership map (dist.zero_stage: which rank owns which tensors) and the expert-parallel\n"
    "map (dist.expert_parallel: which place of each group owns which experts). A key given by hand that the\n"
    "other keys leave without effect (algo.lambda under algo.name = grpo) gets a warning line on stderr.\n"
    "Errors name the file and line or the --set and what was expected.",
    OPTS, NULL);

// The ownership map of algo/shard.h for the model's tensor table.
static int print_ownership(const Config *c, int ranks, Err *e) {
    Model m;
    TRY(model_layout(&m, &c->model, e));
    // As train/rl_step.c samples: layer by layer only where param_gather_stream streams (not under expert parallelism).
    bool by_layer = c->rollout.schedule == ROLLOUT_STATIC && c->dist.sample_gather == SAMPLE_GATHER_LAYER &&
                    c->dist.expert_parallel == 1;
    shard_map_print(stdout, m.tensors, m.n_tensors, ranks, c->dist.zero_stage, by_layer);
    int k = c->dist.expert_parallel;
    int rc = ranks % k ? err_set(e, "dist.expert_parallel = %d must divide the number of ranks (%d)", k, ranks) : 0;
    if (!rc) expert_map_print(stdout, &m, k, ranks);
    if (!rc && k > 1 && m.moe && c->dist.zero_stage > 0) shard_expert_print(stdout, &m, ranks, c->dist.zero_stage, k);
    model_free(&m);
    return rc;
}

// The keys given by hand that the config's other keys leave without effect, on stderr.
static void print_inert(const Config *c) {
    InertKey *inert;
    int n = config_inert_keys(c, &inert);
    for (int i = 0; i < n; i++) fprintf(stderr, "rlvr: warning: config: %s\n", inert[i].reason);
    free(inert);
}

int cmd_config(int argc, char **argv) {
    ConfigCmdArgs a = {0};
    int rc;
    if (!cli_parse(&SPEC, argc, argv, &a, &rc)) return rc;
    Config c;
    Err e = {{0}};
    if (cli_resolve_config(&a.cfg, &c, &e)) return fprintf(stderr, "rlvr: %s\n", e.msg), 1;
    if (!dist_is_root()) return 0;
    config_print(stdout, &c);
    print_inert(&c);
    if (print_ownership(&c, a.ranks ? (int)a.ranks : dist_size(), &e)) return fprintf(stderr, "rlvr: %s\n", e.msg), 1;
    return 0;
}
