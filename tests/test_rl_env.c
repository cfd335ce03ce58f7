/* HAQ's environments: the state embedding against a hand-computed MobileNetV2 row, the action
 * mapping, the budget wall (always under budget, never below the minimum bits, the hold rule),
 * the uniform baseline and the k-means size budget. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hw/model.h"
#include "nn/error.h"
#include "nn/models.h"
#include "rl/env.h"
#include "tests/testutil.h"

static struct nn_graph *mnv2(float width, int classes, int input) {
    struct nn_model_cfg c = nn_model_defaults("mobilenet_v2");
    c.width = width;
    c.classes = classes;
    c.input = input;
    struct nn_graph *g = nn_model_build(&c);
    ck_assert_msg(g != NULL, "%s", nn_errmsg());
    return g;
}

static void env_for(struct rl_env *e, struct nn_graph *g, struct hw_model *m, enum q_method q,
                    double ratio) {
    struct rl_env_cfg c = rl_env_cfg_default(q);
    c.ratio = ratio;
    ck_assert_msg(rl_env_init(e, g, m, &c) == 0, "%s", nn_errmsg());
}

/* MobileNetV2 1.0 at 224 px, 1000 classes: the row of features.1.conv.0.0 (the first depthwise
 * layer: 32 channels, 3×3, stride 1, 112×112 input, 288 weights, layer index 1 of 53). Column
 * extremes over the 53 layers, from the architecture: c_in 3 (stem) … 1280 (FC); c_out 16
 * (features.1's projection) … 1280 (features.18); stride 0 (FC) … 2; kernel 1 … 3; weights
 * 288 (this layer) … 1,280,000 (FC); input area 49 (7×7) … 50,176 (the 224×224 stem); index
 * 0 … 52. */
START_TEST(state_row_mobilenet_v2) {
    struct nn_graph *g = mnv2(1.0f, 1000, 224);
    struct hw_model m;
    ck_assert_msg(hw_model_load(&m, "bitfusion-edge") == 0, "%s", nn_errmsg());
    struct rl_env e;
    env_for(&e, g, &m, Q_LINEAR, 0.8);
    ck_assert_int_eq(e.n_layers, 53);
    ck_assert_int_eq(e.steps, 106);
    ck_assert_int_eq(e.state_dim, 10);
    const double want[8] = {1.0,
                            (32.0 - 3) / (1280 - 3),
                            (32.0 - 16) / (1280 - 16),
                            1.0 / 2,
                            1.0,
                            0.0,
                            (112.0 * 112 - 49) / (224.0 * 224 - 49),
                            1.0 / 52};
    /* walk to step 2 (layer 1's weight step) with actions 0.2 and 0.7 on the stem */
    int done;
    const float *s = rl_env_reset(&e);
    ck_assert_float_eq_tol(s[8], 1.0f, 1e-7);  /* the first step's previous bits: max/max */
    ck_assert_float_eq_tol(s[9], 0.0f, 1e-7);  /* a weight step */
    ck_assert_float_eq_tol(s[7], 0.0f, 1e-7);  /* layer 0 */
    ck_assert_float_eq_tol(s[4], 1.0f, 1e-7);  /* the stem's 3×3 kernel */
    ck_assert_float_eq_tol(s[6], 1.0f, 1e-7);  /* its 224×224 input is the largest area */
    s = rl_env_step(&e, 0.2f, &done);
    ck_assert_int_eq(done, 0);
    ck_assert_float_eq_tol(s[9], 1.0f, 1e-7); /* activation step */
    ck_assert_float_eq_tol(s[8], 3.0f / 8, 1e-7); /* 0.2 → round(0.2·7 + 1.5) = 3 bits */
    s = rl_env_step(&e, 0.7f, &done);
    for (int j = 0; j < 8; j++)
        ck_assert_msg(fabs(s[j] - want[j]) < 1e-6, "column %d: %g, want %g", j + 1, s[j],
                      want[j]);
    ck_assert_float_eq_tol(s[8], 6.0f / 8, 1e-7); /* 0.7 → round(4.9 + 1.5) = 6 bits */
    ck_assert_float_eq_tol(s[9], 0.0f, 1e-7);
    /* the last step ends the episode */
    for (int t = 2; t < e.steps - 1; t++) {
        rl_env_step(&e, 0.5f, &done);
        ck_assert_int_eq(done, 0);
    }
    rl_env_step(&e, 0.5f, &done);
    ck_assert_int_eq(done, 1);
    rl_env_free(&e);
    hw_model_free(&m);
    nn_graph_free(g);
}
END_TEST

