// Each term below names the allocation it stands for; the shapes are those the code allocates with, float32 on the
// host (the CPU backend's act_bytes and grad_bytes, model/backend_cpu.c).
#include "train/memory_plan.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/grad_reduce.h"
#include "algo/shard.h"
#include "base/dist.h"
#include "eval/benchmark.h"
#include "model/expert_map.h"
#include "model/logprob.h"
#include "model/matmul.h"
#include "model/backend.h"
#include "model/model.h"
#include "rollout/sampler.h"
#include "task/prompts.h"

enum { PLAN_SAMPLE = 512 };  // training problems whose lengths memory_plan_lengths reads

typedef struct {
    double D, V, L, Hq, Hk, QD, KD, F, E, K, Fe, S;
} Shape;

static Shape shape_of(const ModelConfig *c, bool moe) {
    double hd = c->head_dim ? c->head_dim : c->hidden_size / c->num_attention_heads;
    Shape s = {c->hidden_size, c->vocab_size, c->num_hidden_layers, c->num_attention_heads, c->num_key_value_heads,
               c->num_attention_heads * hd, c->num_key_value_heads * hd, c->intermediate_size, 0, 0, 0, 0};
    if (moe) s.E = c->num_experts, s.K = c->num_experts_per_tok, s.Fe = c->moe_intermediate_size,
             s.S = c->shared_expert_intermediate_size;
    return s;
}

// Floats a token takes in one layer's record (model/model_layers.c layer_acts_alloc) for layers of these kinds:
// x_in, a1, h2, a2; inv1, inv2; q, att; k, v; lse (float64 per query head); q/k norms; the MLP or the MoE block.
static double record_floats(const Shape *s, bool dense, bool moe, bool qk_norm) {
    double f = 4 * s->D + 2 + 2 * s->QD + 2 * s->KD + 2 * s->Hq;
    if (qk_norm) f += s->Hq + s->Hk + s->QD + s->KD;  // qn_inv, kn_inv, qr, kr
    if (dense) f += 3 * s->F;                          // g, u, act
    if (moe) f += s->E + 2 * s->K + 3 * s->K * s->Fe + s->K * s->D;  // probs, top_e, top_w, eg/eu/eact, eout
    if (moe && s->S) f += 3 * s->S + s->D + 1;                       // sg/su/sact, sout, sgate
    return f;
}

// The backward's buffers of one layer at a time (model/model_backward.c: da1, da2, datt, dqr, dq, dkr, dk, dv; the
// MLP's dact/dg/du, or moe.c moe_experts_backward's xs/gy/dxs and g/u/act over at most every token).
static double backward_floats(const Shape *s, bool dense, bool moe) {
    double mlp = 0;
    if (dense) mlp = 3 * s->F;
    if (moe) mlp = fmax(mlp, 3 * s->D + 3 * fmax(s->Fe, s->S));
    return 2 * s->D + 3 * s->QD + 3 * s->KD + mlp;
}

// Elements of every tensor, of the expert tensors, of the largest ZeRO stage-3 unit (a layer, the embedding, the
// final norm with the LM head: algo/param_gather.c), from the table model/model.c builds.
typedef struct {
    double all, expert, unit;
} Counts;

static Counts count_elements(const Model *m) {
    Counts n = {(double)m->n_params, 0, 0};
    double layer = 0, head = 0;
    int at = -1;
    for (int i = 0; i < m->n_tensors; i++) {
        const ModelTensor *t = &m->tensors[i];
        int l;
        if (expert_tensor(t)) n.expert += (double)t->numel;
        if (sscanf(t->name, "model.layers.%d.", &l) == 1) {
            if (l != at) layer = 0, at = l;
            layer += (double)t->numel;
            n.unit = fmax(n.unit, layer);
        } else if (strstr(t->name, "embed_tokens")) {
            n.unit = fmax(n.unit, (double)t->numel);
        } else {
            head += (double)t->numel;  // the final norm and the LM head
        }
    }
    n.unit = fmax(n.unit, head);
    return n;
}

