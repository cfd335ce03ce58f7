/* Layer throughput: forward and backward time of every distinct layer shape of MobileNetV2
 * at 224 px, batch 32 (1×1 expand/project, 3×3 depthwise stride 1 and 2, the stem, BN+ReLU6),
 * with effective GFLOP/s (compute-bound layers) or GB/s (memory-bound ones) and the fraction
 * of this machine's roofline, measured in the same run.
 *
 *   bench=layer kind=conv1x1 shape=56x56x24-144 … fwd_ms=… bwd_ms=… fwd_gflops=… roof_frac=…
 *
 * Options: --batch B, --threads T, --reps R, --quick (fewer shapes and repetitions). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/conv.h"
#include "nn/cpu.h"
#include "nn/layers.h"
#include "nn/models.h"
#include "nn/peak.h"
#include "nn/pool.h"
#include "nn/rng.h"
#include "nn/tensor.h"

static double best_of(int reps, void (*run)(void *), void *ctx) {
    run(ctx);
    double best = INFINITY;
    for (int r = 0; r < reps; r++) {
        double t0 = nn_now();
        run(ctx);
        double t = nn_now() - t0;
        if (t < best) best = t;
    }
    return best;
}

struct conv_run {
    struct nn_conv_shape s;
    float *x, *w, *y, *dy, *dx, *dw, *scratch;
    int need_dx;
};

static void conv_fwd(void *p) {
    struct conv_run *c = p;
    nn_conv_forward(&c->s, c->y, c->x, c->w, NULL, c->scratch);
}

static void conv_bwd(void *p) {
    struct conv_run *c = p;
    nn_conv_backward(&c->s, c->need_dx ? c->dx : NULL, 0, c->dw, NULL, c->dy, c->x, c->w,
                     c->scratch);
}

struct bn_run {
    size_t rows;
    int C;
    float *x, *y, *dy, *dx, *g, *b, *rm, *rv, *m, *is, *dg, *db;
};

static void bn_fwd(void *p) {
    struct bn_run *c = p;
    nn_bn_forward_train(c->y, c->x, c->rows, c->C, c->g, c->b, c->rm, c->rv, 0.1f, 1e-5f, c->m,
                        c->is, NN_ACT_RELU6);
}

static void bn_bwd(void *p) {
    struct bn_run *c = p;
    nn_bn_backward(c->dx, 0, c->dg, c->db, c->dy, c->x, c->rows, c->C, c->g, c->b, c->m, c->is,
                   NN_ACT_RELU6, 1);
}

static float *filled(size_t n, struct nn_rng *r) {
    float *p = nn_alloc_floats(n);
    if (!p) {
        fprintf(stderr, "bench_layers: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = nn_rng_uniform(r) - 0.5f;
    return p;
}

int main(int argc, char **argv) {
    int batch = 32, threads = 2, reps = 5, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else {
            fprintf(stderr, "usage: bench_layers [--batch B] [--threads T] [--reps R] [--quick]\n");
            return 2;
        }
    }
    if (quick) reps = 2;
    nn_pool_init(threads);
    double peak = nn_fma_peak_gflops() * nn_pool_size(), bw = nn_copy_bandwidth_gbs();
    printf("bench=layer what=roofline isa=%s threads=%d peak_gflops=%.1f copy_gbs=%.1f\n",
           nn_isa_name(nn_isa()), nn_pool_size(), peak, bw);

    struct nn_model_cfg cfg = nn_model_defaults("mobilenet_v2");
    struct nn_graph *g = nn_model_build(&cfg);
    if (!g) return 1;
    struct nn_rng r;
    nn_rng_seed(&r, 1);
    /* distinct conv shapes, in network order */
    struct nn_conv_shape seen[64];
    int nseen = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct nn_node *n = &g->nodes[i];
        if (n->op != NN_OP_CONV) continue;
        const struct nn_node *x = &g->nodes[n->in[0]];
        const struct nn_conv_attr *a = &n->u.conv;
        struct nn_conv_shape s;
        nn_conv_shape_init(&s, batch, x->h, x->w, x->c, n->c, a->kh, a->kw, a->stride,
                           a->pad_h, a->pad_w, a->groups);
        int dup = 0;
        for (int k = 0; k < nseen; k++) dup |= !memcmp(&seen[k], &s, sizeof s);
        if (dup || nseen == 64 || (quick && nseen >= 6)) continue;
        seen[nseen++] = s;
        const char *kind = nn_conv_is_depthwise(&s) ? (s.stride == 1 ? "dw3x3s1" : "dw3x3s2")
                           : s.kh == 1                ? (s.cout > s.cin ? "expand1x1" : "project1x1")
                                                      : "stem3x3s2";
        size_t nx = (size_t)batch * s.h * s.w * s.cin, ny = (size_t)batch * s.ho * s.wo * s.cout;
        size_t nw = (size_t)s.kh * s.kw * (s.cin / s.groups) * s.cout;
        size_t ns = nn_conv_scratch_floats(&s);
        struct conv_run c = {s, filled(nx, &r), filled(nw, &r), filled(ny, &r), filled(ny, &r),
                             filled(nx, &r), filled(nw, &r), ns ? filled(ns, &r) : NULL,
                             i != 1};
        double tf = best_of(reps, conv_fwd, &c), tb = best_of(reps, conv_bwd, &c);
        double flop = 2.0 * nn_conv_macs(&s);
        /* bytes a pass must move at least: input, output, weights (backward: x, dy, dx, dw) */
        double fbytes = 4.0 * (nx + ny + nw), bbytes = 4.0 * (2.0 * nx + ny + 2.0 * nw);
        printf("bench=layer kind=%s name=%s shape=%dx%dx%d-%d batch=%d fwd_ms=%.2f bwd_ms=%.2f "
               "fwd_gflops=%.1f bwd_gflops=%.1f fwd_gbs=%.1f bwd_gbs=%.1f",
               kind, n->name, s.h, s.w, s.cin, s.cout, batch, tf * 1e3, tb * 1e3,
               flop / tf * 1e-9, 2 * flop / tb * 1e-9, fbytes / tf * 1e-9, bbytes / tb * 1e-9);
        /* roofline: the smaller of compute peak and bandwidth × arithmetic intensity */
        double roof_f = fmin(peak, bw * flop / fbytes), roof_b = fmin(peak, bw * 2 * flop / bbytes);
        printf(" fwd_roof_frac=%.2f bwd_roof_frac=%.2f\n", flop / tf * 1e-9 / roof_f,
               2 * flop / tb * 1e-9 / roof_b);
        fflush(stdout);
        nn_free(c.x);
        nn_free(c.w);
        nn_free(c.y);
        nn_free(c.dy);
        nn_free(c.dx);
        nn_free(c.dw);
        nn_free(c.scratch);
    }
    /* BN + ReLU6 (training statistics) over the distinct activation sizes */
    static const int bn_shapes[][2] = {{112 * 112, 32}, {112 * 112, 96}, {56 * 56, 144},
                                       {28 * 28, 192}, {14 * 14, 384}, {7 * 7, 1280}};
    for (int k = 0; k < (quick ? 2 : 6); k++) {
        size_t rows = (size_t)batch * bn_shapes[k][0];
        int C = bn_shapes[k][1];
        size_t n = rows * C;
        struct bn_run b = {rows, C, filled(n, &r), filled(n, &r), filled(n, &r), filled(n, &r),
                           filled(C, &r), filled(C, &r), filled(C, &r), filled(C, &r),
                           filled(C, &r), filled(C, &r), filled(C, &r), filled(C, &r)};
        for (int c = 0; c < C; c++) b.rv[c] = 1.0f;
        double tf = best_of(reps, bn_fwd, &b), tb = best_of(reps, bn_bwd, &b);
        /* forward reads x twice (statistics, apply) and writes y; backward reads dy and x
         * twice (sums, then dx) and writes dx */
        double fb = 4.0 * 3 * n, bb = 4.0 * 5 * n;
        printf("bench=layer kind=bn_relu6 rows=%zu channels=%d fwd_ms=%.2f bwd_ms=%.2f "
               "fwd_gbs=%.1f bwd_gbs=%.1f fwd_bw_frac=%.2f bwd_bw_frac=%.2f\n",
               rows, C, tf * 1e3, tb * 1e3, fb / tf * 1e-9, bb / tb * 1e-9, fb / tf * 1e-9 / bw,
               bb / tb * 1e-9 / bw);
        fflush(stdout);
        float *bufs[] = {b.x, b.y, b.dy, b.dx, b.g, b.b, b.rm, b.rv, b.m, b.is, b.dg, b.db};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) nn_free(bufs[i]);
    }
    nn_graph_free(g);
    return 0;
}
