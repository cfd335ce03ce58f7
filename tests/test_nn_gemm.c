/* GEMM: every path (portable and AVX2 micro-kernels, 1 and 2 threads, k-split) against the
 * double-precision reference, over shapes that cross every tiling edge (MR = 6, NR = 16,
 * MC = 72, KC = 256). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/cpu.h"
#include "nn/gemm.h"
#include "nn/pool.h"
#include "nn/tensor.h"
#include "tests/testutil.h"

struct gcase {
    int m, n, k, ta, tb;
    float alpha, beta;
    int with_epi;
};

/* Run one case through `path` with nth threads; returns the relative error vs the reference. */
static double run_case(const struct gcase *c, enum nn_isa path, int nth, struct nn_rng *r) {
    int ar = c->ta ? c->k : c->m, ac = c->ta ? c->m : c->k;
    int br = c->tb ? c->n : c->k, bc = c->tb ? c->k : c->n;
    int lda = ac + 3, ldb = bc + 1, ldc = c->n + 5;
    float *a = nn_alloc_floats((size_t)ar * lda), *b = nn_alloc_floats((size_t)br * ldb);
    float *c0 = nn_alloc_floats((size_t)c->m * ldc), *c1 = nn_alloc_floats((size_t)c->m * ldc);
    float *bias = nn_alloc_floats((size_t)c->n);
    tu_fill(r, a, (size_t)ar * lda, -1, 1);
    tu_fill(r, b, (size_t)br * ldb, -1, 1);
    tu_fill(r, c0, (size_t)c->m * ldc, -1, 1);
    tu_fill(r, bias, (size_t)c->n, -1, 1);
    if (c->beta == 0.0f) /* beta = 0 must not read C: poison it */
        for (size_t i = 0; i < (size_t)c->m * ldc; i++) c0[i] = NAN;
    memcpy(c1, c0, (size_t)c->m * ldc * sizeof(float));
    struct nn_gemm_epi epi = {bias, -0.25f, 0.75f};
    const struct nn_gemm_epi *e = c->with_epi ? &epi : NULL;
    enum nn_isa saved = nn_isa();
    nn_isa_set(path);
    nn_sgemm_ex(nth, c->ta, c->tb, c->m, c->n, c->k, c->alpha, a, lda, b, ldb, c->beta, c1, ldc,
                e);
    nn_isa_set(saved);
    nn_sgemm_ref(c->ta, c->tb, c->m, c->n, c->k, c->alpha, a, lda, b, ldb, c->beta, c0, ldc, e);
    /* compare only the m×n block; the padding columns must be untouched */
    double err = 0;
    for (int i = 0; i < c->m; i++) {
        double e1 = tu_rel_err(c1 + (size_t)i * ldc, c0 + (size_t)i * ldc, (size_t)c->n,
                               sqrt((double)c->k));
        if (e1 > err) err = e1;
        for (int j = c->n; j < ldc && c->beta != 0.0f; j++)
            if (c1[(size_t)i * ldc + j] != c0[(size_t)i * ldc + j]) err = INFINITY;
    }
    nn_free(a);
    nn_free(b);
    nn_free(c0);
    nn_free(c1);
    nn_free(bias);
    return err;
}

static const int edge[] = {1, 5, 6, 7, 15, 16, 17, 71, 72, 73, 97};

static void sweep(enum nn_isa path, int nth) {
    struct nn_rng r;
    nn_rng_seed(&r, 1234 + (unsigned)path * 10 + (unsigned)nth);
    int ne = (int)(sizeof edge / sizeof *edge);
    for (int mi = 0; mi < ne; mi++)
        for (int ni = 0; ni < ne; ni++) {
            int k = edge[(mi * 7 + ni * 3) % ne];
            struct gcase c = {edge[mi], edge[ni], k, (mi + ni) & 1, (mi >> 1) & 1,
                              (ni & 1) ? 0.5f : 1.0f, (float)((mi + 2 * ni) % 3) * 0.5f - 0.5f,
                              (mi ^ ni) & 1};
            double err = run_case(&c, path, nth, &r);
            ck_assert_msg(err < 1e-5, "m=%d n=%d k=%d ta=%d tb=%d alpha=%g beta=%g: err %g",
                          c.m, c.n, c.k, c.ta, c.tb, (double)c.alpha, (double)c.beta, err);
        }
    /* k across the KC = 256 edge and m across MC = 72, every transpose pair */
    static const int ks[] = {255, 256, 257, 513};
    for (int t = 0; t < 4; t++)
        for (int ki = 0; ki < 4; ki++) {
            struct gcase c = {145, 33 + 16 * ki, ks[ki], t & 1, t >> 1, 1.0f, ki == 1 ? 0.0f : 1.0f,
                              ki == 2};
            double err = run_case(&c, path, nth, &r);
            ck_assert_msg(err < 1e-5, "m=%d n=%d k=%d ta=%d tb=%d: err %g", c.m, c.n, c.k, c.ta,
                          c.tb, err);
        }
}

