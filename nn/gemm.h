/* Single-precision GEMM, row-major, in the BLIS shape (see gemm_kernel.h for the micro-kernel
 * contract).
 *
 *   C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C,  then, with an epilogue,
 *   C[i][j] = clamp(C[i][j] + bias[j], lo, hi)
 *
 * op(A) = A (A is m×k, row stride lda) when ta = 0, or Aᵀ (A is k×m) when ta = 1; likewise B.
 * beta = 0 means C is write-only (it may hold garbage or NaN). Transposed operands are handled
 * by the packing routines, never by materializing a transpose. */
#ifndef HAQ_NN_GEMM_H
#define HAQ_NN_GEMM_H

struct nn_gemm_epi {
    const float *bias; /* [n] added to every row, or NULL */
    float lo, hi;      /* output clamp; -INFINITY/INFINITY for none, 0/6 for ReLU6 */
};

/* Threaded on the pool (serial for small problems or when called inside a region). */
void nn_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc);

/* As nn_sgemm with an optional epilogue (epi may be NULL) and an explicit thread count
 * (nth = 0: the pool's, reduced for small problems; nth = 1: serial on the caller). */
void nn_sgemm_ex(int nth, int ta, int tb, int m, int n, int k, float alpha, const float *a,
                 int lda, const float *b, int ldb, float beta, float *c, int ldc,
                 const struct nn_gemm_epi *epi);

/* An A operand that is never stored: pack(ctx, i0, mr, p0, kc, dst) writes rows i0 … i0+mr−1
 * (mr ≤ 6), columns p0 … p0+kc−1 of the virtual m×k matrix as one micro-panel sliver,
 * dst[p·6 + r], zero-filling rows mr … 5. A convolution's im2col matrix is packed this way
 * straight from the image, with no column buffer written and read back. */
struct nn_gemm_asrc {
    void (*pack)(const void *ctx, int i0, int mr, int p0, int kc, float *dst);
    const void *ctx;
};

/* C = alpha · A · op(B) + beta · C (+ epilogue) with A from a packing callback. */
void nn_sgemm_asrc(int nth, const struct nn_gemm_asrc *a, int tb, int m, int n, int k,
                   float alpha, const float *b, int ldb, float beta, float *c, int ldc,
                   const struct nn_gemm_epi *epi);

/* Naive triple loop with double accumulation: the oracle the tests hold every path against. */
void nn_sgemm_ref(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                  const float *b, int ldb, float beta, float *c, int ldc,
                  const struct nn_gemm_epi *epi);

#endif
