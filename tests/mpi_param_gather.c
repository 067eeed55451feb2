// ZeRO stage 3's weight gathering (algo/param_gather.h), run by tests/it_zero.sh under mpirun -np 1/2/4, on a tiny
// MoE with its own LM head (each layer's routed experts gathered apart, param_gather_split_experts) and on a dense
// model with a tied one. Every rank keeps a whole copy of the weights as
// the expectation. Checks: after a release the whole pages of other ranks' tensors read as zeros and everything
// else is unchanged; forward and backward through the hooks give the logits and gradients of the whole model, bit
// for bit, while rank r runs r % 3 + 1 passes (some forward-only), so the ranks gather different numbers of units
// and the release must line them up; the per-layer gradient sums are called on every rank at the same gathers; the
// sampling stream gathers each unit as asked on ranks of uneven decode steps; param_gather_all then restores every
// weight. Rank 0 prints one line per
// check; the exit status is 1 when any failed.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "algo/param_gather.h"
#include "base/config.h"
#include "base/dist.h"

static int failures;

static void check(int ok, const char *what, const char *model) {
    int64_t bad = !ok;
    dist_allreduce_sum_i64(&bad, 1);
    if (dist_is_root()) printf("%s %s: %s\n", bad ? "FAIL" : "ok  ", model, what);
    failures += bad != 0;
}

static void make_model(Model *m, bool moe) {
    Config c;
    config_defaults(&c);
    ModelConfig mc = c.model;
    mc.type = moe ? MODEL_QWEN3_MOE : MODEL_QWEN2;
    mc.tie_word_embeddings = !moe, mc.attention_bias = !moe;
    mc.vocab_size = 300, mc.hidden_size = 32, mc.intermediate_size = 64, mc.num_hidden_layers = 3;
    mc.num_attention_heads = 4, mc.num_key_value_heads = 2, mc.max_position_embeddings = 64;
    mc.num_experts = 4, mc.num_experts_per_tok = 2, mc.moe_intermediate_size = 32;
    Err e;
    if (model_create(m, &mc, &e)) dist_fatal("%s", e.msg);
    model_init_random(m, 5);
}

// Outside the owned run, the whole pages read as zeros; every other element equals the whole copy.
static int released_as_expected(const Model *m, const float *whole, const Shard *own) {
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    size_t zeros = 0;
    for (size_t i = 0; i < m->n_params; i++) {
        uintptr_t a = (uintptr_t)(m->params + i) / page * page;
        bool in_dropped_page = (i < own->begin || i >= own->end) &&
                               (float *)a >= m->params + (i < own->begin ? 0 : own->end) &&
                               (float *)(a + page) <= m->params + (i < own->begin ? own->begin : m->n_params);
        if (in_dropped_page ? m->params[i] != 0.0f : m->params[i] != whole[i]) return 0;
        zeros += in_dropped_page;
    }
    // Several pages of other ranks' weights were released (one rank owns everything).
    return dist_size() == 1 || zeros >= 2 * page / sizeof(float);
}

// Logits and gradient of a 2-sequence batch (sum of logits weighted by a fixed pattern as the loss).
static void pass(Model *m, bool backward, float *logits, float *grads) {
    const int64_t offsets[3] = {0, 7, 12};
    int32_t tokens[12];
    for (int t = 0; t < 12; t++) tokens[t] = (int32_t)((t * 37 + 11) % m->cfg.vocab_size);
    ModelActs *acts = NULL;
    double aux;
    Err e;
    if (model_forward(m, 2, offsets, tokens, logits, NULL, &aux, backward ? &acts : NULL, &e)) dist_fatal("%s", e.msg);
    if (!backward) return;
    size_t n = 12 * (size_t)m->cfg.vocab_size;
    float *dlogits = malloc(n * sizeof *dlogits);
    for (size_t i = 0; i < n; i++) dlogits[i] = (float)((int)(i % 7) - 3) / 64.0f;
    memset(grads, 0, m->n_params * sizeof *grads);
    if (model_backward(m, acts, dlogits, 0.01, grads, &e)) dist_fatal("%s", e.msg);
    model_acts_free(acts);
    free(dlogits);
}

// The per-layer sums of the plan's last pass: the layers each rank was told to sum, and its gather count then.
typedef struct {
    const ParamGather *g;
    int n;
    int64_t layer[16], at[16];
} SumLog;

static void note_sum(void *ctx, int layer) {
    SumLog *s = ctx;
    if (s->n < 16) s->layer[s->n] = layer, s->at[s->n] = s->g->gathers;
    s->n++;
}

