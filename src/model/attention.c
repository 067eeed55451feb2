// Causal scaled dot-product attention over a sequence's keys in key order, in two halves (key_cut): one code path for
// training, prefill and decode alike, so their outputs agree bit for bit; and its backward from the saved log-sum-exp.
// Softmax in float, exp eight lanes at a time; the scores are matmul_head_scores and matmul_dots (one fixed order per
// score, matmul.h).
#include <math.h>
#include <omp.h>
#include <string.h>

#include "model/matmul.h"
#include "model/model_internal.h"

typedef int32_t v8i __attribute__((vector_size(32)));

// exp(x) lane by lane for x <= 0 (Cephes expf: x = n ln2 + r, |r| <= ln2/2, degree-5 polynomial, then 2^n from
// the exponent bits); relative error about 2e-7. Below -87 the result is clamped to exp(-87) ~ 1.6e-38.
static inline __attribute__((always_inline)) void exp8(const float *in, float *out) {
    v8f x;
    memcpy(&x, in, sizeof x);
    const v8f lo = {-87.0f, -87.0f, -87.0f, -87.0f, -87.0f, -87.0f, -87.0f, -87.0f};
    v8i below = x < lo;  // all ones where x < -87
    x = (v8f)((below & (v8i)lo) | (~below & (v8i)x));
    const float shift = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer in the low mantissa bits
    v8f t = x * 1.44269504088896341f + shift, n = t - shift;
    v8f r = x - n * 0.693359375f - n * -2.12194440e-4f;  // ln2 in two parts, so n ln2 is exact enough
    v8f p = 1.9875691500e-4f * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    v8i bits;
    memcpy(&bits, &t, sizeof bits);
    v8i scale = (bits - 0x4B400000 + 127) << 23;  // 2^n
    v8f s2;
    memcpy(&s2, &scale, sizeof s2);
    p = p * s2;
    memcpy(out, &p, sizeof p);
}

// e[j] = exp(e[j] - shift) for j < n (e holds n rounded up to 8 floats).
static void exp_shifted(float *e, int n, float shift) {
    for (int j = n; j < ((n + 7) & ~7); j++) e[j] = shift;
    for (int j = 0; j < n; j += 8) {
        v8f v;
        memcpy(&v, e + j, sizeof v);
        v -= shift;
        memcpy(e + j, &v, sizeof v);
        exp8(e + j, e + j);
    }
}

// a += c * x[8i .. 8i + 7], lane by lane.
#define ACC8(a, c, x, i)                                             \
    do {                                                             \
        v8f x_;                                                      \
        memcpy(&x_, (x) + 8 * (i), sizeof x_), (a) += (c) * x_;     \
    } while (0)

// Rows of sum_rows: row u is query u / group's head u % group, heads hd floats apart and queries t_stride.
typedef struct {
    const float *x;
    size_t t_stride;
    int group, hd;
} HeadRows;

static inline const float *head_row(const HeadRows *r, int u) {
    return r->x + (size_t)(u / r->group) * r->t_stride + (size_t)(u % r->group) * r->hd;
}

// From row u's pointer (g = u % group) to row u + 1's.
static inline const float *next_row(const HeadRows *r, const float *xu, int *g) {
    if (++*g < r->group) return xu + r->hd;
    *g = 0;
    return xu + r->t_stride - (size_t)(r->group - 1) * r->hd;
}

