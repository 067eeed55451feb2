// The model's layer loop on the CUDA backend (model/backend_cuda.h) against the CPU backend, and its bit-for-bit
// promises on the GPU (src/README.md invariant 2): tiny dense and MoE models with the sizes of configs/tiny-dense.ini
// and configs/tiny-moe.ini (plus a Qwen2-MoE one with biases and a shared expert), random weights rounded to bf16 so
// both backends hold the same values.
//
// Tolerances (norm-wise: max |gpu - cpu| / max |cpu|). The CUDA backend rounds every activation to bf16 (at most
// 2^-9 relative each) where the CPU keeps fp32. A logit passes about 13 such roundings per layer (norm, q, k, v,
// head norm, rope, attention, o_proj, residual, norm, gate/up, swiglu, down and residual) and 2 at the head: 28 in
// these 2-layer models, 28 * 2^-9 = 0.055 if every one erred the same way, so logits are held to 2^-4. The backward
// runs the same chain again on gradients rounded to bf16 where they enter a product: twice the roundings, 2^-3.
// A wrong index, transpose or missing term errs by O(1), far above either.
// MoE routing is a discontinuous choice: a token whose router scores nearly tie may pick another expert on the GPU.
// The forward compares the tokens before the first such token of each sequence; at least a quarter of all tokens
// must remain, so the check is never vacuous, yet one early flip in the 64-token sequence (a GPU run saw 52 of 130
// tokens kept) does not fail it. The backward sums over every token, so it is compared on a batch whose choices all
// agree (the first of 16 token seeds that does; else it reports skip).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "gpu_check.h"
#include "model/backend.h"
#include "model/backend_cuda.h"
#include "model/model.h"
#include "model/model_internal.h"

#define TOL_MODEL_LOGITS (1.0 / 16)
#define TOL_MODEL_GRADS (1.0 / 8)

static Err err;
#define OK(call) ok_or_die((call), &err, #call)

static void skip_line(const char *name, const char *why) {
    printf("  skip  %-52s\t%s\n", name, why);
    fflush(stdout);
}

// configs/tiny-dense.ini / tiny-moe.ini sizes; MODEL_QWEN2_MOE adds q/k/v biases and a shared expert.
static ModelConfig tiny_config(ModelType type) {
    ModelConfig c;
    memset(&c, 0, sizeof c);
    bool moe = type == MODEL_QWEN2_MOE || type == MODEL_QWEN3_MOE;
    c.type = type;
    c.vocab_size = 256, c.hidden_size = 32, c.intermediate_size = 64, c.num_hidden_layers = 2;
    c.num_attention_heads = 4, c.num_key_value_heads = 2, c.max_position_embeddings = 256;
    c.rope_theta = 1e6, c.rms_norm_eps = 1e-6, c.init_std = 0.1, c.init_seed = 1, c.decoder_sparse_step = 1;
    c.qk_norm = type == MODEL_QWEN3 || type == MODEL_QWEN3_MOE;
    c.attention_bias = type == MODEL_QWEN2 || type == MODEL_QWEN2_MOE;
    c.tie_word_embeddings = !moe;
    if (moe) {
        c.num_experts = 4, c.num_experts_per_tok = 2, c.moe_intermediate_size = 32;
        c.norm_topk_prob = type == MODEL_QWEN3_MOE, c.router_aux_loss_coef = 0.001;
    }
    if (type == MODEL_QWEN2_MOE) c.shared_expert_intermediate_size = 48;
    return c;
}

