// `rlvr loss`: evaluates an objective (results/objectives.md §1-§3) and its gradient on arrays from HDF5.
// Under mpirun each rank takes a contiguous share of whole groups; the output (rank 0) equals one rank's.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/advantage.h"
#include "algo/loss.h"
#include "base/dist.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "io/h5io.h"

typedef struct {
    ConfigArgs cfg;
    const char *algo, *in, *out;
    int64_t micro_batch;
    bool share_sequences;
} LossArgs;

static const CliOpt OPTS[] = {
    CLI_OPT_STRING("--algo", "A", LossArgs, algo, CLI_REQUIRED,
                   "grpo | dapo | drgrpo | gspo | luspo | grpo_lambda | sspo (sets algo.name; presets apply)"),
    CLI_OPT_STRING("--in", "X.h5", LossArgs, in, CLI_REQUIRED,
                   "logp, logp_old (float64 [T], responses concatenated), seq_offsets (int64 [S+1]), group "
                   "(int64 [S], each group's sequences contiguous), reward (float64 [S]); optional logp_ref (needed "
                   "when algo.beta > 0), entropy (needed when algo.entropy_coef != 0), entropy_old (needed by sspo), "
                   "mask and seg_end (uint8 [T]), correct (uint8 [S], grpo_lambda); floats finite, entropies >= 0, "
                   "flags 0 or 1"),
    CLI_OPT_STRING("--out", "Y.h5", LossArgs, out, CLI_REQUIRED,
                   "loss (scalar), grad_logp [T], advantage [S], reward_used [S], grad_entropy [T] when "
                   "algo.entropy_coef != 0; every metric as an attribute of the root group, NaN for a mean over nothing (no loss "
                   "token, no response)"),
    CLI_OPT_INT("--micro-batch", "N", LossArgs, micro_batch, 1, (int64_t)1 << 40, 0,
                "groups per micro-batch on each rank (default: all of the rank's groups)"),
    CLI_OPT_FLAG("--share-sequences", LossArgs, share_sequences, 0,
                 "split by sequences instead of whole groups (a group may span ranks; for tests)"),
    CLI_CONFIG_OPTS(LossArgs, cfg, 0),
};

static const CliSpec SPEC = CLI_SPEC(
    "rlvr loss", "Evaluates an objective and its gradient on arrays (results/objectives.md).", OPTS,
    "Under mpirun -np K each rank takes a contiguous share of whole groups; rank 0 writes the same output.\n"
    "With algo.dynamic_sampling (dapo's preset) groups whose rewards are all equal are dropped (loss-masked).\n"
    "GRPO-λ with algo.lambda_ties = random orders equal accuracies by (rollout.seed, step 0, group id): one batch,\n"
    "no RL step.");

// The whole input file (every rank reads it and keeps its share).
typedef struct {
    int64_t n_seq, n_tok;
    int64_t *seq_offsets, *group, *length;
    double *logp, *logp_old, *logp_ref, *entropy, *entropy_old, *reward;
    uint8_t *mask, *seg_end, *correct;
    int64_t n_dropped_groups;  // dynamic sampling
} LossInput;

static void input_free(LossInput *in) {
    free(in->seq_offsets), free(in->group), free(in->length), free(in->logp), free(in->logp_old);
    free(in->logp_ref), free(in->entropy), free(in->entropy_old), free(in->reward);
    free(in->mask), free(in->seg_end), free(in->correct);
}

static int read_optional_f64(hid_t f, const char *name, int64_t n, double **out, Err *e) {
    if (!h5io_exists(f, name)) return 0;
    return (*out = h5io_read_f64(f, name, n, NULL, e)) ? 0 : -1;
}

static int read_optional_u8(hid_t f, const char *name, int64_t n, uint8_t **out, Err *e) {
    if (!h5io_exists(f, name)) return 0;
    return (*out = h5io_read_u8(f, name, n, NULL, e)) ? 0 : -1;
}

