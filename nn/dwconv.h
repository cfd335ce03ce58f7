/* Depthwise convolution (groups = cin = cout = C) in NHWC, computed directly.
 *
 * Weights [kh][kw][C]; channels are contiguous in memory, so every kernel vectorizes over C
 * (eight channels per AVX2 register) and walks output rows. Forward and the input gradient
 * are gathers over disjoint rows; the weight gradient is summed per thread and reduced once in
 * thread order, so every result is reproducible for a given thread count. Shapes and the
 * accum convention are those of conv.h. */
#ifndef HAQ_NN_DWCONV_H
#define HAQ_NN_DWCONV_H

#include "conv.h"

void nn_dwconv_forward(const struct nn_conv_shape *s, float *out, const float *in,
                       const float *w, const float *bias);
/* Fails (−1, nn_err) only when per-thread weight-gradient sums cannot be allocated. */
int nn_dwconv_backward(const struct nn_conv_shape *s, float *din, int accum, float *dw,
                       float *dbias, const float *dout, const float *in, const float *w);

/* Row kernels, one per ISA (internal; declared here for the AVX2 file and the tests).
 * fwd:  out_row[x][c] for output row y of one image (in_img = that image's input)
 * bwdd: din_row[x][c] for input row yy of one image (dout_img = that image's output grad)
 * bwdw: dwp[i][j][c] += Σ_x dout_row[x][c] · in[y·s − ph + i][x·s − pw + j][c];
 *       dbp[c] += Σ_x dout_row[x][c] (dbp may be NULL) */
struct nn_dw_kernels {
    void (*fwd)(const struct nn_conv_shape *s, float *out_row, const float *in_img, int y,
                const float *w, const float *bias);
    void (*bwdd)(const struct nn_conv_shape *s, float *din_row, const float *dout_img, int yy,
                 const float *w, int accum);
    void (*bwdw)(const struct nn_conv_shape *s, float *dwp, float *dbp, const float *dout_row,
                 const float *in_img, int y);
};

extern const struct nn_dw_kernels nn_dw_generic;
#ifndef HAQ_NOSIMD
extern const struct nn_dw_kernels nn_dw_avx2;
#endif

/* Valid output columns [*x0, *x1) for kernel column j: 0 ≤ x·s − pw + j < w. */
static inline void nn_dw_xrange(const struct nn_conv_shape *s, int j, int *x0, int *x1) {
    int lo = s->pad_w - j; /* need x·s ≥ lo */
    int a = lo <= 0 ? 0 : (lo + s->stride - 1) / s->stride;
    int hi = s->w - 1 + s->pad_w - j; /* need x·s ≤ hi */
    int b = hi < 0 ? 0 : hi / s->stride + 1;
    if (b > s->wo) b = s->wo;
    *x0 = a;
    *x1 = b > a ? b : a;
}

#endif
