/* Image transforms: 8-bit HWC image → normalized float HWC tensor of a fixed output size.
 *
 *   small-image train:  zero-pad by `pad` (4), random out_h×out_w crop, random horizontal
 *                       flip (the CIFAR recipe), after a bilinear resize when the image is
 *                       not already out_h×out_w
 *   small-image eval:   bilinear resize to out_h×out_w (identity at the native size)
 *   ImageNet train:     RandomResizedCrop(out, scale 0.08–1, ratio 3/4–4/3) + flip
 *   ImageNet eval:      resize the shorter side to out·256/224, center crop out×out
 * then (x/255 − mean[c]) / std[c]. Random choices come from the caller's generator, so a
 * sample's augmentation is a function of its seed. */
#ifndef HAQ_DATA_TRANSFORM_H
#define HAQ_DATA_TRANSFORM_H

#include "dataset.h"
#include "nn/rng.h"

enum data_tf_kind { DATA_TF_SMALL = 0, DATA_TF_IMAGENET = 1 };

struct data_transform {
    enum data_tf_kind kind;
    int train;
    int out_h, out_w, c;
    int pad; /* small-image train: zero padding before the random crop */
    float mean[3], std[3];
};

/* The transform a source's images call for at an output size: small images (≤ 64 px) take
 * the small recipe. */
struct data_transform data_transform_for(const struct data_source *s, int out, int train);

/* out: out_h·out_w·c floats. im->c must equal t->c. */
void data_transform_apply(const struct data_transform *t, const struct data_image *im,
                          struct nn_rng *r, float *out);

/* Bilinear sample of channel-interleaved 8-bit pixels at continuous coordinates covering the
 * source rectangle [x0, x0 + sw) × [y0, y0 + sh) onto an oh×ow grid (half-pixel centres,
 * edges clamped), written as floats in [0, 255]. With antialias, shrinking by more than 2×
 * averages over the footprint instead (area filter). */
void data_resample(const struct data_image *im, double x0, double y0, double sw, double sh,
                   int oh, int ow, int antialias, float *out);

#endif
