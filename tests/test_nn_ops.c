/* Layers: every op's backward against double-precision central differences of its forward
 * (on small odd shapes: stride 2, padding, groups, depthwise, channel tails), and every
 * optimized kernel against its plain reference. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/conv.h"
#include "nn/cpu.h"
#include "nn/dwconv.h"
#include "nn/layers.h"
#include "nn/pool.h"
#include "nn/tensor.h"
#include "tests/testutil.h"

/* ---- the gradient-check harness --------------------------------------------------------------
 * L = Σ r·y for a fixed random r; backward with dy = r must give ∂L/∂v for every variable v.
 * The numerical derivative is (L(v+ε) − L(v−ε)) / 2ε with L summed in double. */

struct gc_var {
    const char *name;
    float *x, *dx;
    size_t n;
};

struct gc {
    void (*fwd)(void *ctx);
    void (*bwd)(void *ctx); /* reads dy, writes (or adds to zeroed) the dx of every variable */
    void *ctx;
    float *y, *dy;
    size_t ny;
};

static double loss_of(const struct gc *g) {
    g->fwd(g->ctx);
    double l = 0;
    for (size_t i = 0; i < g->ny; i++) l += (double)g->dy[i] * g->y[i];
    return l;
}

/* Check up to `samples` entries of each variable (all when fewer). */
static void grad_check(const char *what, const struct gc *g, struct gc_var *v, int nv,
                       double eps, double atol, double rtol, int samples) {
    struct nn_rng r;
    nn_rng_seed(&r, 77);
    tu_fill(&r, g->dy, g->ny, -1, 1);
    g->fwd(g->ctx);
    for (int k = 0; k < nv; k++)
        if (v[k].dx) memset(v[k].dx, 0, v[k].n * sizeof(float));
    g->bwd(g->ctx);
    for (int k = 0; k < nv; k++) {
        if (!v[k].dx) continue;
        float *ana = malloc(v[k].n * sizeof(float));
        memcpy(ana, v[k].dx, v[k].n * sizeof(float));
        size_t step = v[k].n > (size_t)samples ? v[k].n / (size_t)samples : 1;
        for (size_t i = (size_t)nn_rng_below(&r, step); i < v[k].n; i += step) {
            float keep = v[k].x[i];
            v[k].x[i] = (float)(keep + eps);
            double lp = loss_of(g);
            v[k].x[i] = (float)(keep - eps);
            double lm = loss_of(g);
            v[k].x[i] = keep;
            double num = (lp - lm) / (2 * eps), a = ana[i];
            ck_assert_msg(fabs(num - a) <= atol + rtol * fmax(fabs(num), fabs(a)),
                          "%s: d/d%s[%zu]: analytic %.6g, numeric %.6g", what, v[k].name, i, a,
                          num);
        }
        free(ana);
    }
}

/* ---- convolution ------------------------------------------------------------------------------ */

struct conv_ctx {
    struct nn_conv_shape s;
    float *x, *w, *b, *y, *dx, *dw, *db, *dy, *scratch;
};

static void conv_fwd(void *p) {
    struct conv_ctx *c = p;
    nn_conv_forward(&c->s, c->y, c->x, c->w, c->b, c->scratch);
}

static void conv_bwd(void *p) {
    struct conv_ctx *c = p;
    ck_assert_int_eq(nn_conv_backward(&c->s, c->dx, 0, c->dw, c->db, c->dy, c->x, c->w,
                                      c->scratch),
                     0);
}

static void conv_ctx_init(struct conv_ctx *c, int n, int h, int w, int cin, int cout, int kh,
                          int kw, int s, int ph, int pw, int groups, int bias) {
    ck_assert_int_eq(nn_conv_shape_init(&c->s, n, h, w, cin, cout, kh, kw, s, ph, pw, groups),
                     0);
    size_t nx = (size_t)n * h * w * cin, ny = (size_t)n * c->s.ho * c->s.wo * cout;
    size_t nw = (size_t)kh * kw * (cin / groups) * cout;
    c->x = nn_alloc_floats(nx);
    c->dx = nn_alloc_floats(nx);
    c->w = nn_alloc_floats(nw);
    c->dw = nn_alloc_floats(nw);
    c->b = bias ? nn_alloc_floats((size_t)cout) : NULL;
    c->db = bias ? nn_alloc_floats((size_t)cout) : NULL;
    c->y = nn_alloc_floats(ny);
    c->dy = nn_alloc_floats(ny);
    size_t ns = nn_conv_scratch_floats(&c->s);
    c->scratch = ns ? nn_alloc_floats(ns) : NULL;
    struct nn_rng r;
    nn_rng_seed(&r, (uint64_t)(n * 131 + h * 17 + cin * 7 + kh + s * 3 + groups));
    tu_fill(&r, c->x, nx, -1, 1);
    tu_fill(&r, c->w, nw, -1, 1);
    if (bias) tu_fill(&r, c->b, (size_t)cout, -1, 1);
}

