/* The quantizers: fake-quantization levels and error bounds, straight-through and PACT
 * gradients against finite differences, KL thresholds against brute force, k-means against
 * exhaustive search, and quantization applied to a network (calibration, QAT gradients,
 * quantized checkpoints). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/cmd.h"
#include "data/dataset.h"
#include "data/runlog.h"
#include "hw/layer.h"
#include "hw/size.h"
#include "nn/checkpoint.h"
#include "nn/error.h"
#include "nn/fakeq.h"
#include "nn/graph.h"
#include "nn/models.h"
#include "nn/pool.h"
#include "quant/cmd_quant.h"
#include "quant/kmeans.h"
#include "quant/linear.h"
#include "quant/quantize.h"
#include "rl/cmd.h"
#include "tests/testutil.h"

static int cmpf(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Distinct values of a quantized array. */
static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

static int distinct(float *v, size_t n) {
    qsort(v, n, sizeof(float), cmpf);
    int d = n > 0;
    for (size_t i = 1; i < n; i++) d += v[i] != v[i - 1];
    return d;
}

START_TEST(weight_levels_and_bounds) {
    struct nn_rng r;
    nn_rng_seed(&r, 1);
    enum { N = 20000 };
    static float w[N], q[N], qq[N];
    for (int i = 0; i < N; i++) w[i] = (float)nn_rng_normal(&r);
    for (int bits = 2; bits <= 8; bits++) {
        float t = 1.5f, s = nn_fq_step(bits, 1, t);
        ck_assert_float_eq_tol(s, t / (float)((1 << (bits - 1)) - 1), 1e-7f);
        nn_fq_weights(q, w, N, bits, t);
        nn_fq_weights(qq, q, N, bits, t); /* idempotent */
        ck_assert_int_eq(memcmp(q, qq, sizeof q), 0);
        for (int i = 0; i < N; i++) {
            ck_assert(fabsf(q[i]) <= t * (1 + 1e-6f));
            if (fabsf(w[i]) <= t) ck_assert(fabsf(w[i] - q[i]) <= 0.5f * s * (1 + 1e-5f));
            /* symmetric: q(−w) = −q(w) */
            float neg = -w[i], qn;
            nn_fq_weights(&qn, &neg, 1, bits, t);
            ck_assert_float_eq(qn, -q[i]);
        }
        memcpy(qq, q, sizeof q);
        ck_assert_int_eq(distinct(qq, N), 2 * ((1 << (bits - 1)) - 1) + 1);
    }
    /* round half to even: with s = 1 (t = 127 at 8 bits) 0.5 → 0, 1.5 → 2, 2.5 → 2 */
    float h[3] = {0.5f, 1.5f, 2.5f}, hq[3];
    nn_fq_weights(hq, h, 3, 8, 127.0f);
    ck_assert_float_eq(hq[0], 0.0f);
    ck_assert_float_eq(hq[1], 2.0f);
    ck_assert_float_eq(hq[2], 2.0f);
    /* one bit: sign · mean|w| */
    float b[4] = {1.0f, -3.0f, 2.0f, -2.0f}, bq[4];
    nn_fq_binary(bq, b, 4, 1, 0);
    ck_assert_float_eq(bq[0], 2.0f);
    ck_assert_float_eq(bq[1], -2.0f);
    nn_fq_binary(bq, b, 4, 2, 1); /* per channel: {1, 2} and {−3, −2} */
    ck_assert_float_eq(bq[0], 1.5f);
    ck_assert_float_eq(bq[1], -2.5f);
    /* per channel: each channel its own threshold */
    float pc[6] = {0.9f, 0.09f, -0.5f, 0.05f, 0.2f, -0.01f}, pq[6], ts[2] = {1.0f, 0.1f};
    nn_fq_weights_pc(pq, pc, 6, 2, 2, ts);
    ck_assert_float_eq(pq[0], 1.0f);
    ck_assert_float_eq(pq[1], 0.1f);
    ck_assert_float_eq(pq[2], 0.0f); /* −0.5 / 1 rounds half to even: 0 */
    ck_assert_float_eq(pq[3], 0.0f); /* 0.05 / 0.1 = 0.5: 0 */
    ck_assert_float_eq(pq[4], 0.0f);
}
END_TEST

START_TEST(activation_levels_and_bounds) {
    struct nn_rng r;
    nn_rng_seed(&r, 2);
    enum { N = 10000 };
    static float x[N], q[N], qq[N];
    for (int i = 0; i < N; i++) x[i] = 8.0f * nn_rng_uniform(&r) - 4.0f;
    for (int bits = 2; bits <= 8; bits++)
        for (int sg = 0; sg <= 1; sg++) {
            float rr = 3.0f, s = nn_fq_step(bits, sg, rr);
            nn_fq_act_forward(q, x, N, bits, sg, rr);
            nn_fq_act_forward(qq, q, N, bits, sg, rr);
            ck_assert_int_eq(memcmp(q, qq, sizeof q), 0);
            for (int i = 0; i < N; i++) {
                float lo = sg ? -rr : 0.0f;
                ck_assert(q[i] >= lo - 1e-6f && q[i] <= rr + 1e-6f);
                if (x[i] >= lo && x[i] <= rr) ck_assert(fabsf(x[i] - q[i]) <= 0.5f * s * (1 + 1e-5f));
            }
            memcpy(qq, q, sizeof q);
            int levels = sg ? 2 * ((1 << (bits - 1)) - 1) + 1 : (1 << bits);
            ck_assert_int_eq(distinct(qq, N), levels);
        }
}
END_TEST

/* d/dx and d/dr of Σ g·q(x): the rounding is straight-through, so compare with the clamp's
 * finite differences (where the clamp is differentiable). */
START_TEST(activation_gradients) {
    struct nn_rng r;
    nn_rng_seed(&r, 3);
    enum { N = 500 };
    float x[N], g[N], dx[N];
    for (int sg = 0; sg <= 1; sg++) {
        float rr = 2.0f;
        for (int i = 0; i < N; i++) {
            do x[i] = 6.0f * nn_rng_uniform(&r) - 3.0f;
            while (fabsf(fabsf(x[i]) - rr) < 0.01f || fabsf(x[i]) < 0.01f);
            g[i] = nn_rng_uniform(&r) - 0.5f;
        }
        double dr = nn_fq_act_backward(dx, 0, g, x, N, sg, rr);
        double num_dr = 0;
        for (int i = 0; i < N; i++) {
            float lo = sg ? -rr : 0.0f;
            float clamp_p = fminf(fmaxf(x[i] + 1e-3f, lo), rr), clamp_m = fminf(fmaxf(x[i] - 1e-3f, lo), rr);
            ck_assert_float_eq_tol(dx[i], g[i] * (clamp_p - clamp_m) / 2e-3f, 1e-3f);
            float cr_p = fminf(fmaxf(x[i], sg ? -(rr + 1e-3f) : 0.0f), rr + 1e-3f);
            float cr_m = fminf(fmaxf(x[i], sg ? -(rr - 1e-3f) : 0.0f), rr - 1e-3f);
            num_dr += g[i] * (cr_p - cr_m) / 2e-3;
        }
        ck_assert_double_eq_tol(dr, num_dr, 1e-3);
        ck_assert(fabs(dr) > 0.1); /* the range matters here */
    }
}
END_TEST

