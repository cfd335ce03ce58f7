#include "conv.h"

#include <math.h>
#include <string.h>

#include "dwconv.h"
#include "error.h"
#include "gemm.h"
#include "layers.h"
#include "pool.h"

/* An im2col chunk holds whole images, up to this many floats unless one image alone is
 * larger: big enough for full-speed GEMMs, small enough to stay in the last-level cache. */
#define COL_CAP ((size_t)2 << 20)

int nn_conv_shape_init(struct nn_conv_shape *s, int n, int h, int w, int cin, int cout, int kh,
                       int kw, int stride, int pad_h, int pad_w, int groups) {
    if (n < 1 || h < 1 || w < 1 || cin < 1 || cout < 1 || kh < 1 || kw < 1 || stride < 1 ||
        pad_h < 0 || pad_w < 0 || groups < 1)
        return nn_err("conv: invalid geometry (n=%d h=%d w=%d cin=%d cout=%d k=%dx%d s=%d)", n,
                      h, w, cin, cout, kh, kw, stride);
    if (cin % groups || cout % groups)
        return nn_err("conv: %d groups do not divide cin=%d and cout=%d", groups, cin, cout);
    int ho = (h + 2 * pad_h - kh) / stride + 1, wo = (w + 2 * pad_w - kw) / stride + 1;
    if (h + 2 * pad_h < kh || w + 2 * pad_w < kw || ho < 1 || wo < 1)
        return nn_err("conv: %dx%d kernel larger than padded %dx%d input", kh, kw, h, w);
    *s = (struct nn_conv_shape){n, h, w, cin, kh, kw, stride, pad_h, pad_w, groups, cout, ho, wo};
    return 0;
}

int nn_conv_is_depthwise(const struct nn_conv_shape *s) {
    return s->groups == s->cin && s->cin == s->cout && s->groups > 1;
}

double nn_conv_macs(const struct nn_conv_shape *s) {
    return (double)s->n * s->ho * s->wo * s->cout * s->kh * s->kw * (s->cin / s->groups);
}

static int is_direct_1x1(const struct nn_conv_shape *s) {
    return s->kh == 1 && s->kw == 1 && s->stride == 1 && s->pad_h == 0 && s->pad_w == 0;
}

static size_t col_k(const struct nn_conv_shape *s) {
    return (size_t)s->kh * s->kw * (s->cin / s->groups);
}

static int chunk_images(const struct nn_conv_shape *s) {
    size_t per_img = (size_t)s->ho * s->wo * col_k(s);
    size_t imgs = COL_CAP / (per_img ? per_img : 1);
    if (imgs < 1) imgs = 1;
    return imgs < (size_t)s->n ? (int)imgs : s->n;
}

size_t nn_conv_scratch_floats(const struct nn_conv_shape *s) {
    if (nn_conv_is_depthwise(s) || is_direct_1x1(s)) return 0;
    /* backward needs the column matrix and its gradient at once */
    return 2 * (size_t)chunk_images(s) * s->ho * s->wo * col_k(s);
}

/* ---- im2col / col2im ------------------------------------------------------------------------ */

struct col_job {
    const struct nn_conv_shape *s;
    int b0, g;
    const float *in; /* im2col source */
    float *col;
    float *din; /* col2im destination */
    const float *dcol;
    int accum;
};

/* col[(b−b0)·ho·wo + y·wo + x][(i·kw + j)·cig + c] = in[b][y·s − ph + i][x·s − pw + j][g·cig + c]
 * (zero outside the image), for output rows r = (b − b0)·ho + y in [lo, hi). */
static void im2col_rows(void *p, size_t lo, size_t hi, int tid) {
    (void)tid;
    const struct col_job *j = p;
    const struct nn_conv_shape *s = j->s;
    int cig = s->cin / s->groups;
    size_t kk = col_k(s);
    for (size_t r = lo; r < hi; r++) {
        int b = j->b0 + (int)(r / s->ho), y = (int)(r % s->ho);
        float *dst = j->col + r * s->wo * kk;
        for (int x = 0; x < s->wo; x++) {
            for (int i = 0; i < s->kh; i++) {
                int yy = y * s->stride - s->pad_h + i;
                for (int jj = 0; jj < s->kw; jj++, dst += cig) {
                    int xx = x * s->stride - s->pad_w + jj;
                    if (yy < 0 || yy >= s->h || xx < 0 || xx >= s->w) {
                        memset(dst, 0, (size_t)cig * sizeof(float));
                    } else {
                        const float *src =
                            j->in + (((size_t)b * s->h + yy) * s->w + xx) * s->cin + j->g * cig;
                        memcpy(dst, src, (size_t)cig * sizeof(float));
                    }
                }
            }
        }
    }
}

/* The adjoint of im2col as a gather: each input pixel sums the column entries that copied it,
 * so threads own disjoint input rows (b, yy) and the sum order is fixed. */
