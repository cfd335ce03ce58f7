#include "gemm.h"

#include "layers.h"

#include <math.h>
#include <stddef.h>

void nn_sgemm_ref(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                  const float *b, int ldb, float beta, float *c, int ldc,
                  const struct nn_gemm_epi *epi) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++) {
                double x = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                double y = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                s += x * y;
            }
            float *cij = &c[(size_t)i * ldc + j];
            float v = (float)(alpha * s + (beta != 0.0f ? (double)beta * *cij : 0.0));
            if (epi) {
                if (epi->bias) v += epi->bias[j];
                v = nn_clamp_hi(nn_clamp_lo(v, epi->lo), epi->hi);
            }
            *cij = v;
        }
}