/* The classic KL threshold against a brute force over every candidate, recomputed here. */
START_TEST(kl_threshold_brute_force) {
    struct nn_rng r;
    nn_rng_seed(&r, 4);
    enum { N = 40000 };
    static float x[N];
    for (int i = 0; i < N; i++) x[i] = (float)(nn_rng_normal(&r) * (i % 50 == 0 ? 6.0 : 1.0));
    for (int bits = 2; bits <= 4; bits++) {
        float t;
        ck_assert_int_eq(q_threshold(x, N, bits, Q_THRESH_KL, 0, &t), 0);
        float mx = nn_absmax(x, N);
        int nb = q_kl_bins(N), levels = 1 << (bits - 1);
        ck_assert_int_eq(nb, 200);
        double h[200] = {0};
        for (int i = 0; i < N; i++) {
            int k = (int)(fabs((double)x[i]) * nb / mx);
            if (x[i] != 0.0f) h[k >= nb ? nb - 1 : k]++;
        }
        double best = INFINITY;
        int bi = 0;
        for (int i = levels + 1; i <= nb; i++) {
            double kl = q_kl_candidate(h, nb, i, levels);
            if (kl < best) best = kl, bi = i;
        }
        ck_assert_float_eq_tol(t, (float)((bi + 0.5) * mx / nb), 1e-5f * mx);
        ck_assert(t > 0.3f * 1.0f && t < mx); /* heavy tails clipped, the body kept */
        /* the release's variant and max, percentile */
        float tr, tm, tp;
        ck_assert_int_eq(q_threshold(x, N, bits, Q_THRESH_KL_RELEASE, 0, &tr), 0);
        ck_assert(tr > 0 && tr <= mx);
        ck_assert_int_eq(q_threshold(x, N, bits, Q_THRESH_MAX, 0, &tm), 0);
        ck_assert_float_eq(tm, mx);
        ck_assert_int_eq(q_threshold(x, N, bits, Q_THRESH_PERCENTILE, 50.0, &tp), 0);
        ck_assert(tp > 0.5f && tp < 0.8f); /* the median of |N(0,1)| is 0.674 */
    }
    /* KL divergence at a candidate: identical P and Q (one level per bin) cost nothing */
    double flat[8] = {1, 2, 3, 4, 0, 0, 0, 0};
    ck_assert_double_eq_tol(q_kl_candidate(flat, 8, 4, 4), 0.0, 1e-12);
    float zeros[4] = {0};
    float tz;
    ck_assert_int_eq(q_threshold(zeros, 4, 4, Q_THRESH_KL, 0, &tz), 0);
    ck_assert_float_eq(tz, 0.0f);
}
END_TEST

/* Squared error of a quantizer with `steps` steps on [0, t] over |x|, as the fake quantizers
 * round (half to even) and clip. */
static double quant_sq_err(const float *x, int n, double t, int steps) {
    double s = t / steps, e = 0;
    for (int i = 0; i < n; i++) {
        double v = fabs((double)x[i]), q = v >= t ? t : nearbyint(v / s) * s;
        e += (v - q) * (v - q);
    }
    return e;
}

/* The least-squared-error threshold against a brute force over 4,000 thresholds, on the
 * exact path (n ≤ 2,048) and the histogram path, for bodies with outliers, ReLU outputs and
 * a sparse tail (most values tiny, a few large: where the KL rules clip hardest). */
START_TEST(mse_threshold_brute_force) {
    struct nn_rng r;
    nn_rng_seed(&r, 9);
    enum { N = 40000 };
    static float x[N];
    const int sizes[] = {500, 2048, N};
    for (int dist = 0; dist < 3; dist++)
        for (int si = 0; si < 3; si++) {
            int n = sizes[si];
            for (int i = 0; i < n; i++) {
                double g = nn_rng_normal(&r);
                x[i] = dist == 0 ? (float)(g * (i % 50 == 0 ? 6.0 : 1.0))
                       : dist == 1
                           ? (float)(g > 0 ? g : 0.0)
                           : (float)(i % 40 == 0 ? 6.0 * nn_rng_uniform(&r) : 0.05 * fabs(g));
            }
            double mx = nn_absmax(x, (size_t)n);
            for (int steps = 1; steps <= 15; steps = steps * 2 + 1) {
                float t;
                ck_assert_int_eq(q_thresh_mse(x, (size_t)n, steps, &t), 0);
                ck_assert(t > 0 && t <= mx);
                double best = INFINITY;
                for (int j = 1; j <= 4000; j++) {
                    double e = quant_sq_err(x, n, mx * j / 4000.0, steps);
                    if (e < best) best = e;
                }
                double e = quant_sq_err(x, n, t, steps);
                ck_assert_msg(e <= best * 1.01 + 1e-12,
                              "dist %d n %d steps %d: t %g error %g, best %g", dist, n, steps,
                              (double)t, e, best);
                /* max itself is no better than the search's pick */
                ck_assert(e <= quant_sq_err(x, n, mx, steps) * 1.0001 + 1e-12);
            }
        }
    /* q_threshold's mse at b bits is the symmetric quantizer's 2^(b−1) − 1 steps */
    float ta, tb;
    ck_assert_int_eq(q_threshold(x, N, 4, Q_THRESH_MSE, 0, &ta), 0);
    ck_assert_int_eq(q_thresh_mse(x, N, 7, &tb), 0);
    ck_assert_float_eq(ta, tb);
    /* a uniform body keeps nearly all of its range; zeros give 0 */
    for (int i = 0; i < N; i++) x[i] = (float)nn_rng_uniform(&r);
    ck_assert_int_eq(q_thresh_mse(x, N, 15, &ta), 0);
    ck_assert(ta > 0.9f);
    float zeros[4] = {0};
    ck_assert_int_eq(q_thresh_mse(zeros, 4, 15, &ta), 0);
    ck_assert_float_eq(ta, 0.0f);
    /* the names read back */
    enum q_thresh_method m;
    double pct = 0;
    char buf[48];
    ck_assert_int_eq(q_thresh_parse("mse", &m, &pct), 0);
    ck_assert_int_eq(m, Q_THRESH_MSE);
    ck_assert_str_eq(q_thresh_name(Q_THRESH_MSE, 0, buf, sizeof buf), "mse");
    ck_assert_str_eq(q_thresh_name(Q_THRESH_PERCENTILE, 99.9, buf, sizeof buf), "percentile:99.9");
    ck_assert_int_eq(q_thresh_parse(buf, &m, &pct), 0);
    ck_assert(m == Q_THRESH_PERCENTILE && pct == 99.9);
}
END_TEST