START_TEST(gemm_portable_1t) { sweep(NN_ISA_SCALAR, 1); }
END_TEST
START_TEST(gemm_avx2_1t) { sweep(NN_ISA_AVX2, 1); }
END_TEST
START_TEST(gemm_avx2_2t) {
    nn_pool_init(2);
    sweep(NN_ISA_AVX2, 2);
}
END_TEST
START_TEST(gemm_3t_grid) {
    nn_pool_init(3);
    sweep(nn_isa(), 3);
    nn_pool_init(2);
}
END_TEST

/* Small m·n with a long k takes the k-split path: partial products summed in thread order. */
START_TEST(gemm_ksplit) {
    nn_pool_init(2);
    struct nn_rng r;
    nn_rng_seed(&r, 99);
    for (int t = 0; t < 4; t++) {
        struct gcase c = {7, 13, 5000, t & 1, t >> 1, 1.0f, t == 2 ? 0.0f : 1.0f, t == 3};
        double err = run_case(&c, nn_isa(), 2, &r);
        ck_assert_msg(err < 1e-5, "k-split ta=%d tb=%d: err %g", c.ta, c.tb, err);
    }
}
END_TEST

/* Bitwise identical results for the same thread count, run after run. */
START_TEST(gemm_deterministic) {
    nn_pool_init(2);
    struct nn_rng r;
    nn_rng_seed(&r, 5);
    int m = 300, n = 200, k = 700;
    /* big enough for the 300×700 · 700×200 case and the 40×20000 k-split case */
    float *a = nn_alloc_floats(800000), *b = nn_alloc_floats(800000);
    float *c1 = nn_alloc_floats((size_t)m * n), *c2 = nn_alloc_floats((size_t)m * n);
    tu_fill(&r, a, 800000, -1, 1);
    tu_fill(&r, b, 800000, -1, 1);
    nn_sgemm(0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c1, n);
    nn_sgemm(0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c2, n);
    ck_assert_int_eq(memcmp(c1, c2, (size_t)m * n * sizeof(float)), 0);
    nn_sgemm(1, 0, 40, 40, 20000, 1.0f, a, 40, b, 40, 0.0f, c1, 40);
    nn_sgemm(1, 0, 40, 40, 20000, 1.0f, a, 40, b, 40, 0.0f, c2, 40);
    ck_assert_int_eq(memcmp(c1, c2, 1600 * sizeof(float)), 0);
    nn_free(a);
    nn_free(b);
    nn_free(c1);
    nn_free(c2);
}
END_TEST

START_TEST(gemm_degenerate) {
    float c[4] = {1, 2, 3, 4}, a[1] = {0}, b[1] = {0};
    nn_sgemm(0, 0, 2, 2, 0, 1.0f, a, 1, b, 2, 0.5f, c, 2); /* k = 0: C = beta·C */
    ck_assert_float_eq(c[3], 2.0f);
    nn_sgemm(0, 0, 0, 2, 3, 1.0f, a, 1, b, 2, 0.0f, c, 2); /* m = 0: nothing */
    ck_assert_float_eq(c[0], 0.5f);
}
END_TEST

Suite *suite_nn_gemm(void) {
    Suite *s = suite_create("nn_gemm");
    TCase *tc = tcase_create("gemm");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gemm_portable_1t);
    tcase_add_test(tc, gemm_avx2_1t);
    tcase_add_test(tc, gemm_avx2_2t);
    tcase_add_test(tc, gemm_3t_grid);
    tcase_add_test(tc, gemm_ksplit);
    tcase_add_test(tc, gemm_deterministic);
    tcase_add_test(tc, gemm_degenerate);
    suite_add_tcase(s, tc);
    return s;
}