// y[0..hd) += c_u x_u for the rows u = u0..u1-1 in order (c_u at c + u * c_stride), 64 then 8 floats at a time held
// in registers across the rows, then one at a time: each y[i] sees one multiply and one add per row, in row order
// (no contraction: -ffp-contract=off), whatever the width it is summed at. Inline: the forward's calls, one per head
// and key block (often one key), would cost more than their adds as calls.
static inline __attribute__((always_inline)) void sum_rows(float *restrict y, const float *c, size_t c_stride,
                                                           const HeadRows *r, int u0, int u1) {
    int i = 0, hd = r->hd;
    for (; i + 64 <= hd; i += 64) {
        v8f a0, a1, a2, a3, a4, a5, a6, a7;
        memcpy(&a0, y + i, sizeof a0), memcpy(&a1, y + i + 8, sizeof a1), memcpy(&a2, y + i + 16, sizeof a2);
        memcpy(&a3, y + i + 24, sizeof a3), memcpy(&a4, y + i + 32, sizeof a4), memcpy(&a5, y + i + 40, sizeof a5);
        memcpy(&a6, y + i + 48, sizeof a6), memcpy(&a7, y + i + 56, sizeof a7);
        const float *xu = head_row(r, u0) + i;
        for (int u = u0, g = u0 % r->group; u < u1; u++, xu = next_row(r, xu, &g)) {
            float cu = c[(size_t)u * c_stride];
            ACC8(a0, cu, xu, 0);
            ACC8(a1, cu, xu, 1);
            ACC8(a2, cu, xu, 2);
            ACC8(a3, cu, xu, 3);
            ACC8(a4, cu, xu, 4);
            ACC8(a5, cu, xu, 5);
            ACC8(a6, cu, xu, 6);
            ACC8(a7, cu, xu, 7);
        }
        memcpy(y + i, &a0, sizeof a0), memcpy(y + i + 8, &a1, sizeof a1), memcpy(y + i + 16, &a2, sizeof a2);
        memcpy(y + i + 24, &a3, sizeof a3), memcpy(y + i + 32, &a4, sizeof a4), memcpy(y + i + 40, &a5, sizeof a5);
        memcpy(y + i + 48, &a6, sizeof a6), memcpy(y + i + 56, &a7, sizeof a7);
    }
    for (; i + 8 <= hd; i += 8) {
        v8f a;
        memcpy(&a, y + i, sizeof a);
        const float *xu = head_row(r, u0) + i;
        for (int u = u0, g = u0 % r->group; u < u1; u++, xu = next_row(r, xu, &g))
            ACC8(a, c[(size_t)u * c_stride], xu, 0);
        memcpy(y + i, &a, sizeof a);
    }
    for (; i < hd; i++) {
        const float *xu = head_row(r, u0) + i;
        for (int u = u0, g = u0 % r->group; u < u1; u++, xu = next_row(r, xu, &g))
            y[i] += c[(size_t)u * c_stride] * *xu;
    }
}

// One task of attention_forward: a token's query heads against its sequence's keys 0..n-1, key j's rows at
// k / v + j KD, except keys j < np at kp / vp + j KD (another slot's copy of the same prompt: the same values).
typedef struct {
    const float *q, *k, *v;  // the token's query row; the sequence's first key and value rows
    const float *kp, *vp;
    int n, np;
} TokenRows;

// The scores are kept key by key, e[j * hp + h], the heads rounded up to hp, a multiple of 8: then the softmax takes
// eight heads per vector instruction, each lane still one head's own operations in key order.
static int padded_heads(int Hq) { return (Hq + 7) & ~7; }

// A token's keys 0..n-1 are taken in two halves, keys below key_cut(n) and the rest, each with its own softmax:
// its largest score per head, the exps of the scores less it, their sum and the value sums weighted by them, all in
// key order from zero. The halves are then rescaled to the larger of their two maxima and added. The cut depends on
// n alone, so a decode step can give each half to its own thread and still match the training forward bit for bit.
// Below SPLIT_MIN keys a token is one half.
enum { SPLIT_MIN = 64 };
static int key_cut(int n) { return n < SPLIT_MIN ? n : (n / 2) & ~15; }

// A token's working space: its scores e (n x hp), the second half's value sums (QD), and each half's maxima and exp
// sums (hp each).
typedef struct {
    float *e, *right, *mx, *sum;
} Scratch;

static Scratch scratch_alloc(const Dims *d, int max_n) {
    size_t hp = (size_t)padded_heads(d->Hq), e = hp * (size_t)max_n;
    float *f = xmalloc((e + (size_t)d->QD + 4 * hp) * sizeof *f);
    return (Scratch){f, f + e, f + e + d->QD, f + e + d->QD + 2 * hp};
}

