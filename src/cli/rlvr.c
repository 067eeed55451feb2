// rlvr: reinforcement learning with verifiable rewards. Entry point and subcommand dispatch.
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "base/dist.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    int hidden;  // internal commands used by the tests
} Command;

static const Command COMMANDS[] = {
    {"train", cmd_train, "RL training (GRPO, DAPO, Dr. GRPO, GSPO, LUSPO, GRPO-λ, SSPO) under mpirun", 0},
    {"sft", cmd_sft, "supervised warm start on a task's reference solutions", 0},
    {"sample", cmd_sample, "generate G responses per prompt with log-probs and entropies", 0},
    {"score", cmd_score, "log-probs and entropies of given responses under a checkpoint", 0},
    {"reward", cmd_reward, "verify responses against answers and compute rewards", 0},
    {"loss", cmd_loss, "evaluate an objective and its gradient on arrays (HDF5 in, HDF5 out)", 0},
    {"init", cmd_init, "write a seeded random model as an HDF5 checkpoint", 0},
    {"import", cmd_import, "a Hugging Face model directory (config.json + safetensors) as a checkpoint", 0},
    {"export", cmd_export, "a checkpoint's model as a Hugging Face directory (safetensors, config.json)", 0},
    {"ckpt", cmd_ckpt, "inspect checkpoints: info, stats, diff", 0},
    {"bench", cmd_bench, "benchmarks (model, sample, loss) as JSON lines", 0},
    {"config", cmd_config, "print the resolved configuration", 0},
    {"dist-selftest", cmd_dist_selftest, "exercise every MPI collective and check the results", 1},
    {"loss-testgen", cmd_loss_testgen, "write a seeded random input for rlvr loss", 1},
};
#define N_COMMANDS (int)(sizeof COMMANDS / sizeof COMMANDS[0])

static void usage(FILE *f) {
    fprintf(f, "usage: rlvr SUBCOMMAND [options]   (rlvr SUBCOMMAND --help for its options)\n\nsubcommands:\n");
    for (int i = 0; i < N_COMMANDS; i++)
        if (!COMMANDS[i].hidden) fprintf(f, "  %-8s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(f, "\nrun on many ranks with: mpirun -np N rlvr SUBCOMMAND ...\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 0; i < N_COMMANDS; i++) {
        if (strcmp(argv[1], COMMANDS[i].name)) continue;
        dist_init(&argc, &argv);
        int rc = COMMANDS[i].run(argc - 1, argv + 1);
        dist_finalize();
        return rc;
    }
    fprintf(stderr, "rlvr: unknown subcommand '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