START_TEST(action_to_bits) {
    struct nn_graph *g = mnv2(0.35f, 10, 32);
    struct hw_model m;
    ck_assert_msg(hw_model_load(&m, "bismo-edge") == 0, "%s", nn_errmsg());
    struct rl_env e;
    env_for(&e, g, &m, Q_LINEAR, 0.6);
    /* bits = round(a·7 + 1.5), half to even, clamped to 2..8 */
    ck_assert_int_eq(rl_env_bits(&e, 0.0f), 2);
    ck_assert_int_eq(rl_env_bits(&e, 1.0f), 8);   /* 8.5 rounds to even 8 */
    ck_assert_int_eq(rl_env_bits(&e, 0.5f), 5);   /* 5.0 */
    ck_assert_int_eq(rl_env_bits(&e, 2.0f / 7 + 1e-4f), 4);
    ck_assert_int_eq(rl_env_bits(&e, NAN), 2);
    ck_assert_int_eq(rl_env_bits(&e, 3.0f), 8);
    ck_assert_int_eq(rl_env_bits(&e, -1.0f), 2);
    /* every bit count is reachable and the map is monotone */
    int prev = 2, seen[9] = {0};
    for (int i = 0; i <= 1000; i++) {
        int b = rl_env_bits(&e, (float)i / 1000);
        ck_assert_int_ge(b, prev);
        seen[b] = 1;
        prev = b;
    }
    for (int b = 2; b <= 8; b++) ck_assert_msg(seen[b], "%d bits never chosen", b);
    rl_env_free(&e);
    hw_model_free(&m);
    nn_graph_free(g);
}
END_TEST

/* The wall on random policies, for several hardware models and ratios: the result is under
 * budget, every bit in [min, max], the held layers held; a policy already under budget only
 * gets the hold rule. */