/* k-means on tiny inputs reaches the optimum of an exhaustive search over contiguous
 * partitions (optimal 1-D clusters are intervals) in nearly every draw, never lands far
 * from it, and its objective never rises. */
START_TEST(kmeans_exhaustive) {
    struct nn_rng r;
    nn_rng_seed(&r, 5);
    enum { REPS = 1000 };
    int optimal = 0;
    for (int rep = 0; rep < REPS; rep++) {
        enum { N = 9 };
        float x[N], s[N], c[3];
        uint8_t lab[N];
        for (int i = 0; i < N; i++) s[i] = x[i] = (float)(0.4 * nn_rng_normal(&r) + 3.0 * (i % 3));
        qsort(s, N, sizeof(float), cmpf);
        double best = INFINITY; /* cuts a < b split the sorted values into three runs */
        for (int a = 1; a < N - 1; a++)
            for (int b = a + 1; b < N; b++) {
                int lo[3] = {0, a, b}, hi[3] = {a, b, N};
                double cost = 0;
                for (int q = 0; q < 3; q++) {
                    double m = 0;
                    for (int i = lo[q]; i < hi[q]; i++) m += s[i];
                    m /= hi[q] - lo[q];
                    for (int i = lo[q]; i < hi[q]; i++) cost += (s[i] - m) * (s[i] - m);
                }
                if (cost < best) best = cost;
            }
        double obj[31];
        struct nn_rng kr;
        nn_rng_seed(&kr, (uint64_t)rep);
        ck_assert_int_eq(q_kmeans(x, N, 3, 30, &kr, c, lab, obj), 0);
        for (int t = 1; t <= 30; t++) ck_assert(obj[t] <= obj[t - 1] + 1e-9);
        ck_assert(c[0] <= c[1] && c[1] <= c[2]);
        /* Lloyd can stop in a local optimum; greedy seeding keeps that rare and mild */
        if (obj[30] <= best * 1.0001 + 1e-9) optimal++;
        ck_assert_msg(obj[30] <= 2.0 * best + 1e-9, "k-means %.6f, exhaustive %.6f", obj[30], best);
    }
    ck_assert_msg(optimal >= REPS * 97 / 100, "the optimum in %d of %d", optimal, REPS);
}
END_TEST

START_TEST(kmeans_edge_cases_and_projection) {
    struct nn_rng r;
    nn_rng_seed(&r, 6);
    float same[5] = {2, 2, 2, 2, 2}, c[8];
    uint8_t lab[5];
    ck_assert_int_eq(q_kmeans(same, 5, 8, 10, &r, c, lab, NULL), 0); /* more clusters than values */
    for (int j = 0; j < 8; j++) ck_assert(!isnan(c[j]));
    for (int i = 0; i < 5; i++) ck_assert_float_eq(c[lab[i]], 2.0f);
    /* projection: every weight becomes its cluster's mean of the updated values */
    float w[6] = {1.0f, 1.2f, 5.0f, 5.4f, 1.1f, 9.0f}, cen[3] = {1, 5, 9};
    uint8_t l[6] = {0, 0, 1, 1, 0, 2};
    q_kmeans_project(w, 6, l, 3, cen);
    ck_assert_float_eq_tol(w[0], 1.1f, 1e-6f);
    ck_assert_float_eq_tol(w[3], 5.2f, 1e-6f);
    ck_assert_float_eq(w[5], 9.0f);
    float c4[4] = {0, 1, 2, 3}; /* a cluster without members keeps its centroid */
    q_kmeans_project(w, 6, l, 4, c4);
    ck_assert_float_eq(c4[3], 3.0f);
    ck_assert_int_eq(q_kmeans(w, 6, 300, 1, &r, c, lab, NULL), -1);
    /* more values than the seeding sample: the centres still land on the four groups */
    enum { BIG = 200001 };
    float *big = malloc(BIG * sizeof(float));
    uint8_t *bl = malloc(BIG);
    ck_assert(big && bl);
    for (int i = 0; i < BIG; i++) big[i] = (float)(0.1 * nn_rng_normal(&r) + 2.0 * (i % 4) - 3.0);
    float c4b[4];
    ck_assert_int_eq(q_kmeans(big, BIG, 4, 10, &r, c4b, bl, NULL), 0);
    for (int j = 0; j < 4; j++) ck_assert_float_eq_tol(c4b[j], 2.0f * j - 3.0f, 2e-3f);
    for (int i = 0; i < BIG; i++) ck_assert_int_eq(bl[i], i % 4);
    free(big);
    free(bl);
}
END_TEST

/* The activation quantizer's wiring in the graph: the range's gradient must equal
 * Σ_{x > r} ∂L/∂q(x) (PACT), with ∂L/∂q computed independently by a second graph that takes
 * the quantized activation as its input. */