// Elements whose AdamW moments the busiest rank holds (train/update.c updater_init: adamw_init_shard over its
// Shard, or over its expert pieces, hold_experts).
static double adam_elements(const Model *m, const Config *c, int world) {
    int k = c->dist.expert_parallel, stage = c->dist.zero_stage;
    double most = 0;
    if (k <= 1 && stage == 0) return (double)m->n_params;
    Shard *map = xmalloc((size_t)world * sizeof *map);
    shard_map(m->tensors, m->n_tensors, world, map);
    for (int r = 0; r < (k > 1 ? (stage > 0 ? world : k) : world); r++) {
        TensorPiece *pieces;
        double n = 0;
        int np = k <= 1 ? 0 : stage > 0 ? shard_expert_pieces(m, map, world, k, r, &pieces)
                                        : expert_held_pieces(m, k, r, &pieces);
        if (k <= 1) n = (double)(map[r].end - map[r].begin);
        for (int i = 0; i < np; i++) n += (double)(pieces[i].end - pieces[i].begin);
        if (k > 1) free(pieces);
        most = fmax(most, n);
    }
    free(map);
    return most;
}

static double ceil_div(double a, double b) { return ceil(a / b); }

// Micro-batches of one update on the busiest rank: train/rl_update.c split_micro (its groups' responses in runs of
// train.micro_batch), train/sft.c build_batches (micro-batches of sft.batch_size shared out).
static int micro_per_update(const Config *c, const MemShape *s) {
    if (!s->rl) return (int)ceil_div(ceil_div(c->sft.batch_size, c->train.micro_batch), s->world);
    double groups = ceil_div(ceil_div(c->train.prompts_per_step, c->train.n_minibatches), s->world);
    return (int)(groups * ceil_div(c->rollout.n, c->train.micro_batch));
}

// GradReducer.grad (algo/grad_reduce.c, n floats) on the busiest rank, own elements owned, mpu micro-batches an update.
static double gradient_bytes(const Config *c, const MemShape *s, const Counts *n, double own, int mpu) {
    int k = c->dist.expert_parallel;
    // A device update sums the gradient in the device's memory and empties the host reducer (train/update.c
    // updater_attach_device), except at zero stage 3 and under expert parallelism.
    if (s->device && c->dist.zero_stage < 3 && k <= 1) return 0;
    // Under expert parallelism the backward writes only this place's slices of the expert tensors (the others' rows go
    // to their owners, model/moe_ep.c): the rest of their gradient's pages are never touched (grad_reducer_experts).
    double grads = 4 * (k > 1 ? n->all - n->expert + n->expert / k : n->all);
    // At zero stage 2-3 a rank whose one micro-batch is its last backward has each layer made resident just ahead of
    // its backward and reduced to its own elements once done (grad_reducer_shard): its shard stays, and the layers in
    // flight are resident while the activations shrink (measured: tests/it_memory.sh).
    if (c->dist.zero_stage >= 2 && mpu == 1 && s->world > 1) grads = 4 * fmin(n->all, own);
    // Deterministic: the held[GRAD_HELD] float copies once a rank has a second micro-batch, and the int64 limbs [3 n]
    // past GRAD_HELD + 1 of them.
    if (c->dist.deterministic && mpu >= 2) grads += 4 * n->all * (mpu - 1 < GRAD_HELD ? mpu - 1 : GRAD_HELD);
    if (c->dist.deterministic && mpu > GRAD_HELD + 1) grads += 24 * n->all;
    return grads;
}

// The run-long parts.
static void steady_parts(const Config *c, const MemShape *s, const Model *m, MemPlan *p) {
    Counts n = count_elements(m);
    double P = n.all;
    // Sampling gathers every weight but under the static schedule's layer-by-layer gather without expert parallelism
    // (train/rl_step.c rl_step, algo/param_gather.c param_gather_stream).
    bool streams = c->rollout.schedule == ROLLOUT_STATIC && c->dist.sample_gather == SAMPLE_GATHER_LAYER &&
                   c->dist.expert_parallel <= 1;
    bool whole = c->dist.zero_stage < 3 || s->evaluates || (s->rl && !streams);
    double own = adam_elements(m, c, s->world);
    // Model.params (model/model.c create); at zero stage 3 the other ranks' pages released (algo/param_gather.c) but
    // one unit's, gathered while it runs; evaluation and sample_gather = whole gather every weight.
    p->bytes[MEM_WEIGHTS] = 4 * (whole ? P : fmin(P, own + n.unit));
    // The frozen reference policy's Model.params (train/run.c setup_reference), never sharded.
    p->bytes[MEM_REFERENCE] = s->rl && c->algo.beta > 0 ? 4 * P : 0;
    p->bytes[MEM_GRADIENTS] = gradient_bytes(c, s, &n, own, p->micro_per_update);
    // AdamW m and v (algo/optim.c adamw_init_shard: two floats per element this rank updates).
    p->bytes[MEM_ADAMW] = 8 * own;
    // Several ranks: the reducer's bucket of GRAD_BUCKET elements (limbs or doubles, grad_reduce.c), and with
    // dist.overlap (its per-layer sums: train/update.c reduce_by_layer, not under expert parallelism) GRAD_IN_FLIGHT
    // layer-sized copies inside MPI.
    double comm = 0;
    if (s->world > 1) comm = (double)GRAD_BUCKET * (c->dist.deterministic ? 24 : 8);
    if (s->world > 1 && c->dist.overlap && !c->dist.deterministic && c->dist.zero_stage < 2 &&
        c->dist.expert_parallel <= 1)
        comm += GRAD_IN_FLIGHT * 4 * n.unit;
    p->bytes[MEM_COMM] = comm;
}

