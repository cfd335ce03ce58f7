#include "linear.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/error.h"
#include "nn/fakeq.h"

int q_kl_bins(size_t n) {
    double b = ceil(sqrt((double)n));
    return b < 2 ? 2 : b > 8192 ? 8192 : (int)b;
}

/* Histogram of |x| on [0, mx] with nb bins (the last closed), as numpy.histogram; with
 * skip_zeros, exact zeros are left out. */
static void histogram(const float *x, size_t n, float mx, int nb, double *h, int skip_zeros) {
    memset(h, 0, (size_t)nb * sizeof(double));
    double scale = nb / (double)mx;
    for (size_t i = 0; i < n; i++) {
        if (skip_zeros && x[i] == 0.0f) continue;
        int k = (int)(fabs((double)x[i]) * scale);
        h[k >= nb ? nb - 1 : k] += 1.0;
    }
}

double q_kl_candidate(const double *hist, int nbins, int i, int levels) {
    if (i < 1 || i > nbins || levels < 1) return INFINITY;
    double *p = malloc((size_t)i * sizeof(double)), *q = malloc((size_t)i * sizeof(double));
    if (!p || !q) {
        free(p);
        free(q);
        return INFINITY;
    }
    double tail = 0;
    for (int k = i; k < nbins; k++) tail += hist[k];
    for (int k = 0; k < i; k++) p[k] = hist[k];
    p[i - 1] += tail; /* clipped values land in the last kept bin */
    double merge = (double)i / levels;
    for (int j = 0; j < levels; j++) {
        int a = (int)floor(j * merge), b = j == levels - 1 ? i : (int)floor((j + 1) * merge);
        double sum = 0;
        int nz = 0;
        for (int k = a; k < b; k++) {
            sum += hist[k];
            nz += hist[k] != 0;
        }
        for (int k = a; k < b; k++) q[k] = (hist[k] != 0 && nz) ? sum / nz : 0.0;
    }
    double sp = 0, sq = 0;
    for (int k = 0; k < i; k++) {
        sp += p[k];
        sq += q[k];
    }
    double kl = 0;
    for (int k = 0; k < i; k++) {
        if (p[k] <= 0) continue;
        double pk = p[k] / sp, qk = q[k] / (sq > 0 ? sq : 1);
        kl += pk * log(pk / (qk > 0 ? qk : 1e-12)); /* an empty Q bin under mass: a large cost */
    }
    free(p);
    free(q);
    return kl;
}

static int kl_classic(const float *x, size_t n, int bits, float mx, float *t) {
    int nb = q_kl_bins(n), levels = 1 << (bits - 1);
    if (levels + 1 > nb) {
        *t = mx;
        return 0;
    }
    double *h = malloc((size_t)nb * sizeof(double));
    if (!h) return nn_err("out of memory (KL histogram)");
    /* exact zeros (half of a ReLU's outputs) are exact at any threshold: counted in, their
     * spike in the first bin dominates P and drags the threshold down to a few bins */
    histogram(x, n, mx, nb, h, 1);
    double best = INFINITY, w = mx / (double)nb;
    int bi = nb;
    for (int i = levels + 1; i <= nb; i++) {
        double kl = q_kl_candidate(h, nb, i, levels);
        if (kl < best) {
            best = kl;
            bi = i;
        }
    }
    free(h);
    *t = (float)((bi + 0.5) * w);
    if (*t > mx) *t = mx;
    return 0;
}

/* numpy.interp at x over increasing xp (m points) with values fp. */
static double interp(double x, const double *xp, const double *fp, int m) {
    if (x <= xp[0]) return fp[0];
    if (x >= xp[m - 1]) return fp[m - 1];
    int lo = 0, hi = m - 1;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (xp[mid] <= x) lo = mid;
        else hi = mid;
    }
    double f = (x - xp[lo]) / (xp[hi] - xp[lo]);
    return fp[lo] + f * (fp[hi] - fp[lo]);
}

static void linspace(double *v, int m) {
    for (int k = 0; k < m; k++) v[k] = m > 1 ? (double)k / (m - 1) : 0.0;
}

