/* The network: a topologically ordered array of nodes over NHWC activations.
 *
 * Node 0 is the input [n][h][w][c]. Each builder call appends one node reading earlier nodes
 * by index and returns the new node's index (or −1 with nn_err set; a −1 input makes the next
 * call fail too, so a model builder checks once at the end). Node names are the PyTorch
 * state-dict prefixes of their parameters ("features.0.0"), parameter names add ".weight",
 * ".bias", ".running_mean" … exactly as torchvision spells them.
 *
 * All parameters live in one allocation (params), their gradients in a second of the same
 * layout (grads), BN running statistics in a third (bufs); activations and their gradients are
 * carved from one arena sized by nn_graph_alloc for a maximum batch. forward walks the array;
 * backward walks it in reverse, each node adding its share to its inputs' gradients. */
#ifndef HAQ_NN_GRAPH_H
#define HAQ_NN_GRAPH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "layers.h"
#include "rng.h"
#include "tensor.h"

#define NN_NAME_MAX 96

enum nn_op {
    NN_OP_INPUT,
    NN_OP_CONV,    /* convolution, any kernel/stride/padding/groups, optional bias */
    NN_OP_BN,      /* batch norm with fused activation */
    NN_OP_ACT,     /* ReLU / ReLU6 */
    NN_OP_ADD,     /* residual add of two nodes of equal shape */
    NN_OP_MAXPOOL, /* k×k max pool */
    NN_OP_AVGPOOL, /* global average pool → 1×1×C */
    NN_OP_LINEAR,  /* fully connected on the flattened input */
    NN_OP_DROPOUT,
};

/* One named tensor of parameters (trainable) or buffers (running statistics). Shape is given
 * as PyTorch reports it (conv: [cout, cin/groups, kh, kw]); the data layout is the engine's
 * (conv [kh][kw][cin/groups][cout], linear [in][out]). */
struct nn_param {
    char name[NN_NAME_MAX + 16];
    size_t off, numel;
    int ndim, shape[4];
    int decay; /* 1: weight decay applies (conv/linear weights); 0: BN affine and biases */
    int node;
    int quant; /* quantizer state (activation ranges): not in PyTorch's state dict */
};

/* Fake quantization of a conv or linear node (see fakeq.h): its weights at w_bits and its
 * input activation at a_bits, 0 = float. Set by the quantization module; the graph applies it
 * in forward and backward (straight-through / PACT gradients). */
struct nn_qattr {
    int w_bits, a_bits;
    int a_signed;      /* the input can be negative: signed quantizer with a_bits − 1 bits */
    int per_channel;   /* one weight threshold per output channel */
    float w_thresh;    /* per-tensor threshold; ≤ 0: max|w| at the next forward */
    float *w_thresh_pc; /* [cout] thresholds when per_channel (graph-owned) */
    int range;          /* parameter index of the learnable activation range */
};

struct nn_conv_attr {
    int kh, kw, stride, pad_h, pad_w, groups, cin;
    int w, b; /* parameter indices (b = −1: no bias) */
    struct nn_qattr q;
};

struct nn_bn_attr {
    int gamma, beta;   /* parameter indices */
    int rmean, rvar;   /* buffer indices */
    float eps, momentum;
    enum nn_act act;   /* applied after the affine map */
    int64_t batches;   /* num_batches_tracked */
    float *save_mean, *save_invstd;
};

struct nn_pool_attr {
    int k, s, p;
    int32_t *arg;
};

struct nn_linear_attr {
    int in_f;
    int w, b;
    struct nn_qattr q;
};

struct nn_dropout_attr {
    float p;
    float *mask;
};

struct nn_node {
    char name[NN_NAME_MAX];
    enum nn_op op;
    int in[2], n_in;
    int h, w, c; /* output shape of one image */
    union {
        struct nn_conv_attr conv;
        struct nn_bn_attr bn;
        enum nn_act act;
        struct nn_pool_attr pool;
        struct nn_linear_attr fc;
        struct nn_dropout_attr drop;
    } u;
    float *out, *dout; /* [max_batch][h][w][c] */
};

struct nn_graph {
    struct nn_node *nodes;
    int n_nodes, cap_nodes;
    struct nn_param *params, *bufs;
    int n_params, n_bufs, cap_params, cap_bufs;
    size_t n_param_floats, n_buf_floats;
    float *param_data, *grad_data, *buf_data;
    int max_batch, batch, train, trainable, input_grad;
    struct nn_arena act;
    float *scratch;
    size_t scratch_floats;
    unsigned char *grad_live; /* per node: gradient written during this backward */
    struct nn_rng rng;        /* dropout masks */
    int failed;               /* a builder call failed */
    double *prof;             /* [n_nodes][2] forward/backward seconds, when profiling */
    /* fake quantization: scratch for a quantized input and its gradient, the quantized copy
     * of the parameters (same layout), and a switch that turns it all off (calibration) */
    float *qx, *qdx, *qparam, *qthresh;
    int quant_off;
};