static void conv_ctx_free(struct conv_ctx *c) {
    nn_free(c->x);
    nn_free(c->dx);
    nn_free(c->w);
    nn_free(c->dw);
    nn_free(c->b);
    nn_free(c->db);
    nn_free(c->y);
    nn_free(c->dy);
    nn_free(c->scratch);
}

static void check_conv_grad(int n, int h, int w, int cin, int cout, int kh, int kw, int s,
                            int ph, int pw, int groups, int bias) {
    struct conv_ctx c;
    conv_ctx_init(&c, n, h, w, cin, cout, kh, kw, s, ph, pw, groups, bias);
    struct gc g = {conv_fwd, conv_bwd, &c, c.y, c.dy,
                   (size_t)n * c.s.ho * c.s.wo * cout};
    struct gc_var v[3] = {{"x", c.x, c.dx, (size_t)n * h * w * cin},
                          {"w", c.w, c.dw, (size_t)kh * kw * (cin / groups) * cout},
                          {"b", c.b, c.db, bias ? (size_t)cout : 0}};
    char what[128];
    snprintf(what, sizeof what, "conv n%d %dx%dx%d→%d k%dx%d s%d p%d,%d g%d (%s)", n, h, w,
             cin, cout, kh, kw, s, ph, pw, groups, nn_isa_name(nn_isa()));
    grad_check(what, &g, v, bias ? 3 : 2, 1e-2, 2e-3, 2e-3, 60);
    conv_ctx_free(&c);
}

static void conv_grad_all(void) {
    check_conv_grad(2, 7, 5, 3, 4, 3, 3, 1, 1, 1, 1, 1); /* im2col, padding, bias */
    check_conv_grad(2, 7, 6, 3, 5, 3, 3, 2, 1, 1, 1, 0); /* stride 2 */
    check_conv_grad(1, 5, 7, 4, 6, 1, 3, 1, 0, 1, 2, 1); /* 1×3, groups 2, uneven padding */
    check_conv_grad(2, 5, 5, 5, 7, 1, 1, 1, 0, 0, 1, 1); /* direct 1×1 */
    check_conv_grad(2, 5, 5, 6, 4, 1, 1, 1, 0, 0, 2, 0); /* direct 1×1, groups */
    check_conv_grad(2, 7, 7, 4, 8, 1, 1, 2, 0, 0, 1, 0); /* 1×1 stride 2 (ResNet downsample) */
    check_conv_grad(1, 9, 7, 11, 11, 3, 3, 1, 1, 1, 11, 1); /* depthwise, channel tail */
    check_conv_grad(2, 9, 8, 11, 11, 3, 3, 2, 1, 1, 11, 0); /* depthwise stride 2 */
    check_conv_grad(1, 9, 9, 9, 9, 5, 5, 2, 2, 2, 9, 1);    /* depthwise 5×5 */
    check_conv_grad(1, 6, 6, 16, 16, 3, 3, 1, 0, 0, 16, 0); /* depthwise, no padding */
}

START_TEST(conv_grad_portable) {
    nn_isa_set(NN_ISA_SCALAR);
    conv_grad_all();
}
END_TEST

START_TEST(conv_grad_simd) {
    nn_isa_set(NN_ISA_AVX2);
    conv_grad_all();
}
END_TEST

/* Optimized forward and backward against the reference loops, every path, shapes at the
 * SIMD and tiling edges; din accumulation (accum = 1) included. */