// Offsets start at 0, never decrease; groups are contiguous runs.
static int check_structure(const char *path, const LossInput *in, Err *e) {
    if (in->seq_offsets[0] != 0) return err_set(e, "%s: dataset 'seq_offsets' must start at 0", path);
    for (int64_t i = 0; i < in->n_seq; i++)
        if (in->seq_offsets[i + 1] < in->seq_offsets[i])
            return err_set(e, "%s: dataset 'seq_offsets' decreases at item %lld", path, (long long)i + 1);
    int64_t *gidx = xmalloc((size_t)(in->n_seq ? in->n_seq : 1) * sizeof *gidx), n_groups = 0;
    adv_group_index(in->group, in->n_seq, gidx, &n_groups);
    uint8_t *seen = xcalloc((size_t)(n_groups ? n_groups : 1), 1);
    int rc = 0;
    for (int64_t i = 0; i < in->n_seq && !rc; i++) {
        if (i > 0 && in->group[i] == in->group[i - 1]) continue;
        if (seen[gidx[i]])
            rc = err_set(e, "%s: dataset 'group': the sequences of group %lld are not contiguous (again at item %lld)",
                         path, (long long)in->group[i], (long long)i);
        seen[gidx[i]] = 1;
    }
    free(gidx), free(seen);
    return rc;
}

// Every value of a float dataset finite (and >= 0 for an entropy), of a flag dataset 0 or 1.
static int check_floats(const char *path, const char *name, const double *x, int64_t n, bool nonneg, Err *e) {
    for (int64_t i = 0; x && i < n; i++)
        if (!isfinite(x[i]) || (nonneg && x[i] < 0))
            return err_set(e, "%s: dataset '%s' item %lld is %g; expected a finite number%s", path, name, (long long)i,
                           x[i], nonneg ? " >= 0" : "");
    return 0;
}

static int check_flags(const char *path, const char *name, const uint8_t *x, int64_t n, Err *e) {
    for (int64_t i = 0; x && i < n; i++)
        if (x[i] > 1)
            return err_set(e, "%s: dataset '%s' item %lld is %d; expected 0 or 1", path, name, (long long)i, x[i]);
    return 0;
}

static int check_values(const char *path, const LossInput *in, Err *e) {
    int64_t T = in->n_tok, S = in->n_seq;
    TRY(check_floats(path, "logp", in->logp, T, false, e));
    TRY(check_floats(path, "logp_old", in->logp_old, T, false, e));
    TRY(check_floats(path, "logp_ref", in->logp_ref, T, false, e));
    TRY(check_floats(path, "reward", in->reward, S, false, e));
    TRY(check_floats(path, "entropy", in->entropy, T, true, e));
    TRY(check_floats(path, "entropy_old", in->entropy_old, T, true, e));
    TRY(check_flags(path, "mask", in->mask, T, e));
    TRY(check_flags(path, "seg_end", in->seg_end, T, e));
    return check_flags(path, "correct", in->correct, S, e);
}

// A missing dataset that the configuration needs: name the file, dataset and the key that needs it.
static int require(const char *path, const void *data, const char *name, const char *why, Err *e) {
    return data ? 0 : err_set(e, "%s: missing dataset '%s' (%s)", path, name, why);
}

