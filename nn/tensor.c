#include "tensor.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

void *nn_alloc_aligned(size_t bytes) {
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded < bytes) {
        nn_err("allocation of %zu bytes overflows", bytes);
        return NULL;
    }
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (!p) {
        nn_err("out of memory allocating %zu bytes", bytes);
        return NULL;
    }
    memset(p, 0, rounded ? rounded : 64);
    return p;
}

float *nn_alloc_floats(size_t n) {
    if (n > ((size_t)-1) / sizeof(float)) {
        nn_err("allocation of %zu floats overflows", n);
        return NULL;
    }
    return nn_alloc_aligned(n * sizeof(float));
}

void nn_free(void *p) { free(p); }

int nn_arena_init(struct nn_arena *a, size_t bytes) {
    a->base = nn_alloc_aligned(bytes);
    a->cap = a->base ? bytes : 0;
    a->used = 0;
    return a->base ? 0 : -1;
}

float *nn_arena_floats(struct nn_arena *a, size_t n) {
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    if (n > ((size_t)-1) / 8 || a->used + bytes > a->cap) {
        nn_err("arena full: %zu bytes requested, %zu of %zu used", n * sizeof(float), a->used,
               a->cap);
        return NULL;
    }
    float *p = (float *)(a->base + a->used);
    a->used += bytes;
    return p;
}

void nn_arena_reset(struct nn_arena *a) { a->used = 0; }

void nn_arena_free(struct nn_arena *a) {
    free(a->base);
    a->base = NULL;
    a->cap = a->used = 0;
}