// Random weights, never zeros: matrices N(0, 0.1^2), norms 1 + N(0, 0.3^2), biases N(0, 0.3^2), the router N(0, 1)
// (wide score gaps, so bf16 rarely flips a choice); then every value rounded to bf16.
static void tiny_model(Model *m, ModelType type, uint64_t seed) {
    ModelConfig c = tiny_config(type);
    OK(model_create(m, &c, &err));
    model_init_random(m, seed);
    Rng r = rng_at(seed, 1, 0, 0);
    for (int i = 0; i < m->n_tensors; i++) {
        const ModelTensor *t = &m->tensors[i];
        bool norm = strstr(t->name, "norm.weight"), bias = strstr(t->name, ".bias"),
             router = strstr(t->name, "mlp.gate.weight");
        for (size_t k = 0; (norm || bias || router) && k < t->numel; k++)
            m->params[t->offset + k] = (float)((norm ? 1.0 : 0.0) + (router ? 1.0 : 0.3) * rng_normal(&r));
    }
    for (size_t i = 0; i < m->n_params; i++) m->params[i] = from_bf16(to_bf16(m->params[i]));
    m->fixed_order_backward = true;  // the CPU twin's backward without OpenBLAS (tests/gpu_check_link.c)
}

// A packed batch: sequence s is tok[off[s] .. off[s+1]).
typedef struct {
    int n;
    int64_t off[8];
    int32_t *tok;
} Batch;

static Batch batch_of(const int *lens, int n, int V, uint64_t seed) {
    Batch b = {.n = n};
    for (int s = 0; s < n; s++) b.off[s + 1] = b.off[s] + lens[s];
    b.tok = malloc((size_t)b.off[n] * sizeof *b.tok + 4);
    Rng r = rng_at(seed, 23, 0, 0);
    for (int64_t t = 0; t < b.off[n]; t++) b.tok[t] = (int32_t)(rng_u32(&r) % (uint32_t)V);
    return b;
}

static void use(Model *m, const Backend *be) { OK(model_set_backend(m, be, &err)); }

// Logits [T, V] and chosen experts [T, L, K] (MoE) of the training forward.
static void forward(Model *m, const Batch *b, float *logits, int32_t *experts) {
    OK(model_forward(m, b->n, b->off, b->tok, logits, experts, NULL, NULL, &err));
}

static size_t n_experts_out(const Model *m, int T) {
    return m->moe ? (size_t)T * m->cfg.num_hidden_layers * m->cfg.num_experts_per_tok : 1;
}

// Rows [0, T) compared: each sequence's tokens before its first token whose expert choice differs in any layer.
static int agreeing_rows(const Model *m, const Batch *b, const int32_t *ea, const int32_t *eb, bool *keep) {
    size_t per = m->moe ? (size_t)m->cfg.num_hidden_layers * m->cfg.num_experts_per_tok : 0;
    int kept = 0;
    for (int s = 0; s < b->n; s++) {
        bool agree = true;
        for (int64_t t = b->off[s]; t < b->off[s + 1]; t++) {
            agree = agree && (!per || !memcmp(ea + t * per, eb + t * per, per * sizeof *ea));
            keep[t] = agree;
            kept += agree;
        }
    }
    return kept;
}

static void cpu_vs_gpu_logits(const char *tag, Model *m, const Backend *cuda, const Batch *b) {
    int T = (int)b->off[b->n], V = m->cfg.vocab_size;
    size_t nl = (size_t)T * V, ne = n_experts_out(m, T);
    float *lc = malloc(nl * 4), *lg = malloc(nl * 4);
    int32_t *ec = malloc(ne * 4), *eg = malloc(ne * 4);
    use(m, backend_cpu());
    forward(m, b, lc, m->moe ? ec : NULL);
    use(m, cuda);
    forward(m, b, lg, m->moe ? eg : NULL);
    bool *keep = malloc((size_t)T);
    int kept = agreeing_rows(m, b, ec, eg, keep);
    double diff = 0, scale = 0;
    for (int t = 0; t < T; t++)
        for (int v = 0; t < T && keep[t] && v < V; v++) {
            double d = fabs((double)lg[(size_t)t * V + v] - lc[(size_t)t * V + v]);
            if (!(d <= diff)) diff = d;
            scale = fmax(scale, fabs((double)lc[(size_t)t * V + v]));
        }
    double rel = scale > 0 ? diff / scale : diff;
    char name[96];
    snprintf(name, sizeof name, "model %s: forward logits, CUDA vs CPU", tag);
    check(name, rel <= TOL_MODEL_LOGITS && 4 * kept >= T, "norm-wise error %.3g (limit %.3g) over %d of %d tokens%s",
          rel, TOL_MODEL_LOGITS, kept, T, m->moe ? " (the rest follow a flipped expert choice; at least a quarter)" : "");
    free(lc), free(lg), free(ec), free(eg), free(keep);
}

