/* The built-in synthetic image set: the default data of the demo and the tests.
 *
 * Each class is a fixed composition of three windowed colour gratings (orientation, spatial
 * frequency, phase, position, colour drawn once from the set's seed). An image of class k
 * renders k's gratings with a random shift, per-grating jitter of angle, frequency and
 * contrast, one weaker grating borrowed from another class as a distractor, a random colour
 * gradient background and per-pixel Gaussian noise. Classes overlap in colour and frequency,
 * so a small network needs several epochs to separate them, and the fine differences in
 * frequency and colour are what coarse quantization destroys.
 *
 * Every image is a pure function of (seed, split, index): any image can be made on any thread
 * in any order, and the two splits never share an image. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "nn/error.h"
#include "nn/rng.h"

#define N_COMP 3

struct grating {
    float freq, angle, phase, cx, cy, sigma, amp;
    float color[3];
};

struct synth {
    int classes, size;
    uint64_t seed;
    struct grating *g; /* [classes][N_COMP] */
};

static void make_grating(struct nn_rng *r, struct grating *g) {
    g->freq = 1.5f + 3.5f * nn_rng_uniform(r);           /* cycles per image width */
    g->angle = (float)M_PI * nn_rng_uniform(r);
    g->phase = 2.0f * (float)M_PI * nn_rng_uniform(r);
    g->cx = 0.2f + 0.6f * nn_rng_uniform(r);             /* fractions of the image */
    g->cy = 0.2f + 0.6f * nn_rng_uniform(r);
    g->sigma = 0.15f + 0.2f * nn_rng_uniform(r);
    g->amp = 0.6f + 0.4f * nn_rng_uniform(r);
    float n = 0;
    for (int c = 0; c < 3; c++) {
        g->color[c] = 2.0f * nn_rng_uniform(r) - 1.0f;
        n += g->color[c] * g->color[c];
    }
    n = sqrtf(n) + 1e-6f;
    for (int c = 0; c < 3; c++) g->color[c] /= n;
}

/* Add amp·colour·window·sin(…) of one grating, jittered by the caller, to v [S][S][3]. */
static void render(float *v, int S, const struct grating *g, float dx, float dy, float amp,
                   float dfreq, float dangle) {
    float f = g->freq * dfreq * 2.0f * (float)M_PI / (float)S, a = g->angle + dangle;
    float ca = cosf(a), sa = sinf(a);
    float cx = g->cx * S + dx, cy = g->cy * S + dy, inv2s2 = 1.0f / (2.0f * g->sigma * g->sigma * S * S);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            float ex = (float)x - cx, ey = (float)y - cy;
            float w = expf(-(ex * ex + ey * ey) * inv2s2);
            if (w < 1e-3f) continue;
            float s = amp * w * sinf(f * ((float)x * ca + (float)y * sa) + g->phase);
            float *p = v + ((size_t)y * S + x) * 3;
            for (int c = 0; c < 3; c++) p[c] += s * g->color[c];
        }
}

static uint64_t image_seed(uint64_t seed, int split, size_t idx) {
    return seed * 0x9e3779b97f4a7c15ull ^ ((uint64_t)split << 62) ^ (uint64_t)idx * 0xbf58476d1ce4e5b9ull;
}