// Tokens of the largest training micro-batch: train.micro_batch sequences of prompt + response (sft: + solution).
static double micro_tokens(const Config *c, const MemShape *s) {
    if (!s->rl) return fmin(c->train.micro_batch, c->sft.batch_size) * s->max_sft_seq;
    return fmin(c->train.micro_batch, c->rollout.n) * (double)(s->max_prompt + c->rollout.max_new_tokens);
}

// Bytes of a rollout's responses (rollout/sampler.c seq_grow: tokens, logp, entropy and MoE experts, grown by
// doubling from 16) for prompts x ro->n of them.
static double response_bytes(const RolloutConfig *ro, double prompts, const Shape *sh) {
    double cap = 16;
    while (cap < ro->max_new_tokens) cap *= 2;
    return prompts * ro->n * cap * (4 + 8 + 8 + 4 * sh->L * sh->K);
}

// The packed copy of the weights a generation of 5 responses or more at once makes on the host (rollout.pack_weights;
// model/model.h model_pack_weights: builds with AVX-512 in their MARCH), not at zero stage 3 (gathered weights) nor on
// a device.
static double pack_bytes(const Config *c, const MemShape *s, const Model *m) {
    return c->rollout.pack_weights && c->dist.zero_stage < 3 && !s->device ? model_pack_bytes(m) : 0;
}

// A sampler_generate call over prompts groups: the KV cache of the groups decoding at once (model/model_forward.c
// kv_cache_create, as many as rollout.kv_cache_mb holds: sampler_prompts_that_fit), the sampler's logits [slots, V]
// (model_logits_alloc) and the decode's layer record over a prefill's or a step's rows (model_decode_keep).
// The responses a sampler_generate call over prompts groups decodes at once: as many groups as rollout.kv_cache_mb
// holds (0 when one does not fit: the sampler refuses that itself).
static double decode_slots(const Model *m, const RolloutConfig *ro, double prompts, int max_prompt) {
    return ro->n * fmin(prompts, sampler_prompts_that_fit(m, ro, max_prompt));
}

static double decoding_bytes(const Model *m, const RolloutConfig *ro, double prompts, int max_prompt, const Shape *sh,
                             bool qk) {
    double slots = decode_slots(m, ro, prompts, max_prompt);
    double rows = fmax(slots, max_prompt);
    double kv = slots > 0 ? (double)kv_cache_bytes(m, (int)slots, max_prompt + ro->max_new_tokens) : 0;
    return kv + 4 * slots * sh->V + 4 * rows * (record_floats(sh, sh->F > 0, sh->E > 0, qk) + 2 * sh->D + 1);
}

// The sampling settings of an evaluation: the rollout's, with eval.samples responses of eval.max_new_tokens.
static RolloutConfig eval_rollout(const Config *c) {
    RolloutConfig ev = c->rollout;
    ev.n = c->eval.samples, ev.max_new_tokens = c->eval.max_new_tokens;
    return ev;
}

// An evaluation of `problems` shared by the ranks, each decoded eval.samples times, its responses kept until scored.
static double evaluation_bytes(const Config *c, const MemShape *s, const Model *m, const Shape *sh, bool qk,
                               int problems, int max_prompt) {
    RolloutConfig ev = eval_rollout(c);
    double prompts = ceil_div(problems, s->world);
    return decoding_bytes(m, &ev, prompts, max_prompt, sh, qk) + response_bytes(&ev, prompts, sh);
}

