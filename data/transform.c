#include "transform.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct data_transform data_transform_for(const struct data_source *s, int out, int train) {
    struct data_transform t;
    memset(&t, 0, sizeof t);
    int small = s->h > 0 && s->h <= 64 && s->w <= 64;
    t.kind = small ? DATA_TF_SMALL : DATA_TF_IMAGENET;
    t.train = train;
    t.out_h = t.out_w = out;
    t.c = s->c;
    t.pad = small ? (out >= 16 ? 4 : 2) : 0;
    for (int c = 0; c < 3; c++) {
        t.mean[c] = s->mean[c];
        t.std[c] = s->std[c] > 0 ? s->std[c] : 1.0f;
    }
    return t;
}

void data_resample(const struct data_image *im, double x0, double y0, double sw, double sh,
                   int oh, int ow, int antialias, float *out) {
    int C = im->c;
    double sx = sw / ow, sy = sh / oh;
    if (antialias && (sx > 2.0 || sy > 2.0)) {
        /* area filter: average every source pixel whose centre falls in the footprint */
        for (int y = 0; y < oh; y++) {
            int ya = (int)floor(y0 + y * sy), yb = (int)ceil(y0 + (y + 1) * sy);
            if (ya < 0) ya = 0;
            if (ya > im->h - 1) ya = im->h - 1;
            if (yb > im->h) yb = im->h;
            if (yb <= ya) yb = ya + 1;
            for (int x = 0; x < ow; x++) {
                int xa = (int)floor(x0 + x * sx), xb = (int)ceil(x0 + (x + 1) * sx);
                if (xa < 0) xa = 0;
                if (xa > im->w - 1) xa = im->w - 1;
                if (xb > im->w) xb = im->w;
                if (xb <= xa) xb = xa + 1;
                float acc[4] = {0, 0, 0, 0};
                for (int yy = ya; yy < yb; yy++)
                    for (int xx = xa; xx < xb; xx++)
                        for (int c = 0; c < C; c++) acc[c] += im->px[((size_t)yy * im->w + xx) * C + c];
                float inv = 1.0f / (float)((yb - ya) * (xb - xa));
                for (int c = 0; c < C; c++) out[((size_t)y * ow + x) * C + c] = acc[c] * inv;
            }
        }
        return;
    }
    for (int y = 0; y < oh; y++) {
        double fy = y0 + (y + 0.5) * sy - 0.5;
        if (fy < 0) fy = 0;
        if (fy > im->h - 1) fy = im->h - 1;
        int y1 = (int)fy, y2 = y1 + 1 < im->h ? y1 + 1 : y1;
        float wy = (float)(fy - y1);
        for (int x = 0; x < ow; x++) {
            double fx = x0 + (x + 0.5) * sx - 0.5;
            if (fx < 0) fx = 0;
            if (fx > im->w - 1) fx = im->w - 1;
            int x1 = (int)fx, x2 = x1 + 1 < im->w ? x1 + 1 : x1;
            float wx = (float)(fx - x1);
            const uint8_t *p11 = im->px + ((size_t)y1 * im->w + x1) * C;
            const uint8_t *p12 = im->px + ((size_t)y1 * im->w + x2) * C;
            const uint8_t *p21 = im->px + ((size_t)y2 * im->w + x1) * C;
            const uint8_t *p22 = im->px + ((size_t)y2 * im->w + x2) * C;
            for (int c = 0; c < C; c++) {
                float top = p11[c] + wx * (p12[c] - p11[c]);
                float bot = p21[c] + wx * (p22[c] - p21[c]);
                out[((size_t)y * ow + x) * C + c] = top + wy * (bot - top);
            }
        }
    }
}

/* Normalize [0, 255] floats in place, flipping columns when asked. */
static void finish(const struct data_transform *t, float *out, int flip) {
    int C = t->c;
    float scale[3], shift[3];
    for (int c = 0; c < C; c++) {
        scale[c] = 1.0f / (255.0f * t->std[c]);
        shift[c] = -t->mean[c] / t->std[c];
    }
    for (int y = 0; y < t->out_h; y++) {
        float *row = out + (size_t)y * t->out_w * C;
        if (flip)
            for (int a = 0, b = t->out_w - 1; a < b; a++, b--)
                for (int c = 0; c < C; c++) {
                    float tmp = row[a * C + c];
                    row[a * C + c] = row[b * C + c];
                    row[b * C + c] = tmp;
                }
        for (int i = 0; i < t->out_w * C; i++) row[i] = row[i] * scale[i % C] + shift[i % C];
    }
}