static int synth_load(struct data_source *s, int split, size_t idx, struct data_image *im,
                      int *label) {
    const struct synth *sy = s->impl;
    if (split < 0 || split > 1 || idx >= s->count[split])
        return nn_err("synthetic: image %zu of split %d out of range", idx, split);
    int S = sy->size;
    if (data_image_alloc(im, S, S, 3)) return -1;
    struct nn_rng r;
    nn_rng_seed(&r, image_seed(sy->seed, split, idx));
    int k = (int)nn_rng_below(&r, (uint64_t)sy->classes);
    *label = k;
    float *v = calloc((size_t)S * S * 3, sizeof(float));
    if (!v) return nn_err("synthetic: out of memory");
    /* background: a random linear colour gradient */
    float b0[3], bx[3], by[3];
    for (int c = 0; c < 3; c++) {
        b0[c] = 0.3f * (2.0f * nn_rng_uniform(&r) - 1.0f);
        bx[c] = 0.3f * (2.0f * nn_rng_uniform(&r) - 1.0f) / S;
        by[c] = 0.3f * (2.0f * nn_rng_uniform(&r) - 1.0f) / S;
    }
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++)
            for (int c = 0; c < 3; c++) v[((size_t)y * S + x) * 3 + c] = b0[c] + bx[c] * x + by[c] * y;
    float dx = (nn_rng_uniform(&r) - 0.5f) * S / 4.0f, dy = (nn_rng_uniform(&r) - 0.5f) * S / 4.0f;
    for (int m = 0; m < N_COMP; m++) {
        const struct grating *g = &sy->g[k * N_COMP + m];
        float amp = g->amp * (0.7f + 0.6f * nn_rng_uniform(&r));
        float df = 0.9f + 0.2f * nn_rng_uniform(&r), da = 0.3f * (nn_rng_uniform(&r) - 0.5f);
        render(v, S, g, dx, dy, amp, df, da);
    }
    if (sy->classes > 1) { /* a weaker grating of another class */
        int o = (k + 1 + (int)nn_rng_below(&r, (uint64_t)sy->classes - 1)) % sy->classes;
        const struct grating *g = &sy->g[o * N_COMP + (int)nn_rng_below(&r, N_COMP)];
        float ox = (nn_rng_uniform(&r) - 0.5f) * S / 2.0f, oy = (nn_rng_uniform(&r) - 0.5f) * S / 2.0f;
        render(v, S, g, ox, oy, 0.5f * g->amp * nn_rng_uniform(&r), 1.0f, 0.0f);
    }
    for (size_t i = 0; i < (size_t)S * S * 3; i++) {
        float p = 128.0f + 70.0f * (v[i] + 0.2f * (float)nn_rng_normal(&r));
        im->px[i] = (uint8_t)(p < 0.0f ? 0.0f : p > 255.0f ? 255.0f : p + 0.5f);
    }
    free(v);
    return 0;
}

static void synth_close(struct data_source *s) {
    struct synth *sy = s->impl;
    free(sy->g);
    free(sy);
    free(s);
}

static const struct data_source_ops synth_ops = {synth_load, synth_close, NULL};

int data_open_synthetic(const char *spec, const char *opts, struct data_source **out) {
    static const char *const keys[] = {"classes", "size", "train", "val", "seed", NULL};
    long v[5] = {10, 32, 10000, 2000, 1};
    if (data_spec_options(spec, opts, keys, v)) return -1;
    if (v[0] < 2 || v[0] > 1000 || v[1] < 8 || v[1] > 512 || v[2] < 1 || v[3] < 1 ||
        v[2] > 100000000 || v[3] > 100000000)
        return nn_err("data '%s': need 2 ≤ classes ≤ 1000, 8 ≤ size ≤ 512, train and val ≥ 1",
                      spec);
    struct data_source *s = calloc(1, sizeof *s);
    struct synth *sy = calloc(1, sizeof *sy);
    if (sy) sy->g = calloc((size_t)v[0] * N_COMP, sizeof *sy->g);
    if (!s || !sy || !sy->g) {
        free(s);
        if (sy) free(sy->g);
        free(sy);
        return nn_err("synthetic: out of memory");
    }
    sy->classes = (int)v[0];
    sy->size = (int)v[1];
    sy->seed = (uint64_t)v[4];
    struct nn_rng r;
    nn_rng_seed(&r, sy->seed ^ 0x5eedc1a55ull);
    for (int i = 0; i < sy->classes * N_COMP; i++) make_grating(&r, &sy->g[i]);
    s->ops = &synth_ops;
    s->impl = sy;
    snprintf(s->kind, sizeof s->kind, "synthetic");
    snprintf(s->desc, sizeof s->desc, "synthetic: %d classes, %dx%d RGB, %ld train + %ld val, seed %ld",
             sy->classes, sy->size, sy->size, v[2], v[3], v[4]);
    s->classes = sy->classes;
    s->c = 3;
    s->h = s->w = sy->size;
    s->count[DATA_TRAIN] = (size_t)v[2];
    s->count[DATA_VAL] = (size_t)v[3];
    /* normalization from a fixed sample of the train split */
    double sum[3] = {0}, sq[3] = {0};
    size_t n = 0;
    struct data_image im = {0};
    for (size_t i = 0; i < 64 && i < s->count[DATA_TRAIN]; i++) {
        int lab;
        if (synth_load(s, DATA_TRAIN, i, &im, &lab)) {
            data_image_free(&im);
            synth_close(s);
            return -1;
        }
        for (size_t p = 0; p < (size_t)im.h * im.w; p++, n++)
            for (int c = 0; c < 3; c++) {
                double x = im.px[p * 3 + c] / 255.0;
                sum[c] += x;
                sq[c] += x * x;
            }
    }
    data_image_free(&im);
    for (int c = 0; c < 3; c++) {
        double m = sum[c] / n;
        s->mean[c] = (float)m;
        s->std[c] = (float)sqrt(sq[c] / n - m * m);
    }
    *out = s;
    return 0;
}