static int read_input(const char *path, const Config *c, LossInput *in, Err *e) {
    hid_t f = h5io_open(path, 0, e);
    if (f < 0) return -1;
    int rc = -1;
    int64_t n_off = 0;
    if (!(in->seq_offsets = h5io_read_i64(f, "seq_offsets", -1, &n_off, e))) goto done;
    if (n_off < 1) {
        err_set(e, "%s: dataset 'seq_offsets' must have S+1 >= 1 items", path);
        goto done;
    }
    in->n_seq = n_off - 1;
    in->n_tok = in->seq_offsets[in->n_seq];
    if (!(in->logp = h5io_read_f64(f, "logp", -1, &in->n_tok, e))) goto done;
    if (!(in->logp_old = h5io_read_f64(f, "logp_old", in->n_tok, NULL, e))) goto done;
    if (!(in->group = h5io_read_i64(f, "group", in->n_seq, NULL, e))) goto done;
    if (!(in->reward = h5io_read_f64(f, "reward", in->n_seq, NULL, e))) goto done;
    if (in->seq_offsets[in->n_seq] != in->n_tok) {
        err_set(e, "%s: dataset 'seq_offsets' ends at %lld but 'logp' has %lld items", path,
                (long long)in->seq_offsets[in->n_seq], (long long)in->n_tok);
        goto done;
    }
    if (read_optional_f64(f, "logp_ref", in->n_tok, &in->logp_ref, e) ||
        read_optional_f64(f, "entropy", in->n_tok, &in->entropy, e) ||
        read_optional_f64(f, "entropy_old", in->n_tok, &in->entropy_old, e) ||
        read_optional_u8(f, "mask", in->n_tok, &in->mask, e) || read_optional_u8(f, "seg_end", in->n_tok, &in->seg_end, e) ||
        read_optional_u8(f, "correct", in->n_seq, &in->correct, e))
        goto done;
    if ((c->algo.beta > 0 && require(path, in->logp_ref, "logp_ref", "algo.beta > 0; set algo.beta=0 to skip the KL", e)) ||
        (c->algo.entropy_coef != 0 && require(path, in->entropy, "entropy", "algo.entropy_coef != 0", e)) ||
        (c->algo.name == ALGO_SSPO && require(path, in->entropy_old, "entropy_old", "sspo's entropy-adaptive bounds", e)) ||
        (c->algo.name == ALGO_GRPO_LAMBDA && require(path, in->correct, "correct", "grpo_lambda's accuracy ranking", e)))
        goto done;
    rc = check_structure(path, in, e) || check_values(path, in, e) ? -1 : 0;
done:
    h5io_close(f);
    return rc;
}

// Starts of the group runs within sequences [s0, s1): starts[k] = first sequence of the k-th (part of a) group,
// starts[*n] = s1. A rank's micro-batches are cut at these points.
static int64_t *group_starts(const LossInput *in, int64_t s0, int64_t s1, int64_t *n) {
    int64_t *starts = xmalloc((size_t)(s1 - s0 + 1) * sizeof *starts), k = 0;
    for (int64_t i = s0; i < s1; i++)
        if (i == s0 || in->group[i] != in->group[i - 1]) starts[k++] = i;
    starts[k] = s1;
    *n = k;
    return starts;
}

// This rank's sequences: a contiguous share of whole groups, or (share_sequences) of sequences, so that a
// group may span ranks (the trainer's case when groups are split).
static void rank_share(const LossInput *in, int share_sequences, int64_t *s0, int64_t *s1) {
    if (share_sequences) {
        dist_share(in->n_seq, s0, s1);
        return;
    }
    int64_t n_groups = 0, g0, g1, *all = group_starts(in, 0, in->n_seq, &n_groups);
    dist_share(n_groups, &g0, &g1);
    *s0 = all[g0], *s1 = all[g1];
    free(all);
}

// The batch of sequences [s0, s1) of the input, pointing into its arrays.
static LossBatch batch_view(const LossInput *in, const double *adv_local, int64_t s_rank, int64_t s0, int64_t s1) {
    int64_t t0 = in->seq_offsets[s0];
    LossBatch b = {
        .n_seq = s1 - s0,
        .seq_offsets = in->seq_offsets + s0,
        .logp = in->logp + t0,
        .logp_old = in->logp_old + t0,
        .logp_ref = in->logp_ref ? in->logp_ref + t0 : NULL,
        .entropy = in->entropy ? in->entropy + t0 : NULL,
        .entropy_old = in->entropy_old ? in->entropy_old + t0 : NULL,
        .mask = in->mask ? in->mask + t0 : NULL,
        .seg_end = in->seg_end ? in->seg_end + t0 : NULL,
        .advantage = adv_local + (s0 - s_rank),
    };
    return b;
}

