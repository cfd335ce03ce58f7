#include "kmeans.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/error.h"

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

void q_kmeans_assign(const float *x, size_t n, const float *c, int k, uint8_t *labels) {
    float mid[256];
    for (int j = 0; j + 1 < k; j++) mid[j] = 0.5f * (c[j] + c[j + 1]);
    for (size_t i = 0; i < n; i++) {
        /* the first midpoint at or above x bounds its cluster: binary search */
        int lo = 0, hi = k - 1;
        while (lo < hi) {
            int m = (lo + hi) / 2;
            if (x[i] <= mid[m]) hi = m;
            else lo = m + 1;
        }
        labels[i] = (uint8_t)lo;
    }
}

double q_kmeans_objective(const float *x, size_t n, const float *c, const uint8_t *labels) {
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - c[labels[i]];
        s += d * d;
    }
    return s;
}

/* Centroids = means of their members; an empty cluster keeps its centroid. */
static void update(const float *x, size_t n, const uint8_t *labels, int k, float *c) {
    double sum[256] = {0};
    size_t cnt[256] = {0};
    for (size_t i = 0; i < n; i++) {
        sum[labels[i]] += x[i];
        cnt[labels[i]]++;
    }
    for (int j = 0; j < k; j++)
        if (cnt[j]) c[j] = (float)(sum[j] / (double)cnt[j]);
}

int q_kmeans(const float *x, size_t n, int k, int iters, struct nn_rng *rng, float *c,
             uint8_t *labels, double *objective) {
    if (k < 1 || k > 256) return nn_err("k-means: %d clusters (1 … 256)", k);
    if (n == 0) {
        for (int j = 0; j < k; j++) c[j] = 0.0f;
        if (objective)
            for (int t = 0; t <= iters; t++) objective[t] = 0;
        return 0;
    }
    /* k-means++: the first centre uniform, each next one with probability ∝ D² */
    double *d2 = malloc(n * sizeof(double));
    if (!d2) return nn_err("k-means: out of memory for %zu values", n);
    c[0] = x[nn_rng_below(rng, n)];
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - c[0];
        d2[i] = d * d;
        total += d2[i];
    }
    for (int j = 1; j < k; j++) {
        size_t pick = 0;
        if (total > 0) {
            double u = nn_rng_uniform_d(rng) * total, acc = 0;
            pick = n - 1;
            for (size_t i = 0; i < n; i++) {
                acc += d2[i];
                if (acc > u) {
                    pick = i;
                    break;
                }
            }
        } else { /* every value already sits on a centre: repeat one */
            pick = nn_rng_below(rng, n);
        }
        c[j] = x[pick];
        total = 0;
        for (size_t i = 0; i < n; i++) {
            double d = (double)x[i] - c[j];
            if (d * d < d2[i]) d2[i] = d * d;
            total += d2[i];
        }
    }
    free(d2);
    qsort(c, (size_t)k, sizeof(float), cmp_float);
    q_kmeans_assign(x, n, c, k, labels);
    if (objective) objective[0] = q_kmeans_objective(x, n, c, labels);
    for (int t = 0; t < iters; t++) {
        update(x, n, labels, k, c);
        qsort(c, (size_t)k, sizeof(float), cmp_float);
        q_kmeans_assign(x, n, c, k, labels);
        if (objective) objective[t + 1] = q_kmeans_objective(x, n, c, labels);
    }
    return 0;
}

void q_kmeans_project(float *w, size_t n, const uint8_t *labels, int k, float *c) {
    update(w, n, labels, k, c);
    for (size_t i = 0; i < n; i++) w[i] = c[labels[i]];
}
