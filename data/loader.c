#include "loader.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/error.h"
#include "nn/train.h"
#include "nn/rng.h"
#include "nn/tensor.h"

#define MAX_PRODUCERS 16

enum slot_state { SLOT_FREE, SLOT_BUSY, SLOT_READY };

struct slot {
    float *x;
    int *y;
    int n;
    long batch; /* batch index held (READY) or being made (BUSY) */
    enum slot_state state;
    int failed;
    char err[NN_ERRMSG_MAX];
};

struct data_loader {
    struct data_source *src;
    struct data_loader_cfg cfg;
    struct data_transform tf;
    size_t *order, n_items, n_batches;
    size_t per_image; /* floats */
    int n_slots, n_threads;
    struct slot *slots;
    pthread_t thr[MAX_PRODUCERS];
    int running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_long next_make;
    long next_take;
    long released; /* batches 0 … released − 1 are consumed and their slots handed back */
    int stop, epoch;
    size_t *subset;
};

static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t z = a * 0x9e3779b97f4a7c15ull + b + 0x632be59bd9b4e019ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int make_batch(struct data_loader *L, long b, struct slot *s, struct data_image *im) {
    size_t first = (size_t)b * L->cfg.batch;
    size_t n = L->n_items - first < (size_t)L->cfg.batch ? L->n_items - first : (size_t)L->cfg.batch;
    for (size_t i = 0; i < n; i++) {
        size_t pos = first + i, idx = L->order[pos];
        int label;
        if (data_load(L->src, L->cfg.split, idx, im, &label)) return -1;
        if (im->c != L->tf.c)
            return nn_err("%s: image %zu has %d channels, expected %d", L->src->kind, idx, im->c,
                          L->tf.c);
        if (label < 0 || label >= L->src->classes)
            return nn_err("%s: image %zu has label %d outside 0..%d", L->src->kind, idx, label,
                          L->src->classes - 1);
        struct nn_rng r;
        nn_rng_seed(&r, mix(mix(L->cfg.seed, (uint64_t)L->epoch), pos));
        data_transform_apply(&L->tf, im, &r, s->x + i * L->per_image);
        s->y[i] = label;
    }
    s->n = (int)n;
    return 0;
}

static void *producer(void *p) {
    struct data_loader *L = p;
    struct data_image im = {0};
    for (;;) {
        long b = atomic_fetch_add(&L->next_make, 1);
        if (b >= (long)L->n_batches) break;
        struct slot *s = &L->slots[b % L->n_slots];
        pthread_mutex_lock(&L->mu);
        /* wait for the slot: it holds batch b − n_slots until that one is handed back. Its
         * state alone does not say whose turn it is: a producer that claimed b + n_slots while
         * the one holding b was preempted would take the slot first, and the consumer would
         * wait for b forever. */
        while (!L->stop && b >= L->released + L->n_slots) pthread_cond_wait(&L->cv, &L->mu);
        if (L->stop) {
            pthread_mutex_unlock(&L->mu);
            break;
        }
        s->state = SLOT_BUSY;
        s->batch = b;
        pthread_mutex_unlock(&L->mu);
        int rc = make_batch(L, b, s, &im);
        pthread_mutex_lock(&L->mu);
        s->failed = rc != 0;
        if (rc) snprintf(s->err, sizeof s->err, "%s", nn_errmsg());
        s->state = SLOT_READY;
        pthread_cond_broadcast(&L->cv);
        pthread_mutex_unlock(&L->mu);
    }
    data_image_free(&im);
    return NULL;
}

static void stop_epoch(struct data_loader *L) {
    if (!L->running) return;
    pthread_mutex_lock(&L->mu);
    L->stop = 1;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
    for (int t = 0; t < L->n_threads; t++) pthread_join(L->thr[t], NULL);
    L->running = 0;
}

