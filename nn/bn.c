/* Per-channel work over rows × C — batch norm forward and backward, column sums.
 *
 * With few channels (MobileNet's 16–32) a row is a handful of vectors and loop overhead would
 * dominate, so the data is viewed as "wide rows" of W = m·C values (m = ⌈128 / C⌉ consecutive
 * rows each) with every per-channel parameter repeated m times; the last rows mod m rows keep
 * width C. Reductions sum SUM_ROWS wide rows in float, add those partials into per-thread
 * doubles, and fold the m replicas and the threads in a fixed order at the end. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "layers.h"
#include "pool.h"

#define WIDE 128     /* target wide-row length in floats */
#define ROW_GRAIN 16 /* wide rows per thread worth a wake-up */
#define SUM_ROWS 32
#define SUM_CH 256

struct chan_job;
/* Reductions: add rows [off, off + nrows·width) × columns [c0, c0 + cn) into fs[k·cn + c]. */
typedef void (*sum_fn)(const struct chan_job *j, size_t off, size_t nrows, int width, int c0,
                       int cn, float *fs);
/* Maps: process nrows rows of `width` floats starting at float offset off. */
typedef void (*map_fn)(const struct chan_job *j, size_t off, size_t nrows, int width);

struct chan_job {
    size_t rows, wrows, tail;
    int C, m, W;
    int nsum;
    sum_fn sum;
    map_fn map;
    const float *a, *b; /* inputs */
    float *out;
    const float *p; /* per-channel parameters, each repeated to W: p[k·W + column] */
    enum nn_act act;
    int accum;
    double *part; /* [nth][nsum·W] */
};

static void chan_init(struct chan_job *j, size_t rows, int C) {
    memset(j, 0, sizeof *j);
    j->rows = rows;
    j->C = C;
    j->m = C >= WIDE ? 1 : (WIDE + C - 1) / C;
    j->W = C * j->m;
    j->wrows = rows / (size_t)j->m;
    j->tail = rows % (size_t)j->m;
}

static int chan_threads(const struct chan_job *j) {
    return nn_pool_threads_for(j->wrows, ROW_GRAIN);
}

/* Per-channel values v[C] repeated into dst[W]. */
static void repeat(const struct chan_job *j, const float *v, float *dst) {
    for (int r = 0; r < j->m; r++) memcpy(dst + (size_t)r * j->C, v, (size_t)j->C * sizeof(float));
}

static void sum_region(const struct chan_job *j, size_t off, size_t nrows, int width,
                       double *ds) {
    float fs[2 * SUM_CH];
    for (size_t r = 0; r < nrows; r += SUM_ROWS) {
        size_t nr = nrows - r < SUM_ROWS ? nrows - r : SUM_ROWS;
        for (int c0 = 0; c0 < width; c0 += SUM_CH) {
            int cn = width - c0 < SUM_CH ? width - c0 : SUM_CH;
            memset(fs, 0, (size_t)j->nsum * cn * sizeof(float));
            j->sum(j, off + r * (size_t)width, nr, width, c0, cn, fs);
            for (int k = 0; k < j->nsum; k++)
                for (int c = 0; c < cn; c++) ds[(size_t)k * j->W + c0 + c] += fs[k * cn + c];
        }
    }
}

static void sum_task(void *p, int tid, int nth) {
    struct chan_job *j = p;
    double *ds = j->part + (size_t)tid * j->nsum * j->W;
    memset(ds, 0, (size_t)j->nsum * j->W * sizeof(double));
    size_t lo, hi;
    nn_split(j->wrows, nth, tid, 1, &lo, &hi);
    sum_region(j, lo * (size_t)j->W, hi - lo, j->W, ds);
    if (tid == nth - 1 && j->tail) sum_region(j, j->wrows * (size_t)j->W, j->tail, j->C, ds);
}

/* out[k·C + c] = Σ over all rows; 0 or −1. */
static int chan_sum(struct chan_job *j, double *out) {
    int nth = chan_threads(j);
    size_t per = (size_t)j->nsum * j->W;
    j->part = malloc((size_t)nth * per * sizeof(double));
    if (!j->part) return nn_err("out of memory (per-channel sums of %d channels)", j->C);
    nn_pool_run(sum_task, j, nth);
    for (int k = 0; k < j->nsum; k++)
        for (int c = 0; c < j->C; c++) {
            double s = 0;
            for (int t = 0; t < nth; t++)
                for (int r = 0; r < j->m; r++) s += j->part[(size_t)t * per + (size_t)k * j->W + (size_t)r * j->C + c];
            out[(size_t)k * j->C + c] = s;
        }
    free(j->part);
    j->part = NULL;
    return 0;
}

