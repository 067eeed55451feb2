// One RL step (DESIGN.md "One RL step"): sample whole groups per rank, reward, all-gather for exact group
// statistics (and DAPO dynamic sampling), advantages, then ppo_epochs × n_minibatches updates, each over
// micro-batches with global loss denominators, an exact gradient sum, clipping and AdamW.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "task/reward.h"
#include "rollout/sampler.h"
#include "text/segment.h"
#include "model/seqbatch.h"
#include "train/trainer.h"

// One prompt's group on this rank.
typedef struct {
    int64_t cand;          // candidate index: generation batch · P + prompt position (global, rank-independent)
    int32_t *prompt;
    int prompt_len;
    const Response *resp;  // [G], owned by a Rollout of the step
    RewardResult *rr;      // [G]
    int64_t seq0;          // index of its first sequence among this rank's selected sequences
    int64_t pos;           // global position among the step's selected groups
} Group;

typedef struct {
    Group *g;
    int n, cap;
    Rollout *rollouts;
    int n_rollouts;
} Groups;

static void groups_free(Groups *gs) {
    for (int i = 0; i < gs->n; i++) free(gs->g[i].prompt), free(gs->g[i].rr);
    for (int i = 0; i < gs->n_rollouts; i++) rollout_free(&gs->rollouts[i]);
    free(gs->g), free(gs->rollouts);
    memset(gs, 0, sizeof *gs);
}

// Response text for the verifier: the tokens without a final EOS.
static char *response_text(const Tokenizer *tok, const Response *r) {
    int n = r->n_tokens;
    if (n > 0 && r->finish == FINISH_EOS) n--;
    size_t len;
    return tokenizer_decode(tok, r->tokens, n, &len);
}

static int score_group(Trainer *t, Group *g, const char *answer, Err *e) {
    int G = t->cfg.rollout.n;
    g->rr = xcalloc((size_t)G, sizeof *g->rr);
    for (int j = 0; j < G; j++) {
        char *text = response_text(t->tok, &g->resp[j]);
        int rc = reward_compute(&t->cfg.reward, t->task, answer, text, g->resp[j].n_tokens,
                                g->resp[j].finish == FINISH_LENGTH, t->cfg.rollout.max_new_tokens, &g->rr[j], e);
        free(text);
        TRY(rc);
    }
    return 0;
}

typedef struct {
    double sample_s, score_s, rollout_tokens;
} Timing;

// Samples and scores generation batch `b` (prompts data_cursor .. + P, this rank's share); appends groups.
static int generate_batch(Trainer *t, int64_t step, int b, Groups *gs, Timing *tm, Err *e) {
    int64_t P = t->cfg.train.prompts_per_step, lo, hi;
    dist_share(P, &lo, &hi);
    int n = (int)(hi - lo);
    int64_t *idx = xmalloc((size_t)(n ? n : 1) * sizeof *idx);
    int32_t **prompts = xcalloc((size_t)(n ? n : 1), sizeof *prompts);
    int *lens = xcalloc((size_t)(n ? n : 1), sizeof *lens);
    char **answers = xcalloc((size_t)(n ? n : 1), sizeof *answers);
    int rc = 0;
    for (int p = 0; p < n && !rc; p++) {
        TaskItem item;
        idx[p] = t->st.data_cursor + lo + p;
        if ((rc = task_item(t->task, SPLIT_TRAIN, idx[p], &item, e))) break;
        rc = encode_prompt(t->tok, item.prompt, &prompts[p], &lens[p], e);
        answers[p] = item.answer, item.answer = NULL;
        task_item_free(&item);
    }
    double t0 = trainer_now_s();
    gs->rollouts = xrealloc(gs->rollouts, (size_t)(gs->n_rollouts + 1) * sizeof *gs->rollouts);
    Rollout *r = &gs->rollouts[gs->n_rollouts];
    memset(r, 0, sizeof *r);
    if (!rc) rc = sampler_generate(&t->model, t->tok, &t->cfg.rollout, step, n, idx, (const int32_t *const *)prompts,
                                   lens, r, e);
    if (!rc) gs->n_rollouts++;
    double t1 = trainer_now_s();
    int G = t->cfg.rollout.n;
    for (int p = 0; p < n && !rc; p++) {
        if (gs->n == gs->cap) gs->g = xrealloc(gs->g, (size_t)(gs->cap = gs->cap ? 2 * gs->cap : 16) * sizeof *gs->g);
        Group *g = &gs->g[gs->n++];
        *g = (Group){.cand = (int64_t)b * P + lo + p, .prompt = prompts[p], .prompt_len = lens[p],
                     .resp = &r->responses[p * G]};
        prompts[p] = NULL;
        rc = score_group(t, g, answers[p], e);
        for (int j = 0; j < G; j++) tm->rollout_tokens += g->resp[j].n_tokens;
    }
    tm->sample_s += t1 - t0;
    tm->score_s += trainer_now_s() - t1;
    for (int p = 0; p < n; p++) free(prompts[p]), free(answers[p]);
    free(idx), free(prompts), free(lens), free(answers);
    t->st.data_cursor += P;
    return rc;
}

