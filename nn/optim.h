/* Optimizers and learning-rate schedules.
 *
 * An optimizer walks a parameter table (struct nn_param: offset, size, decay flag) over one
 * data block and its gradient block, so a whole network is one loop. Weight decay is L2 added
 * to the gradient, as in PyTorch, and applies to tensors whose decay flag is set unless
 * decay_all is set (then to every tensor, as PyTorch does by default). */
#ifndef HAQ_NN_OPTIM_H
#define HAQ_NN_OPTIM_H

#include <stddef.h>

#include "graph.h"

struct nn_param_set {
    float *data, *grad;
    size_t n; /* floats in each block */
    const struct nn_param *t;
    int nt;
};

/* The parameters of a graph. */
struct nn_param_set nn_graph_params(const struct nn_graph *g);

/* SGD (PyTorch semantics, dampening 0):
 *   g = grad + wd·w;  v = momentum·v + g;  w −= lr·(nesterov ? g + momentum·v : v) */
struct nn_sgd {
    float lr, momentum, weight_decay;
    int nesterov, decay_all;
    float *vel; /* [n], zero at start */
    size_t n;
};
int nn_sgd_init(struct nn_sgd *o, size_t n, float lr, float momentum, float weight_decay,
                int nesterov);
void nn_sgd_step(struct nn_sgd *o, const struct nn_param_set *ps);
void nn_sgd_free(struct nn_sgd *o);

/* Adam (Kingma & Ba, bias-corrected; PyTorch's formula with eps outside the root):
 *   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;  w −= lr·(m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + eps) */
struct nn_adam {
    float lr, beta1, beta2, eps, weight_decay;
    int decay_all;
    long t;
    float *m, *v;
    size_t n;
};
int nn_adam_init(struct nn_adam *o, size_t n, float lr, float beta1, float beta2, float eps,
                 float weight_decay);
void nn_adam_step(struct nn_adam *o, const struct nn_param_set *ps);
void nn_adam_free(struct nn_adam *o);

/* Learning-rate schedules in epochs, evaluated per iteration: with `per_epoch` iterations an
 * epoch, iteration `it` sits at t = it / per_epoch epochs. The first `warmup` epochs ramp
 * linearly to lr0 ((it+1) / (warmup·per_epoch)); the schedule then runs over the rest:
 *   const:  lr0
 *   cosine: lr_min + (lr0 − lr_min)·(1 + cos(π·τ/T))/2,  τ = t − warmup, T = total − warmup
 *   step:   lr0 · gamma^⌊τ/step⌋          (step in epochs)
 *   exp:    lr0 · gamma^⌊τ⌋               (HAQ's "lr × 0.8 after each epoch")
 * With per_epoch = 1 the schedule moves once per epoch. */
enum nn_sched_kind { NN_SCHED_CONST, NN_SCHED_COSINE, NN_SCHED_STEP, NN_SCHED_EXP };
struct nn_sched {
    enum nn_sched_kind kind;
    double lr0, lr_min, gamma;
    int total, step; /* epochs */
    double warmup;   /* epochs */
};
double nn_sched_lr(const struct nn_sched *s, long it, long per_epoch);
/* Parse "cosine", "step:30:0.1" (step size, gamma), "exp:0.8", "const" into kind/step/gamma;
 * 0 or −1 (nn_err). */
int nn_sched_parse(struct nn_sched *s, const char *spec);

#endif