// Keys [j0, j1): their scores, scaled, into e (padded heads 0), and each head's largest into mx.
static void score_keys(const Dims *d, const TokenRows *s, int j0, int j1, float *e, float *mx) {
    int hp = padded_heads(d->Hq), shared_end = j1 < s->np ? j1 : s->np, own0 = j0 > s->np ? j0 : s->np;
    size_t KD = (size_t)d->KD;
    if (shared_end > j0)
        matmul_head_scores(s->q, d->Hq, d->Hk, d->hd, s->kp + j0 * KD, KD, shared_end - j0, e + (size_t)j0 * hp,
                           (size_t)hp);
    if (j1 > own0)
        matmul_head_scores(s->q, d->Hq, d->Hk, d->hd, s->k + own0 * KD, KD, j1 - own0, e + (size_t)own0 * hp,
                           (size_t)hp);
    float scale = (float)(1.0 / sqrt((double)d->hd));
    for (int j = j0; j < j1; j++)
        for (int h = d->Hq; h < hp; h++) e[(size_t)j * hp + h] = 0;
    for (int h0 = 0; h0 < hp; h0 += 8) {
        v8f m = {0}, v;
        m -= INFINITY;
        for (int j = j0; j < j1; j++) {
            float *ej = e + (size_t)j * hp + h0;
            memcpy(&v, ej, sizeof v), v *= scale, memcpy(ej, &v, sizeof v);
            v8i up = v > m;
            m = (v8f)((up & (v8i)v) | (~up & (v8i)m));
        }
        memcpy(mx + h0, &m, sizeof m);
    }
}

// y[0..n) += c x[0..n), a multiply and an add per element: sum_rows's operations for one row, so the same bits.
static inline __attribute__((always_inline)) void add_scaled(float *restrict y, float c, const float *restrict x,
                                                             int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f a;
        memcpy(&a, y + i, sizeof a);
        ACC8(a, c, x + i, 0);
        memcpy(y + i, &a, sizeof a);
    }
    for (; i < n; i++) y[i] += c * x[i];
}

// The cache lines STREAM_AHEAD_BYTES past the n floats at p, which a stream read front to back reaches next.
static inline __attribute__((always_inline)) void prefetch_ahead(const float *p, int n) {
    for (int i = 0; i < n; i += 16) __builtin_prefetch((const char *)(p + i) + STREAM_AHEAD_BYTES, 0, 3);
}

// The value sums of score_keys, out_h += p_hj v_j[h / group] over keys j in order. Where 8 value rows fit one 4 KiB page
// (rows of 512 bytes or less: grouped queries with few key heads), each head sums 8 keys in registers (sum_rows);
// longer rows go one key at a time, every head inside, each row read front to back and the rows as one stream
// prefetched ahead (with the keys' in matmul_head_scores, a group's attention 14% faster on a Zen 5 VM). On a Zen 4 VM, blocks over longer
// rows, read head by head, were up to 48% slower from memory, and one key at a time through add_scaled was 10% faster
// in L2 than through sum_rows, and 18-20% from memory with 16 / 4 and 32 / 8 heads (results/cpu-bench-history.md).
static void sum_values(const Dims *d, const float *v, int j0, int j1, const float *e, int hp, float *restrict out) {
    int group = d->Hq / d->Hk;
    if ((size_t)d->KD * sizeof(float) > 512) {
        for (int j = j0; j < j1; j++) {
            const float *vj = v + (size_t)j * d->KD, *pj = e + (size_t)j * hp;
            for (int c = 0, h = 0; c < d->Hk; c++) {
                prefetch_ahead(vj + (size_t)c * d->hd, d->hd);
                for (int g = 0; g < group; g++, h++)
                    add_scaled(out + (size_t)h * d->hd, pj[h], vj + (size_t)c * d->hd, d->hd);
            }
        }
        return;
    }
    for (int b = j0; b < j1; b += 8)
        for (int h = 0; h < d->Hq; h++) {
            HeadRows rows = {v + (size_t)(h / group) * d->hd, (size_t)d->KD, 1, d->hd};
            sum_rows(out + (size_t)h * d->hd, e + h, (size_t)hp, &rows, b, b + 8 < j1 ? b + 8 : j1);
        }
}

