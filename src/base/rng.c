#include "base/rng.h"

#include <math.h>
#include <stdlib.h>

#include "base/error.h"

// Philox constants (Random123).
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c0 = n0, c1 = (uint32_t)p1, c2 = n2, c3 = (uint32_t)p0;
        k0 += PHILOX_W0, k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

Rng rng_at(uint64_t seed, uint32_t step, uint32_t sequence, uint32_t position) {
    Rng r = {{(uint32_t)seed, (uint32_t)(seed >> 32)}, {step, sequence, position, 0}, {0}, 4};
    return r;
}

uint32_t rng_u32(Rng *r) {
    if (r->used == 4) {
        philox4x32_10(r->ctr, r->key, r->buf);
        r->ctr[3]++;
        r->used = 0;
    }
    return r->buf[r->used++];
}

double rng_uniform(Rng *r) {
    uint64_t hi = rng_u32(r) >> 5, lo = rng_u32(r) >> 6;  // 27 + 26 = 53 bits
    return (double)(hi * 67108864u + lo) * 0x1.0p-53;
}

double rng_normal(Rng *r) {
    double u1 = 1.0 - rng_uniform(r), u2 = rng_uniform(r);  // u1 in (0, 1]
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t rng_below(Rng *r, uint64_t n) {
    if (n <= 1) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;  // reject the biased tail
    for (;;) {
        uint64_t x = ((uint64_t)rng_u32(r) << 32) | rng_u32(r);
        if (x < limit) return x % n;
    }
}

int rng_categorical(Rng *r, const double *w, int n) { return categorical_pick(rng_uniform(r), w, n); }

// Weights per block of categorical_pick's scan: whole blocks that end short of the target are skipped by their sums.
#define PICK_BLOCK 64

// w[0] + ... + w[n-1] as four interleaved partial sums (w[i] into part i % 4, in index order), then (p0 + p1) +
// (p2 + p3): four independent chains of adds instead of one.
static double sum4(const double *w, int n) {
    double p0 = 0, p1 = 0, p2 = 0, p3 = 0;
    int i = 0;
    for (; i + 4 <= n; i += 4) p0 += w[i], p1 += w[i + 1], p2 += w[i + 2], p3 += w[i + 3];
    if (i < n) p0 += w[i];
    if (i + 1 < n) p1 += w[i + 1];
    if (i + 2 < n) p2 += w[i + 2];
    return (p0 + p1) + (p2 + p3);
}

static int block_len(int b, int n) { return n - b < PICK_BLOCK ? n - b : PICK_BLOCK; }

// The first index past u in the block starting at b, the running sum starting from acc; -1 if rounding leaves none.
static int walk_block(const double *w, int b, int n, double acc, double u) {
    for (int i = b; i < b + block_len(b, n); i++)
        if (w[i] > 0 && u < (acc += w[i])) return i;
    return -1;
}

int categorical_pick(double uniform, const double *w, int n) {
    int n_blocks = (n + PICK_BLOCK - 1) / PICK_BLOCK, pick = -1;
    double *sums = xmalloc((size_t)(n_blocks ? n_blocks : 1) * sizeof *sums), total = 0;
    for (int k = 0; k < n_blocks; k++) total += sums[k] = sum4(w + k * PICK_BLOCK, block_len(k * PICK_BLOCK, n));
    double u = uniform * total, acc = 0;  // acc: the blocks before k, summed as total sums them
    for (int k = 0; k < n_blocks && pick < 0; acc += sums[k++])
        if (u < acc + sums[k]) pick = walk_block(w, k * PICK_BLOCK, n, acc, u);
    free(sums);
    for (int i = n - 1; pick < 0 && i > 0; i--)  // u landed on the rounding gap at the top: the last kept index
        if (w[i] > 0) pick = i;
    return pick < 0 ? 0 : pick;
}