// On the GPU: each sequence alone, and the batch packed in reverse order, against the packed batch, bit for bit.
static void batch_invariance(const char *tag, Model *m, const Batch *b) {
    int T = (int)b->off[b->n], V = m->cfg.vocab_size;
    float *full = malloc((size_t)T * V * 4), *part = malloc((size_t)T * V * 4);
    forward(m, b, full, NULL);
    size_t bad_alone = 0, bad_rev = 0;
    for (int s = 0; s < b->n; s++) {
        int64_t len = b->off[s + 1] - b->off[s];
        Batch one = {.n = 1, .off = {0, len}, .tok = b->tok + b->off[s]};
        forward(m, &one, part, NULL);
        bad_alone += bits_differ(part, full + (size_t)b->off[s] * V, (size_t)len * V * 4, 4);
    }
    Batch rev = {.n = b->n, .tok = malloc((size_t)T * 4 + 4)};
    for (int s = 0; s < b->n; s++) {
        int src = b->n - 1 - s;
        int64_t len = b->off[src + 1] - b->off[src];
        rev.off[s + 1] = rev.off[s] + len;
        memcpy(rev.tok + rev.off[s], b->tok + b->off[src], (size_t)len * 4);
    }
    forward(m, &rev, part, NULL);
    for (int s = 0; s < b->n; s++) {
        int src = b->n - 1 - s;
        int64_t len = b->off[src + 1] - b->off[src];
        bad_rev += bits_differ(part + (size_t)rev.off[s] * V, full + (size_t)b->off[src] * V, (size_t)len * V * 4, 4);
    }
    char name[96];
    snprintf(name, sizeof name, "model %s: logits alone vs packed (GPU)", tag);
    check(name, bad_alone == 0 && bad_rev == 0,
          "logits differing from the packed batch's: sequences alone %zu, reversed pack %zu (limit 0)", bad_alone,
          bad_rev);
    free(full), free(part), free(rev.tok);
}

// Decodes every sequence of b into its own cache slot, all slots in each call: the first prefill[s] tokens of
// sequence s in one call (0: none), then one token per sequence per call. Logits land in training-forward order.
static void decode_all(Model *m, const Batch *b, const int *prefill, float *logits) {
    int V = m->cfg.vocab_size, T = (int)b->off[b->n];
    KVCache *c = kv_cache_create(m, b->n, 64, &err);
    if (!c) ok_or_die(-1, &err, "kv_cache_create");
    int *slots = malloc((size_t)T * 4), *pos = malloc((size_t)T * 4), *done = calloc((size_t)b->n, 4);
    int32_t *tok = malloc((size_t)T * 4);
    int64_t *row = malloc((size_t)T * 8);
    float *out = malloc((size_t)T * V * 4);
    for (bool first = true;; first = false) {
        int n = 0;
        for (int s = 0; s < b->n; s++) {
            int64_t len = b->off[s + 1] - b->off[s];
            int take = first ? prefill[s] : done[s] < len;
            for (int i = 0; i < take && done[s] < len; i++, done[s]++, n++)
                slots[n] = s, pos[n] = done[s], tok[n] = b->tok[b->off[s] + done[s]], row[n] = b->off[s] + done[s];
        }
        if (!n && !first) break;
        if (!n) continue;
        OK(model_decode(m, c, n, slots, pos, tok, out, NULL, &err));
        for (int i = 0; i < n; i++) memcpy(logits + (size_t)row[i] * V, out + (size_t)i * V, (size_t)V * 4);
    }
    kv_cache_free(c);
    free(slots), free(pos), free(done), free(tok), free(row), free(out);
}

