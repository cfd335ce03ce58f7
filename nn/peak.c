#include "peak.h"

#include <math.h>
#include <string.h>

#include "cpu.h"
#include "pool.h"
#include "tensor.h"

#ifndef HAQ_NOSIMD
double nn_peak_avx2_flops(long iters); /* peak_avx2.c: flops done in `iters` iterations */
#endif

/* Portable loop: 8 independent multiply-add chains of 8 lanes the compiler may vectorize. */
static double peak_scalar_flops(long iters) {
    float acc[8][8];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) acc[i][j] = (float)(i + j) * 1e-3f;
    const float m = 0.999999f, a = 1e-7f;
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 8; j++) acc[i][j] = acc[i][j] * m + a;
    volatile float sink = 0;
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) sink += acc[i][j];
    (void)sink;
    return 2.0 * 64.0 * (double)iters;
}

static double run_flops(long iters) {
#ifndef HAQ_NOSIMD
    if (nn_isa() == NN_ISA_AVX2) return nn_peak_avx2_flops(iters);
#endif
    return peak_scalar_flops(iters);
}

double nn_fma_peak_gflops(void) {
    long iters = 1 << 16;
    /* Grow the count until one round takes ~40 ms, then take the best of five. */
    for (;;) {
        double t0 = nn_now();
        run_flops(iters);
        if (nn_now() - t0 > 0.04 || iters > (1L << 34)) break;
        iters *= 2;
    }
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = nn_now();
        double f = run_flops(iters);
        double g = f / (nn_now() - t0) * 1e-9;
        if (g > best) best = g;
    }
    return best;
}

struct copy_job {
    float *dst;
    const float *src;
};

static void copy_range(void *p, size_t lo, size_t hi, int tid) {
    (void)tid;
    struct copy_job *j = p;
    memcpy(j->dst + lo, j->src + lo, (hi - lo) * sizeof(float));
}

double nn_copy_bandwidth_gbs(void) {
    size_t n = (size_t)64 << 20; /* 256 MiB of floats per buffer: far past any L3 */
    float *a = nn_alloc_floats(n), *b = nn_alloc_floats(n);
    double best = 0;
    if (a && b) {
        memset(a, 1, n * sizeof(float));
        memset(b, 0, n * sizeof(float));
        struct copy_job j = {b, a};
        for (int r = 0; r < 3; r++) {
            double t0 = nn_now();
            nn_parallel_for(n, 1 << 20, copy_range, &j);
            double g = 2.0 * (double)n * sizeof(float) / (nn_now() - t0) * 1e-9;
            if (g > best) best = g;
        }
    }
    nn_free(a);
    nn_free(b);
    return best;
}
