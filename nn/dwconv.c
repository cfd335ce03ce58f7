#include "dwconv.h"

#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "error.h"
#include "pool.h"

#define CB 8 /* channel block of the portable kernels (two SSE or one AVX register) */

/* ---- portable row kernels ------------------------------------------------------------------- */

static void fwd_row(const struct nn_conv_shape *s, float *out_row, const float *in_img, int y,
                    const float *w, const float *bias) {
    int C = s->cin;
    for (int x = 0; x < s->wo; x++) {
        float *o = out_row + (size_t)x * C;
        for (int c = 0; c < C; c++) o[c] = bias ? bias[c] : 0.0f;
        for (int i = 0; i < s->kh; i++) {
            int yy = y * s->stride - s->pad_h + i;
            if (yy < 0 || yy >= s->h) continue;
            for (int j = 0; j < s->kw; j++) {
                int xx = x * s->stride - s->pad_w + j;
                if (xx < 0 || xx >= s->w) continue;
                const float *src = in_img + ((size_t)yy * s->w + xx) * C;
                const float *wt = w + (size_t)(i * s->kw + j) * C;
                for (int c = 0; c < C; c++) o[c] += src[c] * wt[c];
            }
        }
    }
}

static void bwdd_row(const struct nn_conv_shape *s, float *din_row, const float *dout_img,
                     int yy, const float *w, int accum) {
    int C = s->cin;
    for (int xx = 0; xx < s->w; xx++) {
        float *d = din_row + (size_t)xx * C;
        if (!accum) memset(d, 0, (size_t)C * sizeof(float));
        for (int i = 0; i < s->kh; i++) {
            int ty = yy + s->pad_h - i;
            if (ty < 0 || ty % s->stride || ty / s->stride >= s->ho) continue;
            int y = ty / s->stride;
            for (int j = 0; j < s->kw; j++) {
                int tx = xx + s->pad_w - j;
                if (tx < 0 || tx % s->stride || tx / s->stride >= s->wo) continue;
                int x = tx / s->stride;
                const float *g = dout_img + ((size_t)y * s->wo + x) * C;
                const float *wt = w + (size_t)(i * s->kw + j) * C;
                for (int c = 0; c < C; c++) d[c] += g[c] * wt[c];
            }
        }
    }
}

static void bwdw_row(const struct nn_conv_shape *s, float *dwp, float *dbp,
                     const float *dout_row, const float *in_img, int y) {
    int C = s->cin;
    if (dbp)
        for (int x = 0; x < s->wo; x++)
            for (int c = 0; c < C; c++) dbp[c] += dout_row[(size_t)x * C + c];
    for (int i = 0; i < s->kh; i++) {
        int yy = y * s->stride - s->pad_h + i;
        if (yy < 0 || yy >= s->h) continue;
        const float *in_row = in_img + (size_t)yy * s->w * C;
        for (int j = 0; j < s->kw; j++) {
            int x0, x1;
            nn_dw_xrange(s, j, &x0, &x1);
            float *acc = dwp + (size_t)(i * s->kw + j) * C;
            for (int c0 = 0; c0 < C; c0 += CB) {
                int cn = C - c0 < CB ? C - c0 : CB;
                float a[CB] = {0};
                for (int x = x0; x < x1; x++) {
                    const float *g = dout_row + (size_t)x * C + c0;
                    const float *src = in_row + (size_t)(x * s->stride - s->pad_w + j) * C + c0;
                    for (int c = 0; c < cn; c++) a[c] += g[c] * src[c];
                }
                for (int c = 0; c < cn; c++) acc[c0 + c] += a[c];
            }
        }
    }
}

const struct nn_dw_kernels nn_dw_generic = {fwd_row, bwdd_row, bwdw_row};

static const struct nn_dw_kernels *kernels(void) {
#ifndef HAQ_NOSIMD
    if (nn_isa() == NN_ISA_AVX2) return &nn_dw_avx2;
#endif
    return &nn_dw_generic;
}

/* ---- drivers -------------------------------------------------------------------------------- */

struct dw_job {
    const struct nn_conv_shape *s;
    const struct nn_dw_kernels *k;
    float *out;
    const float *in, *w, *bias;
    float *din;
    const float *dout;
    int accum;
    float *part; /* [nth][kh·kw·C + C] weight and bias partial sums */
    size_t part_stride;
    int want_bias;
};

static void fwd_task(void *p, size_t lo, size_t hi, int tid) {
    (void)tid;
    struct dw_job *j = p;
    const struct nn_conv_shape *s = j->s;
    for (size_t r = lo; r < hi; r++) {
        int b = (int)(r / s->ho), y = (int)(r % s->ho);
        j->k->fwd(s, j->out + r * s->wo * s->cout, j->in + (size_t)b * s->h * s->w * s->cin, y,
                  j->w, j->bias);
    }
}

void nn_dwconv_forward(const struct nn_conv_shape *s, float *out, const float *in,
                       const float *w, const float *bias) {
    struct dw_job j = {s, kernels(), out, in, w, bias, NULL, NULL, 0, NULL, 0, 0};
    nn_parallel_for((size_t)s->n * s->ho, 2, fwd_task, &j);
}

static void bwdd_task(void *p, size_t lo, size_t hi, int tid) {
    (void)tid;
    struct dw_job *j = p;
    const struct nn_conv_shape *s = j->s;
    for (size_t r = lo; r < hi; r++) {
        int b = (int)(r / s->h), yy = (int)(r % s->h);
        j->k->bwdd(s, j->din + r * s->w * s->cin, j->dout + (size_t)b * s->ho * s->wo * s->cout,
                   yy, j->w, j->accum);
    }
}

static void bwdw_task(void *p, int tid, int nth) {
    struct dw_job *j = p;
    const struct nn_conv_shape *s = j->s;
    size_t lo, hi;
    nn_split((size_t)s->n * s->ho, nth, tid, 1, &lo, &hi);
    float *dwp = j->part + (size_t)tid * j->part_stride;
    size_t nw = (size_t)s->kh * s->kw * s->cin;
    memset(dwp, 0, j->part_stride * sizeof(float));
    for (size_t r = lo; r < hi; r++) {
        int b = (int)(r / s->ho), y = (int)(r % s->ho);
        j->k->bwdw(s, dwp, j->want_bias ? dwp + nw : NULL, j->dout + r * s->wo * s->cout,
                   j->in + (size_t)b * s->h * s->w * s->cin, y);
    }
}

int nn_dwconv_backward(const struct nn_conv_shape *s, float *din, int accum, float *dw,
                       float *dbias, const float *dout, const float *in, const float *w) {
    struct dw_job j = {s, kernels(), NULL, in, w, NULL, din, dout, accum, NULL, 0, dbias != NULL};
    size_t nw = (size_t)s->kh * s->kw * s->cin;
    int nth = nn_pool_threads_for((size_t)s->n * s->ho, 4);
    j.part_stride = (nw + s->cin + 15) & ~(size_t)15;
    j.part = malloc((size_t)nth * j.part_stride * sizeof(float));
    if (!j.part) return nn_err("out of memory (depthwise weight gradient, %d threads)", nth);
    if (din) nn_parallel_for((size_t)s->n * s->h, 2, bwdd_task, &j);
    nn_pool_run(bwdw_task, &j, nth);
    for (int t = 0; t < nth; t++) {
        const float *pt = j.part + (size_t)t * j.part_stride;
        for (size_t i = 0; i < nw; i++) dw[i] += pt[i];
        if (dbias)
            for (int c = 0; c < s->cin; c++) dbias[c] += pt[nw + c];
    }
    free(j.part);
    return 0;
}
