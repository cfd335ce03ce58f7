/* Golden tests against PyTorch: the model builders, weight layouts and layers must reproduce
 * torchvision's logits and one training step's loss and gradients. Weights come from a formula
 * that tests/fixtures/make_torch_fixtures.py evaluates identically, so only PyTorch's outputs
 * are committed (tests/fixtures/torch/); PyTorch computes them in float64, so the tolerances
 * bound this engine's float32 error against exact values. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/checkpoint.h"
#include "nn/error.h"
#include "nn/models.h"
#include "nn/npy.h"
#include "nn/pool.h"
#include "tests/testutil.h"

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* u(name, i) in [-1, 1): splitmix64 of fnv1a(name) xor i·golden, as the fixture script. */
static double unif(uint64_t h, uint64_t i) {
    uint64_t z = h ^ (i * 0x9e3779b97f4a7c15ull);
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53 * 2.0 - 1.0;
}

static int ends(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* The fixture script's formula_value, element i of a tensor in PyTorch's layout. */
static float formula(const char *name, uint64_t h, int ndim, const int *shape, size_t numel,
                     size_t i) {
    double u = unif(h, i);
    if (ends(name, "running_mean")) return (float)(0.1 * u);
    if (ends(name, "running_var")) return (float)(1.0 + 0.5 * u);
    if (ends(name, "weight") && ndim >= 2) return (float)(u * sqrt(6.0 / (double)(numel / (size_t)shape[0])));
    if (ends(name, "weight")) {
        double v = 1.0 + 0.25 * u;
        if (!strncmp(name, "layer", 5) && (ends(name, "bn2.weight") || ends(name, "bn3.weight")))
            v *= 0.2; /* damped ResNet branches, as the fixture script */
        return (float)v;
    }
    return (float)(0.1 * u);
}

/* Every parameter and buffer of g from the formula, through the state-dict loader. */
static void load_formula(struct nn_graph *g) {
    int n = g->n_params + g->n_bufs;
    struct nn_tensor_view *v = calloc((size_t)n, sizeof *v);
    int m = 0;
    for (int k = 0; k < n; k++) {
        const struct nn_param *t = k < g->n_params ? &g->params[k] : &g->bufs[k - g->n_params];
        if (t->quant) continue; /* quantizer state: not in PyTorch's state dict */
        float *d = malloc(t->numel * sizeof(float));
        uint64_t h = fnv1a(t->name);
        for (size_t i = 0; i < t->numel; i++)
            d[i] = formula(t->name, h, t->ndim, t->shape, t->numel, i);
        v[m].name = t->name;
        v[m].dtype = NN_F32;
        v[m].ndim = t->ndim;
        for (int q = 0; q < t->ndim; q++) v[m].shape[q] = t->shape[q];
        v[m].data = d;
        m++;
    }
    ck_assert_msg(nn_state_load(g, v, m, 0, "formula") == 0, "%s", nn_errmsg());
    for (int k = 0; k < m; k++) free((void *)v[k].data);
    free(v);
}

/* The formula input [2][3][s][s] (NCHW) as NHWC. */
static float *formula_input(int s) {
    float *x = malloc((size_t)2 * 3 * s * s * sizeof(float));
    uint64_t h = fnv1a("input");
    for (int b = 0; b < 2; b++)
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < s; y++)
                for (int xx = 0; xx < s; xx++) {
                    size_t i = (((size_t)b * 3 + c) * s + y) * s + xx;
                    x[(((size_t)b * s + y) * s + xx) * 3 + c] = (float)unif(h, i);
                }
    return x;
}

static struct nn_npy fixture(const char *model, const char *what) {
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/torch/%s_%s.npy", model, what);
    struct nn_npy a;
    ck_assert_msg(nn_npy_read(&a, path) == 0, "%s", nn_errmsg());
    ck_assert_int_eq(a.dtype, NN_NPY_F4);
    return a;
}

/* max |a − b| / max |b| */
static double rel(const float *a, const float *b, size_t n) { return tu_rel_err(a, b, n, 1e-30); }

struct golden {
    const char *name, *arch;
    float width;
    int classes, input, stem;
    const char *grads[2], *lin_grads[2];
};

/* As the fixture script's MODELS (see there why the full chain is checked on the linearized
 * twin: every ReLU/ReLU6 an identity). */