static void conv_vs_ref(int n, int h, int w, int cin, int cout, int k, int s, int p,
                        int groups, int bias) {
    struct conv_ctx c;
    conv_ctx_init(&c, n, h, w, cin, cout, k, k, s, p, p, groups, bias);
    size_t nx = (size_t)n * h * w * cin, ny = (size_t)n * c.s.ho * c.s.wo * cout;
    size_t nw = (size_t)k * k * (cin / groups) * cout;
    float *y0 = nn_alloc_floats(ny), *dx0 = nn_alloc_floats(nx), *dw0 = nn_alloc_floats(nw);
    float *db0 = nn_alloc_floats((size_t)cout);
    struct nn_rng r;
    nn_rng_seed(&r, 3);
    tu_fill(&r, c.dy, ny, -1, 1);
    tu_fill(&r, c.dx, nx, -1, 1);
    memcpy(dx0, c.dx, nx * sizeof(float));
    nn_conv_forward(&c.s, c.y, c.x, c.w, c.b, c.scratch);
    nn_conv_forward_ref(&c.s, y0, c.x, c.w, c.b);
    double e = tu_rel_err(c.y, y0, ny, 1.0);
    ck_assert_msg(e < 1e-5, "conv fwd %dx%dx%d→%d k%d s%d p%d g%d: err %g", h, w, cin, cout, k,
                  s, p, groups, e);
    ck_assert_int_eq(nn_conv_backward(&c.s, c.dx, 1, c.dw, bias ? c.db : NULL, c.dy, c.x, c.w,
                                      c.scratch),
                     0);
    nn_conv_backward_ref(&c.s, dx0, 1, dw0, bias ? db0 : NULL, c.dy, c.x, c.w);
    e = tu_rel_err(c.dx, dx0, nx, 1.0);
    ck_assert_msg(e < 1e-5, "conv dx %dx%dx%d→%d k%d s%d p%d g%d: err %g", h, w, cin, cout, k,
                  s, p, groups, e);
    e = tu_rel_err(c.dw, dw0, nw, 1.0);
    ck_assert_msg(e < 1e-5, "conv dw %dx%dx%d→%d k%d s%d p%d g%d: err %g", h, w, cin, cout, k,
                  s, p, groups, e);
    if (bias) ck_assert_double_lt(tu_rel_err(c.db, db0, (size_t)cout, 1.0), 1e-5);
    nn_free(y0);
    nn_free(dx0);
    nn_free(dw0);
    nn_free(db0);
    conv_ctx_free(&c);
}

static void conv_ref_sweep(void) {
    static const int chans[] = {1, 7, 8, 9, 17, 32};
    static const int sizes[] = {1, 2, 5, 8, 13};
    for (int ci = 0; ci < 6; ci++)
        for (int si = 0; si < 5; si++) {
            int c = chans[ci], hw = sizes[si];
            for (int k = 1; k <= 5; k += 2)
                for (int s = 1; s <= 2; s++) {
                    int p = k / 2;
                    if (hw + 2 * p < k) continue;
                    conv_vs_ref(2, hw, hw + 1, c, c, k, s, p, c, (k + s) & 1); /* depthwise */
                    if (ci % 2 == 0)
                        conv_vs_ref(2, hw, hw, c, c + 3, k, s, p, 1, s == 1); /* dense */
                }
        }
    conv_vs_ref(2, 6, 6, 8, 12, 3, 1, 1, 4, 1);   /* grouped */
    conv_vs_ref(2, 13, 11, 3, 8, 7, 2, 3, 1, 1);  /* the ResNet stem: 7×7/2, 3 channels */
    conv_vs_ref(1, 9, 9, 16, 24, 1, 2, 0, 1, 0);  /* 1×1 stride 2 (downsample) */
    conv_vs_ref(3, 9, 9, 24, 40, 1, 1, 0, 1, 0); /* direct 1×1 */
}

START_TEST(conv_vs_reference) {
    for (int t = 1; t <= 2; t++) {
        nn_pool_init(t);
        nn_isa_set(NN_ISA_SCALAR);
        conv_ref_sweep();
        nn_isa_set(NN_ISA_AVX2);
        conv_ref_sweep();
    }
}
END_TEST