// On the GPU: a prefill of each sequence's first half followed by one-token steps, and one-token steps from the
// start, against the training forward, bit for bit.
static void decode_invariance(const char *tag, Model *m, const Batch *b) {
    int T = (int)b->off[b->n], V = m->cfg.vocab_size;
    float *full = malloc((size_t)T * V * 4), *dec = malloc((size_t)T * V * 4);
    forward(m, b, full, NULL);
    int half[8], none[8] = {0};
    for (int s = 0; s < b->n; s++) half[s] = (int)((b->off[s + 1] - b->off[s] + 1) / 2);
    decode_all(m, b, half, dec);
    size_t bad_prefill = bits_differ(dec, full, (size_t)T * V * 4, 4);
    decode_all(m, b, none, dec);
    size_t bad_steps = bits_differ(dec, full, (size_t)T * V * 4, 4);
    char name[96];
    snprintf(name, sizeof name, "model %s: prefill/decode vs training (GPU)", tag);
    check(name, bad_prefill == 0 && bad_steps == 0,
          "logits differing from the training forward's: prefill + steps %zu, steps only %zu (limit 0)", bad_prefill,
          bad_steps);
    free(full), free(dec);
}

// logp of rows [n, V] (host logits) at targets, through the backend's LM-head entry.
static void backend_logprob(const Backend *be, float *logits, int n, int V, int32_t *targets, double *logp) {
    void *l = be->view(be, logits, (size_t)n * V, BUF_ACT, VIEW_IN);
    void *t = be->view(be, targets, (size_t)n, BUF_I32, VIEW_IN);
    void *lp = be->view(be, logp, (size_t)n, BUF_F64, VIEW_OUT);
    be->logprob(be, l, n, V, t, 1.0, lp, NULL);
    be->view_end(be, lp, logp, (size_t)n, BUF_F64, VIEW_OUT);
    be->view_end(be, t, targets, (size_t)n, BUF_I32, VIEW_IN);
    be->view_end(be, l, logits, (size_t)n * V, BUF_ACT, VIEW_IN);
}

// A draw from softmax(z) (temperature 1) with the host's Philox stream.
static int32_t sample(const float *z, int V, Rng *r) {
    double mx = -INFINITY, sum = 0, u;
    for (int v = 0; v < V; v++) mx = fmax(mx, z[v]);
    for (int v = 0; v < V; v++) sum += exp(z[v] - mx);
    u = rng_uniform(r) * sum;
    for (int v = 0; v < V; v++)
        if ((u -= exp(z[v] - mx)) <= 0) return v;
    return V - 1;
}

// On the GPU: responses sampled by decoding (prompts prefilled, all sequences stepped together), each token's
// log-prob taken from the decode step's logits, against the log-probs of the scoring (training) forward, bit for bit.
static void sampled_vs_scored(const char *tag, Model *m, const Backend *cuda) {
    enum { N = 4, PROMPT = 6, RESP = 10 };
    int V = m->cfg.vocab_size, L = PROMPT + RESP;
    int lens[N] = {L, L, L, L};
    Batch b = batch_of(lens, N, V, 71);
    KVCache *c = kv_cache_create(m, N, L, &err);
    if (!c) ok_or_die(-1, &err, "kv_cache_create");
    int slots[N * PROMPT], pos[N * PROMPT];
    int32_t tok[N * PROMPT];
    float *out = malloc((size_t)N * PROMPT * V * 4);
    double lp_sampled[N * RESP], lp_scored[N * RESP], one;
    Rng r = rng_at(72, 29, 0, 0);
    for (int step = 0; step <= RESP; step++) {  // step 0: the prompts; then one sampled token per sequence
        int n = 0;
        for (int s = 0; s < N; s++) {
            int p0 = step ? PROMPT + step - 1 : 0, p1 = step ? p0 + 1 : PROMPT;
            for (int p = p0; p < p1; p++, n++) slots[n] = s, pos[n] = p, tok[n] = b.tok[b.off[s] + p];
        }
        if (step == RESP) break;
        OK(model_decode(m, c, n, slots, pos, tok, out, NULL, &err));
        for (int s = 0; s < N; s++) {
            int last = step ? s : s * PROMPT + PROMPT - 1;  // this sequence's last row of the call
            float *z = out + (size_t)last * V;
            int32_t t = sample(z, V, &r);
            b.tok[b.off[s] + PROMPT + step] = t;
            backend_logprob(cuda, z, 1, V, &t, &one);
            lp_sampled[s * RESP + step] = one;
        }
    }
    float *full = malloc((size_t)N * L * V * 4);
    forward(m, &b, full, NULL);
    for (int s = 0; s < N; s++) {
        float *rows = full + ((size_t)s * L + PROMPT - 1) * V;  // row p predicts token p + 1
        int32_t *targets = b.tok + b.off[s] + PROMPT;
        backend_logprob(cuda, rows, RESP, V, targets, lp_scored + s * RESP);
    }
    size_t bad = bits_differ(lp_sampled, lp_scored, sizeof lp_sampled, sizeof(double));
    char name[96];
    snprintf(name, sizeof name, "model %s: sampled == scored log-probs (GPU)", tag);
    check(name, bad == 0, "%d sequences x %d sampled tokens, log-probs differing in bits: %zu (limit 0)", N, RESP, bad);
    kv_cache_free(c);
    free(out), free(full), free(b.tok);
}