typedef struct {
    double loss;
    double *grad, *grad_entropy;  // this rank's tokens
    double *adv, *reward_used;    // this rank's sequences
    LossMetrics metrics;
    AdvStats adv_stats;
} LossOutput;

// This rank's sequences [s0, s1) as one optimizer mini-batch, micro-batches of micro_groups (parts of) groups.
static int evaluate(const Config *c, const LossInput *in, int64_t s0, int64_t s1, int64_t micro_groups, LossOutput *out,
                    Err *e) {
    int64_t t0 = in->seq_offsets[s0], n_local = s1 - s0, ng = 0;
    AdvParams ap = adv_params(c);  // step 0: one batch, no RL step (algo.lambda_ties = random keys on it)
    LossParams lp = loss_params(c);
    size_t nt = (size_t)(in->seq_offsets[s1] - t0), ns = (size_t)n_local;
    out->grad = xcalloc(nt ? nt : 1, sizeof(double));
    out->grad_entropy = xcalloc(nt ? nt : 1, sizeof(double));
    out->adv = xcalloc(ns ? ns : 1, sizeof(double));
    out->reward_used = xcalloc(ns ? ns : 1, sizeof(double));
    TRY(adv_compute_dist(&ap, in->reward + s0, in->correct ? in->correct + s0 : NULL, in->length + s0, in->group + s0,
                         n_local, out->reward_used, out->adv, &out->adv_stats, e));
    int64_t *starts = group_starts(in, s0, s1, &ng);
    if (micro_groups <= 0 || micro_groups > ng) micro_groups = ng > 0 ? ng : 1;
    // results/objectives.md §2: local denominators of every micro-batch, then one global sum before any evaluation.
    LossDenoms d = {0};
    for (int64_t g = 0; g < ng; g += micro_groups) {
        LossBatch b = batch_view(in, out->adv, s0, starts[g], starts[g + micro_groups < ng ? g + micro_groups : ng]);
        loss_denoms_add(&lp, &b, &d);
    }
    loss_denoms_reduce(&d);
    double part_sum = 0;
    int rc = 0;
    for (int64_t g = 0; g < ng && !rc; g += micro_groups) {
        int64_t a = starts[g], z = starts[g + micro_groups < ng ? g + micro_groups : ng], off = in->seq_offsets[a] - t0;
        LossBatch b = batch_view(in, out->adv, s0, a, z);
        double part = 0;
        rc = loss_eval(&lp, &b, &d, &part, out->grad + off, out->grad_entropy + off, &out->metrics, e);
        part_sum += part;
    }
    free(starts);
    TRY(rc);
    // results/objectives.md §2: the parts are summed over ranks, never averaged.
    out->loss = part_sum;
    dist_allreduce_sum_f64(&out->loss, 1);
    loss_metrics_reduce(&out->metrics);
    return 0;
}

// Rank-local arrays concatenated on rank 0 (NULL elsewhere).
static double *gather_to_root(const double *local, size_t n) {
    size_t bytes = 0;
    return dist_gatherv_bytes(local, n * sizeof(double), &bytes, NULL);
}

// A mean or fraction over none (results/objectives.md §5): NaN, where 0 would read as a measurement (HDF5 has no
// null, which is what metrics.jsonl writes).
static int attr_over(hid_t f, const char *name, double v, double count, Err *e) {
    return h5io_attr_write_f64(f, ".", name, count > 0 ? v : NAN, e);
}