// DAPO dynamic sampling (ALGORITHMS.md §4): keep[c] for every candidate group so far, from all-gathered rewards.
static void update_keep(const Trainer *t, const Groups *gs, int first_group, int b, uint8_t *keep) {
    int G = t->cfg.rollout.n, n_local = gs->n - first_group;
    double *rew = xmalloc((size_t)(n_local * G + 1) * sizeof *rew);
    int64_t *grp = xmalloc((size_t)(n_local * G + 1) * sizeof *grp);
    for (int i = 0; i < n_local; i++)
        for (int j = 0; j < G; j++) rew[i * G + j] = gs->g[first_group + i].rr[j].total, grp[i * G + j] = gs->g[first_group + i].cand;
    size_t n_all, n_all2;
    double *rew_all = dist_allgatherv_f64(rew, (size_t)(n_local * G), &n_all, NULL);
    int64_t *grp_all = dist_allgatherv_i64(grp, (size_t)(n_local * G), &n_all2, NULL);
    dynamic_sampling_keep(rew_all, grp_all, (int64_t)n_all, keep + (int64_t)b * t->cfg.train.prompts_per_step);
    free(rew), free(grp), free(rew_all), free(grp_all);
}

// Samples until the step has its P groups: one batch, or with dynamic sampling more batches of P prompts until
// P groups with unequal rewards are found or algo.max_gen_batches is reached. take[c] marks the chosen
// candidates; returns their number.
static int64_t sample_step(Trainer *t, int64_t step, Groups *gs, uint8_t **take_out, int *n_batches, Timing *tm,
                           int *rc, Err *e) {
    int64_t P = t->cfg.train.prompts_per_step;
    int max_b = t->cfg.algo.dynamic_sampling ? t->cfg.algo.max_gen_batches : 1;
    uint8_t *keep = xcalloc((size_t)(P * max_b), 1), *take = xcalloc((size_t)(P * max_b), 1);
    int64_t taken = 0;
    int b;
    for (b = 0; b < max_b; b++) {
        int first = gs->n;
        if ((*rc = trainer_agree(generate_batch(t, step, b, gs, tm, e), e))) break;
        if (!t->cfg.algo.dynamic_sampling) {
            memset(take, 1, (size_t)P);
            taken = P;
            b++;
            break;
        }
        update_keep(t, gs, first, b, keep);
        taken = dynamic_sampling_take(keep, (b + 1) * P, P, take);
        if (taken == P) {
            b++;
            break;
        }
    }
    free(keep);
    *take_out = take;
    *n_batches = b;
    return taken;
}

// ---- the update phase ----

// Per-sequence arrays of this rank's selected sequences (ascending candidate order).
typedef struct {
    int64_t n;
    double *reward, *adv;
    uint8_t *correct;
    int64_t *length, *group;
} Seqs;

// One micro-batch: sequences [j0, j1) of a group.
typedef struct {
    Group *g;
    int j0, j1;
} Micro;

// The arrays of a micro-batch as loss_eval wants them (response tokens concatenated).
typedef struct {
    SeqBatch sb;
    int64_t *offsets;
    double *logp_old, *entropy_old, *adv, *logp, *entropy, *logp_ref, *glogp, *gent;
    uint8_t *mask, *seg_end;
    LossBatch lb;
} MicroData;

static void micro_data_free(MicroData *d) {
    seqbatch_free(&d->sb);
    free(d->offsets), free(d->logp_old), free(d->entropy_old), free(d->adv), free(d->logp), free(d->entropy);
    free(d->logp_ref), free(d->glogp), free(d->gent), free(d->mask), free(d->seg_end);
}

