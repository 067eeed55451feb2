// Command line shared by `rlvr sft` and `rlvr train`.
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "base/dist.h"
#include "cli/train_cli.h"

int train_cli_main(TrainKind kind, const char *usage, int argc, char **argv) {
    const char *name = kind == TRAIN_SFT ? "sft" : "train";
    ConfigArgs ca = {0};
    TrainArgs a = {0};
    Err e = {{0}};
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) return fputs(usage, stdout), 0;
        int r = cli_config_arg(&ca, argc, argv, &i, &e);
        const char *v;
        long long n;
        if (r < 0) return fprintf(stderr, "rlvr %s: %s\n", name, e.msg), 2;
        if (r > 0) continue;
        if ((v = cli_value("--run-dir", argc, argv, &i, &e))) a.run_dir = v;
        else if ((v = cli_value("--init", argc, argv, &i, &e))) a.init_ckpt = v;
        else if (!strcmp(argv[i], "--resume")) a.resume = true;
        else if (!strcmp(argv[i], "--resume=auto")) a.resume_auto = true;
        else if ((v = cli_value("--stop-after", argc, argv, &i, &e))) {
            if (cli_parse_int("--stop-after", v, 1, (long long)1 << 40, &n, &e))
                return fprintf(stderr, "rlvr %s: %s\n", name, e.msg), 2;
            a.stop_after = n;
        } else if (e.msg[0]) return fprintf(stderr, "rlvr %s: %s\n", name, e.msg), 2;
        else return fprintf(stderr, "rlvr %s: unknown option '%s'\n%s", name, argv[i], usage), 2;
    }
    if (!a.run_dir) return fprintf(stderr, "rlvr %s: --run-dir D is required\n%s", name, usage), 2;
    if (!ca.config && !a.resume && !a.resume_auto) return fprintf(stderr, "rlvr %s: --config F is required\n%s", name, usage), 2;
    if (a.resume && a.init_ckpt) return fprintf(stderr, "rlvr %s: --init and --resume exclude each other\n", name), 2;
    a.config_path = ca.config;
    a.sets = ca.sets;
    a.n_sets = ca.n_sets;
    int rc = trainer_run(kind, &a, &e);
    if (rc == TRAINER_STOPPED) return RLVR_EXIT_STOPPED;  // checkpointed on a signal: resume later
    if (rc) {
        if (dist_is_root()) fprintf(stderr, "rlvr: %s\n", e.msg);  // every rank holds the same message
        return 1;
    }
    return 0;
}