// The rollout phase holds one decoding at a time: rlvr train's rollout (its responses kept through the update), the
// held-out evaluation's two passes (train/eval.c: greedy, one sample, then eval.samples; eval/benchmark.c
// eval_sampling) or a benchmark's, whichever decodes most.
static void rollout_parts(const Config *c, const MemShape *s, const Model *m, const Shape *sh, bool qk, MemPlan *p) {
    double prompts = ceil_div(c->train.prompts_per_step, s->world);
    if (s->rl) p->bytes[MEM_RESPONSES] = response_bytes(&c->rollout, prompts, sh);
    if (s->rl) p->bytes[MEM_ROLLOUT] = decoding_bytes(m, &c->rollout, prompts, s->max_prompt, sh, qk);
    double held_out = s->eval_prompts > 0 ? evaluation_bytes(c, s, m, sh, qk, s->eval_prompts, s->eval_max_prompt) : 0;
    double bench = s->bench_problems > 0 ? evaluation_bytes(c, s, m, sh, qk, s->bench_problems, s->bench_max_prompt) : 0;
    if (held_out > p->bytes[MEM_ROLLOUT]) p->bytes[MEM_ROLLOUT] = held_out, p->decodes_most = DECODE_HELD_OUT;
    if (bench > p->bytes[MEM_ROLLOUT]) p->bytes[MEM_ROLLOUT] = bench, p->decodes_most = DECODE_BENCHMARK;
}

// The packed weights where a decoding of the run has MATMUL_PACKED_MIN_ROWS responses or more at once: in the rollout
// phase, as the KV cache, in pages of their own made for each generation where the heap has handed back the training
// pass's freed memory (base/pages.h pages_map_apart; tests/it_memory.sh on a MARCH=native build).
static void packed_part(const Config *c, const MemShape *s, const Model *m, MemPlan *p) {
    RolloutConfig ev = eval_rollout(c);
    double prompts = ceil_div(c->train.prompts_per_step, s->world);
    double slots = s->rl ? decode_slots(m, &c->rollout, prompts, s->max_prompt) : 0;
    if (s->eval_prompts > 0)
        slots = fmax(slots, decode_slots(m, &ev, ceil_div(s->eval_prompts, s->world), s->eval_max_prompt));
    if (s->bench_problems > 0)
        slots = fmax(slots, decode_slots(m, &ev, ceil_div(s->bench_problems, s->world), s->bench_max_prompt));
    if (slots >= MATMUL_PACKED_MIN_ROWS) p->bytes[MEM_PACKED] = pack_bytes(c, s, m);
}

// A training micro-batch of T tokens (model/model_forward.c acts_create: a record per layer, or with recomputation
// each layer's input and one shared record; x_final, a_final, inv_final; tokens, pos, row0), the backward's buffers
// (model_backward.c: dnormed, dx, one layer's, and with recomputation the layer's record rebuilt), the MoE routing
// records [T, L, K]; and the LM head (model/model_head.c: logits and their gradient, min(head_chunk, T) rows each;
// per row head_stats, logp, entropy and the backward's coefficients; deterministic in chunks, 32 bytes a row and
// hidden unit carried across vocabulary slices). With a reference policy (train/rl_update.c micro_step) its forward
// runs between the training forward and backward over one layer record that all its layers reuse, and is freed before
// the backward, whose buffers take the same memory: the larger of the two counts (its head's chunk of logits no more
// than the backward's, which it precedes in the same way).
static void training_parts(const Config *c, const Model *m, const Shape *sh, double T, bool reference, MemPlan *p) {
    bool qk = c->model.qk_norm, recompute = c->train.recompute;
    int kinds_dense = 0, kinds_moe = 0;
    double layers = 0;
    for (int l = 0; l < m->cfg.num_hidden_layers; l++) {
        bool moe = m->moe && model_layer_is_moe(m, l);
        kinds_dense |= !moe, kinds_moe |= moe;
        layers += recompute ? sh->D + 1 : record_floats(sh, !moe, moe, qk);
    }
    double work = record_floats(sh, kinds_dense, kinds_moe, qk);
    double acts = layers + (recompute ? work + sh->D : 0) + 2 * sh->D + 1 + 4;
    double backward = 2 * sh->D + backward_floats(sh, kinds_dense, kinds_moe);
    acts += fmax(backward, reference ? work + 2 * sh->D + 1 + 4 : 0) + sh->L * sh->K;
    p->bytes[MEM_ACTIVATIONS] = 4 * T * acts;
    double C = fmin(c->train.head_chunk, T);
    double head = 2 * 4 * C * sh->V + T * (LOGPROB_STATS * 8 + 4 * 8);
    if (c->dist.deterministic && T > c->train.head_chunk) head += 32 * T * sh->D;
    p->bytes[MEM_HEAD] = head;
}