struct data_loader *data_loader_new(struct data_source *src, const struct data_loader_cfg *cfg) {
    if (cfg->batch < 1 || cfg->out < 1 || (cfg->split != DATA_TRAIN && cfg->split != DATA_VAL)) {
        nn_err("loader: invalid batch %d, size %d or split %d", cfg->batch, cfg->out, cfg->split);
        return NULL;
    }
    struct data_loader *L = calloc(1, sizeof *L);
    if (!L) {
        nn_err("loader: out of memory");
        return NULL;
    }
    L->src = src;
    L->cfg = *cfg;
    L->cfg.indices = NULL;
    L->tf = data_transform_for(src, cfg->out, cfg->train);
    size_t avail = src->count[cfg->split];
    L->n_items = cfg->indices ? cfg->n_indices : avail;
    L->subset = cfg->indices ? malloc(L->n_items * sizeof(size_t) + 1) : NULL;
    L->order = malloc(L->n_items * sizeof(size_t) + 1);
    if (!L->order || (cfg->indices && !L->subset)) goto oom;
    if (cfg->indices) {
        for (size_t i = 0; i < L->n_items; i++)
            if (cfg->indices[i] >= avail) {
                nn_err("loader: index %zu outside the %zu images of the split", cfg->indices[i],
                       avail);
                data_loader_free(L);
                return NULL;
            }
        memcpy(L->subset, cfg->indices, L->n_items * sizeof(size_t));
    }
    L->n_batches = cfg->drop_last ? L->n_items / cfg->batch
                                  : (L->n_items + cfg->batch - 1) / cfg->batch;
    L->per_image = (size_t)cfg->out * cfg->out * src->c;
    L->n_threads = cfg->threads < 1 ? 1 : cfg->threads > MAX_PRODUCERS ? MAX_PRODUCERS : cfg->threads;
    L->n_slots = L->n_threads + 2;
    L->slots = calloc((size_t)L->n_slots, sizeof *L->slots);
    if (!L->slots) goto oom;
    for (int i = 0; i < L->n_slots; i++) {
        L->slots[i].x = nn_alloc_floats((size_t)cfg->batch * L->per_image);
        L->slots[i].y = calloc((size_t)cfg->batch, sizeof(int));
        if (!L->slots[i].x || !L->slots[i].y) goto oom;
    }
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->cv, NULL);
    return L;
oom:
    nn_err("loader: out of memory for %d batches of %d images", L->n_slots, cfg->batch);
    data_loader_free(L);
    return NULL;
}

void data_loader_free(struct data_loader *L) {
    if (!L) return;
    if (L->slots) {
        stop_epoch(L);
        pthread_mutex_destroy(&L->mu);
        pthread_cond_destroy(&L->cv);
        for (int i = 0; i < L->n_slots; i++) {
            nn_free(L->slots[i].x);
            free(L->slots[i].y);
        }
    }
    free(L->slots);
    free(L->order);
    free(L->subset);
    free(L);
}

size_t data_loader_batches(const struct data_loader *L) { return L->n_batches; }
size_t data_loader_images(const struct data_loader *L) {
    return L->cfg.drop_last ? L->n_batches * L->cfg.batch : L->n_items;
}

int data_loader_start(struct data_loader *L, int epoch) {
    stop_epoch(L);
    L->epoch = epoch;
    for (size_t i = 0; i < L->n_items; i++) L->order[i] = L->subset ? L->subset[i] : i;
    if (L->cfg.shuffle) {
        struct nn_rng r;
        nn_rng_seed(&r, mix(L->cfg.seed ^ 0x5bd1e995ull, (uint64_t)epoch));
        for (size_t i = L->n_items; i > 1; i--) {
            size_t j = (size_t)nn_rng_below(&r, i);
            size_t t = L->order[i - 1];
            L->order[i - 1] = L->order[j];
            L->order[j] = t;
        }
    }
    for (int i = 0; i < L->n_slots; i++) L->slots[i].state = SLOT_FREE;
    atomic_store(&L->next_make, 0);
    L->next_take = 0;
    L->released = 0;
    L->stop = 0;
    for (int t = 0; t < L->n_threads; t++)
        if (pthread_create(&L->thr[t], NULL, producer, L) != 0) {
            L->n_threads = t;
            if (t == 0) return nn_err("loader: cannot start a thread");
            break;
        }
    L->running = 1;
    return 0;
}

int data_loader_next(struct data_loader *L, const float **x, const int **y, int *n) {
    *n = 0;
    if (!L->running) return nn_err("loader: no epoch started");
    pthread_mutex_lock(&L->mu);
    if (L->next_take > 0) { /* hand the previous batch's slot back */
        struct slot *prev = &L->slots[(L->next_take - 1) % L->n_slots];
        prev->state = SLOT_FREE;
        L->released = L->next_take;
        pthread_cond_broadcast(&L->cv);
    }
    if (L->next_take >= (long)L->n_batches) {
        pthread_mutex_unlock(&L->mu);
        return 0;
    }
    struct slot *s = &L->slots[L->next_take % L->n_slots];
    while (!(s->state == SLOT_READY && s->batch == L->next_take)) pthread_cond_wait(&L->cv, &L->mu);
    pthread_mutex_unlock(&L->mu);
    L->next_take++;
    if (s->failed) return nn_err("%s", s->err);
    *x = s->x;
    *y = s->y;
    *n = s->n;
    return 0;
}

static int batches_start(void *ctx, int epoch) { return data_loader_start(ctx, epoch); }
static int batches_next(void *ctx, const float **x, const int **y, int *n) {
    return data_loader_next(ctx, x, y, n);
}

void data_loader_as_batches(struct data_loader *L, struct nn_batches *b) {
    b->ctx = L;
    b->start = batches_start;
    b->next = batches_next;
    b->batches = L->n_batches;
    b->images = data_loader_images(L);
}
