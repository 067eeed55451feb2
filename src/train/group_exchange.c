#include "train/group_exchange.h"

#include <stdlib.h>
#include <string.h>

#include "base/dist.h"

typedef struct {
    char *buf;
    size_t len, cap;
} Buf;

static void put(Buf *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        while (b->len + n > b->cap) b->cap = b->cap ? 2 * b->cap : 4096;
        b->buf = xrealloc(b->buf, b->cap);
    }
    if (n) memcpy(b->buf + b->len, p, n);
    b->len += n;
}

static const char *get(const char *at, void *p, size_t n) {
    if (n) memcpy(p, at, n);
    return at + n;
}

// Group header, then prompt tokens, then per response its header and arrays, then rewards, then advantages.
typedef struct {
    int64_t cand, pos;
    int32_t prompt_len, stride, has_adv;
} GroupHead;

typedef struct {
    int64_t prompt_index;
    int32_t sample_index, n_tokens, finish;
} RespHead;

static void put_group(Buf *b, const Group *g, int G, int stride, const double *adv) {
    GroupHead h = {g->cand, g->pos, g->prompt_len, stride, adv != NULL};
    put(b, &h, sizeof h);
    put(b, g->prompt, (size_t)g->prompt_len * sizeof *g->prompt);
    for (int j = 0; j < G; j++) {
        const Response *r = &g->resp[j];
        RespHead rh = {r->prompt_index, r->sample_index, r->n_tokens, (int32_t)r->finish};
        put(b, &rh, sizeof rh);
        put(b, r->tokens, (size_t)r->n_tokens * sizeof *r->tokens);
        put(b, r->logp, (size_t)r->n_tokens * sizeof *r->logp);
        put(b, r->entropy, (size_t)r->n_tokens * sizeof *r->entropy);
        if (stride) put(b, r->experts, (size_t)r->n_tokens * (size_t)stride * sizeof *r->experts);
    }
    put(b, g->rr, (size_t)G * sizeof *g->rr);
    if (adv) put(b, adv, (size_t)G * sizeof *adv);
}

// Reads one group into *g, its responses into resp[0 .. G) and its advantages (if sent) into adv.
static const char *get_group(const char *at, int G, Group *g, Response *resp, double *adv, int *stride) {
    GroupHead h;
    at = get(at, &h, sizeof h);
    *stride = h.stride;
    *g = (Group){.cand = h.cand, .pos = h.pos, .prompt_len = h.prompt_len, .resp = resp};
    g->prompt = xmalloc((size_t)(h.prompt_len ? h.prompt_len : 1) * sizeof *g->prompt);
    at = get(at, g->prompt, (size_t)h.prompt_len * sizeof *g->prompt);
    for (int j = 0; j < G; j++) {
        RespHead rh;
        at = get(at, &rh, sizeof rh);
        Response *r = &resp[j];
        size_t n = (size_t)rh.n_tokens, cap = n ? n : 1;
        *r = (Response){.prompt_index = rh.prompt_index, .sample_index = rh.sample_index, .n_tokens = rh.n_tokens,
                        .finish = (FinishReason)rh.finish};
        r->tokens = xmalloc(cap * sizeof *r->tokens), r->logp = xmalloc(cap * sizeof *r->logp);
        r->entropy = xmalloc(cap * sizeof *r->entropy);
        at = get(at, r->tokens, n * sizeof *r->tokens);
        at = get(at, r->logp, n * sizeof *r->logp);
        at = get(at, r->entropy, n * sizeof *r->entropy);
        if (h.stride) {
            r->experts = xmalloc(cap * (size_t)h.stride * sizeof *r->experts);
            at = get(at, r->experts, n * (size_t)h.stride * sizeof *r->experts);
        }
    }
    g->rr = xmalloc((size_t)G * sizeof *g->rr);
    at = get(at, g->rr, (size_t)G * sizeof *g->rr);
    if (h.has_adv) at = get(at, adv, (size_t)G * sizeof *adv);
    return at;
}

// The received groups' advantages follow them through the sort.
typedef struct {
    Group g;
    double *adv;
} Received;

static int by_cand(const void *a, const void *b) {
    const Group *x = &((const Received *)a)->g, *y = &((const Received *)b)->g;
    return (x->cand > y->cand) - (x->cand < y->cand);
}

// Parses the received bytes; each group's responses become one Rollout of into.
static Received *unpack(const char *at, const char *end, int G, Groups *into, int *n_out) {
    int n = 0, cap = 0;
    Received *got = NULL;
    while (at < end) {
        if (n == cap) got = xrealloc(got, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *got);
        Rollout ro = {.n_responses = G, .group_size = G, .responses = xcalloc((size_t)G, sizeof(Response))};
        got[n].adv = xmalloc((size_t)G * sizeof(double));
        at = get_group(at, G, &got[n].g, ro.responses, got[n].adv, &ro.experts_per_token);
        into->rollouts = xrealloc(into->rollouts, (size_t)(into->n_rollouts + 1) * sizeof *into->rollouts);
        into->rollouts[into->n_rollouts++] = ro;
        n++;
    }
    *n_out = n;
    return got;
}

void group_exchange(const Group *g, int n, int G, int stride, const double *adv, const uint8_t *dest, Groups *into,
                    double **adv_into) {
    int R = dist_size();
    Buf *to = xcalloc((size_t)R, sizeof *to), all = {0};
    for (int i = 0; i < n; i++)
        for (int r = 0; r < R; r++)
            if (dest[(size_t)i * R + r]) put_group(&to[r], &g[i], G, stride, adv ? adv + (size_t)i * G : NULL);
    int64_t *send_bytes = xmalloc((size_t)R * sizeof *send_bytes);
    for (int r = 0; r < R; r++) put(&all, to[r].buf, to[r].len), send_bytes[r] = (int64_t)to[r].len, free(to[r].buf);
    free(to);
    size_t n_bytes;
    char *bytes = dist_alltoallv_bytes(all.buf, send_bytes, &n_bytes, NULL);
    free(all.buf), free(send_bytes);
    int n_got;
    Received *got = unpack(bytes, bytes + n_bytes, G, into, &n_got);
    free(bytes);
    if (n_got) qsort(got, (size_t)n_got, sizeof *got, by_cand);  // got is NULL when nothing came: qsort's is nonnull
    into->g = xrealloc(into->g, (size_t)(into->n + n_got + 1) * sizeof *into->g);
    into->cap = into->n + n_got + 1;
    if (adv_into) *adv_into = xrealloc(*adv_into, ((size_t)(into->n + n_got) * G + 1) * sizeof **adv_into);
    for (int k = 0; k < n_got; k++) {
        if (adv_into) memcpy(*adv_into + (size_t)(into->n + k) * G, got[k].adv, (size_t)G * sizeof(double));
        into->g[into->n + k] = got[k].g;
        free(got[k].adv);
    }
    into->n += n_got;
    free(got);
}