// Batch-level statistics of §5 that the loss arrays determine (rewards, accuracy, lengths, groups).
static int write_batch_attrs(hid_t f, const LossInput *in, const LossOutput *o, const Config *c, Err *e) {
    const AdvStats *s = &o->adv_stats;
    double len_sum = 0, len_min = INFINITY, len_max = -INFINITY, acc = 0;
    for (int64_t i = 0; i < in->n_seq; i++) {
        double len = (double)(in->seq_offsets[i + 1] - in->seq_offsets[i]);
        len_sum += len, len_min = fmin(len_min, len), len_max = fmax(len_max, len);
        if (in->correct) acc += in->correct[i] != 0;
    }
    double n = (double)in->n_seq, groups = (double)s->n_groups;
    TRY(h5io_attr_write_str(f, ".", "algo", config_enum_name("algo", "name", c->algo.name), e));
    TRY(h5io_attr_write_i64(f, ".", "n_seq", in->n_seq, e));
    TRY(h5io_attr_write_i64(f, ".", "n_groups", s->n_groups, e));
    TRY(attr_over(f, "reward_mean", s->reward_mean, n, e));
    TRY(attr_over(f, "reward_std", s->reward_std, n, e));
    TRY(attr_over(f, "frac_zero_std", groups > 0 ? (double)s->n_zero_std_groups / groups : 0, groups, e));
    if (in->correct) TRY(attr_over(f, "accuracy", n > 0 ? acc / n : 0, n, e));
    TRY(attr_over(f, "response_length_mean", n > 0 ? len_sum / n : 0, n, e));
    TRY(attr_over(f, "response_length_min", len_min, n, e));
    TRY(attr_over(f, "response_length_max", len_max, n, e));
    if (c->algo.dynamic_sampling) TRY(h5io_attr_write_i64(f, ".", "n_dropped_groups", in->n_dropped_groups, e));
    if (c->algo.name == ALGO_GRPO_LAMBDA) {
        TRY(h5io_attr_write_i64(f, ".", "n_efficiency_groups", s->n_efficiency_groups, e));
        TRY(attr_over(f, "efficiency_reward_mean", s->efficiency_reward_mean, (double)s->n_efficiency_groups, e));
    }
    // As metrics.jsonl's: every loss metric but `tokens` is over the loss tokens.
    LossSummary sum = loss_summary(&o->metrics);
    for (int k = 0; k < LOSS_N_FIELDS; k++) {
        double v = loss_field(&sum, k);
        TRY(strcmp(LOSS_FIELDS[k].name, "tokens") ? attr_over(f, LOSS_FIELDS[k].name, v, sum.tokens, e)
                                                  : h5io_attr_write_f64(f, ".", "tokens", v, e));
    }
    return 0;
}

static int write_output(const char *path, const LossInput *in, const LossOutput *o, const double *grad,
                        const double *grad_entropy, const double *adv, const double *used, const Config *c, Err *e) {
    AtomicFile a;
    uint64_t bytes = H5IO_OVERHEAD_BYTES + 8 * (3 * (uint64_t)in->n_tok + 2 * (uint64_t)in->n_seq);
    hid_t f = h5io_output_create(&a, path, bytes, 0, e);
    if (f < 0) return -1;
    int rc = h5io_write_scalar_f64(f, "loss", o->loss, e) || h5io_write_f64(f, "grad_logp", grad, (hsize_t)in->n_tok, e) ||
             (c->algo.entropy_coef != 0 && h5io_write_f64(f, "grad_entropy", grad_entropy, (hsize_t)in->n_tok, e)) ||
             h5io_write_f64(f, "advantage", adv, (hsize_t)in->n_seq, e) ||
             h5io_write_f64(f, "reward_used", used, (hsize_t)in->n_seq, e) || write_batch_attrs(f, in, o, c, e);
    return h5io_output_end(&a, f, rc ? -1 : 0, e);
}

