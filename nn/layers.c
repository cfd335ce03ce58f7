#include "layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "pool.h"
#include "rng.h"

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
        else if (j->act == NN_ACT_RELU6) g = ((y > 0.0f) & (y < 6.0f)) ? g : 0.0f;
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

/* Fold one tap into the running maximum: strict > keeps the first maximum, as PyTorch does,
 * and a NaN wins and stays (v != v); branch-free selects so the loop vectorizes. */
static inline void max_tap(float *restrict o, int32_t *restrict a, const float *restrict src,
                           int32_t off, int C) {
    for (int c = 0; c < C; c++) {
        float v = src[c], m = o[c];
        int take = (v > m) | (v != v);
        o[c] = take ? v : m;
        if (a) a[c] = take ? off + c : a[c];
    }
}

static void maxpool_rows(void *q, size_t lo, size_t hi, int tid) {
    (void)tid;
    const struct pool_job *j = q;
    int C = j->C;
    for (size_t r = lo; r < hi; r++) {
        int b = (int)(r / j->ho), y = (int)(r % j->ho);
        const float *img = j->in + (size_t)b * j->h * j->w * C;
        for (int x = 0; x < j->wo; x++) {
            float *o = j->out + (r * j->wo + x) * C;
            int32_t *a = j->arg ? j->arg + (r * j->wo + x) * C : NULL;
            int first = 1;
            for (int i = 0; i < j->k; i++) {
                int yy = y * j->s - j->p + i;
                if (yy < 0 || yy >= j->h) continue;
                for (int jj = 0; jj < j->k; jj++) {
                    int xx = x * j->s - j->p + jj;
                    if (xx < 0 || xx >= j->w) continue;
                    int32_t off = (int32_t)(((size_t)yy * j->w + xx) * C);
                    if (first) { /* the first tap inside the image starts the maximum */
                        memcpy(o, img + off, (size_t)C * sizeof(float));
                        if (a)
                            for (int c = 0; c < C; c++) a[c] = off + c;
                        first = 0;
                    } else if (a) {
                        max_tap(o, a, img + off, off, C);
                    } else {
                        max_tap(o, NULL, img + off, off, C);
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
