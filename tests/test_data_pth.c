/* PyTorch checkpoints without Python: both torch.save formats, float16/float64/int64 storages,
 * strided views, storage offsets, shared storages, wrappers and prefixes, the HAQ release's
 * MobileNetV2 layout, and hostile files. Fixtures: tests/fixtures/make_torch_fixtures.py. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/import.h"
#include "data/inflate.h"
#include "data/pth.h"
#include "nn/error.h"
#include "nn/models.h"
#include "nn/npy.h"
#include "nn/pool.h"
#include "tests/testutil.h"

static const struct nn_tensor_view *find(const struct data_pth *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->t[i].name, name)) return &p->t[i];
    return NULL;
}

static float f32_at(const struct nn_tensor_view *t, size_t i) {
    float v;
    memcpy(&v, (const char *)t->data + 4 * i, 4);
    return v;
}

/* The tiny state dict of the fixture script: plain = arange(12)/4 as 3×4, half = arange(6)/8
 * in float16, transposed = plain.T, sliced = plain[1:, 1:3], counter = 41, double = linspace. */
static void check_tiny(const char *path) {
    struct data_pth p;
    ck_assert_msg(data_pth_read(path, &p) == 0, "%s", nn_errmsg());
    ck_assert_int_eq(p.n, 6);
    const struct nn_tensor_view *t = find(&p, "plain");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->dtype, NN_F32);
    ck_assert_int_eq(t->ndim, 2);
    ck_assert_int_eq(t->shape[0], 3);
    for (int i = 0; i < 12; i++) ck_assert_float_eq(f32_at(t, (size_t)i), i / 4.0f);
    t = find(&p, "transposed");
    ck_assert_int_eq(t->shape[0], 4);
    ck_assert_int_eq(t->shape[1], 3);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 3; c++) ck_assert_float_eq(f32_at(t, (size_t)(r * 3 + c)), (c * 4 + r) / 4.0f);
    t = find(&p, "sliced");
    ck_assert_int_eq(t->shape[0], 2);
    ck_assert_int_eq(t->shape[1], 2);
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 2; c++)
            ck_assert_float_eq(f32_at(t, (size_t)(r * 2 + c)), ((r + 1) * 4 + c + 1) / 4.0f);
    t = find(&p, "half");
    ck_assert_int_eq(t->dtype, NN_F16);
    for (int i = 0; i < 6; i++) {
        uint16_t h;
        memcpy(&h, (const char *)t->data + 2 * i, 2);
        /* i/8 in binary16: exponent and mantissa written out */
        float want = i / 8.0f, got = 0;
        int e = (h >> 10) & 31, m = h & 1023;
        got = e ? ldexpf(1.0f + m / 1024.0f, e - 15) : ldexpf(m / 1024.0f, -14);
        ck_assert_float_eq(got, want);
    }
    t = find(&p, "counter");
    ck_assert_int_eq(t->dtype, NN_I64);
    ck_assert_int_eq(t->ndim, 0);
    int64_t c;
    memcpy(&c, t->data, 8);
    ck_assert_int_eq(c, 41);
    t = find(&p, "double");
    ck_assert_int_eq(t->dtype, NN_F64);
    double d;
    memcpy(&d, (const char *)t->data + 8 * 4, 8);
    ck_assert_double_eq(d, 1.0);
    data_pth_free(&p);
}

START_TEST(tiny_zip_format) { check_tiny("tests/fixtures/torch/tiny_zip.pth"); }
END_TEST

START_TEST(tiny_legacy_format) {
    /* wrapped in {"epoch", "args" (a Namespace), "state_dict" {"module.…"}, "optimizer"} */
    check_tiny("tests/fixtures/torch/tiny_legacy.pth.tar");
}
END_TEST

/* A width-0.1 MobileNetV2 through each format and layout gives PyTorch's logits. */
static void check_model(const char *file, const char *logits, const char *layout) {
    nn_pool_init(2);
    struct data_pth p;
    ck_assert_msg(data_pth_read(file, &p) == 0, "%s", nn_errmsg());
    ck_assert_int_eq(data_import_classes(&p), 10);
    struct nn_model_cfg cfg = nn_model_defaults("mobilenet_v2");
    cfg.width = 0.1f;
    cfg.classes = 10;
    cfg.input = 64;
    cfg.stem = NN_STEM_IMAGENET;
    struct nn_graph *g = nn_model_build(&cfg);
    ck_assert_int_eq(nn_graph_alloc(g, 2, 0), 0);
    struct data_import_report rep;
    ck_assert_msg(data_import_state(g, "mobilenet_v2", &p, 0, file, &rep) == 0, "%s", nn_errmsg());
    ck_assert_str_eq(rep.layout, layout);
    data_pth_free(&p);
    struct nn_npy want;
    /* the fixture script's formula input (as in test_nn_torch.c), NCHW order → NHWC */
    ck_assert_int_eq(nn_npy_read(&want, logits), 0);
    float in[2 * 64 * 64 * 3];
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *s = "input"; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    for (int b = 0; b < 2; b++)
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 64 * 64; i++) {
                uint64_t z = h ^ ((uint64_t)((b * 3 + c) * 4096 + i) * 0x9e3779b97f4a7c15ull);
                z += 0x9e3779b97f4a7c15ull;
                z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
                z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
                z ^= z >> 31;
                in[((size_t)b * 4096 + i) * 3 + c] = (float)((double)(z >> 11) * 0x1.0p-53 * 2 - 1);
            }
    nn_graph_set_train(g, 0);
    ck_assert_int_eq(nn_graph_forward(g, in, 2), 0);
    double e = tu_rel_err(g->nodes[nn_graph_last(g)].out, want.data, want.count, 1e-30);
    ck_assert_msg(e < 1e-4, "%s: logits off by %g", file, e);
    nn_npy_free(&want);
    nn_graph_free(g);
}

