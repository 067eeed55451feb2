// `rlvr bench NAME`: parses one benchmark's options into its options struct (src/bench/) and runs it; each
// prints JSON lines.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "bench/bench.h"
#include "bench/bench_ckpt.h"
#include "bench/bench_loss.h"
#include "bench/bench_sample.h"
#include "bench/bench_train.h"
#include "cli/cli.h"
#include "cli/commands.h"

#define DEFAULT_CONFIG "configs/small.ini"

typedef struct {
    ConfigArgs cfg;
    CliIntList threads;
    BenchModelOptions b;
} ModelArgs;

static const CliOpt MODEL_OPTS[] = {
    CLI_OPT_STRING("--config", "F", ModelArgs, cfg.config, 0, "the model to time (default " DEFAULT_CONFIG ")"),
    CLI_OPT_LIST("--set", "section.key=value", ModelArgs, cfg.sets, 0, "override one key after the file; repeatable"),
    CLI_OPT_INT("--seqs", "N", ModelArgs, b.seqs, 1, 1 << 20, 0, "sequences per forward (default 2)"),
    CLI_OPT_INT("--seq-len", "L", ModelArgs, b.seq_len, 1, 1 << 20, 0, "tokens per sequence (default 128)"),
    CLI_OPT_INT("--prompt-len", "P", ModelArgs, b.prompt_len, 0, 1 << 20, 0,
                "leading tokens of each sequence without a target, as a prompt's: the LM head skips their rows "
                "(default 0; below L)"),
    CLI_OPT_INT("--repeat", "R", ModelArgs, b.repeat, 1, 1000, 0, "timed passes per phase (default 3)"),
    CLI_OPT_FLAG("--deterministic", ModelArgs, b.fixed_order_backward, 0,
                 "the backward of dist.deterministic=true: fixed-order kernels instead of OpenBLAS"),
    CLI_OPT_INT_LIST("--threads", "N", ModelArgs, threads, 1, 4096, 0,
                     "CPU threads; repeat it to time several counts in turn, each line then giving its speedup over "
                     "the first (default OMP_NUM_THREADS)"),
    CLI_OPT_FLAG("--ops", ModelArgs, b.ops, 0,
                 "also time each operation of the forward+backward passes (CPU only): a JSON line per operation, "
                 "weight shape and thread count with its calls, seconds and share of a pass, GFLOP/s and speedup"),
};

static const CliSpec MODEL = CLI_SPEC(
    "rlvr bench model",
    "Times the training forward and the forward+backward over N sequences of L random tokens in the steady\n"
    "state (gradient buffer allocated and touched once, one untimed warm-up per phase, R timed passes) and\n"
    "prints a JSON line per phase and thread count: median and best seconds, tokens/s and GFLOP/s (FLOPs\n"
    "from model_flops_per_token: 2 per multiply-add, backward = 2x forward) next to the OpenBLAS sgemm peak at\n"
    "the model's [tokens x hidden] x [hidden x intermediate] shape, measured right before and after each pass\n"
    "(fraction_of_sgemm: the median pass against its own peak) and to the CPU's multiply-add peak on that\n"
    "thread count, in the widest vectors it runs (fma_peak_gflop_per_s, fraction_of_fma_peak: the bound no\n"
    "kernel passes, whatever OpenBLAS kernel runs), the speedup over the first thread count (the\n"
    "median of the passes' ratios, timed in turn), and the share of the machine's CPU time a hypervisor stole\n"
    "during the passes (steal_fraction, from /proc/stat). With --ops, lines of \"bench\":\"model_op\" follow:\n"
    "where the forward+backward's time went, per operation of the layer loop, and outside them.",
    MODEL_OPTS, NULL);

typedef struct {
    ConfigArgs cfg;
    BenchSampleOptions b;
} SampleArgs;

static const CliOpt SAMPLE_OPTS[] = {
    CLI_OPT_STRING("--config", "F", SampleArgs, cfg.config, 0, "the model to time (default " DEFAULT_CONFIG ")"),
    CLI_OPT_LIST("--set", "section.key=value", SampleArgs, cfg.sets, 0, "override one key after the file; repeatable"),
    CLI_OPT_INT("--new", "N", SampleArgs, b.new_tokens, 1, 1 << 20, 0, "new tokens per response (default 256)"),
    CLI_OPT_INT("--prompt-len", "P", SampleArgs, b.prompt_len, 1, 1 << 20, 0, "prompt tokens (default 16)"),
    CLI_OPT_INT("--repeat", "R", SampleArgs, b.repeat, 1, 100, 0,
                "timed rounds of the two cases, batch 1 first in odd rounds and the group first in even ones "
                "(default 1)"),
    CLI_OPT_INT("--group", "G", SampleArgs, b.group, 2, 4096, 0,
                "responses to the one prompt of the second case, decoded at once (default 8; an RL step's rollout "
                "decodes rollout.n times the prompts whose caches fit in rollout.kv_cache_mb)"),
    CLI_OPT_FLAG("--ops", SampleArgs, b.ops, 0,
                 "also time each operation of the model (CPU only): after each case, a JSON line per operation and "
                 "weight shape with its calls per decode step, seconds, share of the case, and the rate at which it "
                 "reads its weight (a product) or the cached keys and values (attention)"),
};