START_TEST(graph_qat_gradients) {
    nn_pool_init(2);
    struct nn_rng r;
    nn_rng_seed(&r, 8);
    struct nn_graph *g = nn_graph_new(6, 6, 3), *h = nn_graph_new(6, 6, 8);
    int x = nn_bn(g, "b1", nn_conv(g, "c1", 0, 8, 3, 3, 1, 1, 1, 1, 0), NN_ACT_RELU6);
    x = nn_bn(g, "b2", nn_conv(g, "c2", x, 8, 1, 1, 1, 0, 0, 1, 0), NN_ACT_NONE);
    nn_linear(g, "fc", nn_avgpool(g, "gap", x), 3, 1);
    x = nn_bn(h, "b2", nn_conv(h, "c2", 0, 8, 1, 1, 1, 0, 0, 1, 0), NN_ACT_NONE);
    nn_linear(h, "fc", nn_avgpool(h, "gap", x), 3, 1);
    ck_assert_int_eq(nn_graph_alloc(g, 4, 1), 0);
    ck_assert_int_eq(nn_graph_alloc(h, 4, 1), 0);
    nn_graph_init(g, &r);
    /* h = g's tail, same parameters */
    for (int p = 0; p < h->n_params; p++) {
        int q = nn_graph_find_param(g, h->params[p].name);
        memcpy(nn_param_data(h, p), nn_param_data(g, q), h->params[p].numel * sizeof(float));
    }
    struct q_policy p;
    ck_assert_int_eq(q_policy_uniform(&p, 3, Q_FLOAT, Q_FLOAT), 0);
    p.a_bits[1] = 3; /* only c2's input is quantized: 3 bits, unsigned */
    p.w_bits[1] = 4; /* and its weights */
    struct q_options o = q_options_default();
    ck_assert_int_eq(q_apply(g, &p, &o, NULL), 0);
    int c2 = nn_graph_find_node(g, "c2");
    struct nn_qattr *q = nn_node_q(g, c2);
    ck_assert_int_eq(q->a_signed, 0);
    float *range = nn_param_data(g, q->range);
    range[0] = 0.5f; /* clips part of the ReLU6 outputs */
    float in[4 * 6 * 6 * 3];
    int y[4] = {0, 1, 2, 1};
    tu_fill(&r, in, sizeof in / sizeof *in, -1, 1);
    nn_graph_set_train(g, 1);
    ck_assert_int_eq(nn_graph_forward(g, in, 4), 0);
    nn_graph_xent(g, y, NULL, NULL);
    nn_graph_zero_grad(g);
    ck_assert_int_eq(nn_graph_backward(g), 0);
    float dr = nn_param_grad(g, q->range)[0];
    /* h on the quantized activation, with c2's weights quantized as g quantized them */
    const struct nn_node *b1 = &g->nodes[nn_graph_find_node(g, "b1")];
    size_t e = (size_t)4 * 6 * 6 * 8;
    float *xq = malloc(e * sizeof(float));
    nn_fq_act_forward(xq, b1->out, e, 3, 0, 0.5f);
    int hw = nn_graph_find_param(h, "c2.weight"), gw = nn_graph_find_param(g, "c2.weight");
    memcpy(nn_param_data(h, hw), g->qparam + g->params[gw].off, h->params[hw].numel * sizeof(float));
    h->input_grad = 1;
    nn_graph_set_train(h, 1);
    ck_assert_int_eq(nn_graph_forward(h, xq, 4), 0);
    nn_graph_xent(h, y, NULL, NULL);
    nn_graph_zero_grad(h);
    ck_assert_int_eq(nn_graph_backward(h), 0);
    double want = 0;
    for (size_t i = 0; i < e; i++)
        if (b1->out[i] > 0.5f) want += h->nodes[0].dout[i];
    ck_assert(fabs(want) > 1e-4);
    ck_assert_msg(fabs(dr - want) <= 1e-5 + 1e-4 * fabs(want), "range gradient %g, expected %g",
                  dr, want);
    /* the weights' gradient is straight-through: equal to h's (taken at the quantized weights) */
    ck_assert_double_lt(tu_rel_err(nn_param_grad(g, gw), nn_param_grad(h, hw),
                                   g->params[gw].numel, 1e-30),
                        1e-5);
    /* and x's gradient is ∂L/∂q masked to the inside of the range */
    const struct nn_node *gb1 = b1;
    for (size_t i = 0; i < e; i++) {
        float want_dx = (b1->out[i] >= 0.0f && b1->out[i] <= 0.5f) ? h->nodes[0].dout[i] : 0.0f;
        ck_assert_float_eq_tol(gb1->dout[i], want_dx, 1e-6f);
    }
    free(xq);
    q_policy_free(&p);
    nn_graph_free(g);
    nn_graph_free(h);
}
END_TEST

/* One batch as a batch source. */
struct one_batch {
    const float *x;
    const int *y;
    int n, done;
};

static int ob_start(void *c, int epoch) {
    (void)epoch;
    ((struct one_batch *)c)->done = 0;
    return 0;
}

static int ob_next(void *c, const float **x, const int **y, int *n) {
    struct one_batch *b = c;
    *n = b->done ? 0 : b->n;
    *x = b->x;
    *y = b->y;
    b->done = 1;
    return 0;
}

/* Calibration sets thresholds and ranges by the release's rules, W8A8 keeps the float
 * network's outputs close, and a quantized checkpoint reproduces the quantized outputs. */