START_TEST(wall_under_budget_and_bounds) {
    const char *hws[] = {"bitfusion-edge", "bitfusion-cloud", "bismo-edge", "bismo-cloud"};
    const enum hw_metric metrics[] = {HW_METRIC_LATENCY, HW_METRIC_ENERGY, HW_METRIC_SIZE};
    struct nn_graph *g = mnv2(0.5f, 10, 32);
    struct nn_rng r;
    nn_rng_seed(&r, 7);
    for (int h = 0; h < 4; h++)
        for (int mi = 0; mi < 3; mi++) {
            struct hw_model m;
            ck_assert_msg(hw_model_load(&m, hws[h]) == 0, "%s", nn_errmsg());
            struct rl_env_cfg c = rl_env_cfg_default(Q_LINEAR);
            c.metric = metrics[mi];
            c.ratio = 1.0;
            struct rl_env e;
            ck_assert_msg(rl_env_init(&e, g, &m, &c) == 0, "%s", nn_errmsg());
            int L = e.n_layers, *w = malloc(L * sizeof(int)), *a = malloc(L * sizeof(int));
            int *w0 = malloc(L * sizeof(int)), *a0 = malloc(L * sizeof(int));
            for (int k = 0; k < 3; k++) {
                /* only the target depends on the ratio (rl_env_init refuses ratios below
                 * the all-minimum policy: wall_order tests that) */
                e.target = (0.3 + 0.25 * k) * e.ref_cost;
                if (e.target < e.min_cost) continue;
                for (int trial = 0; trial < 60; trial++) {
                    for (int l = 0; l < L; l++) {
                        w[l] = 2 + (int)nn_rng_below(&r, 7);
                        a[l] = 2 + (int)nn_rng_below(&r, 7);
                    }
                    rl_env_hold(&e, w, a);
                    double before = rl_env_cost(&e, w, a);
                    memcpy(w0, w, L * sizeof(int));
                    memcpy(a0, a, L * sizeof(int));
                    double cost = rl_env_wall(&e, w, a);
                    ck_assert_msg(cost <= e.target * (1 + 1e-12), "%s: cost %g > target %g",
                                  hws[h], cost, e.target);
                    ck_assert(fabs(cost - rl_env_cost(&e, w, a)) <= 1e-9 * cost);
                    for (int l = 0; l < L; l++) {
                        ck_assert_int_le(w[l], w0[l]);
                        ck_assert_int_le(a[l], a0[l]);
                        if (l == 0) {
                            ck_assert_int_eq(w[l], 8);
                            ck_assert_int_eq(a[l], Q_FLOAT);
                        } else if (l == L - 1) {
                            ck_assert_int_eq(w[l], 8);
                            ck_assert_int_eq(a[l], 8);
                        } else {
                            ck_assert_int_ge(w[l], 2);
                            ck_assert_int_ge(a[l], 2);
                        }
                    }
                    if (before <= e.target) {
                        ck_assert(!memcmp(w, w0, L * sizeof(int)));
                        ck_assert(!memcmp(a, a0, L * sizeof(int)));
                    }
                }
            }
            free(w);
            free(a);
            free(w0);
            free(a0);
            rl_env_free(&e);
            hw_model_free(&m);
        }
    nn_graph_free(g);
}
END_TEST

/* The sweep order: last layer first, activation before weight. From 8/8 with a budget just
 * under 8/8, the wall lowers only the activation of the last unheld layer. */
START_TEST(wall_order) {
    struct nn_graph *g = mnv2(0.5f, 10, 32);
    struct rl_env_cfg c = rl_env_cfg_default(Q_LINEAR);
    c.metric = HW_METRIC_SIZE; /* activation bits cost 0 bytes: the wall must go on to w */
    struct hw_model m;
    ck_assert_msg(hw_model_load(&m, "bismo-cloud") == 0, "%s", nn_errmsg());
    c.metric = HW_METRIC_LATENCY;
    c.ratio = 0.999999;
    struct rl_env e;
    ck_assert_msg(rl_env_init(&e, g, &m, &c) == 0, "%s", nn_errmsg());
    int L = e.n_layers, w[64], a[64];
    for (int l = 0; l < L; l++) w[l] = a[l] = 8;
    rl_env_wall(&e, w, a);
    for (int l = 1; l < L - 2; l++) {
        ck_assert_int_eq(w[l], 8);
        ck_assert_int_eq(a[l], 8);
    }
    ck_assert_int_eq(a[L - 2], 7);
    ck_assert_int_eq(w[L - 2], 8);
    /* at the smallest reachable ratio the wall ends at the all-minimum policy */
    double rmin = e.min_cost / e.ref_cost;
    rl_env_free(&e);
    c.ratio = rmin;
    ck_assert_msg(rl_env_init(&e, g, &m, &c) == 0, "%s", nn_errmsg());
    for (int l = 0; l < L; l++) w[l] = a[l] = 8;
    rl_env_wall(&e, w, a);
    for (int l = 1; l < L - 1; l++) {
        ck_assert_int_eq(w[l], 2);
        ck_assert_int_eq(a[l], 2);
    }
    rl_env_free(&e);
    c.ratio = rmin * 0.99;
    ck_assert_int_eq(rl_env_init(&e, g, &m, &c), -1);
    ck_assert_msg(strstr(nn_errmsg(), "below the smallest") != NULL, "%s", nn_errmsg());
    hw_model_free(&m);
    nn_graph_free(g);
}
END_TEST