// The parameter gradient of sum(dlogits * logits) + aux_weight * aux on backend be (host copy [n_params]).
static void gradient(Model *m, const Backend *be, const Batch *b, const float *dlogits, double aux_weight,
                     float *grads, int32_t *experts) {
    int T = (int)b->off[b->n];
    use(m, be);
    ModelActs *acts = NULL;
    float *logits = malloc((size_t)T * m->cfg.vocab_size * 4);
    OK(model_forward(m, b->n, b->off, b->tok, logits, m->moe ? experts : NULL, NULL, &acts, &err));
    void *g = be->alloc(be, m->n_params, BUF_F32);
    if (!g) ok_or_die(-1, &(Err){"no memory for the gradient"}, "alloc");
    OK(model_backward(m, acts, dlogits, aux_weight, g, &err));
    be->to_host(be, grads, g, m->n_params, BUF_F32);
    be->free(be, g);
    model_acts_free(acts);
    free(logits);
}

// The backward's parameter gradients, CUDA vs CPU, per tensor (the worst named); dlogits NULL: the load-balancing
// loss alone (dlogits zero), which reaches every parameter before the last router only through the aux term.
// A batch of the given lengths whose expert choices agree between the backends is searched over 16 token seeds
// (the gradients sum over every token, so one flipped choice would spoil the comparison); none agreeing: skip.
static void cpu_vs_gpu_grads(const char *tag, Model *m, const Backend *cuda, const int *lens, int n_seqs,
                             bool aux_only) {
    enum { TRIES = 16 };
    int V = m->cfg.vocab_size;
    char name[96];
    snprintf(name, sizeof name, "model %s: %s, CUDA vs CPU", tag, aux_only ? "aux-loss gradient" : "gradient");
    for (int k = 0; k < TRIES; k++) {
        Batch b = batch_of(lens, n_seqs, V, 62 + (uint64_t)k);
        int T = (int)b.off[b.n];
        float *dl = calloc((size_t)T * V, 4), *gc = malloc(m->n_params * 4), *gg = malloc(m->n_params * 4);
        if (!aux_only) random_f32(dl, (size_t)T * V, 0.01, 81);
        double aux_weight = m->moe ? (aux_only ? 1.0 : 0.01) : 0.0;
        size_t ne = n_experts_out(m, T);
        int32_t *ec = calloc(ne, 4), *eg = calloc(ne, 4);
        gradient(m, backend_cpu(), &b, dl, aux_weight, gc, ec);
        gradient(m, cuda, &b, dl, aux_weight, gg, eg);
        bool agree = !memcmp(ec, eg, ne * 4);
        if (agree) {
            double worst = 0, gmax = 0;
            const char *worst_name = "-";
            for (int i = 0; i < m->n_tensors; i++) {
                const ModelTensor *t = &m->tensors[i];
                double rel = rel_err(gg + t->offset, gc + t->offset, t->numel);
                for (size_t j = 0; j < t->numel; j++) gmax = fmax(gmax, fabs((double)gc[t->offset + j]));
                if (!(rel <= worst)) worst = rel, worst_name = t->name;
            }
            check(name, worst <= TOL_MODEL_GRADS && gmax > 0,
                  "worst tensor %s: norm-wise error %.3g (limit %.3g); largest |gradient| %.3g (must be > 0); token "
                  "seed %d of %d",
                  worst_name, worst, TOL_MODEL_GRADS, gmax, k + 1, TRIES);
        }
        free(dl), free(gc), free(gg), free(ec), free(eg), free(b.tok);
        if (agree) return;
    }
    skip_line(name, "an expert choice differs between the backends in each of 16 batches (the gradients sum over "
                    "every token)");
}

