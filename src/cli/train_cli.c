// Command line shared by `rlvr sft` and `rlvr train`.
#include "cli/train_cli.h"

#include <stdio.h>
#include <string.h>

#include "base/dist.h"
#include "cli/cli.h"

typedef struct {
    ConfigArgs cfg;
    const char *run_dir, *init, *resume;  // resume: NULL (not given), "" or "auto"
    int64_t stop_after;
} TrainCliArgs;

static const CliOpt OPTS[] = {
    CLI_OPT_STRING("--config", "F", TrainCliArgs, cfg.config, 0,
                   "configuration file (INI); required for a fresh start, else D/config.ini serves"),
    CLI_OPT_STRING("--run-dir", "D", TrainCliArgs, run_dir, CLI_REQUIRED,
                   "run directory: config.ini, metrics.jsonl, eval.jsonl, log.txt, ckpt/step-NNNNNN.h5; locked while "
                   "the run goes on, and the temporary files (NAME.XXXXXX.tmp) a killed command left in D and D/ckpt "
                   "are removed, each logged"),
    CLI_OPT_STRING("--init", "CKPT", TrainCliArgs, init, 0,
                   "start from the weights of CKPT (e.g. the last checkpoint of `rlvr sft`); default: random init"),
    CLI_OPT_OPTIONAL("--resume", "auto", TrainCliArgs, resume, 0,
                     "continue from the highest D/ckpt/step-NNNNNN.h5, on any number of ranks; =auto: only when D "
                     "has a checkpoint, else a fresh start (with --init if given), so one command both starts a run "
                     "and continues it after a preemption. Each key changed from the checkpoint's config is logged; "
                     "the run's identity ([model], [tokenizer], the seeds, the task and training data) may not change"),
    CLI_OPT_LIST("--set", "section.key=value", TrainCliArgs, cfg.sets, 0,
                 "override one key after the file; repeatable, applied in order"),
    CLI_OPT_INT("--stop-after", "N", TrainCliArgs, stop_after, 1, (int64_t)1 << 40, CLI_HIDDEN,
                "end the run after step N, as if killed (tests of --resume)"),
};

int train_cli_main(TrainKind kind, const char *about, const char *notes, int argc, char **argv) {
    const CliSpec spec = {kind == TRAIN_SFT ? "rlvr sft" : "rlvr train", about, OPTS, sizeof OPTS / sizeof OPTS[0],
                          notes};
    TrainCliArgs a = {0};
    int rc;
    if (!cli_parse(&spec, argc, argv, &a, &rc)) return rc;
    char q[ERR_ABBREV_SIZE];
    if (a.resume && *a.resume && strcmp(a.resume, "auto"))
        return cli_usage_error(&spec, "--resume=%s: expected --resume or --resume=auto", err_abbrev(a.resume, q));
    bool resume = a.resume && !*a.resume, automatic = a.resume && *a.resume;
    if (!a.cfg.config && !a.resume) return cli_usage_error(&spec, "--config F is required unless --resume");
    if (resume && a.init) return cli_usage_error(&spec, "--init and --resume exclude each other (--resume=auto takes both)");
    TrainArgs t = {.config_path = a.cfg.config, .run_dir = a.run_dir, .init_ckpt = a.init, .resume = resume,
                   .resume_auto = automatic, .sets = a.cfg.sets.items, .n_sets = a.cfg.sets.n,
                   .stop_after = a.stop_after};
    Err e = {{0}};
    rc = trainer_run(kind, &t, &e);
    if (rc == TRAINER_STOPPED) return RLVR_EXIT_STOPPED;  // checkpointed on a signal: resume later
    if (rc) {
        if (dist_is_root()) fprintf(stderr, "rlvr: %s\n", e.msg);  // every rank holds the same message
        return 1;
    }
    return 0;
}
