// The routed experts of a MoE layer under expert parallelism (model/expert_map.h): every (token, slot) row goes to
// its expert's owner in the group and its result comes back, one all-to-all each way per layer. Each rank packs
// its rows place by place, expert by expert, each expert's rows in (token, slot) order, and an owner runs each
// sender's rows of an expert as one block, so every row's result, every expert's weight gradient per micro-batch
// and every input gradient's order of addition have the bits they have with all experts on one rank (moe.c).
#include <stdint.h>
#include <string.h>

#include "base/dist.h"
#include "model/backend.h"
#include "model/model_internal.h"

// A backend with memory of its own (a device, or the staged test backend) exchanges rows through moe_ep_rows_*.
static bool own_memory(const Model *m) { return m->backend && m->backend != backend_cpu(); }
static void rows_forward_host(const Model *m, const LayerOffsets *o, const Dims *d, const float *x, LayerActs *a,
                              int T);
static void rows_backward_host(const Model *m, const LayerOffsets *o, const Dims *d, const LayerActs *a,
                               const float *dy, int T, float *grads, float *da2);

// Rows grouped by expert (e ascending, (token, slot) order within each) back into a->eout in slot order.
static void rows_to_slots(const Dims *d, LayerActs *a, int T, const float *rows) {
    const float *row = rows;
    for (int e = 0; e < d->E; e++)
        for (int i = 0; i < T * d->K; i++)
            if (a->top_e[i] == e) memcpy(a->eout + (size_t)i * d->D, row, d->D * sizeof(float)), row += d->D;
}

// Rows grouped the same way added to their tokens' rows of da2, in that order (the bits of moe.c's scatter-add).
static void add_rows_to_tokens(const Dims *d, const LayerActs *a, int T, const float *rows, float *da2) {
    const float *row = rows;
    for (int e = 0; e < d->E; e++)
        for (int i = 0; i < T * d->K; i++) {
            if (a->top_e[i] != e) continue;
            float *dst = da2 + (size_t)(i / d->K) * d->D;
            for (int c = 0; c < d->D; c++) dst[c] += row[c];
            row += d->D;
        }
}

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
    if (own_memory(m)) return rows_forward_host(m, o, d, x, a, T);
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
    rows_to_slots(d, a, T, back);  // owners in place order, each its experts in order: e ascending
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
    if (own_memory(m)) return rows_backward_host(m, o, d, a, dy, T, grads, da2);
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
    add_rows_to_tokens(d, a, T, back, da2);
    free(back), free(sent), free(got);
}

// ---- The exchange on a backend of its own (moe_ep_rows_*): counts on the host, rows in backend memory ----

// Who sends what: this rank's rows per place and each sender's rows per expert of this rank's.
typedef struct {
    int32_t *in;        // [k * per]: rows sender s has for this rank's expert e_begin + j, at s * per + j (malloc'd)
    int64_t *out_rows;  // [k]: this rank's rows for place q
    int64_t *in_rows;   // [k]: rows from sender s
    int64_t n_out, n_in;
} Route;

static void route(const ExpertParallel *ep, const Dims *d, const int32_t *cnt, Route *r) {
    int k = ep->k, per = d->E / k;
    int64_t bytes[k];
    r->out_rows = xcalloc((size_t)k, sizeof *r->out_rows), r->in_rows = xcalloc((size_t)k, sizeof *r->in_rows);
    r->n_out = r->n_in = 0;
    for (int q = 0; q < k; q++) {
        bytes[q] = (int64_t)per * (int64_t)sizeof *cnt;
        for (int j = 0; j < per; j++) r->out_rows[q] += cnt[q * per + j];
        r->n_out += r->out_rows[q];
    }
    size_t n_recv;
    r->in = dist_group_alltoallv_bytes(ep->group, cnt, bytes, &n_recv, NULL);  // cnt is [E]: place by place
    for (int s = 0; s < k; s++) {
        for (int j = 0; j < per; j++) r->in_rows[s] += r->in[s * per + j];
        r->n_in += r->in_rows[s];
    }
}

static void route_free(Route *r) { free(r->in), free(r->out_rows), free(r->in_rows); }

// Rows of width D and type t from send to their owners (back: the replies to their senders) into recv.
static void exchange(const Model *m, const Route *r, const void *send, void *recv, int D, BufType t, bool back) {
    const Backend *be = m->backend;
    int k = m->ep->k;
    int64_t row = (int64_t)D * (int64_t)(t == BUF_ACT ? be->act_bytes : be->grad_bytes), sb[k], rb[k];
    for (int q = 0; q < k; q++) {
        sb[q] = (back ? r->in_rows[q] : r->out_rows[q]) * row;
        rb[q] = (back ? r->out_rows[q] : r->in_rows[q]) * row;
    }
    dist_group_alltoallv_into(m->ep->group, send, sb, recv, rb, !strcmp(be->name, "cuda"));
}

static size_t row_bytes(const Backend *be, const Dims *d, BufType t) {
    return (size_t)d->D * (t == BUF_ACT ? be->act_bytes : be->grad_bytes);
}

void moe_ep_rows_forward(const Model *m, const LayerOffsets *o, const Dims *d, const void *xs, const int32_t *cnt,
                         void *out) {
    const Backend *be = m->backend;
    const ExpertParallel *ep = m->ep;
    int per = d->E / ep->k;
    Route r;
    route(ep, d, cnt, &r);
    void *in = bk_alloc(be, (size_t)r.n_in * d->D, BUF_ACT), *reply = bk_alloc(be, (size_t)r.n_in * d->D, BUF_ACT);
    exchange(m, &r, xs, in, d->D, BUF_ACT, false);
    size_t at = 0, rb = row_bytes(be, d, BUF_ACT);
    for (int s = 0; s < ep->k; s++)
        for (int j = 0; j < per; j++) {
            int n = r.in[s * per + j];
            if (n) be->ep_expert(be, m, o, ep->e_begin + j, (char *)in + at * rb, n, (char *)reply + at * rb);
            at += (size_t)n;
        }
    exchange(m, &r, reply, out, d->D, BUF_ACT, true);
    be->free(be, in), be->free(be, reply);
    route_free(&r);
}