// One half of a token's keys, [j0, j1): scores and their maxima mx, e_hj = exp(e_hj - mx_h), their sum per head
// into sum, and out_h = sum_j e_hj v_j[h / group], both from zero in key order.
static void attend_half(const Dims *d, const TokenRows *s, int j0, int j1, float *e, float *mx, float *sum,
                        float *restrict out) {
    int hp = padded_heads(d->Hq);
    score_keys(d, s, j0, j1, e, mx);
    for (int h0 = 0; h0 < hp; h0 += 8) {
        v8f m, acc = {0}, v;
        memcpy(&m, mx + h0, sizeof m);
        for (int j = j0; j < j1; j++) {
            float *ej = e + (size_t)j * hp + h0;
            memcpy(&v, ej, sizeof v), v -= m, memcpy(ej, &v, sizeof v);
            exp8(ej, ej);
            memcpy(&v, ej, sizeof v), acc += v;
        }
        memcpy(sum + h0, &acc, sizeof acc);
    }
    memset(out, 0, (size_t)d->QD * sizeof *out);
    sum_values(d, s->vp, j0, j1 < s->np ? j1 : s->np, e, hp, out);
    sum_values(d, s->v, j0 > s->np ? j0 : s->np, j1, e, hp, out);
}

// Half 0 or 1 of a token's keys through attend_half: the first's value sums into out, the second's into sc->right.
static void run_half(const Dims *d, const TokenRows *s, const Scratch *sc, int half, float *restrict out) {
    int hp = padded_heads(d->Hq), cut = key_cut(s->n);
    attend_half(d, s, half ? cut : 0, half ? s->n : cut, sc->e, sc->mx + half * hp, sc->sum + half * hp,
                half ? sc->right : out);
}

// The token's output from its halves' (the first's in out, the second's in sc): with m_h the larger of the halves'
// maxima and a_ih = exp(max_ih - m_h) (exactly 1 for the half that holds it), out_h = (a_0h out_h + a_1h right_h) /
// (a_0h sum_0h + a_1h sum_1h) and lse_h = m_h + log(that sum). One half: out_h / sum_h and max_h + log(sum_h).
static void finish(const Dims *d, int halves, float *restrict out, const Scratch *sc, double *lse) {
    int hp = padded_heads(d->Hq);
    for (int h0 = 0; h0 < hp; h0 += 8) {
        float m[8], a0[8] = {1, 1, 1, 1, 1, 1, 1, 1}, a1[8] = {0}, total[8];
        memcpy(m, sc->mx + h0, sizeof m), memcpy(total, sc->sum + h0, sizeof total);
        if (halves == 2) {
            v8f m0, m1, s0, s1, x0, x1, e0, e1;
            memcpy(&m0, sc->mx + h0, sizeof m0), memcpy(&m1, sc->mx + hp + h0, sizeof m1);
            memcpy(&s0, sc->sum + h0, sizeof s0), memcpy(&s1, sc->sum + hp + h0, sizeof s1);
            v8i up = m1 > m0;
            v8f mm = (v8f)((up & (v8i)m1) | (~up & (v8i)m0));
            x0 = m0 - mm, x1 = m1 - mm;
            exp8((const float *)&x0, a0), exp8((const float *)&x1, a1);
            memcpy(&e0, a0, sizeof e0), memcpy(&e1, a1, sizeof e1);
            v8f t = e0 * s0 + e1 * s1;
            memcpy(m, &mm, sizeof m), memcpy(total, &t, sizeof total);
        }
        for (int l = 0; l < 8 && h0 + l < d->Hq; l++) {
            float *oh = out + (size_t)(h0 + l) * d->hd, inv = 1.0f / total[l];
            const float *rh = sc->right + (size_t)(h0 + l) * d->hd;
            if (halves == 2)
                for (int i = 0; i < d->hd; i++) oh[i] = oh[i] * a0[l] + rh[i] * a1[l];
            for (int i = 0; i < d->hd; i++) oh[i] *= inv;
            lse[h0 + l] = (double)m[l] + log((double)total[l]);
        }
    }
}