static const CliSpec SAMPLE = CLI_SPEC(
    "rlvr bench sample",
    "Sampling throughput (tokens/s) for batch 1 and one group of G with N new tokens after a P-token prompt\n"
    "on a random-init model of F, after one untimed run of each, and the memory read bandwidth (CPU:\n"
    "measured before and after each case, the faster its limit); one JSON line each, per round with --repeat,\n"
    "with the rates at which a case read its weights (once per decode step) and its cached keys and values,\n"
    "their sum's fraction of the limit, and steal_fraction: the share of the machine's CPU time a hypervisor\n"
    "stole meanwhile. With --ops, the per-operation lines of each case follow the last round and sum all of\n"
    "its rounds.",
    SAMPLE_OPTS, NULL);

typedef struct {
    const char *config;
    CliList sets;
    int64_t repeat;
} TrainBenchArgs;

static const CliOpt TRAIN_OPTS[] = {
    CLI_OPT_STRING("--config", "F", TrainBenchArgs, config, 0, "the run's config (default configs/tiny-train.ini)"),
    CLI_OPT_LIST("--set", "section.key=value", TrainBenchArgs, sets, 0, "override one key after the file; repeatable"),
    CLI_OPT_INT("--repeat", "R", TrainBenchArgs, repeat, 1, 100, 0, "timed steps after one warm-up step (default 3)"),
};

static const CliSpec TRAIN = CLI_SPEC(
    "rlvr bench train",
    "Times RL steps of a fresh run of F (seeded random init, a temporary run directory, removed after) as the\n"
    "trainer times them: one warm-up step, then R steps; one JSON line per phase (sampling, scoring, update,\n"
    "the whole step, and inside the update the policy's forward and backward, the reference model's forward and\n"
    "the optimizer) with the median and best seconds, each next to its limit measured around the timed steps on\n"
    "the CPU (the passes' GFLOP/s beside the sgemm peak, the optimizer's GB/s beside the memory read bandwidth,\n"
    "sampling's tokens/s), and the share of the machine's CPU time a hypervisor stole during the timed steps\n"
    "(steal_fraction, from /proc/stat). The backward's line gives the share of response rows with a loss\n"
    "coefficient; with none (random weights: every group's rewards equal), on a GPU, where the LM head's backward\n"
    "skips such rows, it warns that the step is cheaper than a learning step's (--set algo.entropy_coef=1e-4\n"
    "gives every row one). Runs under mpirun like rlvr train.",
    TRAIN_OPTS, NULL);

static const CliOpt LOSS_OPTS[] = {
    CLI_OPT_INT("--tokens", "T", BenchLossOptions, tokens, 1, 1 << 24, 0, "logit rows on the GPU (default 16384)"),
    CLI_OPT_INT("--vocab", "V", BenchLossOptions, vocab, 1, 1 << 24, 0, "vocabulary size (default 151936)"),
    CLI_OPT_INT("--repeat", "R", BenchLossOptions, repeat, 1, 1000, 0, "timed passes (default 5)"),
};

static const CliSpec LOSS = CLI_SPEC(
    "rlvr bench loss",
    "Times pass 1 (log-prob + entropy, one read of the logits) + pass 2 (dL/dlogits, in place) for fp32 and\n"
    "bf16 logits and prints one JSON line each, with the achieved bandwidth against a device-to-device copy.\n"
    "Without a GPU it times the CPU twin (src/model/logprob.c) on a few rows instead.",
    LOSS_OPTS, NULL);

typedef struct {
    ConfigArgs cfg;
    BenchCkptOptions b;
} CkptArgs;

static const CliOpt CKPT_OPTS[] = {
    CLI_OPT_STRING("--config", "F", CkptArgs, cfg.config, 0, "the model to save (default " DEFAULT_CONFIG ")"),
    CLI_OPT_LIST("--set", "section.key=value", CkptArgs, cfg.sets, 0, "override one key after the file; repeatable"),
    CLI_OPT_STRING("--dir", "D", CkptArgs, b.dir, 0,
                   "where the files are written, and removed (default $TMPDIR, else /tmp)"),
    CLI_OPT_INT("--rounds", "R", CkptArgs, b.rounds, 1, 1000, 0, "interleaved rounds, median reported (default 3)"),
};

