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

/* Greedy k-means++ seeding: each next centre is the best, by the potential it leaves, of
 * 2 + ⌊ln k⌋ candidates drawn with probability ∝ D². Plain k-means++ puts two centres in
 * one group often enough (a few per cent on well-separated data) for Lloyd to stall there;
 * the extra trials make that rare. Seeding runs on at most KM_SEED_MAX values drawn
 * uniformly (the potential is a sum, so a sample estimates it well) and costs
 * O(sample · k · trials); Lloyd then runs on all n. */
enum { KM_SEED_MAX = 1 << 16 };

static size_t draw_d2(const double *d2, size_t m, double total, struct nn_rng *rng) {
    double u = nn_rng_uniform_d(rng) * total, acc = 0;
    for (size_t i = 0; i < m; i++) {
        acc += d2[i];
        if (acc > u) return i;
    }
    for (size_t i = m; i-- > 0;) /* rounding left u past the sum: the last positive one */
        if (d2[i] > 0) return i;
    return m - 1;
}

static int seed(const float *x, size_t n, int k, struct nn_rng *rng, float *c) {
    size_t m = n < KM_SEED_MAX ? n : KM_SEED_MAX;
    float *s = malloc(m * sizeof(float));
    double *d2 = malloc(m * sizeof(double));
    if (!s || !d2) {
        free(s), free(d2);
        return nn_err("k-means: out of memory for %zu values", m);
    }
    if (m == n) memcpy(s, x, n * sizeof(float));
    else
        for (size_t i = 0; i < m; i++) s[i] = x[nn_rng_below(rng, n)];
    int trials = 2 + (int)log((double)k);
    c[0] = s[nn_rng_below(rng, m)];
    double total = 0;
    for (size_t i = 0; i < m; i++) {
        double d = (double)s[i] - c[0];
        d2[i] = d * d;
        total += d2[i];
    }
    for (int j = 1; j < k; j++) {
        if (!(total > 0)) { /* every value already sits on a centre: repeat one */
            c[j] = c[j - 1];
            continue;
        }
        double best = INFINITY;
        float bc = c[j - 1];
        for (int t = 0; t < trials; t++) {
            float cand = s[draw_d2(d2, m, total, rng)];
            double pot = 0;
            for (size_t i = 0; i < m; i++) {
                double d = (double)s[i] - cand, e = d * d;
                pot += e < d2[i] ? e : d2[i];
            }
            if (pot < best) best = pot, bc = cand;
        }
        c[j] = bc;
        total = 0;
        for (size_t i = 0; i < m; i++) {
            double d = (double)s[i] - bc, e = d * d;
            if (e < d2[i]) d2[i] = e;
            total += d2[i];
        }
    }
    free(s), free(d2);
    return 0;
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
    if (seed(x, n, k, rng, c)) return -1;
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
