#include "fakeq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"
#include "pool.h"

#define GRAIN 16384

float nn_fq_step(int bits, int is_signed, float range) {
    double levels = is_signed ? ldexp(1.0, bits - 1) - 1.0 : ldexp(1.0, bits) - 1.0;
    return (float)(range / (levels > 0 ? levels : 1.0));
}

float nn_absmax(const float *x, size_t n) {
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        m = a > m ? a : m;
    }
    return m;
}

/* round(v / s) · s with v already clamped: rintf rounds half to even in the default mode. */
static inline float qround(float v, float inv_s, float s) { return rintf(v * inv_s) * s; }

struct fq_job {
    float *out;
    const float *in, *t;
    size_t n;
    int bits, is_signed;
    float lo, hi, s, inv_s;
    /* backward */
    float *dx;
    const float *dxq;
    int accum;
    double *part;
};

static void w_range(void *p, size_t lo, size_t hi, int tid) {
    (void)tid;
    const struct fq_job *j = p;
    for (size_t i = lo; i < hi; i++) {
        float v = nn_clamp_hi(nn_clamp_lo(j->in[i], j->lo), j->hi);
        j->out[i] = qround(v, j->inv_s, j->s);
    }
}

void nn_fq_weights(float *wq, const float *w, size_t n, int bits, float t) {
    float s = nn_fq_step(bits, 1, t);
    if (!(s > 0.0f)) { /* a zero tensor (t = 0) quantizes to itself */
        memset(wq, 0, n * sizeof(float));
        return;
    }
    struct fq_job j = {wq, w, NULL, n, bits, 1, -t, t, s, 1.0f / s, NULL, NULL, 0, NULL};
    nn_parallel_for(n, GRAIN, w_range, &j);
}

void nn_fq_weights_pc(float *wq, const float *w, size_t n, int cout, int bits, const float *t) {
    for (size_t i = 0; i < n; i++) {
        int c = (int)(i % (size_t)cout);
        float s = nn_fq_step(bits, 1, t[c]);
        if (!(s > 0.0f)) {
            wq[i] = 0.0f;
            continue;
        }
        float v = nn_clamp_hi(nn_clamp_lo(w[i], -t[c]), t[c]);
        wq[i] = qround(v, 1.0f / s, s);
    }
}

void nn_fq_binary(float *wq, const float *w, size_t n, int cout, int per_channel) {
    int groups = per_channel ? cout : 1;
    double *mean = calloc((size_t)groups, sizeof(double));
    size_t *cnt = calloc((size_t)groups, sizeof(size_t));
    if (!mean || !cnt) { /* per-tensor fallback with no scratch */
        double m = 0;
        for (size_t i = 0; i < n; i++) m += fabsf(w[i]);
        m /= (double)(n ? n : 1);
        for (size_t i = 0; i < n; i++) wq[i] = w[i] < 0 ? -(float)m : (float)m;
        free(mean);
        free(cnt);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int c = per_channel ? (int)(i % (size_t)cout) : 0;
        mean[c] += fabsf(w[i]);
        cnt[c]++;
    }
    for (int c = 0; c < groups; c++) mean[c] /= (double)(cnt[c] ? cnt[c] : 1);
    for (size_t i = 0; i < n; i++) {
        float m = (float)mean[per_channel ? (int)(i % (size_t)cout) : 0];
        wq[i] = w[i] < 0 ? -m : m;
    }
    free(mean);
    free(cnt);
}

static void act_fwd(void *p, size_t lo, size_t hi, int tid) {
    (void)tid;
    const struct fq_job *j = p;
    for (size_t i = lo; i < hi; i++) {
        float v = nn_clamp_hi(nn_clamp_lo(j->in[i], j->lo), j->hi);
        j->out[i] = qround(v, j->inv_s, j->s);
    }
}

void nn_fq_act_forward(float *xq, const float *x, size_t n, int bits, int is_signed, float r) {
    float s = nn_fq_step(bits, is_signed, r);
    if (!(s > 0.0f)) {
        memset(xq, 0, n * sizeof(float));
        return;
    }
    struct fq_job j = {xq, x, NULL, n, bits, is_signed, is_signed ? -r : 0.0f, r, s, 1.0f / s,
                       NULL, NULL, 0, NULL};
    nn_parallel_for(n, GRAIN, act_fwd, &j);
}

static void act_bwd(void *p, int tid, int nth) {
    struct fq_job *j = p;
    size_t lo, hi;
    nn_split(j->n, nth, tid, 1, &lo, &hi);
    double dr = 0;
    for (size_t i = lo; i < hi; i++) {
        float v = j->in[i], g = j->dxq[i];
        float pass = (v >= j->lo && v <= j->hi) ? g : 0.0f;
        dr += v > j->hi ? g : (j->is_signed && v < j->lo) ? -g : 0.0f;
        if (j->dx) j->dx[i] = j->accum ? j->dx[i] + pass : pass;
    }
    j->part[tid] = dr;
}

double nn_fq_act_backward(float *dx, int accum, const float *dxq, const float *x, size_t n,
                          int is_signed, float r) {
    double part[256] = {0};
    int nth = nn_pool_threads_for(n, GRAIN);
    if (nth > 256) nth = 256;
    struct fq_job j = {NULL, x, NULL, n, 0, is_signed, is_signed ? -r : 0.0f, r, 0, 0,
                       dx, dxq, accum, part};
    nn_pool_run(act_bwd, &j, nth);
    double dr = 0;
    for (int t = 0; t < nth; t++) dr += part[t];
    return dr;
}