int memory_plan_estimate(const Config *c, const MemShape *s, MemPlan *p, Err *e) {
    Model m;
    memset(p, 0, sizeof *p);
    TRY(model_layout(&m, &c->model, e));
    m.backend = backend_cpu();  // the host's float sizes (act_bytes) for kv_cache_bytes; no weights to load
    Shape sh = shape_of(&c->model, m.moe);
    p->params = (double)m.n_params, p->rl = s->rl, p->zero_stage = c->dist.zero_stage;
    p->micro_per_update = micro_per_update(c, s);
    p->tokens_per_micro = micro_tokens(c, s);
    steady_parts(c, s, &m, p);
    rollout_parts(c, s, &m, &sh, c->model.qk_norm, p);
    packed_part(c, s, &m, p);
    training_parts(c, &m, &sh, p->tokens_per_micro, s->rl && c->algo.beta > 0, p);
    model_free(&m);
    // On a device the KV cache, the logits, the activations and the head's chunks are the backend's memory.
    if (s->device) p->bytes[MEM_ROLLOUT] = p->bytes[MEM_ACTIVATIONS] = p->bytes[MEM_HEAD] = 0;
    for (int i = 0; i < MEM_ROLLOUT; i++) p->steady += p->bytes[i];
    p->phase = fmax(p->bytes[MEM_ROLLOUT] + p->bytes[MEM_PACKED], p->bytes[MEM_ACTIVATIONS] + p->bytes[MEM_HEAD]);
    p->total = p->steady + p->phase;
    return 0;
}

const char *memory_part_name(MemPart part) {
    static const char *const NAMES[MEM_PARTS] = {"weights",       "reference",      "gradients",   "AdamW",
                                                 "responses",     "communication",  "rollout",     "packed weights",
                                                 "activations",   "LM head"};
    return NAMES[part];
}

// The config keys that size a part of p, and what reduces it (only what truly does).
static const char *part_keys(const MemPlan *p, MemPart part) {
    bool rl = p->rl;
    int zero_stage = p->zero_stage;
    switch (part) {
        case MEM_WEIGHTS:
            if (zero_stage == 3) return "the [model] sizes, 4 bytes a parameter, sharded; reduce: more ranks";
            return "the [model] sizes, 4 bytes a parameter; reduce: dist.zero_stage = 3 with more ranks";
        case MEM_REFERENCE:
            return "algo.beta > 0 keeps the reference model, 4 bytes a parameter; reduce: algo.beta = 0";
        case MEM_GRADIENTS:
            return "the [model] sizes, 4 bytes a parameter (dist.deterministic with more than one micro-batch per "
                   "update: up to 32); reduce: a larger train.micro_batch or more ranks (fewer micro-batches per "
                   "update), dist.deterministic = false";
        case MEM_ADAMW:
            if (zero_stage > 0) return "8 bytes a parameter this rank updates; reduce: more ranks";
            return "8 bytes a parameter this rank updates; reduce: dist.zero_stage >= 1 with more ranks";
        case MEM_RESPONSES:
            return "train.prompts_per_step / ranks x rollout.n x rollout.max_new_tokens; reduce: more ranks, fewer "
                   "train.prompts_per_step or rollout.max_new_tokens";
        case MEM_COMM: return "dist.overlap and the reduction's buckets; reduce: dist.overlap = false";
        case MEM_PACKED:
            return "a copy of the attention, dense MLP and LM head weights for decoding 5 responses or more at once "
                   "(a build with AVX-512 in its MARCH); reduce: rollout.pack_weights = false (a slower decode, the same bits)";
        case MEM_ROLLOUT:
            if (p->decodes_most == DECODE_HELD_OUT)
                return "eval.n_prompts / ranks x eval.samples (at most rollout.kv_cache_mb) x (prompt + "
                       "eval.max_new_tokens) for the held-out evaluation's KV cache; reduce: a smaller "
                       "rollout.kv_cache_mb, more ranks, fewer eval.n_prompts or eval.samples";
            if (p->decodes_most == DECODE_BENCHMARK)
                return "a file of eval.benchmarks: its problems / ranks x eval.samples (at most rollout.kv_cache_mb) "
                       "x (prompt + eval.max_new_tokens) for the KV cache and responses; reduce: a smaller "
                       "rollout.kv_cache_mb, more ranks, fewer eval.samples, a smaller eval.max_new_tokens";
            return "rollout.n x train.prompts_per_step / ranks (at most rollout.kv_cache_mb) x (prompt + "
                   "rollout.max_new_tokens) for the KV cache; reduce: a smaller rollout.kv_cache_mb, more ranks, a "
                   "smaller rollout.max_new_tokens";
        case MEM_ACTIVATIONS:
            if (!rl)
                return "train.micro_batch sequences (at most sft.batch_size) x (prompt + solution) tokens x layers; "
                       "reduce: train.recompute = true, a smaller train.micro_batch";
            return "train.micro_batch sequences x (prompt + rollout.max_new_tokens) tokens x layers; reduce: "
                   "train.recompute = true, a smaller train.micro_batch";
        case MEM_HEAD: return "train.head_chunk x model.vocab_size x 2; reduce: a smaller train.head_chunk";
        default: return "";
    }
}

