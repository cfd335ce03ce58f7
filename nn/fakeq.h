/* Fake quantization: the float arithmetic of HAQ's linear quantizers, forward and backward.
 *
 * Weights (symmetric, threshold t > 0, b ≥ 2 bits): s = t / (2^(b−1) − 1),
 *     q(w) = round(clamp(w, −t, t) / s) · s          (round half to even)
 * with the straight-through gradient to the float weight (unchanged, everywhere).
 * One bit: q(w) = sign(w) · mean|w| (binarization, per tensor or per channel).
 * Per channel: the weight layouts of the engine keep the output channel fastest, so element i
 * belongs to channel i mod cout.
 *
 * Activations, range r > 0 (HAQ's activation_range, learnable):
 *   unsigned (after a ReLU), b bits:   x_c = clamp(x, 0, r),  s = r / (2^b − 1)
 *   signed (input can be negative):    x_c = clamp(x, −r, r), s = r / (2^(b−1) − 1)
 *   q(x) = round(x_c / s) · s
 * Backward (straight-through on the rounding, PACT on the clamp): ∂q/∂x = 1 inside the range,
 * 0 outside; ∂q/∂r = +1 above the range, −1 below it (signed), 0 inside. */
#ifndef HAQ_NN_FAKEQ_H
#define HAQ_NN_FAKEQ_H

#include <stddef.h>

/* Largest magnitude, for thresholds by max. */
float nn_absmax(const float *x, size_t n);

void nn_fq_weights(float *wq, const float *w, size_t n, int bits, float t);
void nn_fq_weights_pc(float *wq, const float *w, size_t n, int cout, int bits, const float *t);
void nn_fq_binary(float *wq, const float *w, size_t n, int cout, int per_channel);

void nn_fq_act_forward(float *xq, const float *x, size_t n, int bits, int is_signed, float r);
/* dx (+)= dxq · ∂q/∂x (dx may be NULL: only the range gradient wanted); returns
 * Σ dxq · ∂q/∂r (in double, in a fixed order). */
double nn_fq_act_backward(float *dx, int accum, const float *dxq, const float *x, size_t n,
                          int is_signed, float r);

/* The scale of a quantizer: s = t / (2^(b−1) − 1) for weights and signed activations,
 * r / (2^b − 1) for unsigned activations. */
float nn_fq_step(int bits, int is_signed, float range);

#endif
