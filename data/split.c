#include "split.h"

#include <stdlib.h>
#include <string.h>

#include "nn/error.h"

/* MT19937 as Matsumoto and Nishimura define it (1998), with their init_genrand seeding, which
 * is what NumPy's legacy seed(int) does. */
#define MT_N 624
#define MT_M 397

struct mt19937 {
    uint32_t s[MT_N];
    int i;
};

static void mt_seed(struct mt19937 *m, uint32_t seed) {
    m->s[0] = seed;
    for (int i = 1; i < MT_N; i++)
        m->s[i] = 1812433253u * (m->s[i - 1] ^ (m->s[i - 1] >> 30)) + (uint32_t)i;
    m->i = MT_N;
}

static uint32_t mt_next(struct mt19937 *m) {
    if (m->i >= MT_N) {
        for (int k = 0; k < MT_N; k++) {
            uint32_t y = (m->s[k] & 0x80000000u) | (m->s[(k + 1) % MT_N] & 0x7fffffffu);
            m->s[k] = m->s[(k + MT_M) % MT_N] ^ (y >> 1) ^ ((y & 1) ? 0x9908b0dfu : 0);
        }
        m->i = 0;
    }
    uint32_t y = m->s[m->i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

void data_numpy_permutation(uint32_t seed, size_t *x, size_t n) {
    struct mt19937 m;
    mt_seed(&m, seed);
    for (size_t i = 0; i < n; i++) x[i] = i;
    for (size_t i = n; i-- > 1;) {
        uint32_t mask = (uint32_t)i, j;
        mask |= mask >> 1;
        mask |= mask >> 2;
        mask |= mask >> 4;
        mask |= mask >> 8;
        mask |= mask >> 16;
        while ((j = mt_next(&m) & mask) > i) continue;
        size_t t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

int data_search_split(const struct data_source *s, size_t val_size, size_t train_size,
                      uint32_t seed, struct data_subsets *out) {
    memset(out, 0, sizeof *out);
    size_t n = s->count[DATA_TRAIN];
    if (val_size == 0)
        return nn_err("%s: the search's validation split needs --val-size ≥ 1", s->kind);
    if (n >= ((size_t)1 << 32))
        return nn_err("%s: %zu training images, more than the split supports", s->kind, n);
    if (n < val_size + (train_size ? train_size : 1))
        return nn_err("%s: the train split has %zu images, fewer than the %zu + %zu the search "
                      "splits need",
                      s->kind, n, val_size, train_size ? train_size : 1);
    size_t *perm = malloc(n * sizeof *perm);
    if (!perm) return nn_err("%s: out of memory for %zu indices", s->kind, n);
    data_numpy_permutation(seed, perm, n);
    out->n_val = val_size;
    out->n_train = train_size ? train_size : n - val_size;
    out->val = malloc(out->n_val * sizeof(size_t));
    out->train = malloc(out->n_train * sizeof(size_t));
    if (!out->val || !out->train) {
        free(perm);
        data_subsets_free(out);
        return nn_err("%s: out of memory for %zu indices", s->kind, n);
    }
    memcpy(out->val, perm, out->n_val * sizeof(size_t));
    memcpy(out->train, perm + val_size, out->n_train * sizeof(size_t));
    free(perm);
    return 0;
}

void data_subsets_free(struct data_subsets *sub) {
    free(sub->val);
    free(sub->train);
    memset(sub, 0, sizeof *sub);
}
