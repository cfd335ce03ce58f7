/* Quantizing a network with a policy: HAQ's two quantizers, applied layer by layer.
 *
 * Linear (weights and activations, HAQ_SPEC §3): each quantizable layer gets its policy's
 * weight and input-activation bits; an input that can be negative (its producer is not a
 * ReLU/ReLU6: MobileNetV2's expand convs after a linear bottleneck, the 320→1280 conv) takes
 * the signed quantizer; the network's first layer keeps its input (the image) in float by
 * default. Calibration (q_calibrate) runs forward passes with quantization off and sets, per
 * layer, the weight threshold (KL below 5 bits, max from 5 bits up, or the method asked for)
 * and the activation range min(cap, max|x|, KL(x)) below 5 bits or min(cap, max|x|) from 5
 * bits up — the release's rules, except that the release caps every range at 6 and the engine
 * by default does not: after a ReLU6 the cap changes nothing, but the inputs of MobileNetV2's
 * expand convs are residual sums that reach 10–15, and clipping them at 6 costs a network
 * several points even at 8 bits before fine-tuning has let the ranges grow (act_cap = 6
 * restores the release's rule). The ranges then train with the network (QAT).
 *
 * K-means (weights only): each layer's weights clustered into 2^w_bits centroids and replaced
 * by them; during fine-tuning q_kmeans_after_step projects every layer back onto its frozen
 * clusters after each SGD step. With free_high_bit, layers above 6 bits stay in float, as the
 * release allows. */
#ifndef HAQ_QUANT_QUANTIZE_H
#define HAQ_QUANT_QUANTIZE_H

#include <stdint.h>

#include "linear.h"
#include "nn/graph.h"
#include "nn/train.h"
#include "policy.h"

enum q_method { Q_LINEAR = 0, Q_KMEANS = 1 };

struct q_options {
    enum q_method method;
    enum q_thresh_method w_method, a_method; /* weights / activations below 5 bits */
    double pct;                              /* for Q_THRESH_PERCENTILE */
    int release_rule;      /* 1: the method above below 5 bits, max from 5 up (default);
                              0: the method at every width */
    int per_channel;       /* per-output-channel weight thresholds */
    int quantize_first_input; /* 0 (default): the first layer's input stays float */
    float act_cap;         /* largest calibrated range (default: none; the release: 6) */
    int kmeans_iters;      /* Lloyd iterations (the search: 3; the final fine-tune: 50) */
    int free_high_bit;     /* k-means: layers above 6 bits stay float */
    uint64_t seed;         /* k-means++ */
};

/* Defaults: linear, KL (classic) below 5 bits, per-tensor, no range cap, 50 k-means
 * iterations. */
struct q_options q_options_default(void);

/* Per-layer k-means state for the projection after each SGD step. */
struct q_kmeans_state {
    int n;              /* layers clustered */
    int *param, *k;     /* weight parameter index and cluster count of each */
    uint8_t **labels;   /* [n][numel] */
    float **centroids;  /* [n][k] */
};

/* Apply policy p to g with method o->method (linear: sets bits; run q_calibrate next; k-means:
 * clusters the weights now, filling *km, which may be NULL for a one-off post-training
 * quantization). Returns 0 or −1 (nn_err). */
int q_apply(struct nn_graph *g, const struct q_policy *p, const struct q_options *o,
            struct q_kmeans_state *km);

/* Linear calibration over up to n_batches batches of b (epoch 0; all when n_batches ≤ 0):
 * weight thresholds from the weights, activation ranges from the inputs seen with
 * quantization off (averaged over the batches). Returns 0 or −1. */
int q_calibrate(struct nn_graph *g, struct nn_batches *b, int n_batches,
                const struct q_options *o);

/* Remove every layer's quantization (bits 0). */
void q_clear(struct nn_graph *g);

/* The training hook that re-projects k-means layers (ctx = struct q_kmeans_state *). */
int q_kmeans_after_step(void *ctx, struct nn_graph *g);

void q_kmeans_free(struct q_kmeans_state *km);

/* Parse "linear" / "kmeans". */
int q_method_parse(const char *s, enum q_method *m);

#endif