// Ranks of uneven passes (rank r: r % 3 + 1 forward and backward passes) are each told to sum layers L-1..1, once,
// in that order, at the same gather of the common plan: the busiest rank's last backward, leaving layer l.
static void sums_follow_schedule(ParamGather *g, Model *m, const char *name) {
    int me = dist_rank(), L = m->cfg.num_hidden_layers;
    size_t nl = 12 * (size_t)m->cfg.vocab_size;
    float *logits = malloc(nl * sizeof *logits), *grads = malloc(m->n_params * sizeof *grads);
    SumLog log = {.g = g};
    param_gather_sum_layers(g, note_sum, &log);
    param_gather_plan(g, me % 3 + 1);
    for (int k = 0; k < me % 3 + 1; k++) pass(m, true, logits, grads);
    param_gather_release(g);
    param_gather_sum_layers(g, NULL, NULL);
    // A layer is B positions of the cycle (itself, then its expert groups); the forward has L of them between the
    // embedding and the head, then the backward's. Leaving layer l = L-1-i: the count includes the gather of layer
    // l-1 about to be made, the (i+2)-th layer of the backward.
    int64_t B = 1 + (m->moe ? g->n_groups : 0), passes = dist_size() < 3 ? dist_size() : 3, cycle = 2 + 2 * L * B;
    int64_t ok = log.n == L - 1;
    for (int i = 0; ok && i < log.n; i++)
        ok = log.layer[i] == L - 1 - i && log.at[i] == (passes - 1) * cycle + 2 + L * B + (i + 1) * B + 1;
    check((int)ok, "per-layer sums: layers L-1..1 on every rank, at the busiest rank's last backward", name);
    free(logits), free(grads);
}

// Sampling: rank r decodes r % 3 + 1 forwards with each unit gathered as asked, then Model.units_done lines the
// ranks up; the logits are the whole model's, and the release leaves only the owned weights.
static void stream_as_whole(ParamGather *g, Model *m, const float *whole, const float *want_logits, const char *name) {
    int me = dist_rank();
    size_t nl = 12 * (size_t)m->cfg.vocab_size;
    float *logits = malloc(nl * sizeof *logits);
    int ok = 1;
    param_gather_stream(g);
    for (int k = 0; k < me % 3 + 1; k++) {
        pass(m, false, logits, NULL);
        ok &= memcmp(logits, want_logits, nl * sizeof(float)) == 0;
    }
    model_units_done(m);
    param_gather_release(g);
    check(ok, "streamed: uneven forwards, each unit gathered as asked = the whole model's logits", name);
    check(released_as_expected(m, whole, &g->map[me]), "streamed: released again, owned weights intact", name);
    free(logits);
}

static void run(bool moe, const char *name) {
    Model m;
    make_model(&m, moe);
    int world = dist_size(), me = dist_rank();
    size_t n = m.n_params, nl = 12 * (size_t)m.cfg.vocab_size;
    float *whole = malloc(n * sizeof *whole), *want_logits = malloc(nl * sizeof(float));
    float *want_grads = malloc(n * sizeof(float)), *logits = malloc(nl * sizeof(float)), *grads = malloc(n * sizeof(float));
    memcpy(whole, m.params, n * sizeof *whole);
    pass(&m, true, want_logits, want_grads);  // no hook yet: the whole model
    Shard *map = malloc((size_t)world * sizeof *map);
    shard_map(m.tensors, m.n_tensors, world, map);
    ParamGather g;
    param_gather_init(&g, &m, map, world, me);
    param_gather_split_experts(&g, true);
    check(!moe || g.n_groups == 4, "the 4 experts of each MoE layer gathered apart, one group each", name);
    param_gather_release(&g);
    check(released_as_expected(&m, whole, &map[me]), "release drops whole pages of other ranks' tensors only", name);
    int ok = 1;
    param_gather_plan(&g, me % 3 + 1);
    for (int k = 0; k < me % 3 + 1; k++) {  // uneven: rank r makes r % 3 + 1 passes, the second forward-only
        bool backward = k != 1;
        pass(&m, backward, logits, grads);
        ok &= memcmp(logits, want_logits, nl * sizeof(float)) == 0;
        if (backward) ok &= memcmp(grads, want_grads, n * sizeof(float)) == 0;
    }
    param_gather_release(&g);  // the ranks made different numbers of gathers: this lines them up (before any check)
    check(ok, "gathered per layer: logits and gradients = the whole model's, bit for bit", name);
    check(released_as_expected(&m, whole, &map[me]), "uneven passes: released again, owned weights intact", name);
    sums_follow_schedule(&g, &m, name);
    stream_as_whole(&g, &m, whole, want_logits, name);
    param_gather_plan(&g, 0);  // nothing but the gathers of a plan: the check above was a collective
    param_gather_all(&g);
    check(memcmp(m.params, whole, n * sizeof *whole) == 0, "gather all: every weight back", name);
    pass(&m, true, logits, grads);  // whole: no gathers to plan
    param_gather_release(&g);
    check(memcmp(logits, want_logits, nl * sizeof(float)) == 0 && memcmp(grads, want_grads, n * sizeof(float)) == 0,
          "gathered whole, then released: the same logits and gradients", name);
    param_gather_free(&g);
    check(m.before_unit == NULL && m.units_done == NULL, "free removes the hooks", name);
    model_free(&m);
    free(whole), free(want_logits), free(want_grads), free(logits), free(grads), free(map);
}

int main(int argc, char **argv) {
    dist_init(&argc, &argv);
    run(true, "MoE, own LM head");
    run(false, "dense, tied LM head");
    dist_finalize();
    return failures != 0;
}
