#include "layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gemm.h"
#include "pool.h"
#include "rng.h"

/* Rows per thread below which a parallel region is not worth its wake-up. */
#define ROW_GRAIN 256
/* Float partial sums cover SUM_ROWS rows × SUM_CH channels before they are added into double
 * totals: vector-speed sums without float's loss of precision over a million rows. */
#define SUM_ROWS 32
#define SUM_CH 256

/* ---- per-channel reductions over rows ------------------------------------------------------- */

struct red_job;
/* Add rows [lo, hi) × channels [c0, c0 + cn) into fs[k·cn + c], k < nsum. */
typedef void (*red_rows_fn)(const struct red_job *j, size_t lo, size_t hi, int c0, int cn,
                            float *fs);

struct red_job {
    size_t rows;
    int C, nsum;
    red_rows_fn fn;
    const float *a, *b, *y; /* operands of fn */
    enum nn_act act;
    double *part; /* [nth][nsum·C] */
};

static void red_task(void *p, int tid, int nth) {
    struct red_job *j = p;
    size_t lo, hi;
    nn_split(j->rows, nth, tid, 1, &lo, &hi);
    double *ds = j->part + (size_t)tid * j->nsum * j->C;
    memset(ds, 0, (size_t)j->nsum * j->C * sizeof(double));
    float fs[2 * SUM_CH];
    for (size_t r = lo; r < hi; r += SUM_ROWS) {
        size_t e = r + SUM_ROWS < hi ? r + SUM_ROWS : hi;
        for (int c0 = 0; c0 < j->C; c0 += SUM_CH) {
            int cn = j->C - c0 < SUM_CH ? j->C - c0 : SUM_CH;
            memset(fs, 0, (size_t)j->nsum * cn * sizeof(float));
            j->fn(j, r, e, c0, cn, fs);
            for (int k = 0; k < j->nsum; k++)
                for (int c = 0; c < cn; c++) ds[(size_t)k * j->C + c0 + c] += fs[k * cn + c];
        }
    }
}

/* out[k·C + c] = Σ over all rows, k < nsum ≤ 2. */
static void reduce_rows(struct red_job *j, double *out) {
    int nth = nn_pool_threads_for(j->rows, ROW_GRAIN);
    size_t per = (size_t)j->nsum * j->C;
    j->part = nth > 1 ? malloc((size_t)nth * per * sizeof(double)) : NULL;
    if (!j->part) { /* one thread: its part is the result */
        j->part = out;
        red_task(j, 0, 1);
        return;
    }
    nn_pool_run(red_task, j, nth);
    memcpy(out, j->part, per * sizeof(double));
    for (int t = 1; t < nth; t++)
        for (size_t i = 0; i < per; i++) out[i] += j->part[(size_t)t * per + i];
    free(j->part);
}

static void rows_sum(const struct red_job *j, size_t lo, size_t hi, int c0, int cn, float *fs) {
    for (size_t r = lo; r < hi; r++) {
        const float *x = j->a + r * j->C + c0;
        for (int c = 0; c < cn; c++) fs[c] += x[c];
    }
}

static void rows_sum_sq(const struct red_job *j, size_t lo, size_t hi, int c0, int cn,
                        float *fs) {
    for (size_t r = lo; r < hi; r++) {
        const float *x = j->a + r * j->C + c0;
        for (int c = 0; c < cn; c++) {
            fs[c] += x[c];
            fs[cn + c] += x[c] * x[c];
        }
    }
}

/* The activation's pass-through mask at pre-activation z (ReLU: z > 0; ReLU6: 0 < z < 6),
 * the same comparisons that nn_relu/nn_relu6 make. */
static inline float act_grad(float z, float g, enum nn_act act) {
    if (act == NN_ACT_RELU) return z > 0.0f ? g : 0.0f;
    if (act == NN_ACT_RELU6) return (z > 0.0f && z < 6.0f) ? g : 0.0f;
    return g;
}

/* Σ g and Σ g·x with g = dy · act'(z), z = x·scale + shift recomputed exactly as the forward
 * did: a = dy, b = x, y = scale, with shift at y + C. */
