/* Thresholds of the linear quantizers: the clipping value t of a symmetric quantizer (weights,
 * signed activations) or the range r of an unsigned one, from the data it will quantize.
 *
 *   max:         t = max |x|
 *   kl:          the classic entropy calibration (TensorRT's): a histogram of |x| over
 *                [0, max|x|] with ≈ √n bins, exact zeros left out (they are exact at any
 *                threshold, and a ReLU's spike of them would otherwise pull the threshold down
 *                to a few bins); for each candidate i from 2^(b−1) + 1 bins up,
 *                P = the first i bins with the tail folded into the last, Q = P's first i bins
 *                merged into 2^(b−1) levels and spread back over their nonzero bins; the
 *                threshold (i + 0.5)·bin width of the least KL(P‖Q)
 *   kl-release:  the HAQ release's variant: the same histogram as a cumulative distribution,
 *                its first i points resampled to 2^(b−1) and back by linear interpolation, and
 *                the symmetric divergence Σ (C − Q)·log2(C / Q) over all bins
 *   mse:         the threshold of least squared quantization error Σ (x − q(x))², rounding
 *                and clipping together: exactly over the values (up to 2,048 of them) or over
 *                a 2,048-bin histogram of |x| with a uniform density in each bin (its rounding
 *                error integrated in closed form), on a grid of 128 thresholds over (0, max|x|]
 *                refined 64-fold around the best; exact zeros cost nothing and are left out
 *   percentile:  the p-th percentile of |x| (p in (0, 100])
 * The release calibrates with kl below 5 bits and max from 5 bits up (q_thresh_auto). */
#ifndef HAQ_QUANT_LINEAR_H
#define HAQ_QUANT_LINEAR_H

#include <stddef.h>

enum q_thresh_method {
    Q_THRESH_MAX,
    Q_THRESH_KL,
    Q_THRESH_KL_RELEASE,
    Q_THRESH_PERCENTILE,
    Q_THRESH_MSE
};

/* The number of histogram bins the KL methods use for n values: ⌈√n⌉ clamped to [2, 8192]. */
int q_kl_bins(size_t n);

/* Threshold of n values for `bits` bits by a method (pct for the percentile method). Never
 * negative; 0 for an all-zero input. Returns −1 (nn_err) only when scratch memory fails. */
int q_threshold(const float *x, size_t n, int bits, enum q_thresh_method m, double pct,
                float *t);

/* The least-squared-error threshold of a quantizer with `steps` steps on [0, t] (q_threshold's
 * mse at b bits is the symmetric quantizer's 2^(b−1) − 1; an unsigned activation of a bits has
 * 2^a − 1). */
int q_thresh_mse(const float *x, size_t n, int steps, float *t);

/* The release's rule: KL (method `kl`, classic or release variant) below 5 bits, max above. */
int q_thresh_auto(const float *x, size_t n, int bits, enum q_thresh_method kl, float *t);

/* KL(P‖Q) of the classic method for candidate i (exposed for the tests' brute force). */
double q_kl_candidate(const double *hist, int nbins, int i, int levels);

/* Parse "max", "kl", "kl-release", "mse", "percentile:99.99"; 0 or −1 (nn_err). */
int q_thresh_parse(const char *s, enum q_thresh_method *m, double *pct);

/* The text q_thresh_parse reads back as m (buf holds a percentile's). */
const char *q_thresh_name(enum q_thresh_method m, double pct, char *buf, size_t cap);

#endif
