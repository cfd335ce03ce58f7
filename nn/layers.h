/* Layers other than convolution, forward and backward, NHWC (rows = N·H·W, C channels).
 *
 * Conventions (as in conv.h): `accum` = 0 writes the input gradient, 1 adds to it; parameter
 * gradients are always accumulated. Functions returning int need a few bytes of scratch per
 * channel and fail (−1, nn_err) only when even that cannot be allocated. Work is split over rows on the pool; reductions use
 * per-thread partial sums added in thread order, so results are reproducible for a thread
 * count. */
#ifndef HAQ_NN_LAYERS_H
#define HAQ_NN_LAYERS_H

#include <stddef.h>
#include <stdint.h>

struct nn_rng;

enum nn_act { NN_ACT_NONE = 0, NN_ACT_RELU = 1, NN_ACT_RELU6 = 2 };

/* Clamps written as comparisons so that they compile to max/min instructions (fmaxf and
 * fminf are library calls without -ffast-math); a NaN input passes through as PyTorch's
 * ReLU and ReLU6 let it. */
static inline float nn_clamp_lo(float v, float lo) { return v < lo ? lo : v; }
static inline float nn_clamp_hi(float v, float hi) { return v > hi ? hi : v; }
static inline float nn_relu(float v) { return nn_clamp_lo(v, 0.0f); }
static inline float nn_relu6(float v) { return nn_clamp_hi(nn_clamp_lo(v, 0.0f), 6.0f); }

/* dst[j] += Σ_i src[i·cols + j] */
int nn_colsum_add(float *dst, const float *src, size_t rows, int cols);

/* ---- batch norm (+ fused activation) --------------------------------------------------------
 * y = act(x · scale[c] + shift[c]), scale = γ·invstd, shift = β − mean·scale, per channel over
 * all rows. Train: mean and biased variance of this batch, running stats updated as PyTorch:
 *   run_mean = (1 − m)·run_mean + m·mean,  run_var = (1 − m)·run_var + m·var·rows/(rows − 1).
 * Eval: mean = run_mean, invstd = 1/√(run_var + eps). Either way save_mean/save_invstd [C]
 * receive the statistics used, which is all backward needs: it recomputes the pre-activation
 * from x (bit for bit) instead of reading y. */
int nn_bn_forward_train(float *y, const float *x, size_t rows, int C, const float *gamma,
                        const float *beta, float *run_mean, float *run_var, float momentum,
                        float eps, float *save_mean, float *save_invstd, enum nn_act act);
int nn_bn_forward_eval(float *y, const float *x, size_t rows, int C, const float *gamma,
                       const float *beta, const float *run_mean, const float *run_var, float eps,
                       float *save_mean, float *save_invstd, enum nn_act act);
/* train = 1: gradient through the batch statistics; 0: through fixed statistics (eval).
 * dx may be NULL (parameter gradients only). */
int nn_bn_backward(float *dx, int accum, float *dgamma, float *dbeta, const float *dy,
                   const float *x, size_t rows, int C, const float *gamma, const float *beta,
                   const float *save_mean, const float *save_invstd, enum nn_act act, int train);

/* ---- activations, residual add -------------------------------------------------------------- */
void nn_act_forward(float *y, const float *x, size_t n, enum nn_act act);
/* dx (+)= dy · act'(y) */
void nn_act_backward(float *dx, int accum, const float *dy, const float *y, size_t n,
                     enum nn_act act);
void nn_add_forward(float *y, const float *a, const float *b, size_t n);
/* dx (+)= dy (one call per addend) */
void nn_grad_pass(float *dx, int accum, const float *dy, size_t n);

/* ---- pooling ---------------------------------------------------------------------------------
 * Max pool k×k, stride s, padding p (padding never wins): in [n][h][w][C] → out [n][ho][wo][C];
 * arg [n][ho][wo][C] records the winning input offset within its image for backward (arg may
 * be NULL when no backward follows). Every window must hold at least one input pixel (p < k). */
void nn_maxpool_forward(float *out, int32_t *arg, const float *in, int n, int h, int w, int C,
                        int k, int s, int p, int ho, int wo);
void nn_maxpool_backward(float *din, int accum, const float *dout, const int32_t *arg, int n,
                         int h, int w, int C, int ho, int wo);
/* Global average pool: [n][hw][C] → [n][C]. */
void nn_avgpool_forward(float *out, const float *in, int n, int hw, int C);
void nn_avgpool_backward(float *din, int accum, const float *dout, int n, int hw, int C);

/* ---- linear ----------------------------------------------------------------------------------
 * out[n][o] = Σ_i in[n][i] · w[i][o] + b[o]   (w [in][out], b [out] or NULL) */
void nn_linear_forward(float *out, const float *in, const float *w, const float *b, int n,
                       int in_f, int out_f);
int nn_linear_backward(float *din, int accum, float *dw, float *db, const float *dout,
                       const float *in, const float *w, int n, int in_f, int out_f);

/* ---- dropout -----------------------------------------------------------------------------------
 * Train: mask[i] = 0 with probability p, else 1/(1 − p); y = x · mask. Eval: y = x. */
void nn_dropout_forward(float *y, float *mask, const float *x, size_t n, float p,
                        struct nn_rng *rng, int train);
void nn_dropout_backward(float *dx, int accum, const float *dy, const float *mask, size_t n,
                         int train);

/* ---- softmax cross-entropy -------------------------------------------------------------------
 * logits [n][C], labels [n]. Returns the mean loss; dlogits (may be NULL) = (softmax − onehot)/n
 * scaled by `scale` (1 for a plain mean). top1/top5 (may be NULL) count the rows whose label
 * has fewer than 1 / 5 logits strictly greater than its own. */
double nn_softmax_xent(const float *logits, const int *labels, int n, int C, float *dlogits,
                       float scale, int *top1, int *top5);

#endif