static void col2im_rows(void *p, size_t lo, size_t hi, int tid) {
    (void)tid;
    const struct col_job *j = p;
    const struct nn_conv_shape *s = j->s;
    int cig = s->cin / s->groups;
    size_t kk = col_k(s);
    for (size_t r = lo; r < hi; r++) {
        int bl = (int)(r / s->h), yy = (int)(r % s->h);
        for (int xx = 0; xx < s->w; xx++) {
            float *d = j->din + (((size_t)(j->b0 + bl) * s->h + yy) * s->w + xx) * s->cin +
                       j->g * cig;
            if (!j->accum) memset(d, 0, (size_t)cig * sizeof(float));
            for (int i = 0; i < s->kh; i++) {
                int ty = yy + s->pad_h - i;
                if (ty < 0 || ty % s->stride) continue;
                int y = ty / s->stride;
                if (y >= s->ho) continue;
                for (int jj = 0; jj < s->kw; jj++) {
                    int tx = xx + s->pad_w - jj;
                    if (tx < 0 || tx % s->stride) continue;
                    int x = tx / s->stride;
                    if (x >= s->wo) continue;
                    const float *src = j->dcol + (((size_t)bl * s->ho + y) * s->wo + x) * kk +
                                       (size_t)(i * s->kw + jj) * cig;
                    for (int c = 0; c < cig; c++) d[c] += src[c];
                }
            }
        }
    }
}

/* The im2col matrix of group g, packed straight from the image into GEMM slivers: row
 * r = (b·ho + y)·wo + x, column p = (i·kw + j)·cig + c; dst[(p − p0)·6 + r − i0]. */
struct col_src {
    const struct nn_conv_shape *s;
    const float *in;
    int g;
};

static void col_pack(const void *ctx, int i0, int mr, int p0, int kc, float *dst) {
    const struct col_src *cs = ctx;
    const struct nn_conv_shape *s = cs->s;
    int cig = s->cin / s->groups;
    enum { MRW = 6 };
    for (int r = 0; r < MRW; r++) {
        if (r >= mr) { /* padding rows of the last sliver */
            for (int p = 0; p < kc; p++) dst[p * MRW + r] = 0.0f;
            continue;
        }
        int row = i0 + r;
        int x = row % s->wo, y = (row / s->wo) % s->ho, b = row / (s->wo * s->ho);
        const float *img = cs->in + (size_t)b * s->h * s->w * s->cin + cs->g * cig;
        int p = p0, end = p0 + kc;
        while (p < end) {
            int tap = p / cig, c = p % cig, run = cig - c;
            int yy = y * s->stride - s->pad_h + tap / s->kw, j = tap % s->kw;
            int xx = x * s->stride - s->pad_w + j;
            int inside = yy >= 0 && yy < s->h && xx >= 0 && xx < s->w;
            if (inside && s->groups == 1) {
                /* without groups, the taps j, j+1 … of one kernel row are adjacent pixels,
                 * so their channels form one contiguous run of the image */
                int last = s->kw - 1, right = s->w - 1 - (x * s->stride - s->pad_w);
                if (right < last) last = right;
                run += (last - j) * cig;
            }
            if (run > end - p) run = end - p;
            float *d = dst + (size_t)(p - p0) * MRW + r;
            if (!inside) {
                for (int q = 0; q < run; q++) d[q * MRW] = 0.0f;
            } else {
                const float *src = img + ((size_t)yy * s->w + xx) * s->cin + c;
                for (int q = 0; q < run; q++) d[q * MRW] = src[q];
            }
            p += run;
        }
    }
}

/* ---- forward / backward --------------------------------------------------------------------- */

void nn_conv_forward(const struct nn_conv_shape *s, float *out, const float *in, const float *w,
                     const float *bias, float *scratch) {
    if (nn_conv_is_depthwise(s)) {
        nn_dwconv_forward(s, out, in, w, bias);
        return;
    }
    int cig = s->cin / s->groups, cog = s->cout / s->groups;
    if (is_direct_1x1(s)) {
        int m = s->n * s->h * s->w;
        for (int g = 0; g < s->groups; g++) {
            struct nn_gemm_epi epi = {bias ? bias + g * cog : NULL, -INFINITY, INFINITY};
            nn_sgemm_ex(0, 0, 0, m, cog, cig, 1.0f, in + g * cig, s->cin, w + g * cog, s->cout,
                        0.0f, out + g * cog, s->cout, bias ? &epi : NULL);
        }
        return;
    }
    /* the im2col matrix never materialized: the GEMM packs it from the image */
    (void)scratch;
    int kk = (int)col_k(s), rows = s->n * s->ho * s->wo;
    for (int g = 0; g < s->groups; g++) {
        struct col_src cs = {s, in, g};
        struct nn_gemm_asrc a = {col_pack, &cs};
        struct nn_gemm_epi epi = {bias ? bias + g * cog : NULL, -INFINITY, INFINITY};
        nn_sgemm_asrc(0, &a, 0, rows, cog, kk, 1.0f, w + g * cog, s->cout, 0.0f, out + g * cog,
                      s->cout, bias ? &epi : NULL);
    }
}

