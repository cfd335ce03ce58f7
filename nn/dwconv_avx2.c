/* AVX2 + FMA row kernels for depthwise convolution (contract in dwconv.h).
 *
 * Channels are processed eight at a time; a tail of C mod 8 channels goes through the
 * portable kernel's arithmetic on scalars. For 3×3 kernels the interior columns (every tap
 * inside the image) keep all nine weights (forward) or nine weight-gradient accumulators
 * (backward) in registers; borders and other kernel sizes take the general tap loop. */
#include <immintrin.h>
#include <string.h>

#include "dwconv.h"

/* Columns whose kw taps all fall inside the input row: [*xa, *xb). */
static void interior(const struct nn_conv_shape *s, int *xa, int *xb) {
    int a = (s->pad_w + s->stride - 1) / s->stride;
    int last = s->w - s->kw + s->pad_w; /* need x·s ≤ last */
    int b = last < 0 ? 0 : last / s->stride + 1;
    if (b > s->wo) b = s->wo;
    if (a > b) a = b;
    *xa = a;
    *xb = b;
}

/* One output pixel, channels [c0, c0+8), all valid taps (general path). */
static inline __m256 fwd_px(const struct nn_conv_shape *s, const float *in_img, int y, int x,
                            const float *w, __m256 acc, int c0) {
    int C = s->cin;
    for (int i = 0; i < s->kh; i++) {
        int yy = y * s->stride - s->pad_h + i;
        if (yy < 0 || yy >= s->h) continue;
        for (int j = 0; j < s->kw; j++) {
            int xx = x * s->stride - s->pad_w + j;
            if (xx < 0 || xx >= s->w) continue;
            __m256 v = _mm256_loadu_ps(in_img + ((size_t)yy * s->w + xx) * C + c0);
            acc = _mm256_fmadd_ps(v, _mm256_loadu_ps(w + (size_t)(i * s->kw + j) * C + c0), acc);
        }
    }
    return acc;
}

static void fwd_row(const struct nn_conv_shape *s, float *out_row, const float *in_img, int y,
                    const float *w, const float *bias) {
    int C = s->cin, st = s->stride;
    int xa, xb;
    interior(s, &xa, &xb);
    int y0 = y * st - s->pad_h;
    int rows_ok = y0 >= 0 && y0 + s->kh <= s->h;
    int c0 = 0;
    for (; c0 + 8 <= C; c0 += 8) {
        __m256 b = bias ? _mm256_loadu_ps(bias + c0) : _mm256_setzero_ps();
        float *o = out_row + c0;
        if (s->kh == 3 && s->kw == 3 && rows_ok) {
            const float *wc = w + c0;
            __m256 w00 = _mm256_loadu_ps(wc), w01 = _mm256_loadu_ps(wc + C);
            __m256 w02 = _mm256_loadu_ps(wc + 2 * C), w10 = _mm256_loadu_ps(wc + 3 * C);
            __m256 w11 = _mm256_loadu_ps(wc + 4 * C), w12 = _mm256_loadu_ps(wc + 5 * C);
            __m256 w20 = _mm256_loadu_ps(wc + 6 * C), w21 = _mm256_loadu_ps(wc + 7 * C);
            __m256 w22 = _mm256_loadu_ps(wc + 8 * C);
            const float *r0 = in_img + (size_t)y0 * s->w * C + c0;
            const float *r1 = r0 + (size_t)s->w * C, *r2 = r1 + (size_t)s->w * C;
            for (int x = 0; x < xa; x++)
                _mm256_storeu_ps(o + (size_t)x * C, fwd_px(s, in_img, y, x, w, b, c0));
            for (int x = xa; x < xb; x++) {
                size_t off = (size_t)(x * st - s->pad_w) * C;
                __m256 a0 = _mm256_fmadd_ps(_mm256_loadu_ps(r0 + off), w00, b);
                __m256 a1 = _mm256_mul_ps(_mm256_loadu_ps(r0 + off + C), w01);
                __m256 a2 = _mm256_mul_ps(_mm256_loadu_ps(r0 + off + 2 * C), w02);
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(r1 + off), w10, a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(r1 + off + C), w11, a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(r1 + off + 2 * C), w12, a2);
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(r2 + off), w20, a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(r2 + off + C), w21, a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(r2 + off + 2 * C), w22, a2);
                _mm256_storeu_ps(o + (size_t)x * C, _mm256_add_ps(_mm256_add_ps(a0, a1), a2));
            }
            for (int x = xb; x < s->wo; x++)
                _mm256_storeu_ps(o + (size_t)x * C, fwd_px(s, in_img, y, x, w, b, c0));
        } else {
            for (int x = 0; x < s->wo; x++)
                _mm256_storeu_ps(o + (size_t)x * C, fwd_px(s, in_img, y, x, w, b, c0));
        }
    }
    for (; c0 < C; c0++) {
        for (int x = 0; x < s->wo; x++) {
            float acc = bias ? bias[c0] : 0.0f;
            for (int i = 0; i < s->kh; i++) {
                int yy = y * st - s->pad_h + i;
                if (yy < 0 || yy >= s->h) continue;
                for (int j = 0; j < s->kw; j++) {
                    int xx = x * st - s->pad_w + j;
                    if (xx < 0 || xx >= s->w) continue;
                    acc += in_img[((size_t)yy * s->w + xx) * C + c0] *
                           w[(size_t)(i * s->kw + j) * C + c0];
                }
            }
            out_row[(size_t)x * C + c0] = acc;
        }
    }
}

