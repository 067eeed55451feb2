// `rlvr loss-testgen` (hidden): a seeded random `rlvr loss` input for the partition-invariance tests —
// groups of different sizes, responses of length 0..12, masks, a fully masked response, equal-reward
// groups, segment ends, clipped and unclipped ratios. Needs no Python in CI.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "base/rng.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "io/h5io.h"

typedef struct {
    int64_t seed;  // -1 = not given
    bool hand_case;
    const char *out;
} TestgenArgs;

static const CliOpt OPTS[] = {
    CLI_OPT_INT("--seed", "S", TestgenArgs, seed, 0, (int64_t)1 << 62, 0, "a seeded random input"),
    CLI_OPT_FLAG("--hand-case", TestgenArgs, hand_case, 0, "the hand-checkable case of results/objectives.md §6"),
    CLI_OPT_STRING("--out", "X.h5", TestgenArgs, out, CLI_REQUIRED, "HDF5 file to write"),
};

static const CliSpec SPEC = CLI_SPEC(
    "rlvr loss-testgen",
    "Writes a random input for rlvr loss (--seed S), or the hand-checkable case of results/objectives.md §6 (--hand-case).",
    OPTS, NULL);

typedef struct {
    int64_t n_seq, n_tok, *offsets, *group;
    double *reward, *logp, *logp_old, *logp_ref, *entropy, *entropy_old;
    uint8_t *correct, *mask, *seg_end;
} Batch;

static double uniform(Rng *r, double lo, double hi) { return lo + (hi - lo) * rng_uniform(r); }

// Sequence-level arrays: 4..9 groups of 1..5 responses; group ids 3g + 1 (not dense); every third group's
// rewards all equal.
static void gen_sequences(Rng *r, Batch *b) {
    int64_t n_groups = 4 + (int64_t)rng_below(r, 6), cap = n_groups * 5;
    b->offsets = xmalloc((size_t)(cap + 1) * sizeof *b->offsets);
    b->group = xmalloc((size_t)cap * sizeof *b->group);
    b->reward = xmalloc((size_t)cap * sizeof *b->reward);
    b->correct = xmalloc((size_t)cap);
    b->offsets[0] = 0;
    for (int64_t g = 0, i = 0; g < n_groups; g++) {
        int64_t size = 1 + (int64_t)rng_below(r, 5);
        for (int64_t k = 0; k < size; k++, i++) {
            b->group[i] = 3 * g + 1;
            b->correct[i] = g % 3 == 2 ? 1 : rng_below(r, 2);
            b->reward[i] = b->correct[i] + (g % 3 == 2 ? 0.5 : 0.5 * (double)rng_below(r, 2));
            int64_t len = i == 1 ? 0 : i == 2 ? 1 : (int64_t)rng_below(r, 13);
            b->offsets[i + 1] = b->offsets[i] + len;
            b->n_seq = i + 1;
        }
    }
    b->n_tok = b->offsets[b->n_seq];
}

// Token-level arrays: δ ~ N(0, 0.15) (many ratios beyond 0.2 clip bounds, most of GSPO's tiny ones clipped).
static void gen_tokens(Rng *r, Batch *b) {
    size_t n = (size_t)(b->n_tok ? b->n_tok : 1);
    b->logp = xmalloc(n * sizeof(double)), b->logp_old = xmalloc(n * sizeof(double));
    b->logp_ref = xmalloc(n * sizeof(double)), b->entropy = xmalloc(n * sizeof(double));
    b->entropy_old = xmalloc(n * sizeof(double));
    b->mask = xmalloc(n), b->seg_end = xmalloc(n);
    for (int64_t i = 0; i < b->n_seq; i++)
        for (int64_t t = b->offsets[i]; t < b->offsets[i + 1]; t++) {
            b->logp_old[t] = uniform(r, -4, -0.01);
            b->logp[t] = b->logp_old[t] + 0.15 * rng_normal(r) * (i % 4 == 0 ? 0.01 : 1);
            b->logp_ref[t] = b->logp[t] + 0.1 * rng_normal(r);
            b->entropy[t] = uniform(r, 0, 3);
            b->entropy_old[t] = uniform(r, 0, 3);
            b->mask[t] = i == 3 ? 0 : rng_uniform(r) < 0.85;
            b->seg_end[t] = rng_uniform(r) < 0.3;
        }
}