START_TEST(calibration_and_checkpoint) {
    nn_pool_init(2);
    /* a briefly trained network (an untrained one amplifies any rounding through BN layers
     * whose statistics do not match its activations) */
    struct data_source *src;
    ck_assert_int_eq(data_open("synthetic:classes=4,size=16,train=512,val=64", &src), 0);
    struct nn_model_cfg cfg = nn_model_defaults("mobilenet_v2");
    cfg.width = 0.35f;
    cfg.classes = 4;
    cfg.input = 16;
    struct nn_graph *g = nn_model_build(&cfg);
    ck_assert_int_eq(nn_graph_alloc(g, 32, 1), 0);
    struct nn_rng r;
    nn_rng_seed(&r, 9);
    nn_graph_init(g, &r);
    struct data_loader *tl;
    struct nn_batches tb;
    ck_assert_int_eq(data_batches_open(src, DATA_TRAIN, 32, 16, 1, 1, 1, NULL, 0, &tl, &tb), 0);
    struct nn_param_set ps = nn_graph_params(g);
    struct nn_sgd sgd;
    ck_assert_int_eq(nn_sgd_init(&sgd, ps.n, 0.02f, 0.9f, 4e-5f, 0), 0);
    struct nn_epoch_stats st;
    for (int ep = 0; ep < 3; ep++)
        ck_assert_int_eq(nn_train_epoch(g, &sgd, &ps, &tb, ep, NULL, NULL, "", &st), 0);
    nn_sgd_free(&sgd);
    data_loader_free(tl);
    nn_graph_set_train(g, 0);
    static float x[8 * 16 * 16 * 3], fp[32], q8[32];
    static int y[8];
    struct data_image im = {0};
    for (int i = 0; i < 8; i++) { /* eight held-out images, normalized */
        ck_assert_int_eq(data_load(src, DATA_VAL, (size_t)i, &im, &y[i]), 0);
        for (int k = 0; k < 16 * 16 * 3; k++)
            x[i * 768 + k] = (im.px[k] / 255.0f - src->mean[k % 3]) / src->std[k % 3];
    }
    data_image_free(&im);
    data_close(src);
    ck_assert_int_eq(nn_graph_forward(g, x, 8), 0);
    memcpy(fp, g->nodes[nn_graph_last(g)].out, sizeof fp);
    int probe = nn_graph_find_node(g, "features.3.conv.0.0"); /* a residual sum: signed */
    const struct nn_node *pin = &g->nodes[g->nodes[probe].in[0]];
    float probe_max = nn_absmax(pin->out, (size_t)8 * pin->h * pin->w * pin->c);
    struct q_policy p;
    ck_assert_int_eq(q_policy_from_arg(&p, "w8a8", g), 0);
    struct q_options o = q_options_default();
    ck_assert_int_eq(q_apply(g, &p, &o, NULL), 0);
    struct one_batch ob = {x, y, 8, 0};
    struct nn_batches b = {&ob, ob_start, ob_next, 1, 8};
    ck_assert_int_eq(q_calibrate(g, &b, 1, &o), 0);
    struct nn_qattr *q = nn_node_q(g, probe);
    ck_assert_int_eq(q->a_signed, 1);
    ck_assert_float_eq(nn_param_data(g, q->range)[0], probe_max); /* 8 bits: max|x| */
    int wp = g->nodes[probe].u.conv.w;
    ck_assert_float_eq(q->w_thresh, nn_absmax(nn_param_data(g, wp), g->params[wp].numel));
    ck_assert_int_eq(nn_graph_forward(g, x, 8), 0);
    memcpy(q8, g->nodes[nn_graph_last(g)].out, sizeof q8);
    /* per-tensor 8-bit weights on depthwise layers of 9 weights per channel cost this small,
     * briefly trained network some 7% of its logits, 8-bit activations as much again */
    double e = tu_rel_err(q8, fp, 32, 1e-30);
    ck_assert_msg(e < 0.2 && e > 0, "W8A8 logits off the float ones by %g", e);
    int agree = 0;
    for (int i = 0; i < 8; i++) agree += argmax(q8 + 4 * i, 4) == argmax(fp + 4 * i, 4);
    ck_assert_int_ge(agree, 7);
    /* the release's cap: the residual input clipped at 6 */
    struct q_options capped = o;
    capped.act_cap = 6.0f;
    ck_assert_int_eq(q_calibrate(g, &b, 1, &capped), 0);
    ck_assert_float_eq(nn_param_data(g, q->range)[0], fminf(probe_max, 6.0f));
    ck_assert_int_eq(q_calibrate(g, &b, 1, &o), 0);
    /* 4 bits: KL below the maximum */
    struct q_policy p4;
    ck_assert_int_eq(q_policy_from_arg(&p4, "w4a4", g), 0);
    ck_assert_int_eq(q_apply(g, &p4, &o, NULL), 0);
    ck_assert_int_eq(q_calibrate(g, &b, 1, &o), 0);
    ck_assert(nn_param_data(g, q->range)[0] < probe_max);
    ck_assert(q->w_thresh < nn_absmax(nn_param_data(g, wp), g->params[wp].numel));
    ck_assert_int_eq(nn_graph_forward(g, x, 8), 0);
    memcpy(q8, g->nodes[nn_graph_last(g)].out, sizeof q8);
    double e4 = tu_rel_err(q8, fp, 32, 1e-30);
    /* mse ranges: the least-squared-error threshold of each input for its own quantizer, the
     * signed residual input's 2^3 − 1 steps a side and a ReLU6 output's 2^4 − 1 */
    {
        int un = nn_graph_find_node(g, "features.3.conv.1.0");
        const struct nn_node *uin = &g->nodes[g->nodes[un].in[0]];
        size_t ns = (size_t)8 * pin->h * pin->w * pin->c, nu = (size_t)8 * uin->h * uin->w * uin->c;
        float *xs = malloc(ns * sizeof(float)), *xu = malloc(nu * sizeof(float));
        ck_assert(xs && xu);
        g->quant_off = 1;
        ck_assert_int_eq(nn_graph_forward(g, x, 8), 0);
        g->quant_off = 0;
        memcpy(xs, pin->out, ns * sizeof(float));
        memcpy(xu, uin->out, nu * sizeof(float));
        struct q_options om = o;
        om.a_method = Q_THRESH_MSE;
        ck_assert_int_eq(q_calibrate(g, &b, 1, &om), 0);
        float ts, tu;
        ck_assert_int_eq(q_thresh_mse(xs, ns, 7, &ts), 0);
        ck_assert_int_eq(q_thresh_mse(xu, nu, 15, &tu), 0);
        ck_assert_int_eq(nn_node_q(g, un)->a_signed, 0);
        ck_assert_float_eq(nn_param_data(g, q->range)[0], ts);
        ck_assert_float_eq(nn_param_data(g, nn_node_q(g, un)->range)[0], tu);
        free(xs);
        free(xu);
    }
    /* between them W6A6 */
    struct q_policy p6;
    ck_assert_int_eq(q_policy_from_arg(&p6, "w6a6", g), 0);
    ck_assert_int_eq(q_apply(g, &p6, &o, NULL), 0);
    ck_assert_int_eq(q_calibrate(g, &b, 1, &o), 0);
    ck_assert_int_eq(nn_graph_forward(g, x, 8), 0);
    double e6 = tu_rel_err(g->nodes[nn_graph_last(g)].out, fp, 32, 1e-30);
    ck_assert_msg(e < e6 && e6 < e4, "errors W8A8 %g, W6A6 %g, W4A4 %g", e, e6, e4);
    q_policy_free(&p6);
    ck_assert_int_eq(q_apply(g, &p4, &o, NULL), 0);
    ck_assert_int_eq(q_calibrate(g, &b, 1, &o), 0);
    ck_assert_int_eq(nn_graph_forward(g, x, 8), 0);
    ck_assert_int_eq(memcmp(q8, g->nodes[nn_graph_last(g)].out, sizeof q8), 0); /* deterministic */
    const char *path = "build/test_quant.safetensors";
    ck_assert_int_eq(nn_ckpt_save(path, g, &cfg, NULL, 0), 0);
    struct nn_model_cfg c2;
    struct nn_graph *h = nn_ckpt_load(path, 8, 0, &c2);
    ck_assert_msg(h != NULL, "%s", nn_errmsg());
    ck_assert_int_eq(nn_node_q(h, probe)->a_bits, 4);
    ck_assert_int_eq(nn_graph_forward(h, x, 8), 0);
    ck_assert_int_eq(memcmp(q8, h->nodes[nn_graph_last(h)].out, sizeof q8), 0);
    remove(path);
    q_policy_free(&p);
    q_policy_free(&p4);
    nn_graph_free(g);
    nn_graph_free(h);
}
END_TEST

/* k-means applied to a network: every layer holds at most 2^b distinct weights, and after an
 * SGD step the projection brings it back there. */
