/* nn core: PRNG, thread pool, static partition, errors, schedules, optimizers. */
#include <check.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "nn/error.h"
#include "nn/optim.h"
#include "nn/pool.h"
#include "nn/rng.h"
#include "tests/testutil.h"

START_TEST(rng_repeatable_and_split) {
    struct nn_rng a, b, c1, c2;
    nn_rng_seed(&a, 42);
    nn_rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++) ck_assert_uint_eq(nn_rng_u64(&a), nn_rng_u64(&b));
    nn_rng_seed(&b, 43);
    ck_assert_uint_ne(nn_rng_u64(&a), nn_rng_u64(&b));
    nn_rng_split(&c1, &a, 0);
    nn_rng_split(&c2, &a, 1);
    ck_assert_uint_ne(nn_rng_u64(&c1), nn_rng_u64(&c2));
}
END_TEST

START_TEST(rng_distributions) {
    struct nn_rng r;
    nn_rng_seed(&r, 7);
    double s = 0, s2 = 0, u = 0;
    int n = 200000, counts[10] = {0};
    for (int i = 0; i < n; i++) {
        double z = nn_rng_normal(&r);
        s += z;
        s2 += z * z;
        float f = nn_rng_uniform(&r);
        ck_assert(f >= 0.0f && f < 1.0f);
        u += f;
        counts[nn_rng_below(&r, 10)]++;
    }
    ck_assert_double_lt(fabs(s / n), 0.01);
    ck_assert_double_lt(fabs(s2 / n - 1.0), 0.02);
    ck_assert_double_lt(fabs(u / n - 0.5), 0.005);
    for (int k = 0; k < 10; k++) ck_assert_int_gt(counts[k], n / 10 - 1000);
    int perm[100];
    for (int i = 0; i < 100; i++) perm[i] = i;
    nn_rng_shuffle_int(&r, perm, 100);
    int seen[100] = {0}, moved = 0;
    for (int i = 0; i < 100; i++) {
        seen[perm[i]]++;
        moved += perm[i] != i;
    }
    for (int i = 0; i < 100; i++) ck_assert_int_eq(seen[i], 1);
    ck_assert_int_gt(moved, 80);
}
END_TEST

START_TEST(split_covers_exactly) {
    for (size_t n = 0; n < 50; n++)
        for (int parts = 1; parts <= 7; parts++)
            for (size_t align = 1; align <= 6; align += 5) {
                size_t next = 0;
                for (int i = 0; i < parts; i++) {
                    size_t lo, hi;
                    nn_split(n, parts, i, align, &lo, &hi);
                    ck_assert_uint_eq(lo, next);
                    ck_assert_uint_le(lo, hi);
                    if (hi < n) ck_assert_uint_eq(hi % align, 0);
                    next = hi;
                }
                ck_assert_uint_eq(next, n);
            }
}
END_TEST

static atomic_int hits[8];
static void count_task(void *arg, int tid, int nth) {
    (void)arg;
    ck_assert_int_lt(tid, nth);
    atomic_fetch_add(&hits[tid], 1);
}

struct sum_ctx {
    const int *v;
    long part[8];
};
static void sum_range(void *p, size_t lo, size_t hi, int tid) {
    struct sum_ctx *c = p;
    for (size_t i = lo; i < hi; i++) c->part[tid] += c->v[i];
}

START_TEST(pool_runs_every_tid) {
    nn_pool_init(3);
    ck_assert_int_eq(nn_pool_size(), 3);
    for (int rep = 0; rep < 2000; rep++) nn_pool_run(count_task, NULL, 3);
    for (int t = 0; t < 3; t++) ck_assert_int_eq(atomic_load(&hits[t]), 2000);
    static int v[100000];
    long want = 0;
    for (int i = 0; i < 100000; i++) want += v[i] = i % 97;
    struct sum_ctx c = {v, {0}};
    nn_parallel_for(100000, 1000, sum_range, &c);
    ck_assert_int_eq(c.part[0] + c.part[1] + c.part[2], want);
    nn_pool_init(2);
}
END_TEST

static void nested_task(void *arg, int tid, int nth) {
    (void)nth;
    int *out = arg;
    /* a region inside a region runs serially on this thread, with the same partition */
    struct sum_ctx c = {NULL, {0}};
    static const int ones[64] = {[0 ... 63] = 1};
    c.v = ones;
    nn_parallel_for(64, 1, sum_range, &c);
    out[tid] = (int)(c.part[0] + c.part[1] + c.part[2] + c.part[3]);
}

START_TEST(pool_nested_regions) {
    nn_pool_init(2);
    int out[2] = {0, 0};
    nn_pool_run(nested_task, out, 2);
    ck_assert_int_eq(out[0], 64);
    ck_assert_int_eq(out[1], 64);
}
END_TEST

START_TEST(error_messages) {
    nn_err_clear();
    ck_assert_str_eq(nn_errmsg(), "");
    ck_assert_int_eq(nn_err("bad %s at %d", "header", 12), -1);
    ck_assert_str_eq(nn_errmsg(), "bad header at 12");
    nn_err_ctx("%s: ", "model.pth");
    ck_assert_str_eq(nn_errmsg(), "model.pth: bad header at 12");
}
END_TEST

