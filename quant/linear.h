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
 *   percentile:  the p-th percentile of |x| (p in (0, 100])
 * The release calibrates with kl below 5 bits and max from 5 bits up (q_thresh_auto). */
#ifndef HAQ_QUANT_LINEAR_H
#define HAQ_QUANT_LINEAR_H

#include <stddef.h>

enum q_thresh_method { Q_THRESH_MAX, Q_THRESH_KL, Q_THRESH_KL_RELEASE, Q_THRESH_PERCENTILE };

/* The number of histogram bins the KL methods use for n values: ⌈√n⌉ clamped to [2, 8192]. */
int q_kl_bins(size_t n);

/* Threshold of n values for `bits` bits by a method (pct for the percentile method). Never
 * negative; 0 for an all-zero input. Returns −1 (nn_err) only when scratch memory fails. */
int q_threshold(const float *x, size_t n, int bits, enum q_thresh_method m, double pct,
                float *t);

/* The release's rule: KL (method `kl`, classic or release variant) below 5 bits, max above. */
int q_thresh_auto(const float *x, size_t n, int bits, enum q_thresh_method kl, float *t);

/* KL(P‖Q) of the classic method for candidate i (exposed for the tests' brute force). */
double q_kl_candidate(const double *hist, int nbins, int i, int levels);

/* Parse "max", "kl", "kl-release", "percentile:99.99"; 0 or −1 (nn_err). */
int q_thresh_parse(const char *s, enum q_thresh_method *m, double *pct);

#endif