static void map_task(void *p, int tid, int nth) {
    const struct chan_job *j = p;
    size_t lo, hi;
    nn_split(j->wrows, nth, tid, 1, &lo, &hi);
    if (hi > lo) j->map(j, lo * (size_t)j->W, hi - lo, j->W);
    if (tid == nth - 1 && j->tail) j->map(j, j->wrows * (size_t)j->W, j->tail, j->C);
}

static void chan_map(struct chan_job *j) { nn_pool_run(map_task, j, chan_threads(j)); }

/* ---- kernels ---------------------------------------------------------------------------------- */

static void k_sum(const struct chan_job *j, size_t off, size_t nrows, int width, int c0, int cn,
                  float *restrict fs) {
    for (size_t r = 0; r < nrows; r++) {
        const float *restrict x = j->a + off + r * (size_t)width + c0;
        for (int c = 0; c < cn; c++) fs[c] += x[c];
    }
}

/* Σ (x − K) and Σ (x − K)² with K = p, a per-channel shift near the mean (the first row):
 * sums of centred values keep float partials accurate when the mean dwarfs the spread. */
static void k_sum_sq(const struct chan_job *j, size_t off, size_t nrows, int width, int c0,
                     int cn, float *fs) {
    const float *restrict K = j->p + c0;
    float *restrict s1 = fs, *restrict s2 = fs + cn;
    for (size_t r = 0; r < nrows; r++) {
        const float *restrict x = j->a + off + r * (size_t)width + c0;
        for (int c = 0; c < cn; c++) {
            float d = x[c] - K[c];
            s1[c] += d;
            s2[c] += d * d;
        }
    }
}

/* The activation's pass-through mask at pre-activation z (ReLU: z > 0; ReLU6: 0 < z < 6),
 * the same comparisons nn_relu/nn_relu6 make. */
static inline float act_grad(float z, float g, enum nn_act act) {
    if (act == NN_ACT_RELU) return z > 0.0f ? g : 0.0f;
    if (act == NN_ACT_RELU6) return ((z > 0.0f) & (z < 6.0f)) ? g : 0.0f; /* no branch: & */
    return g;
}

/* The loops below name every stream through restrict pointers and keep the activation and
 * accumulate choices outside the element loop, so the compiler vectorizes them (without that
 * it falls back to scalar code: nine float streams exceed its run-time alias checks). */

/* One row of the backward sums for a fixed act (a constant after inlining). */
static inline void bn_sums_row(float *restrict s1, float *restrict s2, const float *restrict dy,
                               const float *restrict x, const float *restrict scale,
                               const float *restrict shift, const float *restrict mean, int cn,
                               enum nn_act act) {
    for (int c = 0; c < cn; c++) {
        float xv = x[c], d = dy[c];
        float g = act_grad(xv * scale[c] + shift[c], d, act);
        s1[c] += g;
        s2[c] += g * (xv - mean[c]);
    }
}

/* Σ g and Σ g·(x − mean), g = dy·act'(z), z = x·scale + shift exactly as the forward
 * computed it: a = dy, b = x, p = [scale | shift | mean]. */
static void k_bn_bwd_sums(const struct chan_job *j, size_t off, size_t nrows, int width, int c0,
                          int cn, float *fs) {
    const float *scale = j->p + c0, *shift = j->p + j->W + c0, *mean = j->p + 2 * j->W + c0;
    for (size_t r = 0; r < nrows; r++) {
        size_t o = off + r * (size_t)width + c0;
        const float *dy = j->a + o, *x = j->b + o;
        if (j->act == NN_ACT_RELU6)
            bn_sums_row(fs, fs + cn, dy, x, scale, shift, mean, cn, NN_ACT_RELU6);
        else if (j->act == NN_ACT_RELU)
            bn_sums_row(fs, fs + cn, dy, x, scale, shift, mean, cn, NN_ACT_RELU);
        else
            bn_sums_row(fs, fs + cn, dy, x, scale, shift, mean, cn, NN_ACT_NONE);
    }
}

/* out = act(a·scale + shift), p = [scale | shift]. */
static void k_affine(const struct chan_job *j, size_t off, size_t nrows, int width) {
    const float *restrict scale = j->p, *restrict shift = j->p + j->W;
    for (size_t r = 0; r < nrows; r++) {
        const float *restrict x = j->a + off + r * (size_t)width;
        float *restrict y = j->out + off + r * (size_t)width;
        switch (j->act) {
        case NN_ACT_NONE:
            for (int c = 0; c < width; c++) y[c] = x[c] * scale[c] + shift[c];
            break;
        case NN_ACT_RELU:
            for (int c = 0; c < width; c++) y[c] = nn_relu(x[c] * scale[c] + shift[c]);
            break;
        case NN_ACT_RELU6:
            for (int c = 0; c < width; c++) y[c] = nn_relu6(x[c] * scale[c] + shift[c]);
            break;
        }
    }
}