static int kl_release(const float *x, size_t n, int bits, float mx, float *t) {
    int nb = q_kl_bins(n), levels = 1 << (bits - 1);
    if (levels + 1 > nb) {
        *t = mx;
        return 0;
    }
    double *h = malloc((size_t)nb * 6 * sizeof(double));
    if (!h) return nn_err("out of memory (KL histogram)");
    double *c = h + nb, *p = c + nb, *xi = p + nb, *xn = xi + nb, *pin = xn + nb;
    histogram(x, n, mx, nb, h, 0); /* the release counts the zeros in */
    double total = 0;
    for (int k = 0; k < nb; k++) total += h[k];
    if (!(total > 0)) total = 1;
    for (int k = 0; k < nb; k++) c[k] = (k ? c[k - 1] : 0.0) + h[k] / total;
    linspace(xn, levels);
    double best = INFINITY, w = mx / (double)nb;
    int bi = nb;
    for (int i = levels + 1; i <= nb; i++) {
        memcpy(p, c, (size_t)nb * sizeof(double));
        for (int k = i - 1; k < nb; k++) p[k] = 1.0;
        linspace(xi, i);
        for (int k = 0; k < levels; k++) pin[k] = interp(xn[k], xi, p, i);
        double d = 0;
        for (int k = 0; k < nb; k++) {
            double qk = k < i ? interp(xi[k], xn, pin, levels) : p[k];
            if (c[k] > 0 && qk > 0) d += (c[k] - qk) * log2(c[k] / qk);
        }
        if (d < best) {
            best = d;
            bi = i;
        }
    }
    free(h);
    *t = (float)((bi + 0.5) * w);
    if (*t > mx) *t = mx;
    return 0;
}

/* ∫₀ˣ (u − round(u/s)·s)² du for x ≥ 0: the cells below x's level k each hold s³/12 (the first,
 * [0, s/2], half of that), and the partial cell (x − k·s)³/3 + (s/2)³/3 — k·s³/12 + (x − ks)³/3
 * in all. */
static double round_err_cum(double x, double s) {
    double k = floor(x / s + 0.5), d = x - k * s;
    return k * s * s * s / 12.0 + d * d * d / 3.0;
}

/* Squared error of a quantizer of step s = t/steps on [0, t] (clipping above t) over a density
 * uniform on [a, b] holding cnt values. */
static double bin_err(double a, double b, double cnt, double t, double s) {
    double lo = a < t ? a : t, hi = b < t ? b : t, e = round_err_cum(hi, s) - round_err_cum(lo, s);
    double ca = a > t ? a - t : 0.0, cb = b > t ? b - t : 0.0;
    e += (cb * cb * cb - ca * ca * ca) / 3.0;
    return cnt * e / (b - a);
}

/* The quantization error of threshold t: exactly over the values (n ≤ MSE_EXACT), else over
 * the histogram h of nb bins on [0, mx] with a uniform density in each bin. */
enum { MSE_EXACT = 2048, MSE_BINS = 2048, MSE_COARSE = 128, MSE_FINE = 64 };
static double mse_err(const float *x, size_t n, const double *h, int nb, double mx, double t,
                      int steps) {
    double s = t / steps, e = 0;
    if (!h) {
        for (size_t i = 0; i < n; i++) {
            double v = fabs((double)x[i]), q = v >= t ? t : nearbyint(v / s) * s;
            e += (v - q) * (v - q);
        }
        return e;
    }
    double w = mx / nb;
    for (int k = 0; k < nb; k++)
        if (h[k] > 0) e += bin_err(k * w, (k + 1) * w, h[k], t, s);
    return e;
}

/* The thresholds base + j·step (j0 ≤ j ≤ j1) within (0, mx]: the least error and its threshold
 * into *best and *bt when one beats *best. */
static void mse_grid(const float *x, size_t n, const double *h, int nb, double mx, int steps,
                     double base, double step, int j0, int j1, double *best, double *bt) {
    for (int j = j0; j <= j1; j++) {
        double c = base + j * step;
        if (!(c > 0) || c > mx) continue;
        double e = mse_err(x, n, h, nb, mx, c, steps);
        if (e < *best) {
            *best = e;
            *bt = c;
        }
    }
}

