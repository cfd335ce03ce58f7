/* A bit-width policy: the weight and activation bits of each quantizable layer of a network.
 *
 * The quantizable layers are the conv (depthwise included) and linear nodes of the graph, in node
 * order (q_layers). Bits are 1 … 8, or Q_FLOAT: weights left in float32, or an activation left
 * unquantized (HAQ's first layer, whose input is the image). The quantizers, the hardware cost
 * models and the search all read this one type.
 *
 * Text form, one line per layer, '#' starts a comment:
 *     features.0.0    8 -1
 *     features.1.conv.0.0  6 5
 * A line is `name w a` or just `w a`; a given name must be the layer's. w is 1..8, 32 or
 * "float"; a is 1..8, 32, "float", −1 or 0 (the last four: not quantized).
 * HAQ list form (the release's strategy print-out): [[8, -1], [7, 7], …], or a flat list
 * [8, 6, 4, …] of weight bits for weights-only (k-means) policies. Both forms are accepted by
 * the same parser; errors name the source and the line. */
#ifndef HAQ_QUANT_POLICY_H
#define HAQ_QUANT_POLICY_H

#include <stddef.h>
#include <stdio.h>

#include "nn/graph.h"

#define Q_FLOAT    0 /* not quantized (float32 weights / unquantized activation) */
#define Q_BITS_MAX 8 /* widest quantized width */

struct q_policy {
    int n;                /* number of quantizable layers */
    int *w_bits, *a_bits; /* [n]: 1..Q_BITS_MAX or Q_FLOAT */
};

/* Quantizable layers of g (conv and linear nodes, node order): returns their count and, when
 * nodes is not NULL, writes their node indices to nodes[0 … count−1]. */
int q_layers(const struct nn_graph *g, int *nodes);

/* Allocate n layers, all at w/a bits (Q_FLOAT allowed). Returns 0 or −1 (nn_err). */
int q_policy_uniform(struct q_policy *p, int n, int w, int a);

void q_policy_free(struct q_policy *p);

/* The uniform shorthand "w4a4", "w8a8", "w6a6" …: sets *w, *a (1..8 each) and returns 0;
 * −1 (nn_err) when s is not of that form. */
int q_policy_parse_uniform(const char *s, int *w, int *a);

/* Parse text of len bytes in either form; `src` names it in errors. With g not NULL, the policy
 * must have exactly q_layers(g) entries and any names must match. Returns 0 or −1 (nn_err). */
int q_policy_parse(struct q_policy *p, const char *text, size_t len, const char *src,
                   const struct nn_graph *g);

/* Read a policy file (either form). Returns 0 or −1 (nn_err). */
int q_policy_read(struct q_policy *p, const char *path, const struct nn_graph *g);

/* A policy from a command-line argument: the uniform shorthand ("w4a4", needs g for the layer
 * count), a HAQ list literal ("[[8, -1], [4, 4]]"), or a file name. Returns 0 or −1. */
int q_policy_from_arg(struct q_policy *p, const char *arg, const struct nn_graph *g);

/* Check p against g: layer count and bit ranges. Returns 0 or −1 (nn_err). */
int q_policy_check(const struct q_policy *p, const struct nn_graph *g);

/* Write the text form (with layer names from g, or without names when g is NULL). */
int q_policy_write_text(const struct q_policy *p, const struct nn_graph *g, FILE *f);

/* Write the HAQ list form: [[8, -1], [7, 7]] (unquantized activations as −1, float weights as
 * 32), followed by a newline. */
int q_policy_write_list(const struct q_policy *p, FILE *f);

/* Save the text form to path through a temporary file and a rename. Returns 0 or −1. */
int q_policy_save(const struct q_policy *p, const struct nn_graph *g, const char *path);

#endif
