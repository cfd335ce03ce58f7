/* The layer description every hardware cost model reads.
 *
 * One entry per quantizable layer (conv, depthwise conv, fully connected; graph node order, as
 * q_layers), extracted from a graph's shapes alone: no allocation, no weights. A convolution is
 * lowered to GEMMs as accelerators run it: per group, M = batch·Ho·Wo rows, K = (Cin/groups)·kh·kw
 * reduction, N = Cout/groups columns. A fully connected layer is a 1×1 convolution on a 1×1
 * image with Cin = in_features. */
#ifndef HAQ_HW_LAYER_H
#define HAQ_HW_LAYER_H

#include "nn/graph.h"

enum hw_layer_type {
    HW_LAYER_CONV,      /* dense or grouped convolution */
    HW_LAYER_DEPTHWISE, /* groups == Cin == Cout > 1 */
    HW_LAYER_FC,        /* fully connected */
};

struct hw_layer {
    char name[NN_NAME_MAX]; /* the graph node's name */
    enum hw_layer_type type;
    int index;     /* position among the quantizable layers (lookup-table row) */
    int cin, cout; /* channels (FC: in/out features) */
    int kh, kw, stride, groups;
    int h, w;   /* input height × width (FC: 1 × 1) */
    int ho, wo; /* output height × width */
    int batch;  /* images per inference */
};

/* The quantizable layers of g at the given batch: *out is a new array (free it) of the returned
 * count, or −1 with nn_err set. */
int hw_layers(const struct nn_graph *g, int batch, struct hw_layer **out);

/* Multiply-accumulates of the layer over its whole batch. */
double hw_layer_macs(const struct hw_layer *l);

/* Weights of the layer (biases excluded): Cout·(Cin/groups)·kh·kw. */
double hw_layer_weights(const struct hw_layer *l);

/* "conv", "dw" or "fc". */
const char *hw_layer_type_name(enum hw_layer_type t);

#endif