// Backend buffer of n elements of type t holding host (float for BUF_ACT/BUF_GRAD), and back.
static void *up(const Backend *be, const void *host, size_t n, BufType t) {
    void *b = be->alloc(be, n, t);
    if (!b) ok_or_die(-1, &(Err){"out of device memory"}, "alloc");
    be->to_dev(be, b, host, n, t);
    return b;
}
static void *down(const Backend *be, const void *buf, size_t n, size_t elem, BufType t) {
    void *h = malloc(n * elem + 8);
    be->to_host(be, h, buf, n, t);
    return h;
}

// The MoE block's backward alone (the CUDA backend's moe_back against moe.c moe_backward) from one record: the
// CUDA forward's, copied to the host for the CPU, so both see the same routing. Inputs identical, the GPU rounds
// the gradients entering its products (dy * w, the experts' and the shared expert's, the router's) to bf16: a
// chain of a few roundings, held to TOL_CHAIN like the MoE forward.
static void moe_block_backward(const Backend *cuda) {
    enum { T = 29 };
    Model m;
    tiny_model(&m, MODEL_QWEN2_MOE, 9);
    use(&m, cuda);
    Dims d = model_dims(&m);
    int l = 0;
    const LayerOffsets *o = &m.priv->layers[l];
    size_t nd = (size_t)T * d.D, nk = (size_t)T * d.K, nf = nk * d.Fe, ns = (size_t)T * d.S;
    float *x = malloc(nd * 4), *dy = malloc(nd * 4);
    random_bf16(x, NULL, nd, 1.0, 91);
    random_f32(dy, nd, 0.1, 92);
    LayerActs a;
    layer_acts_alloc(cuda, &a, &d, T, LAYER_MOE);
    cuda->to_dev(cuda, a.a2, x, nd, BUF_ACT);
    void *y = cuda->alloc(cuda, nd, BUF_ACT);
    cuda->moe(cuda, &m, l, a.a2, &a, T, y);
    LayerActs h = {
        .a2 = x, .probs = down(cuda, a.probs, (size_t)T * d.E, 4, BUF_F32),
        .top_e = down(cuda, a.top_e, nk, 4, BUF_I32), .top_w = down(cuda, a.top_w, nk, 4, BUF_F32), .eg = down(cuda, a.eg, nf, 4, BUF_ACT),
        .eu = down(cuda, a.eu, nf, 4, BUF_ACT), .eact = down(cuda, a.eact, nf, 4, BUF_ACT),
        .eout = down(cuda, a.eout, nk * d.D, 4, BUF_ACT), .sg = down(cuda, a.sg, ns, 4, BUF_ACT),
        .su = down(cuda, a.su, ns, 4, BUF_ACT), .sact = down(cuda, a.sact, ns, 4, BUF_ACT),
        .sout = down(cuda, a.sout, nd, 4, BUF_ACT), .sgate = down(cuda, a.sgate, T, 4, BUF_ACT)};
    double frac[64];  // a plausible load-balancing share per expert, so the aux term is not zero
    for (int e = 0; e < d.E; e++) frac[e] = (double)(e + 1) / (d.E * (d.E + 1) / 2);
    ModelActs A = {.be = cuda, .T = T, .n_seqs = 1, .n_layers = 1, .expert_frac = frac};
    double aux_weight = 0.5;
    float *gc = calloc(m.n_params, 4), *dxc = calloc(nd, 4);
    moe_backward(&m, o, &d, &A, &h, dy, aux_weight, gc, dxc, moe_experts_backward);
    float *g_dev = cuda->alloc(cuda, m.n_params, BUF_F32);
    void *dy_dev = up(cuda, dy, nd, BUF_GRAD), *dx_dev = cuda->alloc(cuda, nd, BUF_GRAD);
    cuda->moe_back(cuda, &m, l, &A, &a, dy_dev, aux_weight, g_dev, dx_dev);
    float *gg = down(cuda, g_dev, m.n_params, 4, BUF_F32), *dxg = down(cuda, dx_dev, nd, 4, BUF_GRAD);
    struct { const char *name; size_t off, n; } parts[] = {
        {"router", o->router, (size_t)d.E * d.D},          {"experts' gate", o->egate, (size_t)d.E * d.Fe * d.D},
        {"experts' up", o->eup, (size_t)d.E * d.Fe * d.D},  {"experts' down", o->edown, (size_t)d.E * d.D * d.Fe},
        {"shared gate", o->sgate, (size_t)d.S * d.D},      {"shared up", o->sup, (size_t)d.S * d.D},
        {"shared down", o->sdown, (size_t)d.D * d.S},      {"shared expert gate", o->sexp_gate, (size_t)d.D}};
    double worst = rel_err(dxg, dxc, nd);
    const char *worst_name = "d(input)";
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        double rel = rel_err(gg + parts[i].off, gc + parts[i].off, parts[i].n);
        if (!(rel <= worst)) worst = rel, worst_name = parts[i].name;
    }
    double dmax = 0;
    for (size_t i = 0; i < nd; i++) dmax = fmax(dmax, fabs((double)dxc[i]));
    check("moe block backward (CUDA record), CUDA vs moe.c", worst <= TOL_CHAIN && dmax > 0,
          "worst of d(input) and 8 weight gradients: %s, norm-wise error %.3g (limit %.3g); largest |d(input)| %.3g "
          "(must be > 0)", worst_name, worst, TOL_CHAIN, dmax);
    void *hb[] = {h.probs, h.top_e, h.top_w, h.eg, h.eu, h.eact, h.eout, h.sg, h.su, h.sact, h.sout, h.sgate};
    for (size_t i = 0; i < sizeof hb / sizeof hb[0]; i++) free(hb[i]);
    cuda->free(cuda, y), cuda->free(cuda, g_dev), cuda->free(cuda, dy_dev), cuda->free(cuda, dx_dev);
    layer_acts_free(cuda, &a);
    free(x), free(dy), free(gc), free(dxc), free(gg), free(dxg);
    use(&m, backend_cpu());
    model_free(&m);
}