static void rows_bn_bwd(const struct red_job *j, size_t lo, size_t hi, int c0, int cn,
                        float *fs) {
    const float *scale = j->y + c0, *shift = j->y + j->C + c0;
    for (size_t r = lo; r < hi; r++) {
        size_t o = r * j->C + c0;
        const float *dy = j->a + o, *x = j->b + o;
        switch (j->act) {
        case NN_ACT_NONE:
            for (int c = 0; c < cn; c++) {
                fs[c] += dy[c];
                fs[cn + c] += dy[c] * x[c];
            }
            break;
        case NN_ACT_RELU:
            for (int c = 0; c < cn; c++) {
                float g = act_grad(x[c] * scale[c] + shift[c], dy[c], NN_ACT_RELU);
                fs[c] += g;
                fs[cn + c] += g * x[c];
            }
            break;
        case NN_ACT_RELU6:
            for (int c = 0; c < cn; c++) {
                float g = act_grad(x[c] * scale[c] + shift[c], dy[c], NN_ACT_RELU6);
                fs[c] += g;
                fs[cn + c] += g * x[c];
            }
            break;
        }
    }
}

int nn_colsum_add(float *dst, const float *src, size_t rows, int cols) {
    double *sum = malloc((size_t)cols * sizeof(double));
    if (!sum) return nn_err("out of memory (column sums of %d columns)", cols);
    struct red_job j = {rows, cols, 1, rows_sum, src, NULL, NULL, NN_ACT_NONE, NULL};
    reduce_rows(&j, sum);
    for (int c = 0; c < cols; c++) dst[c] += (float)sum[c];
    free(sum);
    return 0;
}

/* ---- batch norm ------------------------------------------------------------------------------ */

/* scale = γ·invstd, shift = β − mean·scale, in float from the saved float statistics, so the
 * backward pass recomputes the forward's pre-activations bit for bit. */
static void bn_fold(int C, const float *gamma, const float *beta, const float *mean,
                    const float *invstd, float *scale, float *shift) {
    for (int c = 0; c < C; c++) {
        scale[c] = gamma[c] * invstd[c];
        shift[c] = beta[c] - mean[c] * scale[c];
    }
}

/* y = act(x · scale[c] + shift[c]) over rows × C. */
struct affine_job {
    float *y;
    const float *x, *scale, *shift;
    int C;
    enum nn_act act;
};

static void affine_rows(void *p, size_t lo, size_t hi, int tid) {
    (void)tid;
    const struct affine_job *j = p;
    int C = j->C;
    for (size_t r = lo; r < hi; r++) {
        const float *x = j->x + r * C;
        float *y = j->y + r * C;
        switch (j->act) {
        case NN_ACT_NONE:
            for (int c = 0; c < C; c++) y[c] = x[c] * j->scale[c] + j->shift[c];
            break;
        case NN_ACT_RELU:
            for (int c = 0; c < C; c++) y[c] = nn_relu(x[c] * j->scale[c] + j->shift[c]);
            break;
        case NN_ACT_RELU6:
            for (int c = 0; c < C; c++) y[c] = nn_relu6(x[c] * j->scale[c] + j->shift[c]);
            break;
        }
    }
}

static int bn_apply(float *y, const float *x, size_t rows, int C, const float *gamma,
                    const float *beta, const float *mean, const float *invstd, enum nn_act act) {
    float *scale = malloc(2 * (size_t)C * sizeof(float));
    if (!scale) return nn_err("out of memory (batch norm of %d channels)", C);
    bn_fold(C, gamma, beta, mean, invstd, scale, scale + C);
    struct affine_job j = {y, x, scale, scale + C, C, act};
    nn_parallel_for(rows, ROW_GRAIN, affine_rows, &j);
    free(scale);
    return 0;
}