/* One row of dx (+)= k1·g + k2·(x − mean) + k3, g = dy·act'(x·scale + shift), for a fixed act
 * and accumulate flag (constants after inlining). */
static inline void bn_dx_row(float *restrict dx, const float *restrict dy, const float *restrict x,
                             const float *restrict k1, const float *restrict k2,
                             const float *restrict k3, const float *restrict scale,
                             const float *restrict shift, const float *restrict mean, int width,
                             enum nn_act act, int accum) {
    for (int c = 0; c < width; c++) {
        float g = act_grad(x[c] * scale[c] + shift[c], dy[c], act);
        float v = k1[c] * g + k2[c] * (x[c] - mean[c]) + k3[c];
        dx[c] = accum ? dx[c] + v : v;
    }
}

/* dx (+)= k1·g + k2·(x − mean) + k3 with g = dy·act'(x·scale + shift): a = dy, b = x,
 * p = [k1 | k2 | k3 | scale | shift | mean]. Centring x before the multiply keeps the
 * result accurate when the mean is large against the spread. */
static void k_bn_dx(const struct chan_job *j, size_t off, size_t nrows, int width) {
    const size_t W = (size_t)j->W;
    const float *k1 = j->p, *k2 = j->p + W, *k3 = j->p + 2 * W, *scale = j->p + 3 * W,
                *shift = j->p + 4 * W, *mean = j->p + 5 * W;
    for (size_t r = 0; r < nrows; r++) {
        size_t o = off + r * (size_t)width;
        const float *dy = j->a + o, *x = j->b + o;
        float *dx = j->out + o;
#define ROW(act, accum) bn_dx_row(dx, dy, x, k1, k2, k3, scale, shift, mean, width, act, accum)
        if (j->accum) {
            if (j->act == NN_ACT_RELU6) ROW(NN_ACT_RELU6, 1);
            else if (j->act == NN_ACT_RELU) ROW(NN_ACT_RELU, 1);
            else ROW(NN_ACT_NONE, 1);
        } else {
            if (j->act == NN_ACT_RELU6) ROW(NN_ACT_RELU6, 0);
            else if (j->act == NN_ACT_RELU) ROW(NN_ACT_RELU, 0);
            else ROW(NN_ACT_NONE, 0);
        }
#undef ROW
    }
}

/* ---- public --------------------------------------------------------------------------------- */

int nn_colsum_add(float *dst, const float *src, size_t rows, int cols) {
    struct chan_job j;
    chan_init(&j, rows, cols);
    j.nsum = 1;
    j.sum = k_sum;
    j.a = src;
    double *sum = malloc((size_t)cols * sizeof(double));
    if (!sum) return nn_err("out of memory (column sums of %d columns)", cols);
    int rc = chan_sum(&j, sum);
    if (!rc)
        for (int c = 0; c < cols; c++) dst[c] += (float)sum[c];
    free(sum);
    return rc;
}

/* scale = γ·invstd, shift = β − mean·scale, in float from the saved float statistics, so the
 * backward pass recomputes the forward's pre-activations bit for bit. */
static void bn_fold(int C, const float *gamma, const float *beta, const float *mean,
                    const float *invstd, float *scale, float *shift) {
    for (int c = 0; c < C; c++) {
        scale[c] = gamma[c] * invstd[c];
        shift[c] = beta[c] - mean[c] * scale[c];
    }
}

static int bn_apply(float *y, const float *x, size_t rows, int C, const float *gamma,
                    const float *beta, const float *mean, const float *invstd, enum nn_act act) {
    struct chan_job j;
    chan_init(&j, rows, C);
    float *p = malloc((2 * (size_t)j.W + 2 * (size_t)C) * sizeof(float));
    if (!p) return nn_err("out of memory (batch norm of %d channels)", C);
    float *scale = p + 2 * (size_t)j.W, *shift = scale + C;
    bn_fold(C, gamma, beta, mean, invstd, scale, shift);
    repeat(&j, scale, p);
    repeat(&j, shift, p + j.W);
    j.map = k_affine;
    j.a = x;
    j.out = y;
    j.p = p;
    j.act = act;
    chan_map(&j);
    free(p);
    return 0;
}