START_TEST(kmeans_network) {
    nn_pool_init(2);
    struct nn_graph *g = nn_graph_new(6, 6, 3);
    int x = nn_bn(g, "b1", nn_conv(g, "c1", 0, 8, 3, 3, 1, 1, 1, 1, 0), NN_ACT_RELU6);
    x = nn_avgpool(g, "gap", x);
    nn_linear(g, "fc", x, 3, 1);
    ck_assert_int_eq(nn_graph_alloc(g, 4, 1), 0);
    struct nn_rng r;
    nn_rng_seed(&r, 10);
    nn_graph_init(g, &r);
    struct q_policy p;
    ck_assert_int_eq(q_policy_uniform(&p, 2, 2, Q_FLOAT), 0);
    struct q_options o = q_options_default();
    o.method = Q_KMEANS;
    struct q_kmeans_state km;
    ck_assert_int_eq(q_apply(g, &p, &o, &km), 0);
    ck_assert_int_eq(km.n, 2);
    static float w[256];
    for (int l = 0; l < 2; l++) {
        size_t n = g->params[km.param[l]].numel;
        memcpy(w, nn_param_data(g, km.param[l]), n * sizeof(float));
        ck_assert_int_le(distinct(w, n), 4);
    }
    float in[4 * 6 * 6 * 3];
    int y[4] = {0, 1, 2, 0};
    tu_fill(&r, in, sizeof in / sizeof *in, -1, 1);
    struct nn_param_set ps = nn_graph_params(g);
    struct nn_sgd sgd;
    ck_assert_int_eq(nn_sgd_init(&sgd, ps.n, 0.1f, 0.0f, 0.0f, 0), 0);
    nn_graph_set_train(g, 1);
    nn_graph_forward(g, in, 4);
    nn_graph_xent(g, y, NULL, NULL);
    nn_graph_zero_grad(g);
    nn_graph_backward(g);
    nn_sgd_step(&sgd, &ps);
    size_t n0 = g->params[km.param[0]].numel;
    memcpy(w, nn_param_data(g, km.param[0]), n0 * sizeof(float));
    ck_assert_int_gt(distinct(w, n0), 4); /* SGD moved the weights apart */
    ck_assert_int_eq(q_kmeans_after_step(&km, g), 0);
    memcpy(w, nn_param_data(g, km.param[0]), n0 * sizeof(float));
    ck_assert_int_le(distinct(w, n0), 4);
    nn_sgd_free(&sgd);
    q_kmeans_free(&km);
    q_policy_free(&p);
    nn_graph_free(g);
}
END_TEST

/* ---- packed export ------------------------------------------------------------------------ */

START_TEST(pack_codes_layout) {
    uint32_t c3[3] = {5, 2, 7}, back[3];
    uint8_t b[2];
    nn_pack_codes(c3, 3, 3, b); /* 101 010 111, least significant bit first */
    ck_assert_uint_eq(b[0], 0xD5);
    ck_assert_uint_eq(b[1], 0x01);
    nn_unpack_codes(b, 3, 3, back);
    ck_assert_int_eq(memcmp(back, c3, sizeof c3), 0);
    struct nn_rng r;
    nn_rng_seed(&r, 21);
    static uint32_t codes[1001], out[1001];
    static uint8_t buf[1001];
    for (int bits = 1; bits <= 8; bits++)
        for (size_t n = 1; n <= 1001; n += 125) {
            for (size_t i = 0; i < n; i++) codes[i] = (uint32_t)nn_rng_below(&r, 1u << bits);
            ck_assert_uint_eq(nn_packed_bytes(n, bits), (n * bits + 7) / 8);
            memset(buf, 0xAB, sizeof buf);
            nn_pack_codes(codes, n, bits, buf);
            nn_unpack_codes(buf, n, bits, out);
            ck_assert_int_eq(memcmp(out, codes, n * sizeof *codes), 0);
            if (n * bits % 8) /* the padding bits of the last byte are zero */
                ck_assert_uint_eq(buf[n * bits / 8] >> (n * bits % 8), 0);
        }
}
END_TEST

/* A small MobileNetV2 with BN statistics that are not the identity, calibrated on noise. */
static struct nn_graph *small_net(struct nn_model_cfg *cfg, float *x, int n, struct nn_rng *r) {
    *cfg = nn_model_defaults("mobilenet_v2");
    cfg->width = 0.35f;
    cfg->classes = 5;
    cfg->input = 16;
    struct nn_graph *g = nn_model_build(cfg);
    ck_assert_int_eq(nn_graph_alloc(g, n, 0), 0);
    nn_graph_init(g, r);
    for (int b = 0; b < g->n_bufs; b++) { /* running mean, positive running variance */
        float *d = nn_buf_data(g, b);
        for (size_t i = 0; i < g->bufs[b].numel; i++)
            d[i] = strstr(g->bufs[b].name, "var") ? 0.5f + (float)nn_rng_uniform_d(r)
                                                  : 0.1f * (float)nn_rng_normal(r);
    }
    tu_fill(r, x, (size_t)n * 16 * 16 * 3, -2, 2);
    return g;
}

/* Byte accounting of the float tensors that are not quantizable layers' weights. */
static size_t other_bytes(const struct nn_graph *g) {
    size_t s = 0;
    for (int p = 0; p < g->n_params; p++) {
        const struct nn_node *n = &g->nodes[g->params[p].node];
        int wp = n->op == NN_OP_CONV ? n->u.conv.w : n->op == NN_OP_LINEAR ? n->u.fc.w : -1;
        if (p != wp && !g->params[p].quant) s += 4 * g->params[p].numel;
    }
    for (int b = 0; b < g->n_bufs; b++) s += 4 * g->bufs[b].numel;
    return s;
}

/* Export round trips: the packed file decodes to exactly the weights the quantized network
 * computes with (outputs bitwise equal), for mixed linear policies (float, 1-bit, 2 … 8 bits;
 * per-tensor and per-channel) and for k-means; the tensor data equals the accounting, and
 * the accounting equals the hardware model's size per layer. */