// The log-prob head in chunks (model/model_head.c) on the CUDA backend: its log-probs, entropies and parameter
// gradient for chunks of 1 and 7 rows must equal, bit for bit, those of one chunk holding every row (the unchunked
// head's products): every output of the GPU's products is summed in one order whatever the shape (kernels/ops.h).
typedef struct {
    double *logp, *ent;
    float *grads;
} HeadRun;

static HeadRun head_run(Model *m, const Backend *be, const Batch *b, const int32_t *tgt, int n, const double *dlp,
                        const double *dh, int chunk) {
    HeadRun r = {calloc((size_t)n + 1, 8), calloc((size_t)n + 1, 8), malloc(m->n_params * 4)};
    m->head_chunk = chunk;
    HeadLogprob h = {.targets = tgt, .temperature = 0.9, .logp = r.logp, .entropy = r.ent};
    ModelActs *acts = NULL;
    OK(model_forward_logprob(m, b->n, b->off, b->tok, &h, NULL, NULL, &acts, &err));
    void *g = be->alloc(be, m->n_params, BUF_F32);
    if (!g) ok_or_die(-1, &(Err){"no memory for the gradient"}, "alloc");
    OK(model_backward_logprob_hooked(m, acts, dlp, dh, m->moe ? 0.01 : 0.0, g, NULL, NULL, &err));
    be->to_host(be, r.grads, g, m->n_params, BUF_F32);
    be->free(be, g);
    model_acts_free(acts);
    m->head_chunk = MODEL_HEAD_CHUNK;
    return r;
}