int nn_bn_forward_train(float *y, const float *x, size_t rows, int C, const float *gamma,
                        const float *beta, float *run_mean, float *run_var, float momentum,
                        float eps, float *save_mean, float *save_invstd, enum nn_act act) {
    struct chan_job j;
    chan_init(&j, rows, C);
    double *st = malloc(2 * (size_t)C * sizeof(double));
    float *K = malloc((size_t)j.W * sizeof(float));
    if (!st || !K) {
        free(st);
        free(K);
        return nn_err("out of memory (batch norm of %d channels)", C);
    }
    repeat(&j, x, K); /* the first row: a shift within the data's range */
    j.nsum = 2;
    j.sum = k_sum_sq;
    j.a = x;
    j.p = K;
    int rc = chan_sum(&j, st);
    free(K);
    if (rc) {
        free(st);
        return -1;
    }
    double n = (double)rows;
    for (int c = 0; c < C; c++) {
        double d = st[c] / n, mean = x[c] + d; /* x[c]: the shift of channel c */
        double var = st[C + c] / n - d * d;
        if (var < 0) var = 0;
        save_mean[c] = (float)mean;
        save_invstd[c] = (float)(1.0 / sqrt(var + eps));
        if (run_mean) {
            double unbiased = rows > 1 ? var * n / (n - 1.0) : var;
            run_mean[c] = (float)((1.0 - momentum) * run_mean[c] + momentum * mean);
            run_var[c] = (float)((1.0 - momentum) * run_var[c] + momentum * unbiased);
        }
    }
    free(st);
    return bn_apply(y, x, rows, C, gamma, beta, save_mean, save_invstd, act);
}

int nn_bn_forward_eval(float *y, const float *x, size_t rows, int C, const float *gamma,
                       const float *beta, const float *run_mean, const float *run_var, float eps,
                       float *save_mean, float *save_invstd, enum nn_act act) {
    for (int c = 0; c < C; c++) {
        save_mean[c] = run_mean[c];
        save_invstd[c] = (float)(1.0 / sqrt((double)run_var[c] + eps));
    }
    return bn_apply(y, x, rows, C, gamma, beta, save_mean, save_invstd, act);
}

int nn_bn_backward(float *dx, int accum, float *dgamma, float *dbeta, const float *dy,
                   const float *x, size_t rows, int C, const float *gamma, const float *beta,
                   const float *save_mean, const float *save_invstd, enum nn_act act,
                   int train) {
    struct chan_job j;
    chan_init(&j, rows, C);
    size_t W = (size_t)j.W;
    double *st = malloc(2 * (size_t)C * sizeof(double));
    float *p = malloc((6 * W + 5 * (size_t)C) * sizeof(float));
    if (!st || !p) {
        free(st);
        free(p);
        return nn_err("out of memory (batch norm of %d channels)", C);
    }
    float *k = p + 6 * W, *scale = k + 3 * (size_t)C, *shift = scale + C;
    bn_fold(C, gamma, beta, save_mean, save_invstd, scale, shift);
    repeat(&j, scale, p + 3 * W);
    repeat(&j, shift, p + 4 * W);
    repeat(&j, save_mean, p + 5 * W);
    j.nsum = 2;
    j.sum = k_bn_bwd_sums;
    j.a = dy;
    j.b = x;
    j.p = p + 3 * W; /* [scale | shift | mean] */
    j.act = act;
    if (chan_sum(&j, st)) {
        free(st);
        free(p);
        return -1;
    }
    double n = (double)rows;
    for (int c = 0; c < C; c++) {
        double is = save_invstd[c];
        double sg = st[c];             /* Σ g */
        double sgx = st[C + c] * is;   /* Σ g·x̂, x̂ = (x − mean)·is */
        if (dgamma) dgamma[c] += (float)sgx;
        if (dbeta) dbeta[c] += (float)sg;
        double s = gamma[c] * is;
        /* train: dx = s·(g − Σg/n − x̂·Σgx̂/n); eval: dx = s·g */
        k[c] = (float)s;
        k[C + c] = train ? (float)(-s * sgx / n * is) : 0.0f;
        k[2 * C + c] = train ? (float)(-s * sg / n) : 0.0f;
    }
    if (dx) {
        repeat(&j, k, p);
        repeat(&j, k + C, p + W);
        repeat(&j, k + 2 * C, p + 2 * W);
        j.map = k_bn_dx;
        j.out = dx;
        j.p = p;
        j.accum = accum;
        chan_map(&j);
    }
    free(st);
    free(p);
    return 0;
}
