// `rlvr bench NAME`: dispatch to one benchmark; each prints JSON lines on rank 0.
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/bench_loss.h"
#include "bench/bench_sample.h"
#include "cli/cli.h"
#include "cli/commands.h"

static const char USAGE[] =
    "usage: rlvr bench model|sample|loss [options]   (rlvr bench NAME --help for its options)\n"
    "Benchmarks as JSON lines: one line per measurement.\n";

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
} Bench;

static const Bench BENCHES[] = {
    {"model", bench_model},
    {"sample", bench_sample},
    {"loss", bench_loss},
};

int cmd_bench(int argc, char **argv) {
    if (argc < 2) return fputs(USAGE, stderr), 2;
    if (cli_is_help(argv[1])) return fputs(USAGE, stdout), 0;
    for (size_t i = 0; i < sizeof BENCHES / sizeof BENCHES[0]; i++) {
        if (strcmp(argv[1], BENCHES[i].name)) continue;
        return BENCHES[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "rlvr bench: unknown benchmark '%s'\n%s", argv[1], USAGE);
    return 2;
}
