#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void nn_rng_seed(struct nn_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t nn_rng_u64(struct nn_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

void nn_rng_split(struct nn_rng *child, struct nn_rng *r, uint64_t stream) {
    uint64_t base = nn_rng_u64(r);
    nn_rng_seed(child, base ^ splitmix64(&stream));
}

float nn_rng_uniform(struct nn_rng *r) { return (float)(nn_rng_u64(r) >> 40) * 0x1.0p-24f; }

double nn_rng_uniform_d(struct nn_rng *r) { return (double)(nn_rng_u64(r) >> 11) * 0x1.0p-53; }

uint64_t nn_rng_below(struct nn_rng *r, uint64_t n) {
    /* Reject the top partial block so every residue is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = nn_rng_u64(r);
    while (x >= limit);
    return x % n;
}

double nn_rng_normal(struct nn_rng *r) {
    double u, v, s;
    do {
        u = 2.0 * nn_rng_uniform_d(r) - 1.0;
        v = 2.0 * nn_rng_uniform_d(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    return u * sqrt(-2.0 * log(s) / s);
}

void nn_rng_shuffle_int(struct nn_rng *r, int *a, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)nn_rng_below(r, i);
        int t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}
