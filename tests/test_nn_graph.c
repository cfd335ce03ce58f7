/* The graph: end-to-end gradients through a small network with a residual branch, training
 * to high accuracy on a generated problem, bitwise reproducibility, model layer counts and the
 * summary. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/graph.h"
#include "nn/models.h"
#include "nn/optim.h"
#include "nn/pool.h"
#include "tests/testutil.h"

/* A small CNN touching every op: conv (dense, strided, depthwise, 1×1), BN with each
 * activation, a standalone ReLU, a residual add, max and average pooling, dropout, linear. */
static struct nn_graph *tiny_cnn(int hw, int classes, float dropout) {
    struct nn_graph *g = nn_graph_new(hw, hw, 3);
    int x = nn_bn(g, "b1", nn_conv(g, "c1", 0, 8, 3, 3, 1, 1, 1, 1, 0), NN_ACT_RELU);
    x = nn_bn(g, "b2", nn_conv(g, "c2", x, 16, 3, 3, 2, 1, 1, 1, 0), NN_ACT_RELU6);
    int y = nn_bn(g, "b3", nn_conv(g, "c3", x, 16, 3, 3, 1, 1, 1, 16, 0), NN_ACT_RELU6);
    y = nn_bn(g, "b4", nn_conv(g, "c4", y, 16, 1, 1, 1, 0, 0, 1, 1), NN_ACT_NONE);
    x = nn_act(g, "r", nn_add(g, "add", x, y), NN_ACT_RELU);
    x = nn_maxpool(g, "mp", x, 2, 2, 0);
    x = nn_avgpool(g, "gap", x);
    x = nn_dropout(g, "drop", x, dropout);
    nn_linear(g, "fc", x, classes, 1);
    return g;
}

/* Four classes of 8×8 RGB images: class k lights quadrant k in channel k % 3, plus noise. */
static void make_problem(struct nn_rng *r, float *x, int *y, int n) {
    for (int i = 0; i < n; i++) {
        int k = (int)nn_rng_below(r, 4);
        y[i] = k;
        for (int p = 0; p < 64; p++)
            for (int c = 0; c < 3; c++) {
                int row = p / 8, col = p % 8, q = (row >= 4) * 2 + (col >= 4);
                float v = 0.3f * (float)nn_rng_normal(r);
                if (q == k && c == k % 3) v += 1.0f;
                x[(size_t)i * 192 + p * 3 + c] = v;
            }
    }
}

/* Train for `steps` SGD steps; returns the training accuracy over the last 50 steps and
 * leaves the final parameters in the graph. */
static double train_tiny(struct nn_graph *g, int steps, uint64_t seed) {
    struct nn_rng r;
    nn_rng_seed(&r, seed);
    nn_graph_init(g, &r);
    nn_rng_seed(&g->rng, seed + 1);
    struct nn_sgd o;
    struct nn_param_set ps = nn_graph_params(g);
    ck_assert_int_eq(nn_sgd_init(&o, ps.n, 0.05f, 0.9f, 1e-4f, 1), 0);
    struct nn_sched sch = {NN_SCHED_COSINE, 0.05, 0.0, 0, steps, 0, 10};
    enum { B = 32 };
    float x[B * 192];
    int y[B], correct = 0, seen = 0;
    nn_graph_set_train(g, 1);
    for (int s = 0; s < steps; s++) {
        make_problem(&r, x, y, B);
        ck_assert_int_eq(nn_graph_forward(g, x, B), 0);
        int t1;
        double loss = nn_graph_xent(g, y, &t1, NULL);
        ck_assert(isfinite(loss));
        nn_graph_zero_grad(g);
        ck_assert_int_eq(nn_graph_backward(g), 0);
        o.lr = (float)nn_sched_lr(&sch, s);
        nn_sgd_step(&o, &ps);
        if (s >= steps - 50) {
            correct += t1;
            seen += B;
        }
    }
    nn_sgd_free(&o);
    return (double)correct / seen;
}

START_TEST(tiny_cnn_learns) {
    nn_pool_init(2);
    struct nn_graph *g = tiny_cnn(8, 4, 0.1f);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(nn_graph_alloc(g, 32, 1), 0);
    double acc = train_tiny(g, 300, 1);
    ck_assert_msg(acc >= 0.95, "training accuracy %.3f < 0.95", acc);
    /* eval mode on fresh data uses the running statistics and no dropout */
    struct nn_rng r;
    nn_rng_seed(&r, 999);
    float x[32 * 192];
    int y[32], t1;
    make_problem(&r, x, y, 32);
    nn_graph_set_train(g, 0);
    ck_assert_int_eq(nn_graph_forward(g, x, 32), 0);
    nn_graph_xent(g, y, &t1, NULL);
    ck_assert_int_ge(t1, 28);
    nn_graph_free(g);
}
END_TEST