/* The depthwise row kernels of each ISA agree with each other to rounding. */
START_TEST(dwconv_kernels_agree) {
#ifndef HAQ_NOSIMD
    static const int chans[] = {3, 8, 13, 24, 40};
    for (int ci = 0; ci < 5; ci++)
        for (int s = 1; s <= 2; s++)
            for (int k = 3; k <= 5; k += 2) {
                struct nn_conv_shape sh;
                int C = chans[ci], H = 11, W = 10;
                ck_assert_int_eq(nn_conv_shape_init(&sh, 1, H, W, C, C, k, k, s, k / 2, k / 2,
                                                    C),
                                 0);
                size_t nx = (size_t)H * W * C, nrow = (size_t)sh.wo * C, nw = (size_t)k * k * C;
                float *x = nn_alloc_floats(nx), *w = nn_alloc_floats(nw);
                float *b = nn_alloc_floats((size_t)C), *o1 = nn_alloc_floats(nrow);
                float *o2 = nn_alloc_floats(nrow), *dyi = nn_alloc_floats((size_t)sh.ho * nrow);
                float *w1 = nn_alloc_floats(nw + C), *w2 = nn_alloc_floats(nw + C);
                float *d1 = nn_alloc_floats((size_t)W * C), *d2 = nn_alloc_floats((size_t)W * C);
                struct nn_rng r;
                nn_rng_seed(&r, (uint64_t)(C * 10 + s + k));
                tu_fill(&r, x, nx, -1, 1);
                tu_fill(&r, w, nw, -1, 1);
                tu_fill(&r, b, (size_t)C, -1, 1);
                tu_fill(&r, dyi, (size_t)sh.ho * nrow, -1, 1);
                for (int y = 0; y < sh.ho; y++) {
                    nn_dw_generic.fwd(&sh, o1, x, y, w, b);
                    nn_dw_avx2.fwd(&sh, o2, x, y, w, b);
                    ck_assert_double_lt(tu_rel_err(o2, o1, nrow, 1.0), 1e-6);
                    nn_dw_generic.bwdw(&sh, w1, w1 + nw, dyi + (size_t)y * nrow, x, y);
                    nn_dw_avx2.bwdw(&sh, w2, w2 + nw, dyi + (size_t)y * nrow, x, y);
                }
                ck_assert_double_lt(tu_rel_err(w2, w1, nw + C, 1.0), 1e-5);
                for (int yy = 0; yy < H; yy++) {
                    nn_dw_generic.bwdd(&sh, d1, dyi, yy, w, 0);
                    nn_dw_avx2.bwdd(&sh, d2, dyi, yy, w, 0);
                    ck_assert_double_lt(tu_rel_err(d2, d1, (size_t)W * C, 1.0), 1e-6);
                }
                nn_free(x);
                nn_free(w);
                nn_free(b);
                nn_free(o1);
                nn_free(o2);
                nn_free(dyi);
                nn_free(w1);
                nn_free(w2);
                nn_free(d1);
                nn_free(d2);
            }
#endif
}
END_TEST

/* ---- batch norm --------------------------------------------------------------------------------- */

struct bn_ctx {
    size_t rows;
    int C, train;
    enum nn_act act;
    float *x, *y, *gamma, *beta, *rm, *rv, *mean, *invstd;
    float *dx, *dgamma, *dbeta, *dy;
};

static void bn_fwd(void *p) {
    struct bn_ctx *c = p;
    if (c->train)
        ck_assert_int_eq(nn_bn_forward_train(c->y, c->x, c->rows, c->C, c->gamma, c->beta, NULL,
                                             NULL, 0.1f, 1e-5f, c->mean, c->invstd, c->act),
                         0);
    else
        ck_assert_int_eq(nn_bn_forward_eval(c->y, c->x, c->rows, c->C, c->gamma, c->beta, c->rm,
                                            c->rv, 1e-5f, c->mean, c->invstd, c->act),
                         0);
}

static void bn_bwd(void *p) {
    struct bn_ctx *c = p;
    ck_assert_int_eq(nn_bn_backward(c->dx, 0, c->dgamma, c->dbeta, c->dy, c->x, c->rows, c->C,
                                    c->gamma, c->beta, c->mean, c->invstd, c->act, c->train),
                     0);
}