int nn_conv_backward(const struct nn_conv_shape *s, float *din, int accum, float *dw,
                     float *dbias, const float *dout, const float *in, const float *w,
                     float *scratch) {
    if (nn_conv_is_depthwise(s)) return nn_dwconv_backward(s, din, accum, dw, dbias, dout, in, w);
    int cig = s->cin / s->groups, cog = s->cout / s->groups;
    if (dbias && nn_colsum_add(dbias, dout, (size_t)s->n * s->ho * s->wo, s->cout)) return -1;
    if (is_direct_1x1(s)) {
        int m = s->n * s->h * s->w;
        for (int g = 0; g < s->groups; g++) {
            /* dW_g[cig×cog] += X_gᵀ · dY_g;  dX_g = dY_g · W_gᵀ */
            nn_sgemm_ex(0, 1, 0, cig, cog, m, 1.0f, in + g * cig, s->cin, dout + g * cog,
                        s->cout, 1.0f, dw + g * cog, s->cout, NULL);
            if (din)
                nn_sgemm_ex(0, 0, 1, m, cig, cog, 1.0f, dout + g * cog, s->cout, w + g * cog,
                            s->cout, accum ? 1.0f : 0.0f, din + g * cig, s->cin, NULL);
        }
        return 0;
    }
    int kk = (int)col_k(s), imgs = chunk_images(s);
    float *col = scratch, *dcol = scratch + (size_t)imgs * s->ho * s->wo * kk;
    for (int b0 = 0; b0 < s->n; b0 += imgs) {
        int nb = s->n - b0 < imgs ? s->n - b0 : imgs;
        int rows = nb * s->ho * s->wo;
        const float *dy = dout + (size_t)b0 * s->ho * s->wo * s->cout;
        for (int g = 0; g < s->groups; g++) {
            struct col_job j = {s, b0, g, in, col, din, dcol, accum};
            nn_parallel_for((size_t)nb * s->ho, 4, im2col_rows, &j);
            /* dW_g[kk×cog] += colᵀ · dY_g */
            nn_sgemm_ex(0, 1, 0, kk, cog, rows, 1.0f, col, kk, dy + g * cog, s->cout, 1.0f,
                        dw + g * cog, s->cout, NULL);
            if (!din) continue;
            /* dcol = dY_g · W_gᵀ, then gathered back onto the input */
            nn_sgemm_ex(0, 0, 1, rows, kk, cog, 1.0f, dy + g * cog, s->cout, w + g * cog,
                        s->cout, 0.0f, dcol, kk, NULL);
            nn_parallel_for((size_t)nb * s->h, 4, col2im_rows, &j);
        }
    }
    return 0;
}

/* ---- reference ------------------------------------------------------------------------------ */

void nn_conv_forward_ref(const struct nn_conv_shape *s, float *out, const float *in,
                         const float *w, const float *bias) {
    int cig = s->cin / s->groups, cog = s->cout / s->groups;
    for (int b = 0; b < s->n; b++)
        for (int y = 0; y < s->ho; y++)
            for (int x = 0; x < s->wo; x++)
                for (int o = 0; o < s->cout; o++) {
                    int g = o / cog;
                    double acc = bias ? bias[o] : 0.0;
                    for (int i = 0; i < s->kh; i++)
                        for (int j = 0; j < s->kw; j++) {
                            int yy = y * s->stride - s->pad_h + i;
                            int xx = x * s->stride - s->pad_w + j;
                            if (yy < 0 || yy >= s->h || xx < 0 || xx >= s->w) continue;
                            for (int c = 0; c < cig; c++)
                                acc += (double)in[(((size_t)b * s->h + yy) * s->w + xx) * s->cin +
                                                  g * cig + c] *
                                       w[((size_t)(i * s->kw + j) * cig + c) * s->cout + o];
                        }
                    out[(((size_t)b * s->ho + y) * s->wo + x) * s->cout + o] = (float)acc;
                }
}

void nn_conv_backward_ref(const struct nn_conv_shape *s, float *din, int accum, float *dw,
                          float *dbias, const float *dout, const float *in, const float *w) {
    int cig = s->cin / s->groups, cog = s->cout / s->groups;
    size_t nin = (size_t)s->n * s->h * s->w * s->cin;
    if (din && !accum) memset(din, 0, nin * sizeof(float));
    for (int b = 0; b < s->n; b++)
        for (int y = 0; y < s->ho; y++)
            for (int x = 0; x < s->wo; x++)
                for (int o = 0; o < s->cout; o++) {
                    int g = o / cog;
                    float d = dout[(((size_t)b * s->ho + y) * s->wo + x) * s->cout + o];
                    if (dbias) dbias[o] += d;
                    for (int i = 0; i < s->kh; i++)
                        for (int j = 0; j < s->kw; j++) {
                            int yy = y * s->stride - s->pad_h + i;
                            int xx = x * s->stride - s->pad_w + j;
                            if (yy < 0 || yy >= s->h || xx < 0 || xx >= s->w) continue;
                            for (int c = 0; c < cig; c++) {
                                size_t ii = (((size_t)b * s->h + yy) * s->w + xx) * s->cin +
                                            g * cig + c;
                                size_t wi = ((size_t)(i * s->kw + j) * cig + c) * s->cout + o;
                                dw[wi] += d * in[ii];
                                if (din) din[ii] += d * w[wi];
                            }
                        }
                }
}