// SSPO segment ends of one response from its tokens' bytes.
static void mark_segments(const Trainer *t, const SegDelims *delims, const Response *r, uint8_t *seg_end) {
    size_t cap = (size_t)r->n_tokens * 16 + 1, used = 0;
    char *bytes = xmalloc(cap);
    int64_t *tok_end = xmalloc((size_t)(r->n_tokens ? r->n_tokens : 1) * sizeof *tok_end);
    for (int k = 0; k < r->n_tokens; k++) {
        if (used + 256 > cap) bytes = xrealloc(bytes, cap *= 2);
        int nb = tokenizer_token_bytes(t->tok, r->tokens[k], bytes + used, cap - used);
        if (nb > 0 && used + (size_t)nb > cap) {  // a BPE token longer than the room left: grow, copy again
            while (used + (size_t)nb > cap) cap *= 2;
            bytes = xrealloc(bytes, cap);
            tokenizer_token_bytes(t->tok, r->tokens[k], bytes + used, cap - used);
        }
        used += nb > 0 ? (size_t)nb : 0;
        tok_end[k] = (int64_t)used;
    }
    segment_ends(delims, bytes, tok_end, r->n_tokens, seg_end);
    free(bytes), free(tok_end);
}

static void micro_build(const Trainer *t, const Micro *mc, const Seqs *s, const SegDelims *delims, MicroData *d) {
    memset(d, 0, sizeof *d);
    int n = mc->j1 - mc->j0;
    int64_t T = 0;
    for (int j = mc->j0; j < mc->j1; j++) T += mc->g->resp[j].n_tokens;
    size_t tn = (size_t)(T ? T : 1);
    d->offsets = xmalloc((size_t)(n + 1) * sizeof *d->offsets);
    d->logp_old = xmalloc(tn * sizeof(double)), d->entropy_old = xmalloc(tn * sizeof(double));
    d->logp = xmalloc(tn * sizeof(double)), d->entropy = xmalloc(tn * sizeof(double));
    d->glogp = xmalloc(tn * sizeof(double)), d->gent = xmalloc(tn * sizeof(double));
    d->logp_ref = t->has_ref ? xmalloc(tn * sizeof(double)) : NULL;
    d->mask = xmalloc(tn), d->seg_end = delims ? xcalloc(tn, 1) : NULL;
    d->adv = xmalloc((size_t)n * sizeof *d->adv);
    d->offsets[0] = 0;
    for (int j = mc->j0, i = 0; j < mc->j1; j++, i++) {
        const Response *r = &mc->g->resp[j];
        int64_t o = d->offsets[i];
        memcpy(d->logp_old + o, r->logp, (size_t)r->n_tokens * sizeof(double));
        memcpy(d->entropy_old + o, r->entropy, (size_t)r->n_tokens * sizeof(double));
        memset(d->mask + o, mc->g->rr[j].loss_masked ? 0 : 1, (size_t)r->n_tokens);
        if (delims && r->n_tokens) mark_segments(t, delims, r, d->seg_end + o);
        d->adv[i] = s->adv[mc->g->seq0 + j];
        d->offsets[i + 1] = o + r->n_tokens;
        seqbatch_add(&d->sb, mc->g->prompt, mc->g->prompt_len, r->tokens, r->n_tokens);
    }
    d->lb = (LossBatch){.n_seq = n, .seq_offsets = d->offsets, .logp = d->logp, .logp_old = d->logp_old,
                        .logp_ref = d->logp_ref, .entropy = d->entropy, .entropy_old = d->entropy_old, .mask = d->mask,
                        .seg_end = d->seg_end, .advantage = d->adv};
}

static double train_temperature(const Trainer *t) {
    return t->cfg.rollout.temperature > 0 ? t->cfg.rollout.temperature : 1.0;
}

