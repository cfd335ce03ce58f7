/* Pieces the training-style commands share: a loader over one split as a batch source, and a
 * CSV log rewritten atomically after every row (an interrupted run keeps every finished row). */
#ifndef HAQ_DATA_RUNLOG_H
#define HAQ_DATA_RUNLOG_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "loader.h"
#include "nn/train.h"

/* A loader over `split` (train: shuffled, augmented, last partial batch dropped; otherwise in
 * order with the eval transform), as a batch source. indices/n_indices select a subset (NULL
 * for the whole split). 0 or −1. */
int data_batches_open(struct data_source *src, int split, int batch, int out, int train,
                      uint64_t seed, int threads, const size_t *indices, size_t n_indices,
                      struct data_loader **L, struct nn_batches *b);

struct data_csv {
    char *path;
    char *buf;
    size_t len, cap;
};

/* Start a log at path with a header line; 0 or −1. */
int data_csv_open(struct data_csv *c, const char *path, const char *header);
/* Append one line (with its newline) and rewrite the file; 0 or −1. */
int data_csv_add(struct data_csv *c, const char *line);
void data_csv_free(struct data_csv *c);

#endif
