// rlvr: reinforcement learning with verifiable rewards. Entry point and subcommand dispatch.
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/blas_kernel.h"
#include "base/dist.h"
#include "base/revision.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "io/h5io.h"

static const CliCommand COMMANDS[] = {
    {"train", cmd_train, "RL training (GRPO, DAPO, Dr. GRPO, GSPO, LUSPO, GRPO-λ, SSPO) under mpirun", NULL, false},
    {"sft", cmd_sft, "supervised warm start on a task's reference solutions", NULL, false},
    {"sample", cmd_sample, "generate G responses per prompt with log-probs and entropies", NULL, false},
    {"score", cmd_score, "log-probs and entropies of given responses under a checkpoint", NULL, false},
    {"eval", cmd_eval, "evaluate a checkpoint on benchmarks: avg@K, pass@k, maj@K, lengths (--table: compare runs)", NULL,
     false},
    {"reward", cmd_reward, "verify responses against answers and compute rewards", NULL, false},
    {"loss", cmd_loss, "evaluate an objective and its gradient on arrays (HDF5 in, HDF5 out)", NULL, false},
    {"init", cmd_init, "write a seeded random model as an HDF5 checkpoint", NULL, false},
    {"import", cmd_import, "a Hugging Face model directory (config.json + safetensors) as a checkpoint", NULL, false},
    {"export", cmd_export, "a checkpoint's model as a Hugging Face directory (safetensors, config.json)", NULL, false},
    {"ckpt", cmd_ckpt, "inspect checkpoints: info, stats, diff", NULL, false},
    {"bench", cmd_bench, "benchmarks (model, sample, train, loss, ckpt) as JSON lines", NULL, false},
    {"config", cmd_config, "print the resolved configuration", NULL, false},
    {"dist-selftest", cmd_dist_selftest, "exercise every MPI collective and check the results", NULL, true},
    {"loss-testgen", cmd_loss_testgen, "write a seeded random input for rlvr loss", NULL, true},
};

static const CliGroup RLVR = {
    "rlvr", "SUBCOMMAND", "subcommand", NULL, COMMANDS, sizeof COMMANDS / sizeof COMMANDS[0],
    "run on many ranks with: mpirun -np N rlvr SUBCOMMAND ...\n"
    "rlvr --version prints the revision, the instruction set of the build and OpenBLAS's kernel",
};

// libgomp and glibc's allocator read their settings once, when they are loaded, so the process starts itself again
// with its defaults in the environment; a user's own setting wins. Both were measured in results/cpu-bench-history.md:
// - idle OpenMP threads spin briefly, then sleep: a short spin keeps decode's many small parallel regions fast
//   (2-thread batch-1 decode of configs/small.ini: 38.6 tok/s, against 24.4 with the passive policy), and the sleep
//   keeps idle threads off shared or oversubscribed cores;
// - the heap asks for transparent huge pages (glibc.malloc.hugetlb=1, madvise mode): the weights, moments, KV caches
//   and activations are streamed every step, and 2 MiB pages cut the TLB misses of those streams.
// - OpenBLAS takes the kernel of OPENBLAS_CORETYPE where the CPU model is one it does not know and would read as an
//   older one (base/blas_kernel.h); RLVR_OPENBLAS_OWN_PICK keeps the library's own pick for --version.
static void exec_with_run_time_defaults(char **argv) {
    bool again = false, kernel = false;
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT")) setenv("GOMP_SPINCOUNT", "20000", 1), again = true;
    if (!getenv("GLIBC_TUNABLES")) setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1), again = true;
    const char *better = getenv("OPENBLAS_CORETYPE") ? NULL : blas_better_kernel(blas_kernel(), blas_cpu_level());
    if (better) {
        setenv("RLVR_OPENBLAS_OWN_PICK", blas_kernel(), 1), setenv("OPENBLAS_CORETYPE", better, 1);
        again = kernel = true;
    }
    if (again) execv("/proc/self/exe", argv);  // returns only on failure: run on with the library defaults
    if (kernel) unsetenv("RLVR_OPENBLAS_OWN_PICK"), unsetenv("OPENBLAS_CORETYPE");
}

// "rlvr <revision>, -march=<MARCH>, OpenBLAS <kernel>[ (...)]".
static void print_version(void) {
    const char *own = getenv("RLVR_OPENBLAS_OWN_PICK");
    printf("rlvr %s, -march=%s, OpenBLAS %s", rlvr_revision(), rlvr_build_march(), blas_kernel());
    if (own) printf(" (chosen for this CPU, which the library reads as %s)", own);
    printf("\n");
}

int main(int argc, char **argv) {
    exec_with_run_time_defaults(argv);
    // Freed memory stays in the process and large blocks come from the heap rather than fresh mmaps, so the
    // buffers every step allocates again (activations, logits, gradients of a micro-batch) reuse pages already
    // mapped instead of faulting in zeroed ones each time.
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, -1);
    if (argc >= 2 && !strcmp(argv[1], "--version")) {
        if (argc > 2) return fprintf(stderr, "rlvr: --version takes no arguments\n"), 2;
        print_version();
        return 0;
    }
    int rc;
    const CliCommand *c = cli_find_command(&RLVR, argc, argv, &rc);
    if (!c) return rc;
    h5io_library_start();  // before MPI_Init (io/h5io.h): no HDF5 shutdown to crash after a failed close
    dist_init(&argc, &argv);
    rc = c->run(argc - 1, argv + 1);
    dist_finalize();
    return rc;
}
