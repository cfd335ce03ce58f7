/* FMA peak loop for AVX2: twelve independent vfmadd chains (latency 4–5 cycles × 2 ports). */
#include <immintrin.h>

double nn_peak_avx2_flops(long iters);

double nn_peak_avx2_flops(long iters) {
    __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
    __m256 x0 = _mm256_set1_ps(0.1f), x1 = _mm256_set1_ps(0.2f), x2 = _mm256_set1_ps(0.3f);
    __m256 x3 = _mm256_set1_ps(0.4f), x4 = _mm256_set1_ps(0.5f), x5 = _mm256_set1_ps(0.6f);
    __m256 x6 = _mm256_set1_ps(0.7f), x7 = _mm256_set1_ps(0.8f), x8 = _mm256_set1_ps(0.9f);
    __m256 x9 = _mm256_set1_ps(1.0f), x10 = _mm256_set1_ps(1.1f), x11 = _mm256_set1_ps(1.2f);
    for (long i = 0; i < iters; i++) {
        x0 = _mm256_fmadd_ps(x0, m, a);
        x1 = _mm256_fmadd_ps(x1, m, a);
        x2 = _mm256_fmadd_ps(x2, m, a);
        x3 = _mm256_fmadd_ps(x3, m, a);
        x4 = _mm256_fmadd_ps(x4, m, a);
        x5 = _mm256_fmadd_ps(x5, m, a);
        x6 = _mm256_fmadd_ps(x6, m, a);
        x7 = _mm256_fmadd_ps(x7, m, a);
        x8 = _mm256_fmadd_ps(x8, m, a);
        x9 = _mm256_fmadd_ps(x9, m, a);
        x10 = _mm256_fmadd_ps(x10, m, a);
        x11 = _mm256_fmadd_ps(x11, m, a);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3)),
                             _mm256_add_ps(_mm256_add_ps(x4, x5), _mm256_add_ps(x6, x7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(x8, x9), _mm256_add_ps(x10, x11)));
    volatile float sink = _mm256_cvtss_f32(s);
    (void)sink;
    return 2.0 * 8.0 * 12.0 * (double)iters;
}