// Scaled dot-product attention (Vaswani et al. 2017) of one token: scores in key order, softmax in float per head
// (max, exp, a sum), then out_h = sum_j p_hj v_j, each out[d] a multiply and an add per key (sum_values), in the two
// halves of key_cut. The keys are read front to back as one stream, and the values too where their rows are long.
// Keys below np come from the shared copy, the rest from the token's own rows: each score and each output element
// sees the same operations in the same key order either way.
static void attend(const Dims *d, const TokenRows *s, const Scratch *sc, float *restrict out, double *lse) {
    int halves = key_cut(s->n) < s->n ? 2 : 1;
    for (int half = 0; half < halves; half++) run_half(d, s, sc, half, out);
    finish(d, halves, out, sc, lse);
}

// attend with each half on its own thread (a decode step of one token), then the halves added. Each thread reads
// whole rows of its own keys: splitting every row between the threads by heads instead took twice as long as one
// thread alone (results/cpu-bench-history.md).
static void attend_halves(const Dims *d, const TokenRows *s, const Scratch *sc, float *out, double *lse) {
#pragma omp parallel num_threads(2)
    for (int half = omp_get_thread_num(); half < 2; half += omp_get_num_threads()) run_half(d, s, sc, half, out);
    finish(d, 2, out, sc, lse);
}

// Token t's keys and rows.
static TokenRows token_rows(const Dims *d, int t, const int *pos, const int64_t *row0, const int64_t *shared,
                            const float *kbuf, const float *vbuf, const float *qr) {
    size_t kv = (size_t)row0[t] * d->KD, kvp = shared ? (size_t)shared[2 * t] * d->KD : kv;
    int n = pos[t] + 1, np = 0;
    if (shared) np = shared[2 * t + 1] < n ? (int)shared[2 * t + 1] : n;
    return (TokenRows){qr + (size_t)t * d->QD, kbuf + kv, vbuf + kv, kbuf + kvp, vbuf + kvp, n, np};
}

// Token t of attention_forward on one thread.
static void attend_token(const Dims *d, int t, const int *pos, const int64_t *row0, const int64_t *shared,
                         const float *kbuf, const float *vbuf, const float *qr, const Scratch *sc, float *att,
                         double *lse) {
    TokenRows s = token_rows(d, t, pos, row0, shared, kbuf, vbuf, qr);
    attend(d, &s, sc, att + (size_t)t * d->QD, lse + (size_t)t * d->Hq);
}

void attention_forward(const Dims *d, int T, const int *pos, const int64_t *row0, const int64_t *shared,
                       const float *kbuf, const float *vbuf, const float *qr, float *att, double *lse) {
    int max_n = 0;
    for (int t = 0; t < T; t++) max_n = pos[t] + 1 > max_n ? pos[t] + 1 : max_n;
    // A lone token with two halves takes a thread for each.
    if (T == 1 && key_cut(max_n) < max_n && omp_get_max_threads() > 1 && !omp_in_parallel()) {
        Scratch sc = scratch_alloc(d, max_n);
        TokenRows s = token_rows(d, 0, pos, row0, shared, kbuf, vbuf, qr);
        attend_halves(d, &s, &sc, att, lse);
        free(sc.e);
        return;
    }
    // Below 64k products a pass, the fork costs more than it saves; such a pass runs outside any parallel region, as
    // one with a false if clause costs 0.3 us in libgomp.
    if (T == 1 || (long)T * max_n * d->QD <= (1L << 16)) {
        Scratch sc = scratch_alloc(d, max_n);
        for (int t = 0; t < T; t++) attend_token(d, t, pos, row0, shared, kbuf, vbuf, qr, &sc, att, lse);
        free(sc.e);
        return;
    }
#pragma omp parallel
    {
        Scratch sc = scratch_alloc(d, max_n);
#pragma omp for schedule(dynamic)
        for (int t = 0; t < T; t++) attend_token(d, t, pos, row0, shared, kbuf, vbuf, qr, &sc, att, lse);
        free(sc.e);
    }
}

// Queries per block of attention_backward's score rows: 32 rows of (query, head) at most, so that a block's rows
// of queries and head gradients stay in L1 while each key's dk and dv rows take their sums.
static int query_block(int group) { return 32 / group > 0 ? 32 / group : 1; }