static void check_bn(size_t rows, int C, int train, enum nn_act act) {
    struct bn_ctx c = {rows, C, train, act, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                       NULL, NULL, NULL, NULL};
    size_t n = rows * C;
    c.x = nn_alloc_floats(n);
    c.y = nn_alloc_floats(n);
    c.dx = nn_alloc_floats(n);
    c.dy = nn_alloc_floats(n);
    c.gamma = nn_alloc_floats((size_t)C);
    c.beta = nn_alloc_floats((size_t)C);
    c.rm = nn_alloc_floats((size_t)C);
    c.rv = nn_alloc_floats((size_t)C);
    c.mean = nn_alloc_floats((size_t)C);
    c.invstd = nn_alloc_floats((size_t)C);
    c.dgamma = nn_alloc_floats((size_t)C);
    c.dbeta = nn_alloc_floats((size_t)C);
    struct nn_rng r;
    nn_rng_seed(&r, rows * 31 + (size_t)C + (size_t)act);
    tu_fill(&r, c.gamma, (size_t)C, 0.5f, 3.0f);
    tu_fill(&r, c.beta, (size_t)C, -1.0f, 4.0f);
    tu_fill(&r, c.rm, (size_t)C, -0.5f, 0.5f);
    tu_fill(&r, c.rv, (size_t)C, 0.5f, 2.0f);
    /* resample until no pre-activation sits within 0.02 of a kink (0 and 6) */
    int ok = 0;
    for (int attempt = 0; attempt < 10000 && !ok; attempt++) {
        tu_fill(&r, c.x, n, -2.0f, 2.0f);
        bn_fwd(&c);
        ok = 1;
        for (size_t i = 0; i < n && act != NN_ACT_NONE; i++) {
            int ch = (int)(i % (size_t)C);
            float z = (c.x[i] - c.mean[ch]) * c.invstd[ch] * c.gamma[ch] + c.beta[ch];
            if (fabsf(z) < 0.02f || (act == NN_ACT_RELU6 && fabsf(z - 6.0f) < 0.02f)) ok = 0;
        }
    }
    ck_assert_msg(ok, "no kink-free sample found");
    struct gc g = {bn_fwd, bn_bwd, &c, c.y, c.dy, n};
    struct gc_var v[3] = {{"x", c.x, c.dx, n},
                          {"gamma", c.gamma, c.dgamma, (size_t)C},
                          {"beta", c.beta, c.dbeta, (size_t)C}};
    char what[96];
    snprintf(what, sizeof what, "bn rows=%zu C=%d train=%d act=%d", rows, C, train, (int)act);
    grad_check(what, &g, v, 3, 1e-3, 2e-3, 5e-3, 80);
    nn_free(c.x);
    nn_free(c.y);
    nn_free(c.dx);
    nn_free(c.dy);
    nn_free(c.gamma);
    nn_free(c.beta);
    nn_free(c.rm);
    nn_free(c.rv);
    nn_free(c.mean);
    nn_free(c.invstd);
    nn_free(c.dgamma);
    nn_free(c.dbeta);
}

START_TEST(bn_grad) {
    for (int train = 0; train <= 1; train++)
        for (int act = 0; act <= 2; act++) check_bn(37, 5, train, (enum nn_act)act);
    check_bn(300, 3, 1, NN_ACT_RELU6); /* rows over the 256-row thread grain */
}
END_TEST

/* Statistics and running averages against a double-precision reference. */
START_TEST(bn_statistics) {
    size_t rows = 100003;
    int C = 19;
    float *x = nn_alloc_floats(rows * C), *y = nn_alloc_floats(rows * C);
    float g[19], b[19], rm[19], rv[19], m[19], is[19];
    struct nn_rng r;
    nn_rng_seed(&r, 11);
    for (size_t i = 0; i < rows * C; i++) x[i] = 3.0f + 0.5f * (float)nn_rng_normal(&r);
    for (int c = 0; c < C; c++) {
        g[c] = 1.0f;
        b[c] = 0.0f;
        rm[c] = 1.0f;
        rv[c] = 2.0f;
    }
    ck_assert_int_eq(nn_bn_forward_train(y, x, rows, C, g, b, rm, rv, 0.1f, 1e-5f, m, is,
                                         NN_ACT_NONE),
                     0);
    for (int c = 0; c < C; c++) {
        double s = 0, s2 = 0;
        for (size_t i = 0; i < rows; i++) s += x[i * C + c];
        double mean = s / rows;
        for (size_t i = 0; i < rows; i++) s2 += (x[i * C + c] - mean) * (x[i * C + c] - mean);
        double var = s2 / rows;
        ck_assert_double_lt(fabs(m[c] - mean), 1e-5);
        ck_assert_double_lt(fabs(is[c] - 1.0 / sqrt(var + 1e-5)) / is[c], 1e-5);
        ck_assert_double_lt(fabs(rm[c] - (0.9 + 0.1 * mean)), 1e-5);
        ck_assert_double_lt(fabs(rv[c] - (1.8 + 0.1 * var * rows / (rows - 1))), 1e-5);
        double ym = 0;
        for (size_t i = 0; i < rows; i++) ym += y[i * C + c];
        ck_assert_double_lt(fabs(ym / rows), 1e-4);
    }
    nn_free(x);
    nn_free(y);
}
END_TEST