static void bwdd_row(const struct nn_conv_shape *s, float *din_row, const float *dout_img,
                     int yy, const float *w, int accum) {
    int C = s->cin, st = s->stride;
    /* kernel rows i that reach this input row, with their output row y */
    int ys[16], is[16], ni = 0;
    for (int i = 0; i < s->kh && ni < 16; i++) {
        int ty = yy + s->pad_h - i;
        if (ty < 0 || ty % st || ty / st >= s->ho) continue;
        ys[ni] = ty / st;
        is[ni++] = i;
    }
    int big = s->kh > 16;
    for (int xx = 0; xx < s->w; xx++) {
        float *d = din_row + (size_t)xx * C;
        int js[16], xs[16], nj = 0;
        for (int j = 0; j < s->kw && nj < 16; j++) {
            int tx = xx + s->pad_w - j;
            if (tx < 0 || tx % st || tx / st >= s->wo) continue;
            xs[nj] = tx / st;
            js[nj++] = j;
        }
        if (big || s->kw > 16) { /* more than 16 taps a side: plain loops */
            if (!accum) memset(d, 0, (size_t)C * sizeof(float));
            for (int i = 0; i < s->kh; i++) {
                int ty = yy + s->pad_h - i;
                if (ty < 0 || ty % st || ty / st >= s->ho) continue;
                for (int j = 0; j < s->kw; j++) {
                    int tx = xx + s->pad_w - j;
                    if (tx < 0 || tx % st || tx / st >= s->wo) continue;
                    const float *g = dout_img + ((size_t)(ty / st) * s->wo + tx / st) * C;
                    const float *wt = w + (size_t)(i * s->kw + j) * C;
                    for (int c = 0; c < C; c++) d[c] += g[c] * wt[c];
                }
            }
            continue;
        }
        int c0 = 0;
        for (; c0 + 8 <= C; c0 += 8) {
            __m256 acc = accum ? _mm256_loadu_ps(d + c0) : _mm256_setzero_ps();
            for (int a = 0; a < ni; a++) {
                const float *grow = dout_img + (size_t)ys[a] * s->wo * C + c0;
                const float *wrow = w + (size_t)is[a] * s->kw * C + c0;
                for (int b = 0; b < nj; b++)
                    acc = _mm256_fmadd_ps(_mm256_loadu_ps(grow + (size_t)xs[b] * C),
                                          _mm256_loadu_ps(wrow + (size_t)js[b] * C), acc);
            }
            _mm256_storeu_ps(d + c0, acc);
        }
        for (; c0 < C; c0++) {
            float acc = accum ? d[c0] : 0.0f;
            for (int a = 0; a < ni; a++)
                for (int b = 0; b < nj; b++)
                    acc += dout_img[((size_t)ys[a] * s->wo + xs[b]) * C + c0] *
                           w[(size_t)(is[a] * s->kw + js[b]) * C + c0];
            d[c0] = acc;
        }
    }
}