// Where the weight gradient of this rank's expert e from sender s goes in backend memory (expert_grad's layout).
static float *expert_grad_dev(const Model *m, float *grads, size_t tensor_off, int s, int e, size_t per_expert) {
    const ExpertParallel *ep = m->ep;
    if (s == ep->q || !ep->peer_dev || !ep->peer_dev[s]) return grads + tensor_off + (size_t)e * per_expert;
    int i = 0;
    while (m->tensors[i].offset != tensor_off) i++;
    return ep->peer_dev[s] + ep->packed_at[i] + (size_t)(e - ep->e_begin) * per_expert;
}

void moe_ep_rows_backward(const Model *m, const LayerOffsets *o, const Dims *d, const void *xs, const void *gy,
                          const int32_t *cnt, float *grads, void *dxs) {
    const Backend *be = m->backend;
    const ExpertParallel *ep = m->ep;
    int per = d->E / ep->k;
    Route r;
    route(ep, d, cnt, &r);
    size_t nd = (size_t)r.n_in * d->D, pe = (size_t)d->Fe * d->D;
    void *in_x = bk_alloc(be, nd, BUF_ACT), *in_g = bk_alloc(be, nd, BUF_ACT), *reply = bk_alloc(be, nd, BUF_GRAD);
    exchange(m, &r, xs, in_x, d->D, BUF_ACT, false);
    exchange(m, &r, gy, in_g, d->D, BUF_ACT, false);
    size_t at = 0, ra = row_bytes(be, d, BUF_ACT), rg = row_bytes(be, d, BUF_GRAD);
    for (int s = 0; s < ep->k; s++)
        for (int j = 0; j < per; j++) {
            int n = r.in[s * per + j], e = ep->e_begin + j;
            if (n)
                be->ep_expert_back(be, m, o, e, (char *)in_x + at * ra, (char *)in_g + at * ra, n,
                                   expert_grad_dev(m, grads, o->egate, s, e, pe),
                                   expert_grad_dev(m, grads, o->eup, s, e, pe),
                                   expert_grad_dev(m, grads, o->edown, s, e, pe), (char *)reply + at * rg);
            at += (size_t)n;
        }
    exchange(m, &r, reply, dxs, d->D, BUF_GRAD, true);
    be->free(be, in_x), be->free(be, in_g), be->free(be, reply);
    route_free(&r);
}

// Rows per expert (host) of the record's choices; zeros without tokens.
static int32_t *expert_counts(const Dims *d, const LayerActs *a, int T) {
    int32_t *cnt = xcalloc((size_t)d->E, sizeof *cnt);
    for (int i = 0; i < T * d->K; i++) cnt[a->top_e[i]]++;
    return cnt;
}

// The rows of x [T, D] grouped by expert, (token, slot) order within each (scaled by the slot's router weight when
// w): what pack() sends, without its counts.
static void group_rows(const Dims *d, const LayerActs *a, int T, const float *x, const float *w, float *out) {
    size_t r = 0;
    for (int e = 0; e < d->E; e++)
        for (int i = 0; i < T * d->K; i++) {
            if (a->top_e[i] != e) continue;
            const float *src = x + (size_t)(i / d->K) * d->D;
            float *dst = out + r++ * d->D;
            if (!w) memcpy(dst, src, d->D * sizeof(float));
            else
                for (int c = 0; c < d->D; c++) dst[c] = src[c] * w[i];
        }
}

// moe_ep_forward on a backend whose activations are host floats (the staged backend; T = 0 on any backend): the
// rows through moe_ep_rows_forward, the results into a->eout in slot order.
static void rows_forward_host(const Model *m, const LayerOffsets *o, const Dims *d, const float *x, LayerActs *a,
                              int T) {
    const Backend *be = m->backend;
    int32_t *cnt = expert_counts(d, a, T);
    size_t n = (size_t)T * d->K;
    float *xs = bk_alloc(be, n * d->D, BUF_ACT), *out = bk_alloc(be, n * d->D, BUF_ACT);
    if (T) group_rows(d, a, T, x, NULL, xs);
    moe_ep_rows_forward(m, o, d, xs, cnt, out);
    rows_to_slots(d, a, T, out);
    be->free(be, xs), be->free(be, out);
    free(cnt);
}

// moe_ep_backward likewise: d(xs) added to da2 expert by expert, row by row, as moe_ep_backward adds them.
static void rows_backward_host(const Model *m, const LayerOffsets *o, const Dims *d, const LayerActs *a,
                               const float *dy, int T, float *grads, float *da2) {
    const Backend *be = m->backend;
    int32_t *cnt = expert_counts(d, a, T);
    size_t n = (size_t)T * d->K;
    float *xs = bk_alloc(be, n * d->D, BUF_ACT), *gy = bk_alloc(be, n * d->D, BUF_ACT),
          *dxs = bk_alloc(be, n * d->D, BUF_GRAD);
    if (T) group_rows(d, a, T, a->a2, NULL, xs), group_rows(d, a, T, dy, a->top_w, gy);
    moe_ep_rows_backward(m, o, d, xs, gy, cnt, grads, dxs);
    add_rows_to_tokens(d, a, T, dxs, da2);
    be->free(be, xs), be->free(be, gy), be->free(be, dxs);
    free(cnt);
}