// Bytes as the line prints them: GiB from 1 GiB on, else MiB (a tenth below 10 MiB).
static void fmt_bytes(double b, char *out, size_t size) {
    if (b >= 1073741824.0) snprintf(out, size, "%.2f GiB", b / 1073741824.0);
    else snprintf(out, size, b < 10 * 1048576.0 ? "%.1f MiB" : "%.0f MiB", b / 1048576.0);
}

// The parts in plan order, "weights 0.46 GiB, gradients ..." (parts under 0.05 MiB left out).
static void parts_list(const MemPlan *p, char *out, size_t size) {
    size_t at = 0;
    out[0] = 0;
    for (int i = 0; i < MEM_PARTS && at < size; i++) {
        char b[32];
        if (p->bytes[i] < 0.05 * 1048576) continue;  // 0.0 MiB
        fmt_bytes(p->bytes[i], b, sizeof b);
        at += (size_t)snprintf(out + at, size - at, "%s%s %s", at ? ", " : "", memory_part_name((MemPart)i), b);
    }
}

// The two largest parts, with their keys.
static void largest_parts(const MemPlan *p, char *out, size_t size) {
    int first = 0, second = -1;
    for (int i = 1; i < MEM_PARTS; i++)
        if (p->bytes[i] > p->bytes[first]) first = i;
    for (int i = 0; i < MEM_PARTS; i++)
        if (i != first && (second < 0 || p->bytes[i] > p->bytes[second])) second = i;
    char b1[32], b2[32];
    fmt_bytes(p->bytes[first], b1, sizeof b1), fmt_bytes(p->bytes[second], b2, sizeof b2);
    snprintf(out, size, "largest: %s %s (%s); %s %s (%s)", memory_part_name((MemPart)first), b1,
             part_keys(p, (MemPart)first), memory_part_name((MemPart)second), b2, part_keys(p, (MemPart)second));
}

#define DEVICE_NOTE ", host memory only: the device's memory (rollout, activations, LM head) is not checked"

int memory_plan_verdict(const MemPlan *p, double resident, int node_ranks, const MemAvail *av, bool refuse,
                        bool device, char *line, size_t size, Err *e) {
    char total[32], avail[32], node[32], parts[512];
    double need = p->total * node_ranks;  // resident memory is already out of what is available
    fmt_bytes(resident + p->total, total, sizeof total), fmt_bytes(need, node, sizeof node);
    if (av->bytes == UINT64_MAX) snprintf(avail, sizeof avail, "unknown");
    else fmt_bytes((double)av->bytes, avail, sizeof avail);
    parts_list(p, parts, sizeof parts);
    bool over = av->bytes != UINT64_MAX && need > (double)av->bytes;
    int n = snprintf(line, size, "memory: about %s a rank (resident now %.0f MiB; %s; rollout and activations + LM head "
                     "not at once)%s; %s available to %d rank(s) on this node (%s)",
                     total, resident / 1048576.0, parts, device ? DEVICE_NOTE : "",
                     avail, node_ranks, av->source);
    if (!over) return 0;
    char big[1024];
    largest_parts(p, big, sizeof big);
    if (refuse)
        return err_set(e, "memory: the %d rank(s) on this node need about %s more and %s is available (%s); %s; set "
                       "train.check_memory = false to start anyway", node_ranks, node, avail, av->source, big);
    if (n > 0 && (size_t)n < size)
        snprintf(line + n, size - (size_t)n, "; warning: %s more needed than available (train.check_memory = false)",
                 node);
    return 0;
}

