/* Memory: 64-byte aligned allocation and the bump arena that activations are carved from. */
#ifndef HAQ_NN_TENSOR_H
#define HAQ_NN_TENSOR_H

#include <stddef.h>

/* 64-byte aligned, zero-filled; NULL (with nn_err set) when out of memory. */
float *nn_alloc_floats(size_t n);
void *nn_alloc_aligned(size_t bytes);
void nn_free(void *p);

/* A bump arena: one block, reservations aligned to 64 bytes, released all at once. */
struct nn_arena {
    char *base;
    size_t cap, used;
};

int nn_arena_init(struct nn_arena *a, size_t bytes);
/* Reserve n floats (64-byte aligned); NULL with nn_err set when the arena is full. */
float *nn_arena_floats(struct nn_arena *a, size_t n);
void nn_arena_reset(struct nn_arena *a);
void nn_arena_free(struct nn_arena *a);

#endif
