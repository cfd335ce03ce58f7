#include "train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cpu.h"
#include "error.h"
#include "progress.h"

static void bar_extra(char *buf, size_t cap, double loss, size_t correct, size_t seen) {
    snprintf(buf, cap, "loss %.4f  top1 %.2f%%", loss / (double)(seen ? seen : 1),
             100.0 * (double)correct / (double)(seen ? seen : 1));
}

int nn_train_epoch(struct nn_graph *g, struct nn_sgd *o, const struct nn_param_set *ps,
                   struct nn_batches *b, int epoch, const struct nn_sched *sched,
                   const struct nn_train_hooks *hooks, const char *label,
                   struct nn_epoch_stats *st) {
    memset(st, 0, sizeof *st);
    if (b->start(b->ctx, epoch)) return -1;
    nn_graph_set_train(g, 1);
    struct nn_progress pr;
    nn_progress_start(&pr, label, b->images, "img");
    double loss_sum = 0, t0 = nn_now();
    size_t seen = 0, c1 = 0, c5 = 0;
    for (size_t i = 0;; i++) {
        const float *x;
        const int *y;
        int n;
        if (b->next(b->ctx, &x, &y, &n)) return -1;
        if (n == 0) break;
        if (n > g->max_batch) return nn_err("batch of %d exceeds the network's %d", n, g->max_batch);
        if (nn_graph_forward(g, x, n)) return -1;
        int t1, t5;
        double loss = nn_graph_xent(g, y, &t1, &t5);
        if (!isfinite(loss))
            return nn_err("epoch %d batch %zu: loss is %g (diverged; lower the learning rate)",
                          epoch, i, loss);
        nn_graph_zero_grad(g);
        if (nn_graph_backward(g)) return -1;
        if (sched) o->lr = (float)nn_sched_lr(sched, (long)(epoch * (long)b->batches + (long)i),
                                             (long)b->batches);
        if (hooks && hooks->before_step && hooks->before_step(hooks->ctx, g)) return -1;
        nn_sgd_step(o, ps);
        if (hooks && hooks->after_step && hooks->after_step(hooks->ctx, g)) return -1;
        loss_sum += loss * n;
        seen += (size_t)n;
        c1 += (size_t)t1;
        c5 += (size_t)t5;
        if (*label) {
            char extra[96];
            bar_extra(extra, sizeof extra, loss_sum, c1, seen);
            nn_progress_update(&pr, seen, extra);
        }
    }
    if (*label) nn_progress_end(&pr);
    st->images = seen;
    st->loss = loss_sum / (double)(seen ? seen : 1);
    st->top1 = 100.0 * (double)c1 / (double)(seen ? seen : 1);
    st->top5 = 100.0 * (double)c5 / (double)(seen ? seen : 1);
    st->seconds = nn_now() - t0;
    st->img_s = (double)seen / (st->seconds > 0 ? st->seconds : 1e-9);
    return 0;
}

int nn_evaluate(struct nn_graph *g, struct nn_batches *b, const char *label,
                struct nn_epoch_stats *st) {
    memset(st, 0, sizeof *st);
    if (b->start(b->ctx, 0)) return -1;
    int was = g->train;
    nn_graph_set_train(g, 0);
    struct nn_progress pr;
    nn_progress_start(&pr, label, b->images, "img");
    double loss_sum = 0, t0 = nn_now();
    size_t seen = 0, c1 = 0, c5 = 0;
    int rc = 0;
    for (;;) {
        const float *x;
        const int *y;
        int n;
        if ((rc = b->next(b->ctx, &x, &y, &n)) != 0 || n == 0) break;
        if (n > g->max_batch) {
            rc = nn_err("batch of %d exceeds the network's %d", n, g->max_batch);
            break;
        }
        if ((rc = nn_graph_forward(g, x, n)) != 0) break;
        int t1, t5;
        /* the logits' gradient is not wanted here: compute the loss without writing it */
        struct nn_node *last = &g->nodes[nn_graph_last(g)];
        double loss = nn_softmax_xent(last->out, y, n, last->h * last->w * last->c, NULL, 1.0f,
                                      &t1, &t5);
        loss_sum += loss * n;
        seen += (size_t)n;
        c1 += (size_t)t1;
        c5 += (size_t)t5;
        if (*label) {
            char extra[96];
            bar_extra(extra, sizeof extra, loss_sum, c1, seen);
            nn_progress_update(&pr, seen, extra);
        }
    }
    if (*label) nn_progress_end(&pr);
    nn_graph_set_train(g, was);
    st->images = seen;
    st->loss = loss_sum / (double)(seen ? seen : 1);
    st->top1 = 100.0 * (double)c1 / (double)(seen ? seen : 1);
    st->top5 = 100.0 * (double)c5 / (double)(seen ? seen : 1);
    st->seconds = nn_now() - t0;
    st->img_s = (double)seen / (st->seconds > 0 ? st->seconds : 1e-9);
    return rc;
}
