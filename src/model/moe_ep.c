// The routed experts of a MoE layer under expert parallelism (model/expert_map.h): every (token, slot) row goes to
// its expert's owner in the group and its result comes back, one all-to-all each way per layer. Each rank packs
// its rows place by place, expert by expert, each expert's rows in (token, slot) order, and an owner runs each
// sender's rows of an expert as one block, so every row's result, every expert's weight gradient per micro-batch
// and every input gradient's order of addition have the bits they have with all experts on one rank (moe.c).
#include <stdint.h>
#include <string.h>

#include "base/dist.h"
#include "model/model_internal.h"

// A message to one place: int32 rows per expert it owns, then for each of those experts its rows' blocks.
// Forward: the input rows [n, D]. Backward: the input rows [n, D], then the output gradients dy * w [n, D].
static char *pack(const ExpertParallel *ep, const Dims *d, const LayerActs *a, int T, const float *x,
                  const float *dy, int64_t *bytes) {
    int per = d->E / ep->k, blocks = dy ? 2 : 1;
    int32_t *cnt = xcalloc((size_t)d->E, sizeof *cnt);
    for (int i = 0; i < T * d->K; i++) cnt[a->top_e[i]]++;
    size_t total = (size_t)d->E * sizeof *cnt + (size_t)T * d->K * blocks * d->D * sizeof(float);
    char *buf = xmalloc(total), *p = buf;
    for (int q = 0; q < ep->k; q++) {
        char *start = p;
        memcpy(p, cnt + q * per, (size_t)per * sizeof *cnt);
        p += (size_t)per * sizeof *cnt;
        for (int e = q * per; e < (q + 1) * per; e++) {
            float *rows = (float *)p, *grads = rows + (size_t)cnt[e] * d->D;
            int r = 0;
            for (int i = 0; i < T * d->K; i++) {
                if (a->top_e[i] != e) continue;
                int t = i / d->K;
                memcpy(rows + (size_t)r * d->D, x + (size_t)t * d->D, d->D * sizeof(float));
                for (int c = 0; dy && c < d->D; c++) grads[(size_t)r * d->D + c] = dy[(size_t)t * d->D + c] * a->top_w[i];
                r++;
            }
            p += (size_t)cnt[e] * blocks * d->D * sizeof(float);
        }
        bytes[q] = p - start;
    }
    free(cnt);
    return buf;
}

// What one sender's message holds for each of this rank's experts: rows and where their blocks start.
typedef struct {
    const int32_t *cnt;  // [per]
    const float **rows;  // [per]
} Received;

static Received *parse(const ExpertParallel *ep, int per, const char *buf, const int64_t *bytes, int blocks,
                       const Dims *d) {
    Received *in = xcalloc((size_t)ep->k, sizeof *in);
    const char *p = buf;
    for (int s = 0; s < ep->k; s++) {
        in[s].cnt = (const int32_t *)p;
        in[s].rows = xmalloc((size_t)per * sizeof *in[s].rows);
        const char *q = p + (size_t)per * sizeof(int32_t);
        for (int j = 0; j < per; j++) {
            in[s].rows[j] = (const float *)q;
            q += (size_t)in[s].cnt[j] * blocks * d->D * sizeof(float);
        }
        p += bytes[s];
    }
    return in;
}

static void received_free(Received *in, int k) {
    for (int s = 0; s < k; s++) free(in[s].rows);
    free(in);
}

// Reply sizes: rows [n, D] for every row received from each sender.
static size_t reply_layout(const Received *in, int k, int per, const Dims *d, int64_t *bytes) {
    size_t total = 0;
    for (int s = 0; s < k; s++) {
        bytes[s] = 0;
        for (int j = 0; j < per; j++) bytes[s] += (int64_t)in[s].cnt[j] * d->D * (int64_t)sizeof(float);
        total += (size_t)bytes[s];
    }
    return total;
}

