#include "table.h"

#include <math.h>
#include <stdlib.h>

#include "nn/error.h"
#include "nn/npy.h"

int hw_table_alloc(struct hw_table *t, int n) {
    t->n = 0;
    t->v = NULL;
    if (n < 1) return nn_err("lookup table: %d layers", n);
    t->v = calloc((size_t)n * HW_TABLE_BITS * HW_TABLE_BITS, sizeof *t->v);
    if (!t->v) return nn_err("out of memory (lookup table of %d layers)", n);
    t->n = n;
    return 0;
}

void hw_table_free(struct hw_table *t) {
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

int hw_table_read(struct hw_table *t, const char *path) {
    struct nn_npy a;
    t->n = 0;
    t->v = NULL;
    if (nn_npy_read(&a, path)) return -1;
    int rc = 0;
    if (a.ndim != 3 || a.shape[1] != HW_TABLE_BITS || a.shape[2] != HW_TABLE_BITS ||
        a.shape[0] < 1 || a.shape[0] > 1 << 20)
        rc = nn_err("%s: a lookup table has shape (layers, 8, 8)", path);
    else if (a.dtype == NN_NPY_U1)
        rc = nn_err("%s: uint8 is not a lookup-table dtype", path);
    if (!rc) rc = hw_table_alloc(t, (int)a.shape[0]);
    for (size_t i = 0; !rc && i < a.count; i++) {
        t->v[i] = nn_npy_get(&a, i);
        if (!isfinite(t->v[i]) || t->v[i] < 0)
            rc =
                nn_err("%s: entry %zu is %g (costs are finite and non-negative)", path, i, t->v[i]);
    }
    if (rc) hw_table_free(t);
    nn_npy_free(&a);
    return rc;
}

int hw_table_write(const struct hw_table *t, const char *path) {
    size_t n = (size_t)t->n * HW_TABLE_BITS * HW_TABLE_BITS;
    int64_t *q = malloc(n * sizeof *q);
    if (!q) return nn_err("out of memory");
    for (size_t i = 0; i < n; i++) q[i] = (int64_t)llround(t->v[i]);
    int64_t shape[3] = {t->n, HW_TABLE_BITS, HW_TABLE_BITS};
    int rc = nn_npy_write(path, NN_NPY_I8, 3, shape, q);
    free(q);
    return rc;
}

int hw_table_wcol(int w_bits) {
    return w_bits >= 1 && w_bits <= HW_TABLE_BITS ? w_bits - 1 : -1;
}

int hw_table_acol(int a_bits) {
    if (a_bits == Q_FLOAT) return HW_TABLE_BITS - 2;
    return a_bits >= 1 && a_bits <= HW_TABLE_BITS ? a_bits - 1 : -1;
}

int hw_table_score(const struct hw_table *t, const struct q_policy *p, double *cost) {
    if (p->n != t->n) return nn_err("lookup table has %d layers, the policy %d", t->n, p->n);
    double s = 0;
    for (int l = 0; l < p->n; l++) {
        int wc = hw_table_wcol(p->w_bits[l]), ac = hw_table_acol(p->a_bits[l]);
        if (wc < 0 || ac < 0)
            return nn_err("lookup table: layer %d at w%d a%d has no entry", l, p->w_bits[l],
                          p->a_bits[l]);
        s += *hw_table_at(t, l, wc, ac);
    }
    *cost = s;
    return 0;
}
