/* GEMM throughput: this core's FMA peak, then square SGEMM at n = 256 … 2048 on 1 and 2
 * threads, beside OpenBLAS (dlopen of libopenblas.so.0, when installed) in the same run.
 *
 *   bench=gemm n=1024 threads=1 gflops=… peak_frac=… openblas_gflops=… ratio=…
 *
 * Options: --n N (one size only), --reps R, --quick. */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/cpu.h"
#include "nn/gemm.h"
#include "nn/peak.h"
#include "nn/pool.h"
#include "nn/rng.h"
#include "nn/tensor.h"

typedef void (*cblas_sgemm_fn)(int order, int ta, int tb, int m, int n, int k, float alpha,
                               const float *a, int lda, const float *b, int ldb, float beta,
                               float *c, int ldc);
typedef void (*openblas_set_fn)(int);

enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111 };

static double time_best(int reps, void (*run)(void *), void *ctx) {
    double best = INFINITY;
    run(ctx); /* warm caches, packing buffers and thread pools */
    for (int r = 0; r < reps; r++) {
        double t0 = nn_now();
        run(ctx);
        double t = nn_now() - t0;
        if (t < best) best = t;
    }
    return best;
}

struct gemm_case {
    int n, threads;
    const float *a, *b;
    float *c;
    cblas_sgemm_fn cblas;
};

static void run_ours(void *p) {
    struct gemm_case *g = p;
    nn_sgemm_ex(g->threads, 0, 0, g->n, g->n, g->n, 1.0f, g->a, g->n, g->b, g->n, 0.0f, g->c,
                g->n, NULL);
}

static void run_openblas(void *p) {
    struct gemm_case *g = p;
    g->cblas(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, g->n, g->n, g->n, 1.0f, g->a, g->n,
             g->b, g->n, 0.0f, g->c, g->n);
}

int main(int argc, char **argv) {
    int only_n = 0, reps = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc) only_n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) reps = 2;
        else {
            fprintf(stderr, "usage: bench_gemm [--n N] [--reps R] [--quick]\n");
            return 2;
        }
    }
    nn_pool_init(2);
    double peak = nn_fma_peak_gflops();
    printf("bench=gemm what=peak isa=%s peak_gflops=%.1f\n", nn_isa_name(nn_isa()), peak);

    void *blas = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    cblas_sgemm_fn cblas = blas ? (cblas_sgemm_fn)dlsym(blas, "cblas_sgemm") : NULL;
    openblas_set_fn set_threads =
        blas ? (openblas_set_fn)dlsym(blas, "openblas_set_num_threads") : NULL;
    if (!cblas) fprintf(stderr, "bench_gemm: libopenblas.so.0 not found, ours only\n");

    static const int sizes[] = {256, 512, 1024, 2048};
    struct nn_rng rng;
    nn_rng_seed(&rng, 1);
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        int n = sizes[si];
        if (only_n && n != only_n) continue;
        size_t nn2 = (size_t)n * n;
        float *a = nn_alloc_floats(nn2), *b = nn_alloc_floats(nn2), *c = nn_alloc_floats(nn2);
        if (!a || !b || !c) return 1;
        for (size_t i = 0; i < nn2; i++) a[i] = nn_rng_uniform(&rng) - 0.5f;
        for (size_t i = 0; i < nn2; i++) b[i] = nn_rng_uniform(&rng) - 0.5f;
        int r = reps ? reps : (n <= 512 ? 50 : n <= 1024 ? 10 : 4);
        for (int threads = 1; threads <= 2; threads++) {
            struct gemm_case g = {n, threads, a, b, c, cblas};
            double flop = 2.0 * n * n * n, t_ours = INFINITY, t_ob = INFINITY;
            /* Alternate rounds of ours and OpenBLAS and keep each one's best, so that a
             * machine whose speed drifts favours neither. OpenBLAS's workers spin for a while
             * after each call: let them go to sleep before timing ours. */
            for (int round = 0; round < 3; round++) {
                if (cblas) usleep(300000);
                double t = time_best(r, run_ours, &g);
                if (t < t_ours) t_ours = t;
                if (cblas) {
                    if (set_threads) set_threads(threads);
                    t = time_best(r, run_openblas, &g);
                    if (t < t_ob) t_ob = t;
                }
            }
            double ours = flop / t_ours * 1e-9;
            printf("bench=gemm n=%d threads=%d gflops=%.1f peak_frac=%.3f", n, threads, ours,
                   ours / (peak * threads));
            if (cblas) {
                double ob = flop / t_ob * 1e-9;
                printf(" openblas_gflops=%.1f ratio=%.3f", ob, ours / ob);
            }
            printf("\n");
            fflush(stdout);
        }
        nn_free(a);
        nn_free(b);
        nn_free(c);
    }
    return 0;
}
