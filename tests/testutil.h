/* Helpers shared by the test suites. */
#ifndef HAQ_TESTS_TESTUTIL_H
#define HAQ_TESTS_TESTUTIL_H

#include <ftw.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/rng.h"

static inline int tu_rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* Remove a scratch directory and everything under it (links not followed). */
static inline void tu_rm_rf(const char *dir) { nftw(dir, tu_rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* Uniform values in [lo, hi). */
static inline void tu_fill(struct nn_rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * nn_rng_uniform(r);
}

/* max |a − b| / max(max |b|, floor): the error measure of kernel-vs-reference tests. */
static inline double tu_rel_err(const float *a, const float *b, size_t n, double floor) {
    double err = 0, mag = floor;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > err || isnan(d)) err = isnan(d) ? INFINITY : d;
        if (fabs(b[i]) > mag) mag = fabs(b[i]);
    }
    return err / mag;
}

/* Run a command's entry point (haq.c's dispatch target) with its stdout captured into out[cap]
 * (NUL-terminated, cut at cap − 1 bytes); returns its exit status. */
static inline int tu_run_cmd(int (*cmd)(int, char **), char *out, size_t cap, int argc,
                             char **argv) {
    fflush(stdout);
    FILE *tmp = tmpfile();
    if (!tmp) return -1;
    int saved = dup(1);
    dup2(fileno(tmp), 1);
    int rc = cmd(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    rewind(tmp);
    size_t n = fread(out, 1, cap - 1, tmp);
    out[n] = 0;
    fclose(tmp);
    return rc;
}

/* Path of a fixture, relative to the repository root (the tests run from there). */
#define TU_FIXTURE(name) ("tests/fixtures/" name)

#endif
