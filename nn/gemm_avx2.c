/* AVX2 + FMA micro-kernel, 6×16 (contract in gemm_kernel.h). Compiled with -mavx2 -mfma.
 *
 * Twelve ymm accumulators hold the tile (6 rows × 2 vectors); each k step loads two B vectors,
 * broadcasts six A values and issues twelve FMAs, enough independent chains to cover the FMA
 * latency on two ports. */
#include <immintrin.h>

#include "gemm_kernel.h"

#define ROW(r)                                          \
    do {                                                \
        __m256 av = _mm256_broadcast_ss(ap + (r));      \
        c##r##0 = _mm256_fmadd_ps(av, b0, c##r##0);     \
        c##r##1 = _mm256_fmadd_ps(av, b1, c##r##1);     \
    } while (0)

#define STEP()                                          \
    do {                                                \
        __m256 b0 = _mm256_load_ps(bp);                 \
        __m256 b1 = _mm256_load_ps(bp + 8);             \
        ROW(0);                                         \
        ROW(1);                                         \
        ROW(2);                                         \
        ROW(3);                                         \
        ROW(4);                                         \
        ROW(5);                                         \
        ap += 6;                                        \
        bp += 16;                                       \
    } while (0)

#define STORE(r)                                                                   \
    do {                                                                           \
        float *cr = c + (r) * ldc;                                                 \
        __m256 v0 = _mm256_mul_ps(va, c##r##0), v1 = _mm256_mul_ps(va, c##r##1);  \
        if (beta == 1.0f) {                                                        \
            v0 = _mm256_add_ps(v0, _mm256_loadu_ps(cr));                           \
            v1 = _mm256_add_ps(v1, _mm256_loadu_ps(cr + 8));                       \
        } else if (beta != 0.0f) {                                                 \
            v0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), v0);                     \
            v1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), v1);                 \
        }                                                                          \
        _mm256_storeu_ps(cr, v0);                                                  \
        _mm256_storeu_ps(cr + 8, v1);                                              \
    } while (0)

void nn_gemm_ukr_avx2(int kc, const float *restrict ap, const float *restrict bp,
                      float *restrict c, long ldc, float alpha, float beta) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (int r = 0; r < 6; r++) _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
    for (int r = 0; r < 6; r++) _mm_prefetch((const char *)(c + r * ldc + 15), _MM_HINT_T0);
    int p = 0;
    for (; p + 4 <= kc; p += 4) {
        _mm_prefetch((const char *)(ap + 96), _MM_HINT_T0);
        STEP();
        STEP();
        _mm_prefetch((const char *)(ap + 96), _MM_HINT_T0);
        STEP();
        STEP();
    }
    for (; p < kc; p++) STEP();
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    STORE(0);
    STORE(1);
    STORE(2);
    STORE(3);
    STORE(4);
    STORE(5);
}

/* Pack one full 6-row sliver of a row-major A (rows a, a+lda, …, a+5·lda; kc columns) into
 * k-major order: dst[p·6 + r] = a[r·lda + p]. Eight columns at a time: six row loads, an 8×8
 * transpose (two rows zero) and a 4+2-float store per column. */
void nn_gemm_pack_a6_avx2(int kc, const float *restrict a, long lda, float *restrict dst) {
    const float *r0 = a, *r1 = a + lda, *r2 = a + 2 * lda, *r3 = a + 3 * lda;
    const float *r4 = a + 4 * lda, *r5 = a + 5 * lda;
    const __m256 z = _mm256_setzero_ps();
    int p = 0;
    for (; p + 8 <= kc; p += 8, dst += 48) {
        __m256 x0 = _mm256_loadu_ps(r0 + p), x1 = _mm256_loadu_ps(r1 + p);
        __m256 x2 = _mm256_loadu_ps(r2 + p), x3 = _mm256_loadu_ps(r3 + p);
        __m256 x4 = _mm256_loadu_ps(r4 + p), x5 = _mm256_loadu_ps(r5 + p);
        __m256 t0 = _mm256_unpacklo_ps(x0, x1), t1 = _mm256_unpackhi_ps(x0, x1);
        __m256 t2 = _mm256_unpacklo_ps(x2, x3), t3 = _mm256_unpackhi_ps(x2, x3);
        __m256 t4 = _mm256_unpacklo_ps(x4, x5), t5 = _mm256_unpackhi_ps(x4, x5);
        __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xee);
        __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xee);
        __m256 s4 = _mm256_shuffle_ps(t4, z, 0x44), s5 = _mm256_shuffle_ps(t4, z, 0xee);
        __m256 s6 = _mm256_shuffle_ps(t5, z, 0x44), s7 = _mm256_shuffle_ps(t5, z, 0xee);
        /* Column j (j < 4) is the low halves of s_j (rows 0–3) and s_{j+4} (rows 4–5);
         * column j + 4 the high halves. */
        __m256 lo[4] = {s0, s1, s2, s3}, hi[4] = {s4, s5, s6, s7};
        for (int j = 0; j < 4; j++) {
            _mm_storeu_ps(dst + 6 * j, _mm256_castps256_ps128(lo[j]));
            _mm_storel_pi((__m64 *)(dst + 6 * j + 4), _mm256_castps256_ps128(hi[j]));
            _mm_storeu_ps(dst + 6 * (j + 4), _mm256_extractf128_ps(lo[j], 1));
            _mm_storel_pi((__m64 *)(dst + 6 * (j + 4) + 4), _mm256_extractf128_ps(hi[j], 1));
        }
    }
    for (; p < kc; p++, dst += 6) {
        dst[0] = r0[p];
        dst[1] = r1[p];
        dst[2] = r2[p];
        dst[3] = r3[p];
        dst[4] = r4[p];
        dst[5] = r5[p];
    }
}