START_TEST(schedules) {
    struct nn_sched s = {NN_SCHED_COSINE, 0.1, 0.0, 0, 10, 0, 0};
    ck_assert_double_eq_tol(nn_sched_lr(&s, 0, 1), 0.1, 1e-12);
    ck_assert_double_eq_tol(nn_sched_lr(&s, 5, 1), 0.05, 1e-12);
    ck_assert_double_eq_tol(nn_sched_lr(&s, 10, 1), 0.0, 1e-12);
    ck_assert_double_eq_tol(nn_sched_lr(&s, 50, 10), 0.05, 1e-12); /* per iteration */
    ck_assert_double_eq_tol(nn_sched_lr(&s, 25, 10), 0.05 * (1 + cos(M_PI / 4)), 1e-12);
    s.warmup = 2;
    ck_assert_double_eq_tol(nn_sched_lr(&s, 0, 1), 0.05, 1e-12);
    ck_assert_double_eq_tol(nn_sched_lr(&s, 1, 1), 0.1, 1e-12);
    ck_assert_double_eq_tol(nn_sched_lr(&s, 2, 1), 0.1, 1e-12);
    ck_assert_double_eq_tol(nn_sched_lr(&s, 3, 4), 0.1 * 4 / 8, 1e-12);
    ck_assert_int_eq(nn_sched_parse(&s, "step:3:0.5"), 0);
    s.warmup = 0;
    ck_assert_double_eq_tol(nn_sched_lr(&s, 2, 1), 0.1, 1e-12);
    ck_assert_double_eq_tol(nn_sched_lr(&s, 3, 1), 0.05, 1e-12);
    ck_assert_double_eq_tol(nn_sched_lr(&s, 7, 1), 0.025, 1e-12);
    ck_assert_int_eq(nn_sched_parse(&s, "exp:0.8"), 0);
    ck_assert_double_eq_tol(nn_sched_lr(&s, 2, 1), 0.1 * 0.64, 1e-12);
    ck_assert_double_eq_tol(nn_sched_lr(&s, 29, 10), 0.1 * 0.64, 1e-12);
    ck_assert_int_eq(nn_sched_parse(&s, "step:0:1"), -1);
    ck_assert_int_eq(nn_sched_parse(&s, "warm"), -1);
}
END_TEST

/* One tensor with decay, one without: the optimizers against hand-computed PyTorch steps. */
START_TEST(optimizers_match_formulas) {
    float data[32] = {1.0f, -2.0f}, grad[32] = {0.5f, 0.25f};
    data[16] = 3.0f;
    grad[16] = -1.0f;
    struct nn_param t[2] = {{.off = 0, .numel = 2, .decay = 1}, {.off = 16, .numel = 1}};
    struct nn_param_set ps = {data, grad, 32, t, 2};
    struct nn_sgd o;
    ck_assert_int_eq(nn_sgd_init(&o, 32, 0.1f, 0.9f, 0.01f, 0), 0);
    nn_sgd_step(&o, &ps);
    /* w0: g = 0.5 + 0.01·1 = 0.51, v = 0.51, w = 1 − 0.051 */
    ck_assert_float_eq_tol(data[0], 0.949f, 1e-6f);
    ck_assert_float_eq_tol(data[16], 3.1f, 1e-6f); /* no decay on the second tensor */
    nn_sgd_step(&o, &ps);
    /* v = 0.9·0.51 + (0.5 + 0.01·0.949) = 0.96849, w = 0.949 − 0.096849 */
    ck_assert_float_eq_tol(data[0], 0.852151f, 1e-6f);
    nn_sgd_free(&o);

    float d2[16] = {1.0f}, g2[16] = {0.5f};
    struct nn_param t2 = {.off = 0, .numel = 1, .decay = 1};
    struct nn_param_set ps2 = {d2, g2, 16, &t2, 1};
    struct nn_adam a;
    ck_assert_int_eq(nn_adam_init(&a, 16, 0.01f, 0.9f, 0.999f, 1e-8f, 0.0f), 0);
    nn_adam_step(&a, &ps2);
    /* first Adam step moves by lr·sign(g) (bias-corrected m/√v = 1) */
    ck_assert_float_eq_tol(d2[0], 0.99f, 1e-6f);
    nn_adam_step(&a, &ps2);
    ck_assert_float_eq_tol(d2[0], 0.98f, 1e-5f);
    nn_adam_free(&a);
}
END_TEST

Suite *suite_nn_core(void) {
    Suite *s = suite_create("nn_core");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, rng_repeatable_and_split);
    tcase_add_test(tc, rng_distributions);
    tcase_add_test(tc, split_covers_exactly);
    tcase_add_test(tc, pool_runs_every_tid);
    tcase_add_test(tc, pool_nested_regions);
    tcase_add_test(tc, error_messages);
    tcase_add_test(tc, schedules);
    tcase_add_test(tc, optimizers_match_formulas);
    suite_add_tcase(s, tc);
    return s;
}