START_TEST(uniform_largest_that_fits) {
    struct nn_graph *g = mnv2(0.5f, 10, 32);
    const char *hws[] = {"bitfusion-edge", "bismo-edge", "bismo-cloud"};
    for (int h = 0; h < 3; h++) {
        struct hw_model m;
        ck_assert_msg(hw_model_load(&m, hws[h]) == 0, "%s", nn_errmsg());
        for (int k = 0; k < 4; k++) {
            struct rl_env e;
            struct rl_env_cfg c = rl_env_cfg_default(Q_LINEAR);
            c.ratio = 0.35 + 0.2 * k;
            if (rl_env_init(&e, g, &m, &c)) continue;
            int L = e.n_layers, w[64], a[64];
            int b = rl_env_uniform(&e, w, a);
            ck_assert_int_ge(b, 2);
            ck_assert(rl_env_cost(&e, w, a) <= e.target);
            ck_assert_int_eq(w[1], b);
            ck_assert_int_eq(a[1], b);
            ck_assert_int_eq(w[0], 8);
            ck_assert_int_eq(a[L - 1], 8);
            if (b < 8) { /* one more bit everywhere does not fit */
                for (int l = 1; l < L - 1; l++) w[l] = a[l] = b + 1;
                ck_assert(rl_env_cost(&e, w, a) > e.target);
            }
            rl_env_free(&e);
        }
        hw_model_free(&m);
    }
    nn_graph_free(g);
}
END_TEST

/* k-means: 9 features, the previous layer's raw bits (4 on the first step), size budget equal
 * to the exact accounting against fp32. */
START_TEST(kmeans_env_size) {
    struct nn_graph *g = mnv2(0.35f, 10, 32);
    struct rl_env_cfg c = rl_env_cfg_default(Q_KMEANS);
    c.ratio = 0.15;
    struct rl_env e;
    ck_assert_msg(rl_env_init(&e, g, NULL, &c) == 0, "%s", nn_errmsg());
    ck_assert_int_eq(e.state_dim, 9);
    ck_assert_int_eq(e.steps, e.n_layers);
    int done;
    const float *s = rl_env_reset(&e);
    ck_assert_float_eq_tol(s[8], 4.0f, 1e-7);
    s = rl_env_step(&e, 1.0f, &done); /* 8.5 → 8 */
    ck_assert_float_eq_tol(s[8], 8.0f, 1e-7);
    s = rl_env_step(&e, 0.0f, &done); /* 1 bit */
    ck_assert_float_eq_tol(s[8], 1.0f, 1e-7);
    /* 1..8 bits: a·8 + 0.5, half to even */
    ck_assert_int_eq(rl_env_bits(&e, 0.25f), 2); /* 2.5 */
    ck_assert_int_eq(rl_env_bits(&e, 0.375f), 4); /* 3.5 */
    ck_assert_int_eq(rl_env_bits(&e, 0.0f), 1);
    double fp = 0, sz = 0;
    int L = e.n_layers, w[64], a[64];
    for (int l = 0; l < L; l++) {
        fp += hw_size_fp32_bytes(&e.layers[l]);
        w[l] = 1 + l % 8;
        a[l] = 5;
        sz += hw_size_bytes(&e.layers[l], w[l], Q_FLOAT, HW_Q_KMEANS);
    }
    ck_assert_double_eq_tol(e.ref_cost, fp, 1e-6);
    rl_env_hold(&e, w, a); /* k-means: activations not quantized, no hold */
    ck_assert_int_eq(a[3], Q_FLOAT);
    ck_assert_int_eq(w[0], 1);
    ck_assert_double_eq_tol(rl_env_cost(&e, w, a), sz, 1e-6);
    double cost = rl_env_wall(&e, w, a);
    ck_assert(cost <= 0.15 * fp);
    for (int l = 0; l < L; l++) ck_assert_int_ge(w[l], 1);
    rl_env_free(&e);
    /* a latency budget is refused for k-means */
    c.metric = HW_METRIC_LATENCY;
    ck_assert_int_eq(rl_env_init(&e, g, NULL, &c), -1);
    nn_graph_free(g);
}
END_TEST

