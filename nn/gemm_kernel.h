/* The GEMM micro-kernel contract (internal to nn/gemm*.c).
 *
 * A micro-kernel computes one MR×NR tile of C from packed panels:
 *
 *   C[i][j] = alpha · Σ_p ap[p·MR + i] · bp[p·NR + j] + beta · C[i][j],  0 ≤ i < MR, 0 ≤ j < NR
 *
 * ap: kc·MR floats, the A sliver k-major (MR values of one column of A, then the next);
 * bp: kc·NR floats, the B sliver k-major (NR values of one row of B, then the next);
 * both 32-byte aligned and zero-padded past the matrix edge; c has row stride ldc (floats);
 * beta = 0 means C is not read. kc may be 0 (then C = beta · C). Edge tiles are handled by the
 * caller (the kernel always writes a full MR×NR tile, to a scratch tile on the edges).
 *
 * Adding an ISA = one file with one function of this type plus its blocking sizes here. */
#ifndef HAQ_NN_GEMM_KERNEL_H
#define HAQ_NN_GEMM_KERNEL_H

typedef void (*nn_gemm_ukr)(int kc, const float *ap, const float *bp, float *c, long ldc,
                            float alpha, float beta);

/* Both kernels use the same 6×16 tile, so packing is shared across ISAs. */
#define NN_GEMM_MR 6
#define NN_GEMM_NR 16

void nn_gemm_ukr_generic(int kc, const float *ap, const float *bp, float *c, long ldc,
                         float alpha, float beta);
/* Optional fast packing of one full MR-row sliver of a row-major A:
 * dst[p·MR + r] = a[r·lda + p] for p < kc, r < MR. */
typedef void (*nn_gemm_pack_a_fn)(int kc, const float *a, long lda, float *dst);

#ifndef HAQ_NOSIMD
void nn_gemm_ukr_avx2(int kc, const float *ap, const float *bp, float *c, long ldc, float alpha,
                      float beta);
void nn_gemm_pack_a6_avx2(int kc, const float *a, long lda, float *dst);
#endif

#endif