static int mse_search(const float *x, size_t n, int steps, float mx, float *t) {
    double *h = NULL;
    int nb = 0;
    if (n > MSE_EXACT) {
        nb = MSE_BINS;
        if (!(h = malloc((size_t)nb * sizeof(double))))
            return nn_err("out of memory (MSE histogram)");
        histogram(x, n, mx, nb, h, 1); /* exact zeros cost nothing at any threshold */
    }
    /* a coarse grid over (0, max], then a fine one around its best */
    double best = INFINITY, bt = mx, step = (double)mx / MSE_COARSE;
    mse_grid(x, n, h, nb, mx, steps, 0.0, step, 1, MSE_COARSE, &best, &bt);
    mse_grid(x, n, h, nb, mx, steps, bt - step, 2.0 * step / MSE_FINE, 0, MSE_FINE, &best, &bt);
    free(h);
    *t = (float)bt;
    if (*t > mx) *t = mx;
    return 0;
}

int q_thresh_mse(const float *x, size_t n, int steps, float *t) {
    float mx = n ? nn_absmax(x, n) : 0.0f;
    *t = mx;
    if (!(mx > 0.0f) || steps < 1) return 0;
    return mse_search(x, n, steps, mx, t);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static int percentile(const float *x, size_t n, double pct, float *t) {
    float *a = malloc(n * sizeof(float));
    if (!a) return nn_err("out of memory (percentile of %zu values)", n);
    for (size_t i = 0; i < n; i++) a[i] = fabsf(x[i]);
    qsort(a, n, sizeof(float), cmp_float);
    double pos = pct / 100.0 * (double)(n - 1);
    size_t lo = (size_t)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;
    *t = (float)(a[lo] + (pos - (double)lo) * (a[hi] - a[lo]));
    free(a);
    return 0;
}

int q_threshold(const float *x, size_t n, int bits, enum q_thresh_method m, double pct,
                float *t) {
    float mx = n ? nn_absmax(x, n) : 0.0f;
    *t = mx;
    if (!(mx > 0.0f) || m == Q_THRESH_MAX) return 0;
    switch (m) {
    case Q_THRESH_KL: return kl_classic(x, n, bits, mx, t);
    case Q_THRESH_KL_RELEASE: return kl_release(x, n, bits, mx, t);
    case Q_THRESH_PERCENTILE: return percentile(x, n, pct, t);
    case Q_THRESH_MSE: return bits >= 2 ? mse_search(x, n, (1 << (bits - 1)) - 1, mx, t) : 0;
    case Q_THRESH_MAX: break;
    }
    return 0;
}

int q_thresh_auto(const float *x, size_t n, int bits, enum q_thresh_method kl, float *t) {
    return q_threshold(x, n, bits, bits < 5 ? kl : Q_THRESH_MAX, 0, t);
}

int q_thresh_parse(const char *s, enum q_thresh_method *m, double *pct) {
    if (!strcmp(s, "max")) *m = Q_THRESH_MAX;
    else if (!strcmp(s, "kl")) *m = Q_THRESH_KL;
    else if (!strcmp(s, "kl-release")) *m = Q_THRESH_KL_RELEASE;
    else if (!strcmp(s, "mse")) *m = Q_THRESH_MSE;
    else if (!strncmp(s, "percentile:", 11)) {
        char *end;
        *pct = strtod(s + 11, &end);
        if (end == s + 11 || *end || !(*pct > 0 && *pct <= 100))
            return nn_err("threshold '%s': the percentile must be in (0, 100]", s);
        *m = Q_THRESH_PERCENTILE;
    } else {
        return nn_err("threshold '%s': expected max, kl, kl-release, mse or percentile:P", s);
    }
    return 0;
}

const char *q_thresh_name(enum q_thresh_method m, double pct, char *buf, size_t cap) {
    switch (m) {
    case Q_THRESH_MAX: return "max";
    case Q_THRESH_KL: return "kl";
    case Q_THRESH_KL_RELEASE: return "kl-release";
    case Q_THRESH_MSE: return "mse";
    case Q_THRESH_PERCENTILE: break;
    }
    for (int p = 15; p <= 17; p++) { /* the shortest text that reads back as pct */
        snprintf(buf, cap, "percentile:%.*g", p, pct);
        if (strtod(buf + 11, NULL) == pct) break;
    }
    return buf;
}