START_TEST(training_is_bitwise_reproducible) {
    for (int threads = 1; threads <= 2; threads++) {
        nn_pool_init(threads);
        struct nn_graph *a = tiny_cnn(8, 4, 0.2f), *b = tiny_cnn(8, 4, 0.2f);
        ck_assert_int_eq(nn_graph_alloc(a, 32, 1), 0);
        ck_assert_int_eq(nn_graph_alloc(b, 32, 1), 0);
        train_tiny(a, 40, 5);
        train_tiny(b, 40, 5);
        ck_assert_int_eq(memcmp(a->param_data, b->param_data, a->n_param_floats * 4), 0);
        ck_assert_int_eq(memcmp(a->buf_data, b->buf_data, a->n_buf_floats * 4), 0);
        nn_graph_free(a);
        nn_graph_free(b);
    }
}
END_TEST

/* d loss / d (input and every parameter) of the whole graph against central differences. */
START_TEST(graph_gradients) {
    nn_pool_init(2);
    struct nn_graph *g = tiny_cnn(7, 3, 0.0f);
    ck_assert_int_eq(nn_graph_alloc(g, 3, 1), 0);
    g->input_grad = 1;
    struct nn_rng r;
    nn_rng_seed(&r, 21);
    nn_graph_init(g, &r);
    for (size_t i = 0; i < g->n_param_floats; i++) g->param_data[i] += 0.1f * (float)nn_rng_normal(&r);
    float x[3 * 7 * 7 * 3];
    int y[3] = {0, 2, 1};
    tu_fill(&r, x, sizeof x / sizeof *x, -1, 1);
    nn_graph_set_train(g, 1);
    ck_assert_int_eq(nn_graph_forward(g, x, 3), 0);
    nn_graph_xent(g, y, NULL, NULL);
    nn_graph_zero_grad(g);
    ck_assert_int_eq(nn_graph_backward(g), 0);
    float dx[3 * 7 * 7 * 3];
    memcpy(dx, g->nodes[0].dout, sizeof dx);
    float *grad = malloc(g->n_param_floats * sizeof(float));
    memcpy(grad, g->grad_data, g->n_param_floats * sizeof(float));
    /* small ε: the net has many ReLU and max-pool switches that a large step would cross */
    const double eps = 1e-3;
    int checked = 0, bad = 0;
    /* every 7th input value and every 5th parameter */
    for (size_t i = 0; i < sizeof x / sizeof *x; i += 7) {
        float keep = x[i];
        x[i] = (float)(keep + eps);
        nn_graph_forward(g, x, 3);
        double lp = nn_graph_xent(g, y, NULL, NULL);
        x[i] = (float)(keep - eps);
        nn_graph_forward(g, x, 3);
        double lm = nn_graph_xent(g, y, NULL, NULL);
        x[i] = keep;
        double num = (lp - lm) / (2 * eps);
        checked++;
        if (fabs(num - dx[i]) > 1e-3 + 2e-2 * fabs(num)) bad++;
    }
    for (int p = 0; p < g->n_params; p++)
        for (size_t k = 0; k < g->params[p].numel; k += 5) {
            float *w = g->param_data + g->params[p].off + k;
            float keep = *w;
            *w = (float)(keep + eps);
            nn_graph_forward(g, x, 3);
            double lp = nn_graph_xent(g, y, NULL, NULL);
            *w = (float)(keep - eps);
            nn_graph_forward(g, x, 3);
            double lm = nn_graph_xent(g, y, NULL, NULL);
            *w = keep;
            double num = (lp - lm) / (2 * eps), a = grad[g->params[p].off + k];
            checked++;
            if (fabs(num - a) > 1e-3 + 2e-2 * fabs(num)) {
                bad++;
                fprintf(stderr, "%s[%zu]: analytic %g numeric %g\n", g->params[p].name, k, a, num);
            }
        }
    /* a handful may straddle a ReLU or max-pool switch under ±ε; a bug breaks many */
    ck_assert_msg(bad * 50 <= checked, "%d of %d gradients off", bad, checked);
    free(grad);
    nn_graph_free(g);
}
END_TEST

static int count_layers(const struct nn_graph *g, int *depthwise) {
    int q = 0;
    *depthwise = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct nn_node *n = &g->nodes[i];
        if (n->op == NN_OP_LINEAR) q++;
        if (n->op != NN_OP_CONV) continue;
        q++;
        *depthwise += n->u.conv.groups == n->u.conv.cin && n->u.conv.cin == n->c;
    }
    return q;
}

