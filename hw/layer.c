#include "layer.h"

#include <stdlib.h>
#include <string.h>

#include "nn/error.h"
#include "quant/policy.h"

int hw_layers(const struct nn_graph *g, int batch, struct hw_layer **out) {
    *out = NULL;
    if (batch < 1) return nn_err("hardware layers: batch %d", batch);
    int n = q_layers(g, NULL);
    if (n == 0) return nn_err("hardware layers: the network has no conv or linear layer");
    struct hw_layer *ls = calloc((size_t)n, sizeof *ls);
    if (!ls) return nn_err("out of memory (%d layers)", n);
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct nn_node *nd = &g->nodes[i];
        if (nd->op != NN_OP_CONV && nd->op != NN_OP_LINEAR) continue;
        const struct nn_node *x = &g->nodes[nd->in[0]];
        struct hw_layer *l = &ls[k];
        memcpy(l->name, nd->name, sizeof l->name);
        l->index = k++;
        l->batch = batch;
        l->cout = nd->c;
        l->ho = nd->h;
        l->wo = nd->w;
        if (nd->op == NN_OP_CONV) {
            const struct nn_conv_attr *a = &nd->u.conv;
            l->cin = a->cin;
            l->kh = a->kh;
            l->kw = a->kw;
            l->stride = a->stride;
            l->groups = a->groups;
            l->h = x->h;
            l->w = x->w;
            l->type = a->groups > 1 && a->groups == a->cin && a->groups == nd->c
                          ? HW_LAYER_DEPTHWISE
                          : HW_LAYER_CONV;
        } else {
            l->type = HW_LAYER_FC;
            l->cin = nd->u.fc.in_f;
            l->kh = l->kw = l->stride = l->groups = 1;
            l->h = l->w = 1;
        }
    }
    *out = ls;
    return n;
}

double hw_layer_macs(const struct hw_layer *l) {
    return (double)l->batch * l->ho * l->wo * l->cout * (l->cin / l->groups) * l->kh * l->kw;
}

double hw_layer_weights(const struct hw_layer *l) {
    return (double)l->cout * (l->cin / l->groups) * l->kh * l->kw;
}

const char *hw_layer_type_name(enum hw_layer_type t) {
    return t == HW_LAYER_DEPTHWISE ? "dw" : t == HW_LAYER_FC ? "fc" : "conv";
}
