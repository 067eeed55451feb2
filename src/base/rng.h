// Counter-based RNG: Philox4x32-10 (Salmon et al., SC'11). A draw is a pure function of
// (seed, step, global sequence index, position), so results never depend on rank count or batching.
#ifndef RLVR_RNG_H
#define RLVR_RNG_H

#include <stdint.h>

// One Philox4x32-10 block: out = philox(ctr, key).
void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

// A stream of draws at one coordinate; the 4th counter word numbers the blocks within it.
typedef struct {
    uint32_t key[2], ctr[4], buf[4];
    int used;  // words of buf already consumed
} Rng;

// Stream keyed by seed at counter (step, sequence, position); independent for every distinct tuple.
Rng rng_at(uint64_t seed, uint32_t step, uint32_t sequence, uint32_t position);

uint32_t rng_u32(Rng *r);
double rng_uniform(Rng *r);        // [0, 1), 53 random bits
double rng_normal(Rng *r);         // standard normal (Box–Muller)
uint64_t rng_below(Rng *r, uint64_t n);  // uniform integer in [0, n), unbiased

// Index drawn with probability w[i] / sum(w); weights must be >= 0 with a positive sum.
int rng_categorical(Rng *r, const double *w, int n);
// The same from a given uniform in [0, 1) (rng_categorical = categorical_pick(rng_uniform(r), ...)): the first index
// whose running sum (in index order) exceeds uniform * sum(w). The sums run over blocks of 64 weights, each summed in
// four interleaved parts, and within the block where the target falls in index order; so the index differs from a
// plain running sum's only where uniform * sum(w) lies within rounding of a boundary.
int categorical_pick(double uniform, const double *w, int n);

#endif
