/* The batch loader: decodes and augments ahead of the trainer on its own threads.
 *
 * An epoch visits the split (or a given index list) in an order shuffled from (seed, epoch);
 * batch b holds positions [b·B, (b+1)·B) of that order. Each sample's augmentation draws
 * from a generator seeded by (seed, epoch, position), and each batch is made whole by one
 * thread into its own slot, so the batches are identical whatever the thread count or timing.
 * Batches are NHWC float32 [n][out][out][c] with int labels. */
#ifndef HAQ_DATA_LOADER_H
#define HAQ_DATA_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "transform.h"

struct data_loader_cfg {
    int split;              /* DATA_TRAIN or DATA_VAL */
    int batch;              /* images per batch */
    int out;                /* output height = width */
    int train;              /* augment (random crop/flip) instead of the eval transform */
    int shuffle;            /* shuffle the order each epoch */
    int drop_last;          /* skip a last partial batch */
    uint64_t seed;
    int threads;            /* producer threads (0 = 1) */
    const size_t *indices;  /* optional subset of the split (copied), else every image */
    size_t n_indices;
};

struct data_loader;

/* NULL with nn_err set on bad configuration or out of memory. */
struct data_loader *data_loader_new(struct data_source *src, const struct data_loader_cfg *cfg);
void data_loader_free(struct data_loader *L);

/* Batches per epoch. */
size_t data_loader_batches(const struct data_loader *L);
size_t data_loader_images(const struct data_loader *L);

/* Start epoch `epoch` (stops any epoch in progress). Returns 0 or −1. */
int data_loader_start(struct data_loader *L, int epoch);

/* The next batch of the epoch: *x and *y point into the loader and stay valid until the next
 * call; *n = 0 at the end of the epoch. Returns 0, or −1 when an image failed to load (the
 * message names it). */
int data_loader_next(struct data_loader *L, const float **x, const int **y, int *n);

/* The loader as the training loop's batch source. */
struct nn_batches;
void data_loader_as_batches(struct data_loader *L, struct nn_batches *b);

#endif