int nn_bn_forward_train(float *y, const float *x, size_t rows, int C, const float *gamma,
                        const float *beta, float *run_mean, float *run_var, float momentum,
                        float eps, float *save_mean, float *save_invstd, enum nn_act act) {
    double *st = malloc(2 * (size_t)C * sizeof(double));
    if (!st) return nn_err("out of memory (batch norm of %d channels)", C);
    struct red_job j = {rows, C, 2, rows_sum_sq, x, NULL, NULL, NN_ACT_NONE, NULL};
    reduce_rows(&j, st);
    double n = (double)rows;
    for (int c = 0; c < C; c++) {
        double mean = st[c] / n;
        double var = st[C + c] / n - mean * mean;
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

/* dx (+)= k1[c]·g + k2[c]·x + k3[c], g = dy·act'(z): the BN input gradient folded per
 * channel; z = x·scale + shift as in the forward. */
struct bn_dx_job {
    float *dx;
    const float *dy, *x, *k, *scale, *shift;
    int C, accum;
    enum nn_act act;
};

static void bn_dx_rows(void *p, size_t lo, size_t hi, int tid) {
    (void)tid;
    const struct bn_dx_job *j = p;
    int C = j->C;
    const float *k1 = j->k, *k2 = j->k + C, *k3 = j->k + 2 * C;
    for (size_t r = lo; r < hi; r++) {
        size_t o = r * C;
        const float *dy = j->dy + o, *x = j->x + o;
        float *dx = j->dx + o;
        for (int c = 0; c < C; c++) {
            float g = act_grad(x[c] * j->scale[c] + j->shift[c], dy[c], j->act);
            float v = k1[c] * g + k2[c] * x[c] + k3[c];
            dx[c] = j->accum ? dx[c] + v : v;
        }
    }
}

int nn_bn_backward(float *dx, int accum, float *dgamma, float *dbeta, const float *dy,
                   const float *x, size_t rows, int C, const float *gamma, const float *beta,
                   const float *save_mean, const float *save_invstd, enum nn_act act,
                   int train) {
    double *st = malloc(2 * (size_t)C * sizeof(double) + 5 * (size_t)C * sizeof(float));
    if (!st) return nn_err("out of memory (batch norm of %d channels)", C);
    float *k = (float *)(st + 2 * (size_t)C), *scale = k + 3 * (size_t)C, *shift = scale + C;
    bn_fold(C, gamma, beta, save_mean, save_invstd, scale, shift);
    struct red_job j = {rows, C, 2, rows_bn_bwd, dy, x, scale, act, NULL};
    reduce_rows(&j, st);
    double n = (double)rows;
    for (int c = 0; c < C; c++) {
        double mean = save_mean[c], is = save_invstd[c];
        double sg = st[c];                         /* Σ g */
        double sgx = (st[C + c] - mean * sg) * is; /* Σ g·x̂ */
        if (dgamma) dgamma[c] += (float)sgx;
        if (dbeta) dbeta[c] += (float)sg;
        double s = gamma[c] * is;
        if (train) {
            /* dx = s·(g − Σg/n − x̂·Σgx̂/n), x̂ = (x − mean)·is */
            double a = sgx / n * is;
            k[c] = (float)s;
            k[C + c] = (float)(-s * a);
            k[2 * C + c] = (float)(s * (a * mean - sg / n));
        } else {
            k[c] = (float)s;
            k[C + c] = 0.0f;
            k[2 * C + c] = 0.0f;
        }
    }
    if (dx) {
        struct bn_dx_job dj = {dx, dy, x, k, scale, shift, C, accum, act};
        nn_parallel_for(rows, ROW_GRAIN, bn_dx_rows, &dj);
    }
    free(st);
    return 0;
}

/* ---- activations, add ----------------------------------------------------------------------- */

struct ew_job {
    float *out;
    const float *a, *b;
    enum nn_act act;
    int accum;
};

#define EW_GRAIN 16384

static void act_fwd_range(void *p, size_t lo, size_t hi, int tid) {
    (void)tid;
    const struct ew_job *j = p;
    if (j->act == NN_ACT_RELU)
        for (size_t i = lo; i < hi; i++) j->out[i] = nn_relu(j->a[i]);
    else if (j->act == NN_ACT_RELU6)
        for (size_t i = lo; i < hi; i++) j->out[i] = nn_relu6(j->a[i]);
    else
        memmove(j->out + lo, j->a + lo, (hi - lo) * sizeof(float));
}

void nn_act_forward(float *y, const float *x, size_t n, enum nn_act act) {
    struct ew_job j = {y, x, NULL, act, 0};
    nn_parallel_for(n, EW_GRAIN, act_fwd_range, &j);
}

/* out (+)= a · act'(b) */
static void act_bwd_range(void *p, size_t lo, size_t hi, int tid) {
    (void)tid;
    const struct ew_job *j = p;
    for (size_t i = lo; i < hi; i++) {
        float g = j->a[i], y = j->b[i];
        if (j->act == NN_ACT_RELU) g = y > 0.0f ? g : 0.0f;
        else if (j->act == NN_ACT_RELU6) g = (y > 0.0f && y < 6.0f) ? g : 0.0f;
        j->out[i] = j->accum ? j->out[i] + g : g;
    }
}

void nn_act_backward(float *dx, int accum, const float *dy, const float *y, size_t n,
                     enum nn_act act) {
    struct ew_job j = {dx, dy, y, act, accum};
    nn_parallel_for(n, EW_GRAIN, act_bwd_range, &j);
}

static void add_range(void *p, size_t lo, size_t hi, int tid) {
    (void)tid;
    const struct ew_job *j = p;
    for (size_t i = lo; i < hi; i++) j->out[i] = j->a[i] + j->b[i];
}

void nn_add_forward(float *y, const float *a, const float *b, size_t n) {
    struct ew_job j = {y, a, b, NN_ACT_NONE, 0};
    nn_parallel_for(n, EW_GRAIN, add_range, &j);
}

static void pass_range(void *p, size_t lo, size_t hi, int tid) {
    (void)tid;
    const struct ew_job *j = p;
    if (j->accum)
        for (size_t i = lo; i < hi; i++) j->out[i] += j->a[i];
    else
        memcpy(j->out + lo, j->a + lo, (hi - lo) * sizeof(float));
}

void nn_grad_pass(float *dx, int accum, const float *dy, size_t n) {
    if (dx == dy && !accum) return;
    struct ew_job j = {dx, dy, NULL, NN_ACT_NONE, accum};
    nn_parallel_for(n, EW_GRAIN, pass_range, &j);
}

/* ---- pooling -------------------------------------------------------------------------------- */

struct pool_job {
    float *out;
    int32_t *arg;
    const float *in;
    float *din;
    const float *dout;
    const int32_t *carg;
    int n, h, w, C, k, s, p, ho, wo, accum;
};

static void maxpool_rows(void *q, size_t lo, size_t hi, int tid) {
    (void)tid;
    const struct pool_job *j = q;
    int C = j->C;
    for (size_t r = lo; r < hi; r++) {
        int b = (int)(r / j->ho), y = (int)(r % j->ho);
        const float *img = j->in + (size_t)b * j->h * j->w * C;
        for (int x = 0; x < j->wo; x++) {
            float *o = j->out + (r * j->wo + x) * C;
            int32_t *a = j->arg + (r * j->wo + x) * C;
            for (int c = 0; c < C; c++) {
                o[c] = -INFINITY;
                a[c] = -1;
            }
            for (int i = 0; i < j->k; i++) {
                int yy = y * j->s - j->p + i;
                if (yy < 0 || yy >= j->h) continue;
                for (int jj = 0; jj < j->k; jj++) {
                    int xx = x * j->s - j->p + jj;
                    if (xx < 0 || xx >= j->w) continue;
                    int32_t off = (int32_t)(((size_t)yy * j->w + xx) * C);
                    const float *src = img + off;
                    /* strict > keeps the first maximum, as PyTorch does; NaN propagates */
                    for (int c = 0; c < C; c++)
                        if (src[c] > o[c] || isnan(src[c]) || a[c] < 0) {
                            o[c] = src[c];
                            a[c] = off + c;
                        }
                }
            }
        }
    }
}

void nn_maxpool_forward(float *out, int32_t *arg, const float *in, int n, int h, int w, int C,
                        int k, int s, int p, int ho, int wo) {
    struct pool_job j = {out, arg, in, NULL, NULL, NULL, n, h, w, C, k, s, p, ho, wo, 0};
    nn_parallel_for((size_t)n * ho, 4, maxpool_rows, &j);
}

/* Scatter per image: images are disjoint, so threads split images and stay race-free. */
static void maxpool_bwd_imgs(void *q, size_t lo, size_t hi, int tid) {
    (void)tid;
    const struct pool_job *j = q;
    size_t in_img = (size_t)j->h * j->w * j->C, out_img = (size_t)j->ho * j->wo * j->C;
    for (size_t b = lo; b < hi; b++) {
        float *d = j->din + b * in_img;
        if (!j->accum) memset(d, 0, in_img * sizeof(float));
        const float *g = j->dout + b * out_img;
        const int32_t *a = j->carg + b * out_img;
        for (size_t i = 0; i < out_img; i++)
            if (a[i] >= 0) d[a[i]] += g[i];
    }
}

void nn_maxpool_backward(float *din, int accum, const float *dout, const int32_t *arg, int n,
                         int h, int w, int C, int ho, int wo) {
    struct pool_job j = {NULL, NULL, NULL, din, dout, arg, n, h, w, C, 0, 0, 0, ho, wo, accum};
    nn_parallel_for((size_t)n, 1, maxpool_bwd_imgs, &j);
}

static void avgpool_imgs(void *q, size_t lo, size_t hi, int tid) {
    (void)tid;
    const struct pool_job *j = q;
    int C = j->C, hw = j->h;
    for (size_t b = lo; b < hi; b++) {
        float *o = j->out + b * C;
        const float *x = j->in + b * (size_t)hw * C;
        for (int c = 0; c < C; c++) o[c] = 0.0f;
        for (int i = 0; i < hw; i++)
            for (int c = 0; c < C; c++) o[c] += x[(size_t)i * C + c];
        float inv = 1.0f / (float)hw;
        for (int c = 0; c < C; c++) o[c] *= inv;
    }
}

void nn_avgpool_forward(float *out, const float *in, int n, int hw, int C) {
    struct pool_job j = {out, NULL, in, NULL, NULL, NULL, n, hw, 1, C, 0, 0, 0, 1, 1, 0};
    nn_parallel_for((size_t)n, 1, avgpool_imgs, &j);
}

static void avgpool_bwd_imgs(void *q, size_t lo, size_t hi, int tid) {
    (void)tid;
    const struct pool_job *j = q;
    int C = j->C, hw = j->h;
    float inv = 1.0f / (float)hw;
    for (size_t b = lo; b < hi; b++) {
        const float *g = j->dout + b * C;
        float *d = j->din + b * (size_t)hw * C;
        for (int i = 0; i < hw; i++)
            for (int c = 0; c < C; c++) {
                float v = g[c] * inv;
                d[(size_t)i * C + c] = j->accum ? d[(size_t)i * C + c] + v : v;
            }
    }
}

void nn_avgpool_backward(float *din, int accum, const float *dout, int n, int hw, int C) {
    struct pool_job j = {NULL, NULL, NULL, din, dout, NULL, n, hw, 1, C, 0, 0, 0, 1, 1, accum};
    nn_parallel_for((size_t)n, 1, avgpool_bwd_imgs, &j);
}

/* ---- linear --------------------------------------------------------------------------------- */

void nn_linear_forward(float *out, const float *in, const float *w, const float *b, int n,
                       int in_f, int out_f) {
    struct nn_gemm_epi epi = {b, -INFINITY, INFINITY};
    nn_sgemm_ex(0, 0, 0, n, out_f, in_f, 1.0f, in, in_f, w, out_f, 0.0f, out, out_f,
                b ? &epi : NULL);
}

int nn_linear_backward(float *din, int accum, float *dw, float *db, const float *dout,
                       const float *in, const float *w, int n, int in_f, int out_f) {
    nn_sgemm_ex(0, 1, 0, in_f, out_f, n, 1.0f, in, in_f, dout, out_f, 1.0f, dw, out_f, NULL);
    if (din)
        nn_sgemm_ex(0, 0, 1, n, in_f, out_f, 1.0f, dout, out_f, w, out_f, accum ? 1.0f : 0.0f,
                    din, in_f, NULL);
    return db ? nn_colsum_add(db, dout, (size_t)n, out_f) : 0;
}

/* ---- dropout -------------------------------------------------------------------------------- */

void nn_dropout_forward(float *y, float *mask, const float *x, size_t n, float p,
                        struct nn_rng *rng, int train) {
    if (!train || p <= 0.0f) {
        if (y != x) memcpy(y, x, n * sizeof(float));
        return;
    }
    float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        mask[i] = nn_rng_uniform(rng) < p ? 0.0f : keep;
        y[i] = x[i] * mask[i];
    }
}

void nn_dropout_backward(float *dx, int accum, const float *dy, const float *mask, size_t n,
                         int train) {
    for (size_t i = 0; i < n; i++) {
        float g = train ? dy[i] * mask[i] : dy[i];
        dx[i] = accum ? dx[i] + g : g;
    }
}

/* ---- softmax cross-entropy ------------------------------------------------------------------ */

double nn_softmax_xent(const float *logits, const int *labels, int n, int C, float *dlogits,
                       float scale, int *top1, int *top5) {
    double loss = 0;
    int t1 = 0, t5 = 0;
    for (int r = 0; r < n; r++) {
        const float *z = logits + (size_t)r * C;
        int lab = labels[r];
        float mx = z[0];
        for (int c = 1; c < C; c++) mx = z[c] > mx ? z[c] : mx;
        double sum = 0;
        for (int c = 0; c < C; c++) sum += exp((double)z[c] - mx);
        double lse = mx + log(sum);
        loss += lse - z[lab];
        if (dlogits) {
            float *d = dlogits + (size_t)r * C;
            double k = scale / (double)n;
            for (int c = 0; c < C; c++) d[c] = (float)(exp((double)z[c] - lse) * k);
            d[lab] -= (float)k;
        }
        int above = 0;
        for (int c = 0; c < C; c++) above += z[c] > z[lab];
        t1 += above < 1;
        t5 += above < 5;
    }
    if (top1) *top1 = t1;
    if (top5) *top5 = t5;
    return loss / n;
}