START_TEST(torchvision_zip_float16) {
    check_model("tests/fixtures/torch/mnv2_w01_tv_f16.pth",
                "tests/fixtures/torch/mnv2_w01_f16_logits.npy", "torchvision");
}
END_TEST

START_TEST(haq_release_legacy) {
    check_model("tests/fixtures/torch/mnv2_w01_haq.pth.tar",
                "tests/fixtures/torch/mnv2_w01_logits.npy", "haq-release");
}
END_TEST

/* Missing and unknown tensors are reported by name. */
START_TEST(import_reports_names) {
    struct data_pth p;
    ck_assert_int_eq(data_pth_read("tests/fixtures/torch/mnv2_w01_tv_f16.pth", &p), 0);
    struct nn_model_cfg cfg = nn_model_defaults("mobilenet_v2");
    cfg.width = 0.1f;
    cfg.classes = 10;
    struct nn_graph *g = nn_model_build(&cfg);
    ck_assert_int_eq(nn_graph_alloc(g, 1, 0), 0);
    free((void *)p.t[3].name); /* rename one tensor: one missing, one unknown */
    p.t[3].name = strdup("features.99.bogus");
    struct data_import_report rep;
    ck_assert_int_eq(data_import_state(g, "mobilenet_v2", &p, 0, "x.pth", &rep), -1);
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), "x.pth"));
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), "1 missing"));
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), "features.99.bogus"));
    data_pth_free(&p);
    nn_graph_free(g);
    /* a wrong width: shapes disagree */
    ck_assert_int_eq(data_pth_read("tests/fixtures/torch/mnv2_w01_tv_f16.pth", &p), 0);
    cfg.width = 0.35f;
    g = nn_model_build(&cfg);
    ck_assert_int_eq(nn_graph_alloc(g, 1, 0), 0);
    ck_assert_int_eq(data_import_state(g, "mobilenet_v2", &p, 0, "x.pth", &rep), -1);
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), "wrong shape"));
    data_pth_free(&p);
    nn_graph_free(g);
}
END_TEST

/* Truncated and corrupted checkpoints fail cleanly (run under the sanitizers too). */
START_TEST(hostile_files) {
    static const char *const files[] = {"tests/fixtures/torch/tiny_zip.pth",
                                        "tests/fixtures/torch/tiny_legacy.pth.tar",
                                        "tests/fixtures/torch/mnv2_w01_haq.pth.tar"};
    struct nn_rng r;
    nn_rng_seed(&r, 17);
    for (int f = 0; f < 3; f++) {
        uint8_t *buf;
        size_t n;
        ck_assert_int_eq(data_read_file(files[f], &buf, &n), 0);
        uint8_t *c = malloc(n);
        int fails = 0, runs = 0;
        for (size_t cut = 0; cut < n; cut += (f == 2 ? 997 : 7)) { /* truncations */
            struct data_pth p;
            if (data_pth_read_mem("cut", buf, cut, &p)) fails++;
            else data_pth_free(&p);
            runs++;
        }
        ck_assert_int_eq(fails, runs);
        for (int t = 0; t < 400; t++) { /* random byte changes */
            memcpy(c, buf, n);
            int k = 1 + (int)nn_rng_below(&r, 4);
            for (int q = 0; q < k; q++) {
                size_t at = (size_t)nn_rng_below(&r, f == 2 ? 4096 : n); /* the pickle part */
                c[at] ^= (uint8_t)(1 + nn_rng_below(&r, 255));
            }
            struct data_pth p;
            if (data_pth_read_mem("flipped", c, n, &p) == 0) data_pth_free(&p);
        }
        free(c);
        free(buf);
    }
}
END_TEST

Suite *suite_data_pth(void) {
    Suite *s = suite_create("data_pth");
    TCase *tc = tcase_create("pth");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, tiny_zip_format);
    tcase_add_test(tc, tiny_legacy_format);
    tcase_add_test(tc, torchvision_zip_float16);
    tcase_add_test(tc, haq_release_legacy);
    tcase_add_test(tc, import_reports_names);
    tcase_add_test(tc, hostile_files);
    suite_add_tcase(s, tc);
    return s;
}