/* Filling the budget keeps the policy under it, never lowers a bit, leaves held layers alone,
 * ends where no single one-bit raise fits, and on BitFusion spends slack on many layers. */
START_TEST(fill_spends_slack) {
    struct nn_graph *g = mnv2(0.35f, 10, 16);
    const char *hws[] = {"bitfusion-edge", "bismo-cloud"};
    for (int h = 0; h < 2; h++) {
        struct hw_model m;
        ck_assert_msg(hw_model_load(&m, hws[h]) == 0, "%s", nn_errmsg());
        struct rl_env e;
        env_for(&e, g, &m, Q_LINEAR, 0.9);
        int L = e.n_layers, w[64], a[64], w0[64], a0[64], raised = 0;
        for (int l = 0; l < L; l++) {
            w[l] = l % 2 ? 3 : 5;
            a[l] = l % 3 ? 5 : 3;
        }
        rl_env_wall(&e, w, a);
        memcpy(w0, w, sizeof w);
        memcpy(a0, a, sizeof a);
        double cost = rl_env_fill(&e, w, a);
        ck_assert(cost <= e.target);
        ck_assert(fabs(cost - rl_env_cost(&e, w, a)) <= 1e-9 * cost);
        for (int l = 0; l < L; l++) {
            ck_assert_int_ge(w[l], w0[l]);
            ck_assert_int_ge(a[l], a0[l]);
            raised += w[l] > w0[l] || a[l] > a0[l];
        }
        ck_assert_int_eq(w[0], 8);
        ck_assert_int_eq(a[0], Q_FLOAT);
        ck_assert_msg(raised > 5, "%s: %d layers raised", hws[h], raised);
        /* maximal: no single raise fits any more */
        for (int l = 1; l < L - 1; l++)
            for (int k = 0; k < 2; k++) {
                int *b = k ? &a[l] : &w[l];
                if (*b >= 8) continue;
                (*b)++;
                ck_assert(rl_env_cost(&e, w, a) > e.target);
                (*b)--;
            }
        rl_env_free(&e);
        hw_model_free(&m);
    }
    nn_graph_free(g);
}
END_TEST

/* step_budget: every episode of random actions ends under the target without the wall, each
 * action as taken maps to the bits recorded (and is the agent's own when unbounded), and the
 * two budget columns are the cost of the layers chosen and of the rest at min, over the target. */