int memory_plan_lengths(const Task *task, const Tokenizer *tok, bool solutions, int *max_prompt, int *max_seq,
                        Err *e) {
    PromptSet ps = {0};
    int64_t n = task_split_size(task, SPLIT_TRAIN);
    *max_prompt = *max_seq = 0;
    TRY(prompts_from_task(&ps, task, SPLIT_TRAIN, 0, n < PLAN_SAMPLE ? n : PLAN_SAMPLE, solutions, tok, e));
    for (int i = 0; i < ps.n; i++) {
        int seq = ps.len[i] + (solutions && ps.solution ? ps.solution_len[i] + 1 : 0);
        if (ps.len[i] > *max_prompt) *max_prompt = ps.len[i];
        if (seq > *max_seq) *max_seq = seq;
    }
    prompts_free(&ps);
    return 0;
}

// The longest prompt, in tokens, of a task's first n held-out problems (those eval/benchmark.c's benchmark_prompts
// evaluates) into *max_prompt where it is longer.
static int held_out_longest_prompt(const Task *task, const Tokenizer *tok, int64_t n, int *max_prompt, Err *e) {
    PromptSet ps = {0};
    TRY(prompts_from_task(&ps, task, SPLIT_EVAL, 0, n, false, tok, e));
    for (int i = 0; i < ps.n; i++) *max_prompt = ps.len[i] > *max_prompt ? ps.len[i] : *max_prompt;
    prompts_free(&ps);
    return 0;
}

int memory_plan_benchmarks(const Config *c, const Tokenizer *tok, int *problems, int *max_prompt, Err *e) {
    char specs[64][BENCHMARK_SPEC_LEN];
    int n = benchmark_specs(c, specs, 64, e);
    *problems = *max_prompt = 0;
    for (int i = 0; i < n; i++) {
        Config bc;
        char name[256];
        TRY(benchmark_config(c, "[eval] benchmarks", specs[i], &bc, name, sizeof name, e));
        Task *task = task_create(&bc, e);
        if (!task) return -1;
        int64_t k = task_split_size(task, SPLIT_EVAL);
        int rc = held_out_longest_prompt(task, tok, k, max_prompt, e);
        if (k > *problems) *problems = (int)(k < INT_MAX ? k : INT_MAX);
        task_free(task);
        TRY(rc);
    }
    return n < 0 ? -1 : 0;
}

int memory_plan_check(const Config *c, bool rl, const Task *task, const Tokenizer *tok, bool device, char *line,
                      size_t size, Err *e) {
    MemShape s = {.rl = rl, .world = dist_size(), .device = device};
    int64_t held_out = task_split_size(task, SPLIT_EVAL);
    s.eval_prompts = (int)(c->eval.n_prompts < held_out ? c->eval.n_prompts : held_out);
    s.evaluates = c->eval.benchmarks[0] || s.eval_prompts > 0;
    MemPlan p;
    int rc = memory_plan_lengths(task, tok, !rl && task_is_embedded(task), &s.max_prompt, &s.max_sft_seq, e);
    if (!rc && s.eval_prompts > 0) rc = held_out_longest_prompt(task, tok, s.eval_prompts, &s.eval_max_prompt, e);
    if (!rc) rc = memory_plan_benchmarks(c, tok, &s.bench_problems, &s.bench_max_prompt, e);
    if (!rc) rc = memory_plan_estimate(c, &s, &p, e);
    int node = dist_node_size();
    TRY(dist_agree(rc, e));
    MemAvail av;
    TRY(dist_agree(mem_available(&av, e), e));
    rc = memory_plan_verdict(&p, (double)mem_resident(), node, &av, c->train.check_memory, device, line, size, e);
    return dist_agree(rc, e);
}

void memory_plan_peak_line(char *line, size_t size) {
    snprintf(line, size, "memory: peak resident %.1f MiB (VmHWM)", (double)mem_peak_resident() / 1048576.0);
}