// One query head's softmax and score gradients over keys 0..n-1 (rows kv + j * stride of the record):
// p_j = exp(s_j - lse) from the saved log-sum-exp, ds_j = p_j (go . v_j - go . o) scale, and gq += ds_j k_j in
// key order. p, ds: n rounded up to 8 floats.
static void score_grads(const float *q, const float *go, const float *o, const float *k, const float *v, int n,
                        int stride, int hd, float scale, double lse, float *p, float *ds, float *gq) {
    float delta = matmul_dot(go, o, hd);
    matmul_dots(q, k, (size_t)stride, n, hd, p);
    matmul_dots(go, v, (size_t)stride, n, hd, ds);
    for (int j = 0; j < n; j++) p[j] *= scale;
    exp_shifted(p, n, (float)lse);
    for (int j = 0; j < n; j++) ds[j] = p[j] * (ds[j] - delta) * scale;
    HeadRows rows = {k, (size_t)stride, 1, hd};
    sum_rows(gq, ds, 1, &rows, 0, n);
}

// Gradients of one (sequence, kv head): queries t = 0..n-1 with their group of query heads, in blocks of rows. A
// block's score rows are computed query by query, then each key's dk and dv rows take the block's terms in query
// (then head) order in registers, so every element sees the same adds in the same order as a loop over queries
// outside and keys inside would give.
static void head_backward(const Dims *d, const LayerActs *a, const float *datt, float *dq, float *dk, float *dv,
                          int64_t s0, int n, int kh, float *p, float *ds) {
    int group = d->Hq / d->Hk, hd = d->hd, block = query_block(group);
    size_t kv0 = (size_t)s0 * d->KD + (size_t)kh * hd, row = (size_t)n + 8;
    float scale = (float)(1.0 / sqrt((double)hd));
    for (int b0 = 0; b0 < n; b0 += block) {
        int b1 = b0 + block < n ? b0 + block : n;
        for (int t = b0; t < b1; t++)
            for (int g = 0; g < group; g++) {
                int h = kh * group + g;
                size_t qo = (size_t)(s0 + t) * d->QD + (size_t)h * hd, r = (size_t)((t - b0) * group + g) * row;
                score_grads(a->qr + qo, datt + qo, a->att + qo, a->kr + kv0, a->v + kv0, t + 1, d->KD, hd, scale,
                            a->lse[(s0 + t) * d->Hq + h], p + r, ds + r, dq + qo);
            }
        size_t q0 = (size_t)(s0 + b0) * d->QD + (size_t)kh * group * hd;
        HeadRows go = {datt + q0, (size_t)d->QD, group, hd}, q = {a->qr + q0, (size_t)d->QD, group, hd};
        for (int j = 0; j < b1; j++) {
            int u0 = (j > b0 ? j - b0 : 0) * group, u1 = (b1 - b0) * group;  // the block's queries t >= j
            size_t kv = kv0 + (size_t)j * d->KD;
            sum_rows(dv + kv, p + j, row, &go, u0, u1);
            sum_rows(dk + kv, ds + j, row, &q, u0, u1);
        }
    }
}

// Attention backward (softmax recomputed from the saved log-sum-exp). One task per (sequence, kv head) owns every
// write to that head's dk/dv rows, so threads never share an output and the bits do not depend on the thread count.
void attention_backward(const Dims *d, const ModelActs *A, const LayerActs *a, const float *datt, float *dq,
                           float *dk, float *dv) {
    int group = d->Hq / d->Hk, rows = query_block(group) * group, max_n = 0;
    for (int s = 0; s < A->n_seqs; s++)
        if (A->seq_offsets[s + 1] - A->seq_offsets[s] > max_n) max_n = (int)(A->seq_offsets[s + 1] - A->seq_offsets[s]);
#pragma omp parallel
    {
        size_t scratch = (size_t)rows * ((size_t)max_n + 8);
        float *p = xmalloc(scratch * sizeof *p), *ds = xmalloc(scratch * sizeof *ds);
#pragma omp for collapse(2) schedule(dynamic)
        for (int s = 0; s < A->n_seqs; s++)
            for (int kh = 0; kh < d->Hk; kh++)
                head_backward(d, a, datt, dq, dk, dv, A->seq_offsets[s],
                              (int)(A->seq_offsets[s + 1] - A->seq_offsets[s]), kh, p, ds);
        free(p), free(ds);
    }
}
