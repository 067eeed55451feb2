// `rlvr eval`: evaluate a checkpoint on benchmark files, or print the table of several evaluations.
#include <stdio.h>
#include <string.h>

#include "base/dist.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "eval/benchmark.h"
#include "eval/eval_run.h"
#include "eval/report.h"

typedef struct {
    ConfigArgs cfg;
    const char *ckpt, *out;
    CliList data;
    int64_t n;
} EvalArgs;

static const CliOpt OPTS[] = {
    CLI_OPT_STRING("--ckpt", "C", EvalArgs, ckpt, CLI_REQUIRED, "checkpoint to evaluate"),
    CLI_OPT_STRING("--out", "DIR", EvalArgs, out, CLI_REQUIRED,
                   "appends one record per benchmark to DIR/eval.jsonl and every response to DIR/samples.jsonl, "
                   "each benchmark's whole once it is done; DIR is locked while eval runs, and the temporary files "
                   "(NAME.XXXXXX.tmp) a killed eval left there are removed, each logged"),
    CLI_OPT_LIST("--data", "[NAME=]F.jsonl", EvalArgs, data, 0,
                 "a benchmark file; repeatable. NAME (or a file named NAME.jsonl) picks a preset below; other files "
                 "are read with the config's [data] fields. None: the task's held-out split"),
    CLI_OPT_INT("--n", "K", EvalArgs, n, 1, 65536, 0, "samples per problem (sets eval.samples)"),
    CLI_CONFIG_OPTS(EvalArgs, cfg, 0),
};

static const CliSpec SPEC = CLI_SPEC(
    "rlvr eval",
    "Samples K responses per problem with the checkpoint's model and verifies them. Each eval.jsonl record holds\n"
    "avg@K and its standard error over problems, pass@1,2,4..K (unbiased), maj@K, response length\n"
    "mean/median/p90, the truncated share, the sampling settings, the checkpoint, its step and the revision.\n"
    "Without --data, the first eval.n_prompts held-out problems of the task are drawn as training evaluates\n"
    "them. The config is the checkpoint's own unless --config is given; --set changes it (eval.temperature,\n"
    "eval.top_p, eval.max_new_tokens, data.template, ...). Under mpirun ranks take whole problems and the\n"
    "output is the same for any number of ranks.\n"
    "rlvr eval --table DIR [DIR ...] prints a Markdown table of the last record per benchmark of each\n"
    "DIR/eval.jsonl (avg@K ± standard error, mean over benchmarks, mean length).",
    OPTS, NULL);

static void print_presets(FILE *f) {
    int n;
    const BenchmarkPreset *p = benchmark_presets(&n);
    fprintf(f, "\nbenchmark presets (the files are yours; one JSON object per line):\n");
    for (int i = 0; i < n; i++) fprintf(f, "  %-8s %s\n", p[i].name, p[i].layout);
}

static int table(int argc, char **argv) {
    char q[ERR_ABBREV_SIZE];
    for (int i = 2; i < argc; i++)
        if (!strncmp(argv[i], "--", 2))
            return cli_usage_error(&SPEC, "--table takes run directories only, not '%s'", err_abbrev(argv[i], q));
    if (argc < 3) return cli_usage_error(&SPEC, "--table needs at least one run directory");
    Err e = {{0}};
    if (dist_is_root() && eval_table((const char *const *)argv + 2, argc - 2, stdout, &e))
        return fprintf(stderr, "rlvr: %s\n", e.msg), 1;
    return 0;
}

int cmd_eval(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--table")) return table(argc, argv);
    EvalArgs a = {0};
    int rc;
    if (!cli_parse(&SPEC, argc, argv, &a, &rc)) {
        if (rc == 0) print_presets(stdout);
        return rc;
    }
    Err e = {{0}};
    char n_set[64];
    if (a.n) {
        snprintf(n_set, sizeof n_set, "eval.samples=%lld", (long long)a.n);
        if (cli_list_add(&a.cfg.sets, n_set, &e)) return cli_usage_error(&SPEC, "--set: %s", e.msg);
    }
    EvalRunArgs run = {.ckpt = a.ckpt, .out_dir = a.out, .config_path = a.cfg.config, .sets = a.cfg.sets.items,
                       .n_sets = a.cfg.sets.n, .data = a.data.items, .n_data = a.data.n};
    if (eval_run(&run, &e)) {
        if (dist_is_root()) fprintf(stderr, "rlvr: %s\n", e.msg);  // every rank holds the same message
        return 1;
    }
    return 0;
}