// DAPO dynamic sampling (results/objectives.md §4) on the whole batch, identical on every rank: groups whose rewards
// are all equal leave the batch. With no refill possible here, their tokens are loss-masked, so they count in
// neither N_seq nor N_tok and get no gradient.
static void drop_equal_reward_groups(LossInput *in) {
    size_t ns = (size_t)(in->n_seq ? in->n_seq : 1);
    int64_t *gidx = xmalloc(ns * sizeof *gidx), ng = 0;
    adv_group_index(in->group, in->n_seq, gidx, &ng);
    uint8_t *keep = xmalloc((size_t)(ng ? ng : 1));
    in->n_dropped_groups = ng - dynamic_sampling_keep(in->reward, in->group, in->n_seq, keep);
    if (!in->mask) {
        in->mask = xmalloc((size_t)(in->n_tok ? in->n_tok : 1));
        memset(in->mask, 1, (size_t)in->n_tok);
    }
    for (int64_t i = 0; i < in->n_seq; i++)
        if (!keep[gidx[i]]) memset(in->mask + in->seq_offsets[i], 0, (size_t)(in->seq_offsets[i + 1] - in->seq_offsets[i]));
    free(gidx), free(keep);
}

static int run(const Config *c, const char *in_path, const char *out_path, int64_t micro_groups, int share_sequences,
               Err *e) {
    LossInput in = {0};
    LossOutput o = {0};
    int rc = -1;
    if (read_input(in_path, c, &in, e)) goto done;
    if (c->algo.dynamic_sampling) drop_equal_reward_groups(&in);
    in.length = xmalloc((size_t)(in.n_seq ? in.n_seq : 1) * sizeof *in.length);
    // GRPO-λ's length: the response's tokens, masked or not, as rlvr train counts them (results/objectives.md §3).
    for (int64_t i = 0; i < in.n_seq; i++) in.length[i] = in.seq_offsets[i + 1] - in.seq_offsets[i];
    int64_t s0, s1;
    rank_share(&in, share_sequences, &s0, &s1);
    if (evaluate(c, &in, s0, s1, micro_groups, &o, e)) goto done;
    size_t nt = (size_t)(in.seq_offsets[s1] - in.seq_offsets[s0]), ns = (size_t)(s1 - s0);
    double *grad = gather_to_root(o.grad, nt), *grad_h = gather_to_root(o.grad_entropy, nt);
    double *adv = gather_to_root(o.adv, ns), *used = gather_to_root(o.reward_used, ns);
    rc = dist_is_root() ? write_output(out_path, &in, &o, grad, grad_h, adv, used, c, e) : 0;
    free(grad), free(grad_h), free(adv), free(used);
done:
    free(o.grad), free(o.grad_entropy), free(o.adv), free(o.reward_used);
    input_free(&in);
    return rc;
}

int cmd_loss(int argc, char **argv) {
    LossArgs a = {0};
    int rc;
    if (!cli_parse(&SPEC, argc, argv, &a, &rc)) return rc;
    // Checked before --algo becomes a --set, whose error would name a "--set algo.name=..." the user never wrote.
    char known[256], q[ERR_ABBREV_SIZE];
    if (config_enum_value("algo", "name", a.algo, known, sizeof known) < 0)
        return cli_usage_error(&SPEC, "--algo '%s': expected one of %s", err_abbrev(a.algo, q), known);
    Err e = {{0}};
    char algo_set[96];
    snprintf(algo_set, sizeof algo_set, "algo.name=%s", a.algo);
    // --algo first, so an explicit --set algo.name wins, as any --set wins over the presets.
    if (cli_list_prepend(&a.cfg.sets, algo_set, &e)) return cli_usage_error(&SPEC, "--set: %s", e.msg);
    Config c;
    if (cli_resolve_config(&a.cfg, &c, &e)) return fprintf(stderr, "rlvr: %s\n", e.msg), 1;
    if (run(&c, a.in, a.out, a.micro_batch, a.share_sequences, &e)) {
        if (dist_is_root()) fprintf(stderr, "rlvr: %s\n", e.msg);
        return 1;
    }
    return 0;
}