// Forward: this rank's rows to their owners, each owner's SwiGLU on each sender's block, the outputs back into
// a->eout [T, K, D]. T = 0 still serves the group.
void moe_ep_forward(const Model *m, const LayerOffsets *o, const Dims *d, const float *x, LayerActs *a, int T) {
    const ExpertParallel *ep = m->ep;
    int per = d->E / ep->k, k = ep->k;
    int64_t *sent = xmalloc((size_t)k * sizeof *sent), *got = xmalloc((size_t)k * sizeof *got);
    char *send = pack(ep, d, a, T, x, NULL, sent);
    size_t n_recv;
    char *recv = dist_group_alltoallv_bytes(ep->group, send, sent, &n_recv, got);
    free(send);
    Received *in = parse(ep, per, recv, got, 1, d);
    float *reply = xmalloc(reply_layout(in, k, per, d, sent) + 1), *y = reply;
    const float *P = m->params;
    for (int s = 0; s < k; s++)
        for (int j = 0; j < per; j++) {
            int n = in[s].cnt[j];
            if (!n) continue;
            size_t wo = (size_t)(ep->e_begin + j) * d->Fe * d->D;
            float *g = xmalloc((size_t)n * 3 * d->Fe * sizeof(float));
            swiglu(in[s].rows[j], P + o->egate + wo, P + o->eup + wo, P + o->edown + wo, n, d->D, d->Fe, g,
                   g + (size_t)n * d->Fe, g + (size_t)2 * n * d->Fe, y);
            free(g);
            y += (size_t)n * d->D;
        }
    received_free(in, k);
    free(recv);
    float *back = dist_group_alltoallv_bytes(ep->group, reply, sent, &n_recv, got);
    free(reply);
    const float *row = back;
    for (int e = 0; e < d->E; e++)  // owners in place order, each its experts in order: e ascending
        for (int i = 0; i < T * d->K; i++)
            if (a->top_e[i] == e) memcpy(a->eout + (size_t)i * d->D, row, d->D * sizeof(float)), row += d->D;
    free(back), free(sent), free(got);
}

// Where the weight gradient of this rank's expert e from sender s goes: the micro-batch's own gradient (s is this
// rank, or no buffer is kept per sender), else that sender's packed buffer.
static float *expert_grad(const Model *m, float *grads, size_t tensor_off, int s, int e, size_t per_expert) {
    const ExpertParallel *ep = m->ep;
    if (s == ep->q || !ep->peer_grads[s]) return grads + tensor_off + (size_t)e * per_expert;
    int i = 0;
    while (m->tensors[i].offset != tensor_off) i++;  // the expert tensor at that offset
    return ep->peer_grads[s] + ep->packed_at[i] + (size_t)(e - ep->e_begin) * per_expert;
}

// Backward: this rank's rows and output gradients to the owners; each owner recomputes the block's SwiGLU
// activations (the same bits as the forward's), adds the block's weight gradient (expert_grad) and returns the
// input gradients, which are added to da2 expert by expert, row by row, as moe.c does. T = 0 still serves.
void moe_ep_backward(const Model *m, const LayerOffsets *o, const Dims *d, const LayerActs *a, const float *dy, int T,
                     float *grads, float *da2) {
    const ExpertParallel *ep = m->ep;
    int per = d->E / ep->k, k = ep->k;
    bool fx = m->fixed_order_backward;
    int64_t *sent = xmalloc((size_t)k * sizeof *sent), *got = xmalloc((size_t)k * sizeof *got);
    char *send = pack(ep, d, a, T, a ? a->a2 : NULL, dy, sent);
    size_t n_recv;
    char *recv = dist_group_alltoallv_bytes(ep->group, send, sent, &n_recv, got);
    free(send);
    Received *in = parse(ep, per, recv, got, 2, d);
    float *reply = xmalloc(reply_layout(in, k, per, d, sent) + 1), *dx = reply;
    const float *P = m->params;
    size_t pe = (size_t)d->Fe * d->D;
    for (int s = 0; s < k; s++)
        for (int j = 0; j < per; j++) {
            int n = in[s].cnt[j], e = ep->e_begin + j;
            if (!n) continue;
            const float *xs = in[s].rows[j], *gy = xs + (size_t)n * d->D;
            size_t wo = (size_t)e * pe;
            float *g = xmalloc((size_t)n * 3 * d->Fe * sizeof(float)), *y = xmalloc((size_t)n * d->D * sizeof(float));
            float *u = g + (size_t)n * d->Fe, *act = u + (size_t)n * d->Fe;
            swiglu(xs, P + o->egate + wo, P + o->eup + wo, P + o->edown + wo, n, d->D, d->Fe, g, u, act, y);
            memset(dx, 0, (size_t)n * d->D * sizeof(float));
            swiglu_back(fx, xs, P + o->egate + wo, P + o->eup + wo, P + o->edown + wo, g, u, act, gy,
                        expert_grad(m, grads, o->egate, s, e, pe), expert_grad(m, grads, o->eup, s, e, pe),
                        expert_grad(m, grads, o->edown, s, e, pe), dx, n, d->D, d->Fe);
            free(g), free(y);
            dx += (size_t)n * d->D;
        }
    received_free(in, k);
    free(recv);
    float *back = dist_group_alltoallv_bytes(ep->group, reply, sent, &n_recv, got);
    free(reply);
    const float *row = back;
    for (int e = 0; e < d->E; e++)
        for (int i = 0; i < T * d->K; i++) {
            if (a->top_e[i] != e) continue;
            float *out = da2 + (size_t)(i / d->K) * d->D;
            for (int c = 0; c < d->D; c++) out[c] += row[c];
            row += d->D;
        }
    free(back), free(sent), free(got);
}