// Forward, loss with global denominators, backward into the reducer (ALGORITHMS.md §2: local numerator over
// the global denominator; gradients summed afterwards).
static int micro_step(Trainer *t, MicroData *d, const LossDenoms *den, double mb_seqs, double *loss_sum,
                      LossMetrics *lm, Err *e) {
    double T = train_temperature(t);
    SeqForward f, fr;
    TRY(seqbatch_forward(&t->model, &d->sb, T, true, d->logp, d->entropy, &f, e));
    if (t->has_ref && seqbatch_forward(&t->ref, &d->sb, T, false, d->logp_ref, NULL, &fr, e)) return seqforward_free(&f), -1;
    if (t->has_ref) seqforward_free(&fr);
    double part;
    if (loss_eval(&t->loss, &d->lb, den, &part, d->glogp, d->gent, lm, e)) return seqforward_free(&f), -1;
    *loss_sum += part;
    // The load-balancing loss is weighted by this micro-batch's share of the mini-batch's sequences.
    double aux_w = t->cfg.model.router_aux_loss_coef * (double)d->sb.n_seq / mb_seqs;
    TRY(seqbatch_backward(&t->model, &d->sb, &f, T, d->glogp, d->gent, aux_w, grad_reducer_micro_begin(&t->reducer), e));
    grad_reducer_micro_end(&t->reducer);
    return 0;
}

typedef struct {
    int64_t key;
    double sum;
} KeyedSum;