static void chunked_head(const char *tag, Model *m, const Backend *cuda, const Batch *b) {
    int T = (int)b->off[b->n], n = 0;
    int32_t *tgt = malloc((size_t)T * 4);
    double *dlp = malloc((size_t)T * 8), *dh = malloc((size_t)T * 8);
    Rng r = rng_at(77, 0, 0, 0);
    for (int s = 0; s < b->n; s++)
        for (int64_t t = b->off[s]; t < b->off[s + 1]; t++) {
            tgt[t] = t >= b->off[s] + 1 && t + 1 < b->off[s + 1] ? b->tok[t + 1] : -1;  // the first row: a prompt
            if (tgt[t] < 0) continue;
            dlp[n] = n % 4 == 3 ? 0 : rng_normal(&r), dh[n] = n % 4 == 3 || n % 3 == 1 ? 0 : 0.5 * rng_normal(&r);
            n++;
        }
    use(m, cuda);
    HeadRun want = head_run(m, cuda, b, tgt, n, dlp, dh, T);
    double gmax = 0;
    for (size_t i = 0; i < m->n_params; i++) gmax = fmax(gmax, fabs((double)want.grads[i]));
    for (int chunk = 1; chunk <= 7; chunk += 6) {
        HeadRun got = head_run(m, cuda, b, tgt, n, dlp, dh, chunk);
        size_t dl = bits_differ(got.logp, want.logp, (size_t)n * 8, 8) + bits_differ(got.ent, want.ent, (size_t)n * 8, 8);
        size_t dg = bits_differ(got.grads, want.grads, m->n_params * 4, 4);
        char name[96];
        snprintf(name, sizeof name, "model %s: head in chunks of %d = one chunk, bit for bit", tag, chunk);
        check(name, dl == 0 && dg == 0 && gmax > 0, "%zu log-probs/entropies, %zu of %zu gradient elements differ; "
              "largest |gradient| %.3g (must be > 0)", dl, dg, m->n_params, gmax);
        free(got.logp), free(got.ent), free(got.grads);
    }
    free(want.logp), free(want.ent), free(want.grads);
    free(tgt), free(dlp), free(dh);
}

// tag: dense = Qwen3 (q/k norm, tied head), moe = Qwen3-MoE, moe+shared = Qwen2-MoE (q/k/v biases, shared expert).
static void check_one(const char *tag, ModelType type, const Backend *cuda) {
    Model m;
    tiny_model(&m, type, 5);
    const int lens[] = {37, 5, 64, 1, 23};
    Batch b = batch_of(lens, 5, m.cfg.vocab_size, 61);
    cpu_vs_gpu_logits(tag, &m, cuda, &b);
    use(&m, cuda);
    batch_invariance(tag, &m, &b);
    decode_invariance(tag, &m, &b);
    sampled_vs_scored(tag, &m, cuda);
    const int small[] = {13, 7, 4};  // the backward: few routing choices to agree on
    cpu_vs_gpu_grads(tag, &m, cuda, small, 3, false);
    if (m.moe) cpu_vs_gpu_grads(tag, &m, cuda, small, 3, true);
    Batch bs = batch_of(small, 3, m.cfg.vocab_size, 62);
    chunked_head(tag, &m, cuda, &bs);
    use(&m, backend_cpu());
    free(b.tok), free(bs.tok);
    model_free(&m);
}

void check_model(void) {
    setenv("RLVR_CUDA_POISON", "1", 1);  // buffers the loop must write first hold NaN: a read of one shows below
    Backend *cuda = backend_cuda_create(0, &err);
    if (!cuda) ok_or_die(-1, &err, "backend_cuda_create");
    check_one("dense", MODEL_QWEN3, cuda);
    check_one("moe", MODEL_QWEN3_MOE, cuda);
    check_one("moe+shared", MODEL_QWEN2_MOE, cuda);
    moe_block_backward(cuda);
    backend_cuda_destroy(cuda);
}
