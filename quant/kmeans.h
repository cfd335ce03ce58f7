/* One-dimensional k-means for weight sharing (HAQ's k-means quantizer, after Deep
 * Compression): 2^b clusters over a layer's weights, greedy k-means++ seeding from an
 * explicit generator, Lloyd iterations with exact nearest-centroid assignment, and during fine-tuning
 * the cluster assignment frozen while each weight is reset, after every SGD step, to the mean
 * of its cluster's updated weights. A cluster that loses all its members keeps its centroid,
 * so no NaN ever appears. */
#ifndef HAQ_QUANT_KMEANS_H
#define HAQ_QUANT_KMEANS_H

#include <stddef.h>
#include <stdint.h>

#include "nn/rng.h"

/* Cluster n values into k ≤ 256 clusters with `iters` Lloyd iterations after greedy
 * k-means++ seeding. centroids[k] come out sorted ascending; labels[n] index them. objective (may be
 * NULL) receives the sum of squared distances after seeding and after each iteration
 * (iters + 1 values). k larger than the number of distinct values is allowed (duplicates
 * collapse). Returns 0 or −1 (nn_err). */
int q_kmeans(const float *x, size_t n, int k, int iters, struct nn_rng *rng, float *centroids,
             uint8_t *labels, double *objective);

/* The nearest centroid of each value (centroids sorted ascending); ties go to the lower. */
void q_kmeans_assign(const float *x, size_t n, const float *centroids, int k, uint8_t *labels);

/* Sum of squared distances of x to its assigned centroids. */
double q_kmeans_objective(const float *x, size_t n, const float *centroids,
                          const uint8_t *labels);

/* w[i] = mean of {w[j] : labels[j] = labels[i]} (the projection after an SGD step); the new
 * means are also written to centroids[k] (clusters without members keep theirs). */
void q_kmeans_project(float *w, size_t n, const uint8_t *labels, int k, float *centroids);

#endif
