/* Convolution in NHWC, forward and backward.
 *
 * Shapes: in [n][h][w][cin], out [n][ho][wo][cout], weights [kh][kw][cin/groups][cout]
 * (output channel fastest; group g owns input channels g·cig … and output channels g·cog …),
 * bias [cout] or NULL. ho = (h + 2·pad_h − kh)/stride + 1, likewise wo.
 *
 *   out[b][y][x][o] = bias[o] + Σ_{i,j,c} in[b][y·s − ph + i][x·s − pw + j][g·cig + c]
 *                                          · w[i][j][c][o],   g = o / cog
 *
 * Paths: 1×1 stride 1 → one GEMM on the input as it lies; depthwise (groups = cin = cout) →
 * direct NHWC SIMD kernels (dwconv.h); everything else → im2col in chunks of images + GEMM
 * (per group). Backward functions take an `accum` flag for the input gradient: 0 writes din,
 * 1 adds to it (a tensor read by several nodes sums their gradients). Weight and bias gradients
 * are always accumulated (+=), so the caller zeroes them once per step. */
#ifndef HAQ_NN_CONV_H
#define HAQ_NN_CONV_H

#include <stddef.h>

struct nn_conv_shape {
    int n, h, w, cin;        /* input */
    int kh, kw, stride, pad_h, pad_w, groups;
    int cout, ho, wo;        /* output */
};

/* Fill ho/wo; returns -1 (nn_err) for an impossible geometry. */
int nn_conv_shape_init(struct nn_conv_shape *s, int n, int h, int w, int cin, int cout, int kh,
                       int kw, int stride, int pad_h, int pad_w, int groups);

int nn_conv_is_depthwise(const struct nn_conv_shape *s);

/* Multiply-adds of one forward pass over the whole batch. */
double nn_conv_macs(const struct nn_conv_shape *s);

/* Scratch floats the conv needs for a batch of s->n (im2col chunk); 0 for direct paths. */
size_t nn_conv_scratch_floats(const struct nn_conv_shape *s);

/* Forward; scratch holds nn_conv_scratch_floats(s) floats. */
void nn_conv_forward(const struct nn_conv_shape *s, float *out, const float *in, const float *w,
                     const float *bias, float *scratch);

/* Backward: din (may be NULL: not needed) from dout and w; dw += from dout and in; dbias (may be
 * NULL) += column sums of dout. Fails (−1, nn_err) only when per-thread sums cannot be
 * allocated. */
int nn_conv_backward(const struct nn_conv_shape *s, float *din, int accum, float *dw,
                     float *dbias, const float *dout, const float *in, const float *w,
                     float *scratch);

/* Plain loops over the definition above: the oracle for every optimized path. */
void nn_conv_forward_ref(const struct nn_conv_shape *s, float *out, const float *in,
                         const float *w, const float *bias);
void nn_conv_backward_ref(const struct nn_conv_shape *s, float *din, int accum, float *dw,
                          float *dbias, const float *dout, const float *in, const float *w);

#endif