/* ---- elementwise, pooling, linear, loss -------------------------------------------------------- */

struct ew_ctx {
    size_t n;
    enum nn_act act;
    float *a, *b, *y, *da, *db, *dy, *mask;
    /* pooling */
    int N, H, W, C, k, s, p, ho, wo;
    int32_t *arg;
    /* linear */
    int in_f, out_f;
    float *w, *bias, *dw, *dbias;
};

static void act_fwd(void *p) {
    struct ew_ctx *c = p;
    nn_act_forward(c->y, c->a, c->n, c->act);
}
static void act_bwd(void *p) {
    struct ew_ctx *c = p;
    nn_act_backward(c->da, 0, c->dy, c->y, c->n, c->act);
}
static void add_fwd(void *p) {
    struct ew_ctx *c = p;
    nn_add_forward(c->y, c->a, c->b, c->n);
}
static void add_bwd(void *p) {
    struct ew_ctx *c = p;
    nn_grad_pass(c->da, 0, c->dy, c->n);
    nn_grad_pass(c->db, 1, c->dy, c->n); /* accum path: adds to the zeroed buffer */
}
static void mp_fwd(void *p) {
    struct ew_ctx *c = p;
    nn_maxpool_forward(c->y, c->arg, c->a, c->N, c->H, c->W, c->C, c->k, c->s, c->p, c->ho,
                       c->wo);
}
static void mp_bwd(void *p) {
    struct ew_ctx *c = p;
    nn_maxpool_backward(c->da, 0, c->dy, c->arg, c->N, c->H, c->W, c->C, c->ho, c->wo);
}
static void ap_fwd(void *p) {
    struct ew_ctx *c = p;
    nn_avgpool_forward(c->y, c->a, c->N, c->H * c->W, c->C);
}
static void ap_bwd(void *p) {
    struct ew_ctx *c = p;
    nn_avgpool_backward(c->da, 0, c->dy, c->N, c->H * c->W, c->C);
}
static void fc_fwd(void *p) {
    struct ew_ctx *c = p;
    nn_linear_forward(c->y, c->a, c->w, c->bias, c->N, c->in_f, c->out_f);
}
static void fc_bwd(void *p) {
    struct ew_ctx *c = p;
    ck_assert_int_eq(nn_linear_backward(c->da, 0, c->dw, c->dbias, c->dy, c->a, c->w, c->N,
                                        c->in_f, c->out_f),
                     0);
}
static void do_fwd(void *p) {
    struct ew_ctx *c = p;
    for (size_t i = 0; i < c->n; i++) c->y[i] = c->a[i] * c->mask[i];
}
static void do_bwd(void *p) {
    struct ew_ctx *c = p;
    nn_dropout_backward(c->da, 0, c->dy, c->mask, c->n, 1);
}

static float *buf(size_t n) { return nn_alloc_floats(n ? n : 1); }