static const struct golden models[] = {
    {"mobilenet_v2_w035", "mobilenet_v2", 0.35f, 100, 64, NN_STEM_IMAGENET,
     {"classifier.1.bias", "features.18.1.weight"},
     {"features.0.0.weight", "features.9.conv.1.1.weight"}},
    {"mobilenet_v2_w1", "mobilenet_v2", 1.0f, 100, 64, NN_STEM_IMAGENET,
     {"classifier.1.bias", "features.18.1.bias"},
     {"features.0.0.weight", "features.16.conv.0.1.bias"}},
    {"mobilenet_v2_small", "mobilenet_v2", 1.0f, 10, 32, NN_STEM_SMALL,
     {"classifier.1.bias", "features.18.1.weight"},
     {"features.0.0.weight", "features.2.conv.1.0.weight"}},
    {"mobilenet_v1", "mobilenet_v1", 1.0f, 100, 80, NN_STEM_IMAGENET,
     {"classifier.0.bias", "features.12.4.weight"}, {"conv1.0.weight", "features.6.1.weight"}},
    {"resnet18", "resnet18", 1.0f, 100, 64, NN_STEM_IMAGENET, {"fc.bias", "layer4.1.bn2.weight"},
     {"conv1.weight", "layer2.0.downsample.1.weight"}},
    {"resnet50", "resnet50", 1.0f, 100, 64, NN_STEM_IMAGENET, {"fc.bias", "layer4.2.bn3.weight"},
     {"conv1.weight", "layer3.2.bn2.weight"}},
};

/* Loss and gradients of one training step (BN batch statistics, labels 3 and 7) against
 * fixtures <tag>_loss and <tag>_grad<k>. */
static void check_train_step(struct nn_graph *g, const float *x, const char *tag,
                             const char *const *grads) {
    int labels[2] = {3, 7};
    nn_graph_set_train(g, 1);
    ck_assert_int_eq(nn_graph_forward(g, x, 2), 0);
    double loss = nn_graph_xent(g, labels, NULL, NULL);
    nn_graph_zero_grad(g);
    ck_assert_int_eq(nn_graph_backward(g), 0);
    struct nn_npy wl = fixture(tag, "loss");
    double tl = ((float *)wl.data)[0];
    ck_assert_msg(fabs(loss - tl) <= 1e-3 * fmax(1.0, fabs(tl)), "%s: loss %.6f, PyTorch %.6f",
                  tag, loss, tl);
    nn_npy_free(&wl);
    for (int k = 0; k < 2; k++) {
        char what[16];
        snprintf(what, sizeof what, "grad%d", k);
        struct nn_npy gw = fixture(tag, what);
        int p = nn_graph_find_param(g, grads[k]);
        ck_assert_int_ge(p, 0);
        ck_assert_uint_eq(gw.count, g->params[p].numel);
        float *mine = malloc(gw.count * sizeof(float));
        nn_param_to_torch(g, p, nn_param_grad(g, p), mine);
        double e = rel(mine, gw.data, gw.count);
        ck_assert_msg(e <= 1e-3, "%s: gradient of %s differs by %.3g (relative)", tag, grads[k],
                      e);
        free(mine);
        nn_npy_free(&gw);
    }
}

START_TEST(golden_logits_and_gradients) {
    nn_pool_init(2);
    const struct golden *m = &models[_i];
    struct nn_model_cfg cfg = nn_model_defaults(m->arch);
    cfg.width = m->width;
    cfg.classes = m->classes;
    cfg.input = m->input;
    cfg.stem = m->stem;
    cfg.dropout = 0.0f;
    struct nn_graph *g = nn_model_build(&cfg);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(nn_graph_alloc(g, 2, 1), 0);
    load_formula(g);
    float *x = formula_input(m->input);

    struct nn_npy want = fixture(m->name, "logits");
    ck_assert_uint_eq(want.count, (size_t)2 * m->classes);
    nn_graph_set_train(g, 0);
    ck_assert_int_eq(nn_graph_forward(g, x, 2), 0);
    double e = rel(g->nodes[nn_graph_last(g)].out, want.data, want.count);
    ck_assert_msg(e <= 1e-4, "%s: logits differ from PyTorch by %.3g (relative)", m->name, e);
    nn_npy_free(&want);
    check_train_step(g, x, m->name, m->grads);

    /* the linearized twin: every activation an identity */
    load_formula(g);
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].op == NN_OP_BN) g->nodes[i].u.bn.act = NN_ACT_NONE;
        if (g->nodes[i].op == NN_OP_ACT) g->nodes[i].u.act = NN_ACT_NONE;
    }
    char tag[64];
    snprintf(tag, sizeof tag, "%s_lin", m->name);
    check_train_step(g, x, tag, m->lin_grads);
    free(x);
    nn_graph_free(g);
}
END_TEST