// results/objectives.md §6: 2 prompts × G = 2, rewards (1,0), (1,0), logp_old = 0 so logp = δ, logp_ref = logp.
static void hand_case(Batch *b) {
    static const int64_t OFF[5] = {0, 3, 8, 10, 14};
    static const double DELTA[14] = {0.10, -0.05, 0.02, 0.01, 0, -0.02, 0.03, 0, -0.01, 0.02, 0.05, 0.05, 0.05, -0.30};
    b->n_seq = 4, b->n_tok = 14;
    b->offsets = xmalloc(sizeof OFF), b->group = xmalloc(4 * sizeof(int64_t)), b->reward = xmalloc(4 * sizeof(double));
    b->correct = xmalloc(4);
    for (int i = 0; i < 5; i++) b->offsets[i] = OFF[i];
    for (int i = 0; i < 4; i++) b->group[i] = i / 2, b->reward[i] = b->correct[i] = i % 2 == 0;
    b->logp = xmalloc(sizeof DELTA), b->logp_old = xcalloc(14, sizeof(double)), b->logp_ref = xmalloc(sizeof DELTA);
    b->entropy = xcalloc(14, sizeof(double)), b->entropy_old = xcalloc(14, sizeof(double));
    b->mask = xmalloc(14), b->seg_end = xcalloc(14, 1);
    for (int t = 0; t < 14; t++) b->logp[t] = b->logp_ref[t] = DELTA[t], b->mask[t] = 1;
}

static int write_batch(const char *path, const Batch *b, Err *e) {
    AtomicFile a;
    hid_t f = h5io_output_create(&a, path, H5IO_OVERHEAD_BYTES + 64 * (uint64_t)(b->n_tok + b->n_seq), 0, e);
    if (f < 0) return -1;
    hsize_t t = (hsize_t)b->n_tok, s = (hsize_t)b->n_seq;
    int rc = h5io_write_f64(f, "logp", b->logp, t, e) || h5io_write_f64(f, "logp_old", b->logp_old, t, e) ||
             h5io_write_f64(f, "logp_ref", b->logp_ref, t, e) || h5io_write_f64(f, "entropy", b->entropy, t, e) ||
             h5io_write_f64(f, "entropy_old", b->entropy_old, t, e) || h5io_write_u8(f, "mask", b->mask, t, e) ||
             h5io_write_u8(f, "seg_end", b->seg_end, t, e) || h5io_write_i64(f, "seq_offsets", b->offsets, s + 1, e) ||
             h5io_write_i64(f, "group", b->group, s, e) || h5io_write_f64(f, "reward", b->reward, s, e) ||
             h5io_write_u8(f, "correct", b->correct, s, e);
    return h5io_output_end(&a, f, rc ? -1 : 0, e);
}

int cmd_loss_testgen(int argc, char **argv) {
    TestgenArgs a = {.seed = -1};
    int rc;
    if (!cli_parse(&SPEC, argc, argv, &a, &rc)) return rc;
    if ((a.seed < 0) == !a.hand_case) return cli_usage_error(&SPEC, "give exactly one of --seed and --hand-case");
    const char *out = a.out;
    Err e = {{0}};
    Rng r = rng_at((uint64_t)(a.seed < 0 ? 0 : a.seed), 0, 0, 0);
    Batch b = {0};
    if (a.hand_case) hand_case(&b);
    else gen_sequences(&r, &b), gen_tokens(&r, &b);
    rc = dist_is_root() ? write_batch(out, &b, &e) : 0;
    free(b.offsets), free(b.group), free(b.reward), free(b.correct), free(b.logp), free(b.logp_old);
    free(b.logp_ref), free(b.entropy), free(b.entropy_old), free(b.mask), free(b.seg_end);
    if (rc) return fprintf(stderr, "rlvr: %s\n", e.msg), 1;
    return 0;
}