static const CliSpec CKPT = CLI_SPEC(
    "rlvr bench ckpt",
    "Under mpirun -np N: per round, the disk's file bandwidth (one process: write + fsync, read back), a\n"
    "checkpoint of F's random-init weights and two moments written by rank 0 alone and by every rank in\n"
    "parallel, then read by pieces (each rank its share), by every rank whole and by rank 0 alone; one JSON line\n"
    "per measurement with the median over the rounds (seconds of the slowest rank).",
    CKPT_OPTS, NULL);

// Exit code of a bench or config step that returned rc; shared errors are printed by rank 0 only.
static int finish(int rc, const Err *e, bool every_rank) {
    if (rc && (every_rank || dist_is_root())) fprintf(stderr, "rlvr: %s\n", e->msg);
    return rc ? 1 : 0;
}

static int run_model(int argc, char **argv) {
    ModelArgs a = {.cfg.config = DEFAULT_CONFIG, .b = {.seqs = 2, .seq_len = 128, .repeat = 3}};
    int rc;
    if (!cli_parse(&MODEL, argc, argv, &a, &rc)) return rc;
    if (a.threads.n > BENCH_MAX_THREAD_COUNTS)
        return cli_usage_error(&MODEL, "--threads is given %d times; at most %d thread counts", a.threads.n,
                               BENCH_MAX_THREAD_COUNTS);
    memcpy(a.b.threads, a.threads.items, (size_t)a.threads.n * sizeof a.threads.items[0]);
    a.b.n_threads = a.threads.n;
    Config c;
    Err e = {{0}};
    if (cli_resolve_config(&a.cfg, &c, &e)) return finish(-1, &e, false);
    a.b.config = &c, a.b.config_name = a.cfg.config;
    return finish(bench_model(&a.b, &e), &e, false);
}

static int run_sample(int argc, char **argv) {
    SampleArgs a = {.cfg.config = DEFAULT_CONFIG, .b = {.new_tokens = 256, .prompt_len = 16, .repeat = 1, .group = 8}};
    int rc;
    if (!cli_parse(&SAMPLE, argc, argv, &a, &rc)) return rc;
    Config c;
    Err e = {{0}};
    if (cli_resolve_config(&a.cfg, &c, &e)) return finish(-1, &e, false);
    a.b.config = &c, a.b.config_name = a.cfg.config;
    return finish(bench_sample(&a.b, &e), &e, false);
}

static int run_train(int argc, char **argv) {
    TrainBenchArgs a = {.config = "configs/tiny-train.ini", .repeat = 3};
    int rc;
    if (!cli_parse(&TRAIN, argc, argv, &a, &rc)) return rc;
    BenchTrainOptions o = {a.config, a.sets.items, a.sets.n, a.repeat};
    Err e = {{0}};
    return finish(bench_train(&o, &e), &e, false);
}

static int run_loss(int argc, char **argv) {
    BenchLossOptions o = {.tokens = 16384, .vocab = 151936, .repeat = 5};
    int rc;
    if (!cli_parse(&LOSS, argc, argv, &o, &rc)) return rc;
    Err e = {{0}};
    return finish(bench_loss(&o, &e), &e, true);
}

static int run_ckpt(int argc, char **argv) {
    const char *tmp = getenv("TMPDIR");
    CkptArgs a = {.cfg.config = DEFAULT_CONFIG, .b = {.dir = tmp && *tmp ? tmp : "/tmp", .rounds = 3}};
    int rc;
    if (!cli_parse(&CKPT, argc, argv, &a, &rc)) return rc;
    Config c;
    Err e = {{0}};
    if (cli_resolve_config(&a.cfg, &c, &e)) return finish(-1, &e, false);
    a.b.config = &c, a.b.config_name = a.cfg.config;
    return finish(bench_ckpt(&a.b, &e), &e, false);
}

static const CliCommand BENCHES[] = {
    {"model", run_model, "forward and forward+backward throughput of the CPU model", &MODEL, false},
    {"sample", run_sample, "decoding throughput against the memory-bandwidth limit", &SAMPLE, false},
    {"train", run_train, "a whole RL step split into sampling, scoring and update", &TRAIN, false},
    {"loss", run_loss, "the fused log-prob/entropy loss kernels over [T, V] logits (the CPU twin without a GPU)",
     &LOSS, false},
    {"ckpt", run_ckpt, "checkpoint write and read, parallel against rank 0 alone, next to the disk's bandwidth", &CKPT,
     false},
};

static const CliGroup GROUP = {
    "rlvr bench", "NAME", "benchmark", "Benchmarks as JSON lines: one line per measurement.", BENCHES,
    sizeof BENCHES / sizeof BENCHES[0], NULL,
};

int cmd_bench(int argc, char **argv) {
    int rc;
    const CliCommand *b = cli_find_command(&GROUP, argc, argv, &rc);
    return b ? b->run(argc - 1, argv + 1) : rc;
}
