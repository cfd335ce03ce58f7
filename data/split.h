/* HAQ's search splits: a validation and a training subset drawn from the train split of a
 * source, so that the search never looks at the held-out split.
 *
 * As the release's get_split_train_dataset draws them: the indices [0, n) of the source's
 * train split are shuffled with NumPy's legacy generator (np.random.seed(seed), then
 * np.random.shuffle of the list), the first val_size become the search's validation split
 * (read with the eval transform) and the next train_size its training split. The permutation
 * is NumPy's bit for bit, so on the same ImageFolder (whose order folder.c reproduces) the
 * engine and the release pick the same images for the same seed (the release uses 1). */
#ifndef HAQ_DATA_SPLIT_H
#define HAQ_DATA_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"

/* Two index lists into a source's DATA_TRAIN split (malloc'ed; data_subsets_free). */
struct data_subsets {
    size_t *val, *train;
    size_t n_val, n_train;
};

/* Draw the search's splits. train_size = 0 takes every image after the first val_size.
 * Fails (nn_err) when val_size is 0, when the train split holds fewer than
 * val_size + train_size images (or no image after val_size when train_size is 0), or when it
 * holds 2^32 or more. */
int data_search_split(const struct data_source *s, size_t val_size, size_t train_size,
                      uint32_t seed, struct data_subsets *out);

void data_subsets_free(struct data_subsets *sub);

/* The permutation that `np.random.seed(seed); x = list(range(n)); np.random.shuffle(x)` leaves
 * in x: MT19937 seeded by init_genrand(seed); for i = n−1 down to 1, x[i] swaps with x[j], j
 * uniform in [0, i] drawn by masking 32-bit outputs with the smallest all-ones mask ≥ i and
 * rejecting values above i. n < 2^32. */
void data_numpy_permutation(uint32_t seed, size_t *x, size_t n);

#endif