static int by_key(const void *a, const void *b) {
    const KeyedSum *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

// Deterministic mode: SSPO's H̄ numerator summed per sequence in global sequence order (all-gathered), so it
// does not depend on how MPI orders the reduction for a given number of ranks.
static void ordered_entropy_sum(const Trainer *t, const Micro *mcs, const MicroData *ds, int n_mc, LossDenoms *den) {
    int n_local = 0;
    for (int k = 0; k < n_mc; k++) n_local += mcs[k].j1 - mcs[k].j0;
    KeyedSum *mine = xmalloc((size_t)(n_local ? n_local : 1) * sizeof *mine);
    int q = 0;
    for (int k = 0; k < n_mc; k++)
        for (int i = 0; i < mcs[k].j1 - mcs[k].j0; i++, q++) {
            mine[q] = (KeyedSum){mcs[k].g->pos * t->cfg.rollout.n + mcs[k].j0 + i, 0};
            for (int64_t x = ds[k].offsets[i]; x < ds[k].offsets[i + 1]; x++)
                if (ds[k].mask[x]) mine[q].sum += ds[k].entropy_old[x];
        }
    size_t n_bytes;
    KeyedSum *all = dist_allgatherv_bytes(mine, (size_t)n_local * sizeof *mine, &n_bytes, NULL);
    size_t n = n_bytes / sizeof *all;
    qsort(all, n, sizeof *all, by_key);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += all[i].sum;
    den->entropy_sum = sum;
    free(mine), free(all);
}

// One optimizer update over the selected groups at global positions [lo, hi).
static int minibatch_update(Trainer *t, Groups *gs, const int64_t *pos, int64_t lo, int64_t hi, const Seqs *s,
                            const SegDelims *delims, double lr, LossMetrics *lm, UpdateStats *u, Err *e) {
    int G = t->cfg.rollout.n, mb = t->cfg.train.micro_batch;
    Micro *mcs = xmalloc((size_t)(gs->n * ((G + mb - 1) / mb) + 1) * sizeof *mcs);
    int n_mc = 0;
    for (int i = 0; i < gs->n; i++) {
        if (pos[i] < lo || pos[i] >= hi) continue;
        for (int j = 0; j < G; j += mb) mcs[n_mc++] = (Micro){&gs->g[i], j, j + mb < G ? j + mb : G};
    }
    MicroData *ds = xcalloc((size_t)(n_mc ? n_mc : 1), sizeof *ds);
    LossDenoms den = {0};
    for (int k = 0; k < n_mc; k++) {
        micro_build(t, &mcs[k], s, delims, &ds[k]);
        loss_denoms_add(&t->loss, &ds[k].lb, &den);
    }
    loss_denoms_reduce(&den);
    if (delims && t->cfg.dist.deterministic) ordered_entropy_sum(t, mcs, ds, n_mc, &den);
    grad_reducer_begin(&t->reducer);
    double loss_sum = 0, mb_seqs = (double)(hi - lo) * G;
    int rc = 0;
    for (int k = 0; k < n_mc && !rc; k++) rc = micro_step(t, &ds[k], &den, mb_seqs, &loss_sum, lm, e);
    for (int k = 0; k < n_mc; k++) micro_data_free(&ds[k]);
    free(ds), free(mcs);
    TRY(trainer_agree(rc, e));
    trainer_apply_update(t, loss_sum, lr, u);
    return 0;
}

// Keeps the chosen groups (ascending candidate order) and gives each its global position among them.
static int64_t *select_groups(Groups *gs, const uint8_t *take, int64_t n_cands) {
    int64_t *pos_of = xmalloc((size_t)(n_cands ? n_cands : 1) * sizeof *pos_of), k = 0;
    for (int64_t c = 0; c < n_cands; c++) pos_of[c] = take[c] ? k++ : -1;
    int64_t *pos = xmalloc((size_t)(gs->n ? gs->n : 1) * sizeof *pos);
    int m = 0;
    for (int i = 0; i < gs->n; i++) {
        if (pos_of[gs->g[i].cand] < 0) {
            free(gs->g[i].prompt), free(gs->g[i].rr);
            continue;
        }
        pos[m] = gs->g[i].pos = pos_of[gs->g[i].cand];
        gs->g[m++] = gs->g[i];
    }
    gs->n = m;
    free(pos_of);
    return pos;
}

static void seqs_free(Seqs *s) { free(s->reward), free(s->adv), free(s->correct), free(s->length), free(s->group); }

static int advantages(Trainer *t, Groups *gs, Seqs *s, AdvStats *st, Err *e) {
    int G = t->cfg.rollout.n;
    s->n = (int64_t)gs->n * G;
    size_t n = (size_t)(s->n ? s->n : 1);
    s->reward = xmalloc(n * sizeof(double)), s->adv = xmalloc(n * sizeof(double));
    s->correct = xmalloc(n), s->length = xmalloc(n * sizeof(int64_t)), s->group = xmalloc(n * sizeof(int64_t));
    for (int i = 0; i < gs->n; i++) {
        gs->g[i].seq0 = (int64_t)i * G;
        for (int j = 0; j < G; j++) {
            int64_t q = (int64_t)i * G + j;
            s->reward[q] = gs->g[i].rr[j].total;
            s->correct[q] = gs->g[i].rr[j].correct;
            s->length[q] = gs->g[i].resp[j].n_tokens;
            s->group[q] = gs->g[i].cand;
        }
    }
    return adv_compute_dist(&t->adv, s->reward, s->correct, s->length, s->group, s->n, NULL, s->adv, st, e);
}

// ALGORITHMS.md §5 rollout metrics, global sums over the selected sequences.
static void rollout_metrics(const Trainer *t, const Groups *gs, cJSON *out) {
    int G = t->cfg.rollout.n;
    double sums[6] = {0}, lmin = INFINITY, lmax = 0;  // seqs, correct, format, length, truncated, masked
    for (int i = 0; i < gs->n; i++)
        for (int j = 0; j < G; j++) {
            const Response *r = &gs->g[i].resp[j];
            sums[0] += 1, sums[1] += gs->g[i].rr[j].correct, sums[2] += gs->g[i].rr[j].format_ok;
            sums[3] += r->n_tokens, sums[4] += r->finish == FINISH_LENGTH, sums[5] += gs->g[i].rr[j].loss_masked;
            lmin = fmin(lmin, r->n_tokens), lmax = fmax(lmax, r->n_tokens);
        }
    dist_allreduce_sum_f64(sums, 6);
    dist_allreduce_min_f64(&lmin, 1);
    dist_allreduce_max_f64(&lmax, 1);
    double n = sums[0] > 0 ? sums[0] : 1;
    cJSON_AddNumberToObject(out, "accuracy", sums[1] / n);
    cJSON_AddNumberToObject(out, "format_rate", sums[2] / n);
    cJSON_AddNumberToObject(out, "length_mean", sums[3] / n);
    cJSON_AddNumberToObject(out, "length_min", sums[0] > 0 ? lmin : 0);
    cJSON_AddNumberToObject(out, "length_max", lmax);
    cJSON_AddNumberToObject(out, "truncation_rate", sums[4] / n);
    cJSON_AddNumberToObject(out, "masked_rate", sums[5] / n);
    cJSON_AddNumberToObject(out, "sequences", sums[0]);
}

static void adv_metrics(const AdvStats *st, bool grpo_lambda, cJSON *out) {
    cJSON_AddNumberToObject(out, "reward_mean", st->reward_mean);
    cJSON_AddNumberToObject(out, "reward_std", st->reward_std);
    cJSON_AddNumberToObject(out, "groups", (double)st->n_groups);
    cJSON_AddNumberToObject(out, "frac_zero_std", st->n_groups ? (double)st->n_zero_std_groups / (double)st->n_groups : 0);
    if (grpo_lambda) {
        cJSON_AddNumberToObject(out, "efficiency_groups", (double)st->n_efficiency_groups);
        cJSON_AddNumberToObject(out, "efficiency_reward_mean", st->efficiency_reward_mean);
    }
}

static void loss_metrics(LossMetrics *lm, int updates, cJSON *out) {
    loss_metrics_reduce(lm);
    const char *names[LOSS_N_METRICS];
    double values[LOSS_N_METRICS];
    int n = loss_metrics_values(lm, names, values);
    for (int i = 0; i < n; i++) {
        // loss and pg_loss are sums over the step's updates: report their mean per update.
        bool per_update = !strcmp(names[i], "loss") || !strcmp(names[i], "pg_loss");
        cJSON_AddNumberToObject(out, names[i], per_update && updates > 0 ? values[i] / updates : values[i]);
    }
}

static int update_phase(Trainer *t, int64_t step, Groups *gs, const int64_t *pos, int64_t K, const Seqs *s,
                        cJSON *out, UpdateStats *u, Err *e) {
    SegDelims delims;
    bool sspo = t->cfg.algo.name == ALGO_SSPO;
    if (sspo) TRY(segment_delims(t->cfg.algo.sspo_delimiters, &delims, e));
    double lr = lr_at(step, t->total_steps, t->cfg.train.lr, t->cfg.train.warmup_steps, t->cfg.train.schedule,
                      t->cfg.train.min_lr_ratio);
    u->lr = lr;
    LossMetrics lm = {0};
    int n_mb = t->cfg.train.n_minibatches, n_updates = 0;
    for (int epoch = 0; epoch < t->cfg.train.ppo_epochs; epoch++)
        for (int j = 0; j < n_mb; j++) {
            int64_t lo = j * K / n_mb, hi = (j + 1) * K / n_mb;
            if (hi == lo) continue;  // fewer groups than mini-batches (dynamic sampling ran short)
            TRY(minibatch_update(t, gs, pos, lo, hi, s, sspo ? &delims : NULL, lr, &lm, u, e));
            n_updates++;
        }
    loss_metrics(&lm, n_updates, out);
    return 0;
}

int rl_step(Trainer *t, int64_t step, cJSON *out, UpdateStats *u, Err *e) {
    Timing tm = {0};
    Groups gs = {0};
    uint8_t *take = NULL;
    int n_batches = 0, rc = 0;
    int64_t K = sample_step(t, step, &gs, &take, &n_batches, &tm, &rc, e);
    if (trainer_agree(rc, e)) {
        groups_free(&gs), free(take);
        return -1;
    }
    int64_t *pos = select_groups(&gs, take, (int64_t)n_batches * t->cfg.train.prompts_per_step);
    free(take);
    Seqs s = {0};
    AdvStats st = {0};
    double t0 = trainer_now_s();
    rc = trainer_agree(advantages(t, &gs, &s, &st, e), e);
    tm.score_s += trainer_now_s() - t0;
    double t1 = trainer_now_s(), train_tokens = 0;
    if (!rc) {
        for (int64_t q = 0; q < s.n; q++) train_tokens += (double)s.length[q];
        rc = update_phase(t, step, &gs, pos, K, &s, out, u, e);
    }
    double times[3] = {tm.sample_s, tm.score_s, trainer_now_s() - t1}, tokens[2] = {tm.rollout_tokens, train_tokens};
    if (!rc) {
        dist_allreduce_max_f64(times, 3);
        dist_allreduce_sum_f64(tokens, 2);
        rollout_metrics(t, &gs, out);
        adv_metrics(&st, t->adv.grpo_lambda, out);
        cJSON_AddNumberToObject(out, "gen_batches", n_batches);
        cJSON_AddNumberToObject(out, "groups_selected", (double)K);
        cJSON_AddNumberToObject(out, "time_sampling_s", times[0]);
        cJSON_AddNumberToObject(out, "time_scoring_s", times[1]);
        cJSON_AddNumberToObject(out, "time_training_s", times[2]);
        cJSON_AddNumberToObject(out, "tokens_per_s_rollout", times[0] > 0 ? tokens[0] / times[0] : 0);
        cJSON_AddNumberToObject(out, "tokens_per_s_train",
                                times[2] > 0 ? tokens[1] * t->cfg.train.ppo_epochs / times[2] : 0);
        t->st.tokens_total += (int64_t)tokens[1];
    }
    seqs_free(&s);
    free(pos);
    groups_free(&gs);
    return rc;
}