START_TEST(step_budget_keeps_reachable) {
    const char *hws[] = {"bitfusion-edge", "bismo-edge", "bismo-cloud"};
    struct nn_graph *g = mnv2(0.35f, 10, 16);
    struct nn_rng r;
    nn_rng_seed(&r, 21);
    for (int h = 0; h < 4; h++) {
        struct hw_model m;
        int km = h == 3; /* the k-means environment's size budget */
        if (!km) ck_assert_msg(hw_model_load(&m, hws[h]) == 0, "%s", nn_errmsg());
        struct rl_env_cfg c = rl_env_cfg_default(km ? Q_KMEANS : Q_LINEAR);
        c.step_budget = 1;
        c.ratio = km ? 0.08 : h == 0 ? 0.75 : h == 1 ? 0.5 : 0.3;
        struct rl_env e;
        ck_assert_msg(rl_env_init(&e, g, km ? NULL : &m, &c) == 0, "%s", nn_errmsg());
        int L = e.n_layers, sd = e.state_dim, w[64], a[64];
        ck_assert_int_eq(sd, km ? 11 : 12);
        for (int trial = 0; trial < 40; trial++) {
            const float *st = rl_env_reset(&e);
            int done = 0, bounded = 0;
            for (int t = 0; !done; t++) {
                int l = km ? t : t / 2;
                if (!km) { /* the budget columns, by hand from the layer costs */
                    double sp = 0, rest = 0;
                    for (int j = 0; j < L; j++) {
                        int wj = j == 0 ? 8 : j == L - 1 ? 8 : j < l ? e.w_bits[j] : 2;
                        int aj = j == 0 ? Q_FLOAT : j == L - 1 ? 8 : j < l ? e.a_bits[j] : 2;
                        double v = rl_env_layer_cost(&e, j, wj, aj)->units;
                        if (j < l) sp += v;
                        if (j > l) rest += v;
                    }
                    ck_assert_float_eq_tol(st[sd - 2], (float)(sp / e.target), 1e-5f);
                    ck_assert_float_eq_tol(st[sd - 1], (float)(rest / e.target), 1e-5f);
                }
                /* the first trials push every action to the top: the budget binds early */
                float act = trial < 3 ? 1.0f : trial < 5 ? 0.0f : nn_rng_uniform(&r);
                st = rl_env_step(&e, act, &done);
                int b = km || t % 2 == 0 ? e.w_bits[l] : e.a_bits[l];
                ck_assert_int_eq(rl_env_bits(&e, e.action), b);
                if (e.action == act) {
                    ck_assert_int_eq(rl_env_bits(&e, act), b);
                } else {
                    bounded++;
                    ck_assert_int_lt(b, rl_env_bits(&e, act));
                }
            }
            if (trial < 3) ck_assert_int_gt(bounded, 0);
            if (trial >= 3 && trial < 5) ck_assert_int_eq(bounded, 0);
            memcpy(w, e.w_bits, (size_t)L * sizeof(int));
            memcpy(a, e.a_bits, (size_t)L * sizeof(int));
            rl_env_hold(&e, w, a);
            double cost = rl_env_cost(&e, w, a);
            ck_assert_msg(cost <= e.target * (1 + 1e-12), "cost %g > target %g", cost, e.target);
            int w2[64], a2[64];
            memcpy(w2, w, sizeof w2);
            memcpy(a2, a, sizeof a2);
            rl_env_wall(&e, w2, a2); /* nothing left for the wall */
            ck_assert(!memcmp(w, w2, (size_t)L * sizeof(int)) &&
                      !memcmp(a, a2, (size_t)L * sizeof(int)));
        }
        rl_env_free(&e);
        if (!km) hw_model_free(&m);
    }
    /* without it: the release's ten columns and the agent's action as given */
    struct hw_model m;
    ck_assert_int_eq(hw_model_load(&m, "bismo-edge"), 0);
    struct rl_env e;
    env_for(&e, g, &m, Q_LINEAR, 0.5);
    ck_assert_int_eq(e.state_dim, 10);
    rl_env_reset(&e);
    int done = 0;
    while (!done) {
        rl_env_step(&e, 1.0f, &done);
        ck_assert_float_eq(e.action, 1.0f);
    }
    rl_env_free(&e);
    hw_model_free(&m);
    nn_graph_free(g);
}
END_TEST

Suite *suite_rl_env(void) {
    Suite *s = suite_create("rl_env");
    TCase *tc = tcase_create("rl_env");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, state_row_mobilenet_v2);
    tcase_add_test(tc, action_to_bits);
    tcase_add_test(tc, wall_under_budget_and_bounds);
    tcase_add_test(tc, wall_order);
    tcase_add_test(tc, uniform_largest_that_fits);
    tcase_add_test(tc, kmeans_env_size);
    tcase_add_test(tc, fill_spends_slack);
    tcase_add_test(tc, step_budget_keeps_reachable);
    suite_add_tcase(s, tc);
    return s;
}