START_TEST(act_add_grad) {
    struct nn_rng r;
    nn_rng_seed(&r, 8);
    struct ew_ctx c = {0};
    c.n = 97;
    c.a = buf(c.n);
    c.b = buf(c.n);
    c.y = buf(c.n);
    c.da = buf(c.n);
    c.db = buf(c.n);
    c.dy = buf(c.n);
    for (int act = 1; act <= 2; act++) {
        c.act = (enum nn_act)act;
        /* values spread over both kinks, none within 0.05 of one */
        for (size_t i = 0; i < c.n; i++) {
            float v;
            do v = -2.0f + 10.0f * nn_rng_uniform(&r);
            while (fabsf(v) < 0.05f || fabsf(v - 6.0f) < 0.05f);
            c.a[i] = v;
        }
        struct gc g = {act_fwd, act_bwd, &c, c.y, c.dy, c.n};
        struct gc_var v = {"x", c.a, c.da, c.n};
        grad_check(act == 1 ? "relu" : "relu6", &g, &v, 1, 1e-2, 1e-4, 1e-4, 97);
    }
    tu_fill(&r, c.a, c.n, -1, 1);
    tu_fill(&r, c.b, c.n, -1, 1);
    struct gc g = {add_fwd, add_bwd, &c, c.y, c.dy, c.n};
    struct gc_var v[2] = {{"a", c.a, c.da, c.n}, {"b", c.b, c.db, c.n}};
    grad_check("add", &g, v, 2, 1e-2, 1e-4, 1e-4, 97);
    nn_free(c.a);
    nn_free(c.b);
    nn_free(c.y);
    nn_free(c.da);
    nn_free(c.db);
    nn_free(c.dy);
}
END_TEST

START_TEST(pool_grad) {
    struct nn_rng r;
    nn_rng_seed(&r, 9);
    static const int cfg[3][3] = {{3, 2, 1}, {2, 2, 0}, {3, 1, 1}};
    for (int t = 0; t < 3; t++) {
        struct ew_ctx c = {0};
        c.N = 2;
        c.H = 7;
        c.W = 6;
        c.C = 3;
        c.k = cfg[t][0];
        c.s = cfg[t][1];
        c.p = cfg[t][2];
        c.ho = (c.H + 2 * c.p - c.k) / c.s + 1;
        c.wo = (c.W + 2 * c.p - c.k) / c.s + 1;
        size_t nx = (size_t)c.N * c.H * c.W * c.C, ny = (size_t)c.N * c.ho * c.wo * c.C;
        c.a = buf(nx);
        c.da = buf(nx);
        c.y = buf(ny);
        c.dy = buf(ny);
        c.arg = (int32_t *)buf(ny);
        /* distinct values at least 0.05 apart so no max changes under ±ε */
        int *perm = malloc(nx * sizeof(int));
        for (size_t i = 0; i < nx; i++) perm[i] = (int)i;
        nn_rng_shuffle_int(&r, perm, nx);
        for (size_t i = 0; i < nx; i++) c.a[i] = 0.05f * (float)perm[i] - 3.0f;
        free(perm);
        struct gc g = {mp_fwd, mp_bwd, &c, c.y, c.dy, ny};
        struct gc_var v = {"x", c.a, c.da, nx};
        grad_check("maxpool", &g, &v, 1, 1e-2, 1e-4, 1e-4, 300);
        struct gc ga = {ap_fwd, ap_bwd, &c, c.y, c.dy, (size_t)c.N * c.C};
        grad_check("avgpool", &ga, &v, 1, 1e-2, 1e-4, 1e-3, 300);
        nn_free(c.a);
        nn_free(c.da);
        nn_free(c.y);
        nn_free(c.dy);
        nn_free(c.arg);
    }
}
END_TEST