START_TEST(packed_export_round_trip) {
    nn_pool_init(2);
    struct nn_rng r;
    nn_rng_seed(&r, 22);
    enum { B = 4 };
    static float x[B * 16 * 16 * 3], want[B * 5];
    static int y[B];
    const char *path = "build/test_packed.safetensors", *back = "build/test_unpacked.safetensors";
    for (int round = 0; round < 4; round++) {
        struct nn_model_cfg cfg;
        struct nn_graph *g = small_net(&cfg, x, B, &r);
        int n = q_layers(g, NULL);
        struct q_policy p;
        ck_assert_int_eq(q_policy_uniform(&p, n, Q_FLOAT, Q_FLOAT), 0);
        for (int l = 0; l < n; l++) { /* every width, float layers among them */
            p.w_bits[l] = (int)nn_rng_below(&r, 9);
            p.a_bits[l] = (int)nn_rng_below(&r, 9);
            if (p.a_bits[l] == 1) p.a_bits[l] = 2;
            if (round == 3 && p.w_bits[l] == 0) p.w_bits[l] = 3;
        }
        p.w_bits[1] = 1;
        struct q_options o = q_options_default();
        o.per_channel = round == 1;
        o.method = round >= 2 ? Q_KMEANS : Q_LINEAR;
        o.kmeans_iters = 5;
        int kbits[64] = {0};
        ck_assert_int_lt(n, 64);
        ck_assert_int_eq(q_apply(g, &p, &o, NULL), 0);
        if (o.method == Q_LINEAR) {
            struct one_batch ob = {x, y, B, 0};
            struct nn_batches b = {&ob, ob_start, ob_next, 1, B};
            ck_assert_int_eq(q_calibrate(g, &b, 1, &o), 0);
        } else {
            for (int l = 0; l < n; l++) kbits[l] = p.w_bits[l];
        }
        const int *kb = o.method == Q_KMEANS ? kbits : NULL;
        ck_assert_int_eq(nn_graph_forward(g, x, B), 0);
        memcpy(want, g->nodes[nn_graph_last(g)].out, sizeof want);
        struct nn_packed_size sz;
        const char *extra[2] = {"policy", round & 1 ? "a policy line" : ""};
        ck_assert_int_eq(nn_packed_account(g, &cfg, kb, extra, round & 1, &sz), 0);
        ck_assert_msg(nn_packed_save(path, g, &cfg, kb, extra, round & 1) == 0, "%s",
                      nn_errmsg());
        /* the accounting: the file's size and tensor data, and the hardware model's sizes */
        struct nn_st_file f;
        ck_assert_int_eq(nn_st_open(path, &f), 0);
        size_t data = 0;
        for (int i = 0; i < f.n; i++) data += f.t[i].nbytes;
        ck_assert_uint_eq(data, sz.payload_bytes);
        ck_assert_uint_eq(sz.payload_bytes, sz.weight_bytes + sz.other_bytes);
        /* the file: the 8-byte length, the header, then exactly that data */
        ck_assert_uint_eq(sz.header_bytes, (size_t)(f.t[0].data - f.map));
        ck_assert_uint_eq(sz.file_bytes, sz.header_bytes + sz.payload_bytes);
        ck_assert_uint_eq(f.size, sz.file_bytes);
        ck_assert_uint_eq(sz.header_bytes % 8, 0);
        nn_st_close(&f);
        FILE *fh = fopen(path, "rb"); /* and the size on disk */
        ck_assert_ptr_nonnull(fh);
        ck_assert_int_eq(fseek(fh, 0, SEEK_END), 0);
        ck_assert_int_eq(ftell(fh), (long)sz.file_bytes);
        fclose(fh);
        ck_assert_uint_eq(sz.other_bytes, other_bytes(g));
        struct hw_layer *ls;
        ck_assert_int_eq(hw_layers(g, 1, &ls), n);
        int *nodes = malloc((size_t)n * sizeof(int));
        q_layers(g, nodes);
        double hw = 0, fp = 0;
        for (int l = 0; l < n; l++) {
            const struct nn_qattr *q = nn_node_q(g, nodes[l]);
            if (o.method == Q_KMEANS) hw += hw_size_bytes(&ls[l], kbits[l], Q_FLOAT, HW_Q_KMEANS);
            else if (!o.per_channel)
                hw += hw_size_bytes(&ls[l], q->w_bits, q->a_bits, HW_Q_LINEAR);
            fp += hw_size_fp32_bytes(&ls[l]);
        }
        if (o.method == Q_KMEANS || !o.per_channel) ck_assert_double_eq(hw, (double)sz.weight_bytes);
        ck_assert_double_eq(fp, (double)sz.fp32_weight_bytes);
        ck_assert(sz.weight_bytes < sz.fp32_weight_bytes);
        free(nodes);
        free(ls);
        /* decoding: identical outputs, directly and through a float checkpoint */
        struct nn_model_cfg c2;
        struct nn_graph *h = nn_ckpt_load(path, B, 0, &c2);
        ck_assert_msg(h != NULL, "%s", nn_errmsg());
        ck_assert_int_eq(nn_graph_forward(h, x, B), 0);
        ck_assert_int_eq(memcmp(want, h->nodes[nn_graph_last(h)].out, sizeof want), 0);
        ck_assert_int_eq(nn_ckpt_save(back, h, &c2, NULL, 0), 0);
        struct nn_graph *u = nn_ckpt_load(back, B, 0, &c2);
        ck_assert_msg(u != NULL, "%s", nn_errmsg());
        ck_assert_int_eq(nn_graph_forward(u, x, B), 0);
        ck_assert_int_eq(memcmp(want, u->nodes[nn_graph_last(u)].out, sizeof want), 0);
        nn_graph_free(u);
        nn_graph_free(h);
        q_policy_free(&p);
        nn_graph_free(g);
    }
    remove(path);
    remove(back);
}
END_TEST

/* Run a command (NULL-terminated argv) with its stdout captured into out; the exit status. */
static int run_cmd(int (*cmd)(int, char **), char *out, size_t cap, char **argv) {
    int argc = 0;
    while (argv[argc]) argc++;
    return tu_run_cmd(cmd, out, cap, argc, argv);
}

/* The value of key=… in a result line, as a string (empty when missing). */
static const char *result_field(const char *out, const char *key, char *val, size_t cap) {
    char pat[48];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(out, pat);
    size_t n = 0;
    if (p)
        for (p += strlen(pat); *p && *p != ' ' && *p != '\n' && n + 1 < cap; p++) val[n++] = *p;
    val[n] = 0;
    return val;
}

/* haq quantize, finetune and export take the search-split flags of haq train and eval: the
 * same images are evaluated (quantize's float accuracy is eval's on the same split) and
 * trained on, and the export's accounting is the file's size. */