/* dwp[tap][c0..c0+8) += Σ_{x in [x0,x1)} g[x] · in[x·s − pw + j], with four accumulators to
 * hide the FMA latency. */
static inline __m256 dot_cols(const float *g, const float *src, int x0, int x1, int C, int st,
                              int off) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int x = x0;
    for (; x + 4 <= x1; x += 4) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(g + (size_t)x * C),
                             _mm256_loadu_ps(src + (size_t)(x * st + off) * C), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(g + (size_t)(x + 1) * C),
                             _mm256_loadu_ps(src + (size_t)((x + 1) * st + off) * C), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(g + (size_t)(x + 2) * C),
                             _mm256_loadu_ps(src + (size_t)((x + 2) * st + off) * C), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(g + (size_t)(x + 3) * C),
                             _mm256_loadu_ps(src + (size_t)((x + 3) * st + off) * C), a3);
    }
    for (; x < x1; x++)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(g + (size_t)x * C),
                             _mm256_loadu_ps(src + (size_t)(x * st + off) * C), a0);
    return _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
}

static void bwdw_row(const struct nn_conv_shape *s, float *dwp, float *dbp,
                     const float *dout_row, const float *in_img, int y) {
    int C = s->cin, st = s->stride;
    int c0 = 0;
    for (; c0 + 8 <= C; c0 += 8) {
        if (dbp) {
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            int x = 0;
            for (; x + 2 <= s->wo; x += 2) {
                a0 = _mm256_add_ps(a0, _mm256_loadu_ps(dout_row + (size_t)x * C + c0));
                a1 = _mm256_add_ps(a1, _mm256_loadu_ps(dout_row + (size_t)(x + 1) * C + c0));
            }
            for (; x < s->wo; x++)
                a0 = _mm256_add_ps(a0, _mm256_loadu_ps(dout_row + (size_t)x * C + c0));
            _mm256_storeu_ps(dbp + c0,
                             _mm256_add_ps(_mm256_loadu_ps(dbp + c0), _mm256_add_ps(a0, a1)));
        }
        for (int i = 0; i < s->kh; i++) {
            int yy = y * st - s->pad_h + i;
            if (yy < 0 || yy >= s->h) continue;
            const float *src = in_img + (size_t)yy * s->w * C + c0;
            for (int j = 0; j < s->kw; j++) {
                int x0, x1;
                nn_dw_xrange(s, j, &x0, &x1);
                float *acc = dwp + (size_t)(i * s->kw + j) * C + c0;
                __m256 v = dot_cols(dout_row + c0, src, x0, x1, C, st, j - s->pad_w);
                _mm256_storeu_ps(acc, _mm256_add_ps(_mm256_loadu_ps(acc), v));
            }
        }
    }
    for (; c0 < C; c0++) {
        if (dbp)
            for (int x = 0; x < s->wo; x++) dbp[c0] += dout_row[(size_t)x * C + c0];
        for (int i = 0; i < s->kh; i++) {
            int yy = y * st - s->pad_h + i;
            if (yy < 0 || yy >= s->h) continue;
            for (int j = 0; j < s->kw; j++) {
                int x0, x1;
                nn_dw_xrange(s, j, &x0, &x1);
                float a = 0;
                for (int x = x0; x < x1; x++)
                    a += dout_row[(size_t)x * C + c0] *
                         in_img[((size_t)yy * s->w + x * st - s->pad_w + j) * C + c0];
                dwp[(size_t)(i * s->kw + j) * C + c0] += a;
            }
        }
    }
}

const struct nn_dw_kernels nn_dw_avx2 = {fwd_row, bwdd_row, bwdw_row};