void data_transform_apply(const struct data_transform *t, const struct data_image *im,
                          struct nn_rng *r, float *out) {
    int oh = t->out_h, ow = t->out_w, C = t->c;
    if (t->kind == DATA_TF_SMALL) {
        if (!t->train) {
            data_resample(im, 0, 0, im->w, im->h, oh, ow, 1, out);
            finish(t, out, 0);
            return;
        }
        /* pad-and-crop: the crop's offset in the zero-padded image is uniform in [0, 2·pad]
         * on each axis (torchvision's RandomCrop(padding=pad)); an image not at the output
         * size is first resized to it */
        const float *src = NULL;
        float *full = NULL;
        if (im->h != oh || im->w != ow) {
            full = malloc((size_t)oh * ow * C * sizeof(float));
            if (!full) { /* a few KB unavailable: serve the unaugmented image */
                data_resample(im, 0, 0, im->w, im->h, oh, ow, 1, out);
                finish(t, out, 0);
                return;
            }
            data_resample(im, 0, 0, im->w, im->h, oh, ow, 1, full);
            src = full;
        }
        int ox = (int)nn_rng_below(r, (uint64_t)(2 * t->pad + 1)) - t->pad;
        int oy = (int)nn_rng_below(r, (uint64_t)(2 * t->pad + 1)) - t->pad;
        int flip = (int)nn_rng_below(r, 2);
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                int sy = y + oy, sx = x + ox;
                float *d = out + ((size_t)y * ow + x) * C;
                size_t o = ((size_t)sy * ow + sx) * C;
                for (int c = 0; c < C; c++)
                    d[c] = (sy < 0 || sy >= oh || sx < 0 || sx >= ow) ? 0.0f
                           : src                                    ? src[o + c]
                                                                    : (float)im->px[o + c];
            }
        free(full);
        finish(t, out, flip);
        return;
    }
    if (!t->train) {
        /* resize shorter side to out·256/224, then center crop */
        double short_side = im->h < im->w ? im->h : im->w;
        double s = short_side / (oh * 256.0 / 224.0); /* source pixels per output pixel */
        double cw = ow * s, ch = oh * s;
        data_resample(im, (im->w - cw) / 2, (im->h - ch) / 2, cw, ch, oh, ow, 1, out);
        finish(t, out, 0);
        return;
    }
    /* RandomResizedCrop: up to 10 tries for an area fraction in [0.08, 1] and a log-uniform
     * aspect ratio in [3/4, 4/3] that fits; else the central crop of the clamped ratio */
    double area = (double)im->h * im->w, cw = 0, ch = 0, x0 = 0, y0 = 0;
    int found = 0;
    for (int k = 0; k < 10 && !found; k++) {
        double target = area * (0.08 + 0.92 * nn_rng_uniform_d(r));
        double logr = log(3.0 / 4.0) + (log(4.0 / 3.0) - log(3.0 / 4.0)) * nn_rng_uniform_d(r);
        double ratio = exp(logr);
        double w = round(sqrt(target * ratio)), h = round(sqrt(target / ratio));
        if (w > 0 && h > 0 && w <= im->w && h <= im->h) {
            cw = w;
            ch = h;
            x0 = (double)nn_rng_below(r, (uint64_t)(im->w - w + 1));
            y0 = (double)nn_rng_below(r, (uint64_t)(im->h - h + 1));
            found = 1;
        }
    }
    if (!found) {
        double ratio = (double)im->w / im->h;
        if (ratio < 3.0 / 4.0) {
            cw = im->w;
            ch = round(cw / (3.0 / 4.0));
        } else if (ratio > 4.0 / 3.0) {
            ch = im->h;
            cw = round(ch * (4.0 / 3.0));
        } else {
            cw = im->w;
            ch = im->h;
        }
        x0 = (im->w - cw) / 2;
        y0 = (im->h - ch) / 2;
    }
    int flip = (int)nn_rng_below(r, 2);
    data_resample(im, x0, y0, cw, ch, oh, ow, 1, out);
    finish(t, out, flip);
}
