/* The one pseudo-random generator of the engine: xoshiro256** seeded through splitmix64.
 *
 * Every random choice takes an explicit `struct nn_rng *`; there is no hidden global state, so a
 * run is a function of its seeds. Streams for independent consumers (data shuffling, weight
 * init, exploration noise, one per loader thread) come from nn_rng_split, which derives a
 * child deterministically from the parent without disturbing other children. */
#ifndef HAQ_NN_RNG_H
#define HAQ_NN_RNG_H

#include <stddef.h>
#include <stdint.h>

struct nn_rng {
    uint64_t s[4];
};

void nn_rng_seed(struct nn_rng *r, uint64_t seed);

/* A child stream: seeded from (seed of r's current state, stream id). r advances by one draw. */
void nn_rng_split(struct nn_rng *child, struct nn_rng *r, uint64_t stream);

uint64_t nn_rng_u64(struct nn_rng *r);

/* Uniform in [0, 1) with 24 (float) or 53 (double) random bits. */
float nn_rng_uniform(struct nn_rng *r);
double nn_rng_uniform_d(struct nn_rng *r);

/* Uniform integer in [0, n), unbiased (rejection); n > 0. */
uint64_t nn_rng_below(struct nn_rng *r, uint64_t n);

/* Standard normal N(0, 1) by the polar Box–Muller method (no cached second value, so the
 * stream position depends only on the number of calls). */
double nn_rng_normal(struct nn_rng *r);

/* Fisher–Yates shuffle of n ints. */
void nn_rng_shuffle_int(struct nn_rng *r, int *a, size_t n);

#endif