START_TEST(linear_dropout_grad) {
    struct nn_rng r;
    nn_rng_seed(&r, 10);
    struct ew_ctx c = {0};
    c.N = 5;
    c.in_f = 23;
    c.out_f = 7;
    c.a = buf((size_t)c.N * c.in_f);
    c.da = buf((size_t)c.N * c.in_f);
    c.w = buf((size_t)c.in_f * c.out_f);
    c.dw = buf((size_t)c.in_f * c.out_f);
    c.bias = buf((size_t)c.out_f);
    c.dbias = buf((size_t)c.out_f);
    float *fc_y = buf((size_t)c.N * c.out_f), *fc_dy = buf((size_t)c.N * c.out_f);
    c.y = fc_y;
    c.dy = fc_dy;
    tu_fill(&r, c.a, (size_t)c.N * c.in_f, -1, 1);
    tu_fill(&r, c.w, (size_t)c.in_f * c.out_f, -1, 1);
    tu_fill(&r, c.bias, (size_t)c.out_f, -1, 1);
    struct gc g = {fc_fwd, fc_bwd, &c, c.y, c.dy, (size_t)c.N * c.out_f};
    struct gc_var v[3] = {{"x", c.a, c.da, (size_t)c.N * c.in_f},
                          {"w", c.w, c.dw, (size_t)c.in_f * c.out_f},
                          {"b", c.bias, c.dbias, (size_t)c.out_f}};
    grad_check("linear", &g, v, 3, 1e-2, 1e-3, 1e-3, 80);
    nn_free(fc_y);
    nn_free(fc_dy);

    /* dropout: mask drawn once; the forward is then linear in x */
    c.n = (size_t)c.N * c.in_f;
    c.mask = buf(c.n);
    float *y = buf(c.n);
    nn_dropout_forward(y, c.mask, c.a, c.n, 0.3f, &r, 1);
    int dropped = 0;
    for (size_t i = 0; i < c.n; i++) {
        ck_assert(c.mask[i] == 0.0f || fabsf(c.mask[i] - 1.0f / 0.7f) < 1e-6f);
        dropped += c.mask[i] == 0.0f;
        ck_assert_float_eq(y[i], c.a[i] * c.mask[i]);
    }
    ck_assert(dropped > 10 && dropped < 60);
    c.y = y;
    c.dy = buf(c.n);
    struct gc gd = {do_fwd, do_bwd, &c, c.y, c.dy, c.n};
    struct gc_var vd = {"x", c.a, c.da, c.n};
    grad_check("dropout", &gd, &vd, 1, 1e-2, 1e-4, 1e-4, 200);
    nn_dropout_forward(y, NULL, c.a, c.n, 0.3f, &r, 0); /* eval: identity */
    for (size_t i = 0; i < c.n; i++) ck_assert_float_eq(y[i], c.a[i]);
    float *bufs[] = {c.a, c.da, c.w, c.dw, c.bias, c.dbias, c.mask, y, c.dy};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) nn_free(bufs[i]);
}
END_TEST

START_TEST(xent_grad_and_topk) {
    enum { N = 4, C = 9 };
    float z[N * C], d[N * C];
    int lab[N] = {0, 3, 8, 5};
    struct nn_rng r;
    nn_rng_seed(&r, 12);
    tu_fill(&r, z, N * C, -3, 3);
    nn_softmax_xent(z, lab, N, C, d, 1.0f, NULL, NULL);
    for (int i = 0; i < N * C; i++) {
        float keep = z[i];
        z[i] = keep + 1e-3f;
        double lp = nn_softmax_xent(z, lab, N, C, NULL, 1.0f, NULL, NULL);
        z[i] = keep - 1e-3f;
        double lm = nn_softmax_xent(z, lab, N, C, NULL, 1.0f, NULL, NULL);
        z[i] = keep;
        ck_assert_double_lt(fabs((lp - lm) / 2e-3 - d[i]), 1e-4);
    }
    /* ranks: label 0 best, label 3 second, label 8 sixth (five logits above 2.5), label 5 last */
    float s[N * C];
    for (int i = 0; i < N; i++)
        for (int c = 0; c < C; c++) s[i * C + c] = (float)c;
    s[0 * C + 0] = 100;
    s[1 * C + 3] = 7.5f;
    s[2 * C + 8] = 2.5f;
    s[3 * C + 5] = -1;
    int t1, t5;
    double loss = nn_softmax_xent(s, lab, N, C, NULL, 1.0f, &t1, &t5);
    ck_assert_int_eq(t1, 1);
    ck_assert_int_eq(t5, 2);
    ck_assert(loss > 0 && isfinite(loss));
    /* a huge logit must not overflow */
    float big[2] = {1000.0f, -1000.0f};
    int l0 = 1;
    ck_assert(isfinite(nn_softmax_xent(big, &l0, 1, 2, NULL, 1.0f, NULL, NULL)));
}
END_TEST

Suite *suite_nn_ops(void) {
    Suite *s = suite_create("nn_ops");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, conv_grad_portable);
    tcase_add_test(tc, conv_grad_simd);
    tcase_add_test(tc, conv_vs_reference);
    tcase_add_test(tc, dwconv_kernels_agree);
    tcase_add_test(tc, bn_grad);
    tcase_add_test(tc, bn_statistics);
    tcase_add_test(tc, act_add_grad);
    tcase_add_test(tc, pool_grad);
    tcase_add_test(tc, linear_dropout_grad);
    tcase_add_test(tc, xent_grad_and_topk);
    suite_add_tcase(s, tc);
    return s;
}