START_TEST(commands_take_search_splits) {
    nn_pool_init(2);
    const char *model = "build/test_qcmd_fp.safetensors", *qck = "build/test_qcmd_q.safetensors",
               *packed = "build/test_qcmd_packed.safetensors";
    char *data = "synthetic:classes=4,size=16,train=200,val=64";
    struct nn_model_cfg cfg = nn_model_defaults("mobilenet_v2");
    cfg.width = 0.35f;
    cfg.classes = 4;
    cfg.input = 16;
    struct nn_graph *g = nn_model_build(&cfg);
    ck_assert_int_eq(nn_graph_alloc(g, 16, 0), 0);
    struct nn_rng r;
    nn_rng_seed(&r, 31);
    nn_graph_init(g, &r);
    ck_assert_int_eq(nn_ckpt_save(model, g, &cfg, NULL, 0), 0);
    nn_graph_free(g);
    static char out[4096];
    char v1[32], v2[32];
    char *split[] = {"--val-size", "40", "--train-size", "100", "--split-seed", "3"};
    char *ev[16] = {"eval", "--model", (char *)model, "--data", data, "--batch", "16",
                    "--threads", "2"};
    memcpy(ev + 9, split, sizeof split);
    ck_assert_int_eq(run_cmd(rl_cmd_eval, out, sizeof out, ev), 0);
    ck_assert_msg(strstr(out, " images=40 "), "%s", out);
    char eval_top1[32];
    result_field(out, "top1", eval_top1, sizeof eval_top1);
    ck_assert_str_ne(eval_top1, "");
    char *qa[20] = {"quantize", "--model", (char *)model, "--data", data, "--policy", "w8a8",
                    "--batch", "16", "--threads", "2"};
    memcpy(qa + 11, split, sizeof split);
    ck_assert_int_eq(run_cmd(q_cmd_quantize, out, sizeof out, qa), 0);
    ck_assert_msg(strstr(out, " images=40 "), "%s", out);
    ck_assert_str_eq(result_field(out, "fp_top1", v1, sizeof v1), eval_top1);
    qa[11] = NULL; /* without the flags: the held-out split */
    ck_assert_int_eq(run_cmd(q_cmd_quantize, out, sizeof out, qa), 0);
    ck_assert_msg(strstr(out, " images=64 "), "%s", out);
    char *lone[] = {"quantize", "--model", (char *)model, "--data", data, "--policy", "w8a8",
                    "--train-size", "100", NULL};
    ck_assert_int_eq(run_cmd(q_cmd_quantize, out, sizeof out, lone), 2);
    char *big[] = {"quantize", "--model", (char *)model, "--data", data, "--policy", "w8a8",
                   "--val-size", "150", "--train-size", "100", NULL};
    ck_assert_int_eq(run_cmd(q_cmd_quantize, out, sizeof out, big), 1);
    /* fine-tuning: 100 training images are 6 batches of 16 */
    char *fa[24] = {"finetune", "--model", (char *)model, "--data", data, "--policy", "w6a6",
                    "--batch", "16", "--threads", "2", "--epochs", "1", "--out", (char *)qck};
    memcpy(fa + 15, split, sizeof split);
    ck_assert_int_eq(run_cmd(q_cmd_finetune, out, sizeof out, fa), 0);
    ck_assert_msg(strstr(out, " images=40 train_images=96 "), "%s", out);
    /* export calibrating on the split; the accounting is the file's size */
    char *xa[24] = {"export", "--model", (char *)model, "--data", data, "--policy", "w4a4",
                    "--batch", "16", "--threads", "2", "--out", (char *)packed};
    memcpy(xa + 13, split, sizeof split);
    ck_assert_int_eq(run_cmd(q_cmd_export, out, sizeof out, xa), 0);
    FILE *f = fopen(packed, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    snprintf(v2, sizeof v2, "%ld", ftell(f));
    fclose(f);
    ck_assert_str_eq(result_field(out, "file_bytes", v1, sizeof v1), v2);
    ck_assert_msg(strtoull(result_field(out, "header_bytes", v1, sizeof v1), NULL, 10) +
                          strtoull(result_field(out, "payload_bytes", v2, sizeof v2), NULL, 10) ==
                      strtoull(result_field(out, "file_bytes", v1, sizeof v1), NULL, 10),
                  "%s", out);
    remove(model);
    remove(qck);
    remove(packed);
    char csv[64];
    snprintf(csv, sizeof csv, "%s.csv", qck);
    remove(csv);
}
END_TEST

/* A k-means layer with more distinct weights than its codebook holds is refused; a damaged
 * packed file is reported with its name and the tensor at fault. */
START_TEST(packed_errors) {
    nn_pool_init(2);
    struct nn_rng r;
    nn_rng_seed(&r, 23);
    static float x[2 * 16 * 16 * 3];
    struct nn_model_cfg cfg;
    struct nn_graph *g = small_net(&cfg, x, 2, &r);
    int n = q_layers(g, NULL), kbits[64];
    for (int l = 0; l < n; l++) kbits[l] = 2;
    const char *path = "build/test_packed_bad.safetensors";
    ck_assert_int_eq(nn_packed_save(path, g, &cfg, kbits, NULL, 0), -1); /* float weights */
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), "distinct"));
    struct q_policy p;
    ck_assert_int_eq(q_policy_uniform(&p, n, 4, 4), 0);
    struct q_options o = q_options_default();
    ck_assert_int_eq(q_apply(g, &p, &o, NULL), 0);
    ck_assert_int_eq(q_calibrate(g, NULL, 0, &o), -1); /* activations need data */
    struct one_batch ob = {x, (int[]){0, 1}, 2, 0};
    struct nn_batches b = {&ob, ob_start, ob_next, 1, 2};
    ck_assert_int_eq(q_calibrate(g, &b, 1, &o), 0);
    ck_assert_int_eq(nn_packed_save(path, g, &cfg, NULL, 0, 0), 0);
    uint8_t *d;
    size_t len;
    ck_assert_int_eq(nn_read_file(path, &d, &len, 1u << 30), 0);
    struct nn_model_cfg c2;
    const char *bad = "build/test_packed_bad2.safetensors";
    for (int cut = 1; cut < 4; cut++) { /* truncated files */
        ck_assert_int_eq(nn_write_file_atomic(bad, d, len * cut / 4), 0);
        ck_assert_ptr_null(nn_ckpt_load(bad, 2, 0, &c2));
        ck_assert_ptr_nonnull(strstr(nn_errmsg(), bad));
    }
    /* a codes tensor of the wrong length: rewrite the file with one code byte fewer */
    struct nn_st_file f;
    ck_assert_int_eq(nn_st_open(path, &f), 0);
    struct nn_st_entry e[512];
    const char *meta[64];
    ck_assert_int_lt(f.n, 512);
    int victim = -1;
    for (int i = 0; i < f.n; i++) {
        e[i] = (struct nn_st_entry){f.t[i].name, f.t[i].dtype, f.t[i].ndim, {0}, f.t[i].data,
                                    f.t[i].nbytes};
        memcpy(e[i].shape, f.t[i].shape, sizeof e[i].shape);
        if (victim < 0 && strstr(f.t[i].name, ".codes")) victim = i;
    }
    ck_assert_int_ge(victim, 0);
    e[victim].shape[0]--;
    e[victim].nbytes--;
    ck_assert_int_lt(f.n_meta, 32);
    for (int i = 0; i < f.n_meta; i++) meta[2 * i] = f.meta_key[i], meta[2 * i + 1] = f.meta_val[i];
    ck_assert_int_eq(nn_st_write(bad, e, f.n, meta, f.n_meta), 0);
    ck_assert_ptr_null(nn_ckpt_load(bad, 2, 0, &c2));
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), f.t[victim].name));
    nn_st_close(&f);
    free(d);
    remove(path);
    remove(bad);
    q_policy_free(&p);
    nn_graph_free(g);
}
END_TEST

Suite *suite_quant(void) {
    Suite *s = suite_create("quant");
    TCase *tc = tcase_create("quant");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, weight_levels_and_bounds);
    tcase_add_test(tc, activation_levels_and_bounds);
    tcase_add_test(tc, activation_gradients);
    tcase_add_test(tc, kl_threshold_brute_force);
    tcase_add_test(tc, mse_threshold_brute_force);
    tcase_add_test(tc, kmeans_exhaustive);
    tcase_add_test(tc, kmeans_edge_cases_and_projection);
    tcase_add_test(tc, graph_qat_gradients);
    tcase_add_test(tc, calibration_and_checkpoint);
    tcase_add_test(tc, kmeans_network);
    tcase_add_test(tc, pack_codes_layout);
    tcase_add_test(tc, packed_export_round_trip);
    tcase_add_test(tc, packed_errors);
    tcase_add_test(tc, commands_take_search_splits);
    suite_add_tcase(s, tc);
    return s;
}
