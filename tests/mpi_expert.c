// Expert parallelism in the model (model/moe_ep.c), run by tests/it_ep.sh under mpirun -np 1/2/4: all ranks form one
// group (K = ranks). Each rank holds its own micro-batch (the last rank none, so it only serves the others) of a
// tiny Qwen2-MoE with a shared expert; every rank also computes every rank's micro-batch alone, with all experts, as
// the reference. With the group: the logits equal the reference bit for bit; the rank's own gradient equals its
// micro-batch's reference in every element except the other ranks' expert slices, which stay zero (it never
// computed those experts); and the gradient its experts received from each other rank's micro-batch equals that
// micro-batch's reference in its slices. Fixed-order backward kernels (dist.deterministic).
// Rank 0 prints one line per check; the exit status is 1 when any failed.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/dist.h"
#include "base/rng.h"
#include "model/expert_map.h"
#include "model/model.h"

static int failures;

// A check holds only when it holds on every rank.
static void check(int ok, const char *what) {
    int64_t bad = !ok;
    dist_allreduce_sum_i64(&bad, 1);
    if (dist_is_root()) printf("%s %s\n", bad ? "FAIL" : "ok  ", what);
    failures += bad != 0;
}

static void make_model(Model *m) {
    Config c;
    config_defaults(&c);
    ModelConfig mc = c.model;
    mc.type = MODEL_QWEN2_MOE;
    mc.vocab_size = 61, mc.hidden_size = 16, mc.intermediate_size = 24, mc.num_hidden_layers = 2;
    mc.num_attention_heads = 4, mc.num_key_value_heads = 2, mc.max_position_embeddings = 64, mc.init_std = 0.3;
    mc.num_experts = 4, mc.num_experts_per_tok = 2, mc.moe_intermediate_size = 12;
    mc.shared_expert_intermediate_size = 20;
    Err e;
    if (model_create(m, &mc, &e)) dist_fatal("%s", e.msg);
    model_init_random(m, 5);
    m->fixed_order_backward = true;
}

// Rank s's micro-batch: s + 1 sequences of 3 + 2j tokens, none for the last rank of several.
typedef struct {
    int n_seqs;
    int64_t offsets[8];
    int32_t tokens[64];
    float *dlogits;
} Batch;

static void make_batch(const Model *m, int s, int world, Batch *b) {
    memset(b, 0, sizeof *b);
    b->n_seqs = world > 1 && s == world - 1 ? 0 : s + 1;
    Rng r = rng_at(17, (uint64_t)s, 0, 0);
    for (int j = 0; j < b->n_seqs; j++) b->offsets[j + 1] = b->offsets[j] + 3 + 2 * j;
    int T = (int)b->offsets[b->n_seqs];
    for (int t = 0; t < T; t++) b->tokens[t] = (int32_t)(rng_uniform(&r) * m->cfg.vocab_size);
    b->dlogits = xmalloc(((size_t)T * m->cfg.vocab_size + 1) * sizeof(float));
    for (size_t i = 0; i < (size_t)T * m->cfg.vocab_size; i++) b->dlogits[i] = (float)(rng_uniform(&r) - 0.5);
}

// Forward and backward of b into fresh logits and gradient (aux loss weighted 0.01).
static void run(Model *m, const Batch *b, float **logits, float **grads) {
    int T = (int)b->offsets[b->n_seqs];
    *logits = xcalloc((size_t)T * m->cfg.vocab_size + 1, sizeof(float));
    *grads = xcalloc(m->n_params, sizeof(float));
    ModelActs *acts;
    Err e;
    if (model_forward(m, b->n_seqs, b->offsets, b->tokens, *logits, NULL, NULL, &acts, &e) ||
        model_backward(m, acts, b->dlogits, 0.01, *grads, &e))
        dist_fatal("%s", e.msg);
    model_acts_free(acts);
}

static bool same(const float *a, const float *b, size_t n) { return n == 0 || memcmp(a, b, n * sizeof *a) == 0; }

int main(int argc, char **argv) {
    dist_init(&argc, &argv);
    int world = dist_size(), me = dist_rank();
    Model m;
    make_model(&m);
    Batch *bs = xcalloc((size_t)world, sizeof *bs);
    float **ref_logits = xcalloc((size_t)world, sizeof(float *)), **ref_grads = xcalloc((size_t)world, sizeof(float *));
    for (int s = 0; s < world; s++) make_batch(&m, s, world, &bs[s]), run(&m, &bs[s], &ref_logits[s], &ref_grads[s]);

    ExpertParallel ep;
    Err e;
    if (expert_parallel_init(&ep, &m, world, true, &e)) dist_fatal("%s", e.msg);
    m.ep = &ep;
    float *logits, *grads;
    run(&m, &bs[me], &logits, &grads);
    m.ep = NULL;
    size_t T = (size_t)bs[me].offsets[bs[me].n_seqs];
    check(same(logits, ref_logits[me], T * m.cfg.vocab_size), "logits with the group's experts = all experts here");

    bool own_ok = true, others_zero = true, peers_ok = true;
    for (int i = 0; i < m.n_tensors; i++) {
        const ModelTensor *t = &m.tensors[i];
        if (!expert_tensor(t)) {
            own_ok &= same(grads + t->offset, ref_grads[me] + t->offset, t->numel);
            continue;
        }
        size_t b, end, at = expert_packed_offset(&ep, &m, i);
        expert_slice(t, ep.k, ep.q, &b, &end);
        own_ok &= same(grads + t->offset + b, ref_grads[me] + t->offset + b, end - b);
        for (size_t j = 0; j < t->numel; j++) others_zero &= (j >= b && j < end) || grads[t->offset + j] == 0.0f;
        for (int s = 0; s < world; s++)
            if (s != ep.q) peers_ok &= same(ep.peer_grads[s] + at, ref_grads[s] + t->offset + b, end - b);
    }
    check(own_ok, "own gradient = all experts here, except other ranks' expert slices");
    check(others_zero, "other ranks' expert slices of the own gradient untouched (zero)");
    check(peers_ok, "each other rank's micro-batch: this rank's experts' gradient = that micro-batch's, bit for bit");
    bool nonzero = false;
    for (size_t i = 0; i < ep.packed_n && world > 1; i++) nonzero |= ep.peer_grads[(ep.q + 1) % world][i] != 0.0f;
    check(world == 1 || me == world - 2 || nonzero, "the next rank's micro-batch reached this rank's experts");

    expert_parallel_free(&ep);
    for (int s = 0; s < world; s++) free(bs[s].dlogits), free(ref_logits[s]), free(ref_grads[s]);
    free(bs), free(ref_logits), free(ref_grads), free(logits), free(grads);
    model_free(&m);
    dist_finalize();
    return failures ? 1 : 0;
}