/* An empty graph whose node 0 is the input of one h×w×c image. NULL on out of memory. */
struct nn_graph *nn_graph_new(int h, int w, int c);
void nn_graph_free(struct nn_graph *g);

/* Builders: append a node reading node `in`; return its index or −1. */
int nn_conv(struct nn_graph *g, const char *name, int in, int cout, int kh, int kw, int stride,
            int pad_h, int pad_w, int groups, int bias);
int nn_bn(struct nn_graph *g, const char *name, int in, enum nn_act act);
int nn_act(struct nn_graph *g, const char *name, int in, enum nn_act act);
int nn_add(struct nn_graph *g, const char *name, int a, int b);
int nn_maxpool(struct nn_graph *g, const char *name, int in, int k, int s, int p);
int nn_avgpool(struct nn_graph *g, const char *name, int in);
int nn_linear(struct nn_graph *g, const char *name, int in, int out_f, int bias);
int nn_dropout(struct nn_graph *g, const char *name, int in, float p);

/* Allocate parameters, buffers and activations for batches up to max_batch; trainable = 0
 * allocates no gradients (inference only). Parameters start at the default initialization
 * (nn_graph_init). Returns 0 or −1 (nn_err). */
int nn_graph_alloc(struct nn_graph *g, int max_batch, int trainable);

/* Default initialization, as torchvision: conv weights N(0, 2/fan_out) (Kaiming, fan-out
 * mode), linear weights N(0, 0.01²), biases 0, BN γ = 1, β = 0, running mean 0, var 1. */
void nn_graph_init(struct nn_graph *g, struct nn_rng *rng);

/* Train mode: BN uses batch statistics and updates running ones; dropout drops. */
void nn_graph_set_train(struct nn_graph *g, int train);

/* Forward a batch of n ≤ max_batch images x [n][h][w][c]. Returns 0 or −1. */
int nn_graph_forward(struct nn_graph *g, const float *x, int n);

/* Softmax cross-entropy of the last node's output (logits [batch][classes]) against labels;
 * writes the logits' gradient (for backward) when the graph is trainable. */
double nn_graph_xent(struct nn_graph *g, const int *labels, int *top1, int *top5);

/* Backward from the last node's gradient (set by nn_graph_xent, or by the caller into
 * nodes[last].dout). Parameter gradients accumulate into grad_data. Returns 0 or −1. */
int nn_graph_backward(struct nn_graph *g);

void nn_graph_zero_grad(struct nn_graph *g);

/* The quantizer attributes of a conv or linear node, or NULL for other nodes. */
struct nn_qattr *nn_node_q(struct nn_graph *g, int i);
/* 1 if node i's input may be negative (its producer, through pooling and dropout, is not a
 * ReLU/ReLU6): such inputs take the signed activation quantizer. */
int nn_node_input_signed(const struct nn_graph *g, int i);
/* Allocate the fake-quantization buffers (once; after nn_graph_alloc). 0 or −1. */
int nn_graph_quant_prepare(struct nn_graph *g);
/* 1 if any node carries nonzero bits. */
int nn_graph_quantized(const struct nn_graph *g);

/* Accumulate per-node forward/backward wall time from now on (0 or −1); print the nodes
 * sorted by time, with the share of each op kind, and reset. */
int nn_graph_profile(struct nn_graph *g);
void nn_graph_profile_report(struct nn_graph *g, FILE *f);

static inline int nn_graph_last(const struct nn_graph *g) { return g->n_nodes - 1; }
static inline float *nn_param_data(const struct nn_graph *g, int p) {
    return g->param_data + g->params[p].off;
}
static inline float *nn_param_grad(const struct nn_graph *g, int p) {
    return g->grad_data + g->params[p].off;
}
static inline float *nn_buf_data(const struct nn_graph *g, int b) {
    return g->buf_data + g->bufs[b].off;
}
int nn_graph_find_param(const struct nn_graph *g, const char *name);
int nn_graph_find_node(const struct nn_graph *g, const char *name);

/* Multiply-adds of one image through node i (conv and linear; 0 for the rest). */
double nn_node_macs(const struct nn_graph *g, int i);
/* Trainable parameters of node i. */
size_t nn_node_params(const struct nn_graph *g, int i);
const char *nn_op_name(enum nn_op op);

/* One line per node (name, op, output shape, params, MACs) and the totals. */
void nn_graph_summary(const struct nn_graph *g, FILE *f);

#endif