/* A checkpoint written and read back is bit-identical, and PyTorch-layout tensors round-trip. */
START_TEST(checkpoint_round_trip) {
    struct nn_model_cfg cfg = nn_model_defaults("resnet18");
    cfg.classes = 10;
    cfg.input = 32;
    struct nn_graph *g = nn_model_build(&cfg);
    ck_assert_int_eq(nn_graph_alloc(g, 1, 0), 0);
    load_formula(g);
    g->nodes[2].u.bn.batches = 1234;
    const char *path = "build/test_ckpt.safetensors";
    const char *extra[] = {"policy", "w8a8"};
    ck_assert_int_eq(nn_ckpt_save(path, g, &cfg, extra, 1), 0);
    struct nn_model_cfg c2;
    struct nn_graph *h = nn_ckpt_load(path, 4, 1, &c2);
    ck_assert_msg(h != NULL, "%s", nn_errmsg());
    ck_assert_str_eq(c2.arch, "resnet18");
    ck_assert_int_eq(c2.classes, 10);
    ck_assert_int_eq(c2.input, 32);
    ck_assert_int_eq(c2.stem, NN_STEM_SMALL);
    ck_assert_int_eq(memcmp(g->param_data, h->param_data, g->n_param_floats * 4), 0);
    ck_assert_int_eq(memcmp(g->buf_data, h->buf_data, g->n_buf_floats * 4), 0);
    ck_assert_int_eq(h->nodes[2].u.bn.batches, 1234);
    struct nn_st_file f;
    ck_assert_int_eq(nn_st_open(path, &f), 0);
    ck_assert_str_eq(nn_st_meta(&f, "policy"), "w8a8");
    const struct nn_st_tensor *t = nn_st_find(&f, "layer1.0.conv1.weight");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->ndim, 4);
    ck_assert_int_eq(t->shape[0], 64);
    ck_assert_int_eq(t->shape[3], 3);
    /* stored in PyTorch's OIHW order: element [o][c][i][j] is the formula's element */
    float v;
    memcpy(&v, t->data + 4 * ((((size_t)5 * 64 + 7) * 3 + 2) * 3 + 1), 4);
    int shape[4] = {64, 64, 3, 3};
    ck_assert_float_eq(v, formula("layer1.0.conv1.weight", fnv1a("layer1.0.conv1.weight"), 4,
                                  shape, 64 * 64 * 9, (((size_t)5 * 64 + 7) * 3 + 2) * 3 + 1));
    nn_st_close(&f);
    nn_graph_free(g);
    nn_graph_free(h);
    remove(path);
}
END_TEST

/* Broken safetensors files: every truncation and many corruptions give errors, not crashes. */
START_TEST(safetensors_hostile) {
    struct nn_model_cfg cfg = nn_model_defaults("mobilenet_v2");
    cfg.width = 0.1f;
    cfg.classes = 3;
    cfg.input = 32;
    struct nn_graph *g = nn_model_build(&cfg);
    ck_assert_int_eq(nn_graph_alloc(g, 1, 0), 0);
    const char *path = "build/test_hostile.safetensors", *bad = "build/test_hostile_bad.safetensors";
    ck_assert_int_eq(nn_ckpt_save(path, g, &cfg, NULL, 0), 0);
    uint8_t *buf;
    size_t n;
    ck_assert_int_eq(nn_read_file(path, &buf, &n, 1 << 26), 0);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | buf[i];
    struct nn_rng r;
    nn_rng_seed(&r, 3);
    int errors = 0;
    for (int t = 0; t < 300; t++) {
        uint8_t *c = malloc(n);
        memcpy(c, buf, n);
        size_t len = n;
        if (t < 100) len = (size_t)nn_rng_below(&r, 8 + hlen + 16); /* truncations in the header */
        else /* flip bytes of the header */
            for (int k = 0; k < 3; k++) c[nn_rng_below(&r, 8 + hlen)] ^= (uint8_t)(1 + nn_rng_below(&r, 255));
        ck_assert_int_eq(nn_write_file_atomic(bad, c, len), 0);
        struct nn_model_cfg c2;
        struct nn_graph *h = nn_ckpt_load(bad, 1, 0, &c2);
        if (!h) {
            errors++;
            ck_assert(strlen(nn_errmsg()) > 0);
        }
        nn_graph_free(h);
        free(c);
    }
    ck_assert_int_ge(errors, 150);
    free(buf);
    remove(path);
    remove(bad);
    nn_graph_free(g);
}
END_TEST

Suite *suite_nn_torch(void) {
    Suite *s = suite_create("nn_torch");
    TCase *tc = tcase_create("torch");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, golden_logits_and_gradients, 0, (int)(sizeof models / sizeof *models));
    tcase_add_test(tc, checkpoint_round_trip);
    tcase_add_test(tc, safetensors_hostile);
    suite_add_tcase(s, tc);
    return s;
}