static size_t count_params(const struct nn_graph *g) {
    size_t t = 0;
    for (int i = 0; i < g->n_nodes; i++) t += nn_node_params(g, i);
    return t;
}

START_TEST(models_match_torchvision) {
    static const struct {
        const char *arch;
        float width;
        int layers, depthwise;
        size_t params;
        double macs;
    } want[] = {
        {"mobilenet_v2", 1.0f, 53, 17, 3504872, 300774272},
        {"mobilenet_v2", 0.35f, 53, 17, 1677128, 0},
        {"mobilenet_v1", 1.0f, 28, 13, 4231976, 0},
        {"resnet18", 1.0f, 21, 0, 11689512, 1814073344},
        {"resnet34", 1.0f, 37, 0, 21797672, 0},
        {"resnet50", 1.0f, 54, 0, 25557032, 4089184256.0},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        struct nn_model_cfg c = nn_model_defaults(want[i].arch);
        c.width = want[i].width;
        struct nn_graph *g = nn_model_build(&c);
        ck_assert_ptr_nonnull(g);
        int dw, q = count_layers(g, &dw);
        ck_assert_int_eq(q, want[i].layers);
        ck_assert_int_eq(dw, want[i].depthwise);
        ck_assert_uint_eq(count_params(g), want[i].params);
        if (want[i].macs > 0) {
            double m = 0;
            for (int k = 0; k < g->n_nodes; k++) m += nn_node_macs(g, k);
            ck_assert_double_eq(m, want[i].macs);
        }
        nn_graph_free(g);
    }
    struct nn_model_cfg c = nn_model_defaults("mobilenet_v2");
    c.input = 32;
    struct nn_graph *g = nn_model_build(&c);
    int last_conv = nn_graph_find_node(g, "features.18.0");
    ck_assert_int_eq(g->nodes[last_conv].h, 4); /* small stem: 32 / 8 */
    ck_assert_int_ge(nn_graph_find_param(g, "features.17.conv.2.weight"), 0);
    ck_assert_int_ge(nn_graph_find_param(g, "features.1.conv.1.weight"), 0);
    ck_assert_int_ge(nn_graph_find_param(g, "classifier.1.bias"), 0);
    nn_graph_free(g);
    c = nn_model_defaults("vgg16");
    ck_assert_ptr_null(nn_model_build(&c));
}
END_TEST

START_TEST(summary_lists_every_node) {
    struct nn_model_cfg c = nn_model_defaults("resnet18");
    struct nn_graph *g = nn_model_build(&c);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    nn_graph_summary(g, f);
    fclose(f);
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    ck_assert_int_eq(lines, g->n_nodes + 2); /* header, one per node, totals */
    ck_assert_ptr_nonnull(strstr(text, "layer4.1.conv2"));
    ck_assert_ptr_nonnull(strstr(text, "11689512 parameters"));
    ck_assert_ptr_nonnull(strstr(text, "maxpool 3x3/2"));
    free(text);
    nn_graph_free(g);
}
END_TEST

START_TEST(builder_errors) {
    struct nn_graph *g = nn_graph_new(5, 5, 3);
    ck_assert_int_eq(nn_conv(g, "big", 0, 4, 9, 9, 1, 0, 0, 1, 0), -1); /* kernel > input */
    ck_assert_int_eq(nn_conv(g, "next", 0, 4, 3, 3, 1, 1, 1, 1, 0), -1); /* sticky failure */
    ck_assert_int_eq(nn_graph_alloc(g, 1, 0), -1);
    nn_graph_free(g);
    g = nn_graph_new(5, 5, 3);
    int a = nn_conv(g, "a", 0, 4, 3, 3, 1, 1, 1, 1, 0);
    ck_assert_int_eq(nn_add(g, "bad", a, 0), -1); /* 4 channels + 3 channels */
    nn_graph_free(g);
    g = nn_graph_new(5, 5, 4);
    ck_assert_int_eq(nn_conv(g, "g3", 0, 6, 3, 3, 1, 1, 1, 3, 0), -1); /* 3 ∤ 4 */
    nn_graph_free(g);
}
END_TEST

Suite *suite_nn_graph(void) {
    Suite *s = suite_create("nn_graph");
    TCase *tc = tcase_create("graph");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, tiny_cnn_learns);
    tcase_add_test(tc, training_is_bitwise_reproducible);
    tcase_add_test(tc, graph_gradients);
    tcase_add_test(tc, models_match_torchvision);
    tcase_add_test(tc, summary_lists_every_node);
    tcase_add_test(tc, builder_errors);
    suite_add_tcase(s, tc);
    return s;
}
