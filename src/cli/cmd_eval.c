// `rlvr eval`: evaluate a checkpoint on benchmark files, or print the table of several evaluations.
#include <stdio.h>
#include <string.h>

#include "base/dist.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "eval/benchmark.h"
#include "eval/eval_run.h"
#include "eval/report.h"

static const char USAGE[] =
    "usage: rlvr eval --ckpt C --out DIR [--data [NAME=]F.jsonl ...] [--n K] [--config F] [--set k=v ...]\n"
    "       rlvr eval --table DIR [DIR ...]\n"
    "Samples K responses (default rollout.n) per problem of each benchmark file with the checkpoint's model and\n"
    "verifies them. Appends to DIR/eval.jsonl one record per benchmark (avg@K and its standard error over\n"
    "problems, pass@1,2,4..K, maj@K, response length mean/median/p90, truncated share, sampling settings,\n"
    "checkpoint, step, revision) and to DIR/samples.jsonl every response with its extracted answer and verdict.\n"
    "Without --data: the first eval.n_prompts held-out problems of the config's task, drawn as training\n"
    "evaluates them. The config is the checkpoint's own unless --config is given; --set overrides it\n"
    "(e.g. rollout.temperature, rollout.top_p, rollout.max_new_tokens, data.template). Under mpirun ranks take\n"
    "whole problems; the output is the same for any number of ranks.\n"
    "--table prints a Markdown table of the last record per benchmark of each DIR/eval.jsonl.\n"
    "Benchmark presets (NAME=F.jsonl, or a file named NAME.jsonl; other files use the config's [data] fields):\n";

static void print_usage(FILE *out) {
    fputs(USAGE, out);
    int n;
    const BenchmarkPreset *p = benchmark_presets(&n);
    for (int i = 0; i < n; i++) fprintf(out, "  %-8s %s\n", p[i].name, p[i].layout);
}

#define MAX_DATA 64

typedef struct {
    ConfigArgs cfg;
    const char *ckpt, *out;
    const char *data[MAX_DATA];
    int n_data;
    char n_set[64];
    int table_from;  // argv index of the first --table directory, 0 = none
} EvalArgs;

// Returns 1 to go on, 0 after --help, -1 on bad usage (message in e).
static int parse_args(EvalArgs *a, int argc, char **argv, Err *e) {
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) return print_usage(stdout), 0;
        if (!strcmp(argv[i], "--table")) {
            if (i + 1 >= argc) return err_set(e, "--table needs at least one run directory");
            a->table_from = i + 1;
            return 1;
        }
        int r = cli_config_arg(&a->cfg, argc, argv, &i, e);
        if (r < 0) return -1;
        if (r == 1) continue;
        const char *v;
        long long k;
        if ((v = cli_value("--ckpt", argc, argv, &i, e))) a->ckpt = v;
        else if ((v = cli_value("--out", argc, argv, &i, e))) a->out = v;
        else if ((v = cli_value("--data", argc, argv, &i, e))) {
            if (a->n_data == MAX_DATA) return err_set(e, "more than %d --data options", MAX_DATA);
            a->data[a->n_data++] = v;
        } else if ((v = cli_value("--n", argc, argv, &i, e))) {
            TRY(cli_parse_int("--n", v, 1, 65536, &k, e));
            snprintf(a->n_set, sizeof a->n_set, "rollout.n=%lld", k);
            if (a->cfg.n_sets == CLI_MAX_SETS) return err_set(e, "too many --set options");
            a->cfg.sets[a->cfg.n_sets++] = a->n_set;
        } else
            return e->msg[0] ? -1 : err_set(e, "unknown option '%s'", argv[i]);
    }
    if (!a->ckpt || !a->out) return err_set(e, "--ckpt and --out are required");
    return 1;
}

int cmd_eval(int argc, char **argv) {
    EvalArgs a = {0};
    Err e = {{0}};
    int r = parse_args(&a, argc, argv, &e);
    if (r == 0) return 0;
    if (r < 0) return fprintf(stderr, "rlvr eval: %s\n", e.msg), print_usage(stderr), 2;
    if (a.table_from) {
        if (!dist_is_root()) return 0;
        if (eval_table((const char *const *)argv + a.table_from, argc - a.table_from, stdout, &e))
            return fprintf(stderr, "rlvr: %s\n", e.msg), 1;
        return 0;
    }
    EvalRunArgs run = {.ckpt = a.ckpt, .out_dir = a.out, .config_path = a.cfg.config, .sets = a.cfg.sets,
                       .n_sets = a.cfg.n_sets, .data = a.data, .n_data = a.n_data};
    if (eval_run(&run, &e)) {
        if (dist_is_root()) fprintf(stderr, "rlvr: %s\n", e.msg);  // every rank holds the same message
        return 1;
    }
    return 0;
}
