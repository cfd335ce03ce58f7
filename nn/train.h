/* The training and evaluation loops every command shares (train, finetune, the search's
 * episodes): minibatch SGD with a per-iteration schedule over any batch source, progress on
 * stderr, and per-epoch statistics. */
#ifndef HAQ_NN_TRAIN_H
#define HAQ_NN_TRAIN_H

#include <stddef.h>

#include "graph.h"
#include "optim.h"

/* A source of NHWC float batches (the data module's loader implements it). */
struct nn_batches {
    void *ctx;
    int (*start)(void *ctx, int epoch);
    /* *n = 0 at the end of the epoch; pointers valid until the next call */
    int (*next)(void *ctx, const float **x, const int **y, int *n);
    size_t batches, images;
};

struct nn_epoch_stats {
    double loss, top1, top5; /* mean loss; accuracies in percent */
    size_t images;
    double seconds, img_s;
};

/* Called around each optimizer step: before (e.g. to fold in extra gradient terms) and after
 * (e.g. the k-means centroid projection). Either may be NULL; a nonzero return aborts. */
struct nn_train_hooks {
    void *ctx;
    int (*before_step)(void *ctx, struct nn_graph *g);
    int (*after_step)(void *ctx, struct nn_graph *g);
};

/* One epoch of training: forward, softmax cross-entropy, backward, SGD step with
 * o->lr = nn_sched_lr(sched, epoch·batches + i, batches) (sched may be NULL: o->lr as is).
 * label names the progress bar ("" for none). Returns 0 or −1. */
int nn_train_epoch(struct nn_graph *g, struct nn_sgd *o, const struct nn_param_set *ps,
                   struct nn_batches *b, int epoch, const struct nn_sched *sched,
                   const struct nn_train_hooks *hooks, const char *label,
                   struct nn_epoch_stats *st);

/* Accuracy and loss in eval mode over every batch of b (epoch 0). */
int nn_evaluate(struct nn_graph *g, struct nn_batches *b, const char *label,
                struct nn_epoch_stats *st);

#endif
