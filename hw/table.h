/* HAQ-format lookup tables: T[layer][w_bits − 1][a_bits − 1], 1 … 8 bits each.
 *
 * The release's table (MobileNetV2, 53 × 8 × 8 int64, batch 16, "cloud latency") is one; the
 * hardware models build others for any network (hw_table_build in hw/model.h). A policy's cost
 * is Σ_l T[l][w_l − 1][a_l − 1]. An unquantized activation (Q_FLOAT, written −1 in HAQ
 * policies) is looked up as the release does: numpy reads index −1 − 1 = −2 as the 7-bit column,
 * so the release's own totals are reproduced exactly. Float weights have no column. */
#ifndef HAQ_HW_TABLE_H
#define HAQ_HW_TABLE_H

#include "quant/policy.h"

#define HW_TABLE_BITS 8

struct hw_table {
    int n;     /* layers */
    double *v; /* [n][8][8] */
};

/* Read a table .npy: shape (L, 8, 8), any integer or float dtype. Returns 0 or −1 (nn_err). */
int hw_table_read(struct hw_table *t, const char *path);

/* Write as the release does: NPY v1, '<i8', shape (L, 8, 8), entries rounded to integers.
 * Returns 0 or −1 (nn_err). */
int hw_table_write(const struct hw_table *t, const char *path);

/* An n-layer table of zeros. Returns 0 or −1. */
int hw_table_alloc(struct hw_table *t, int n);

void hw_table_free(struct hw_table *t);

/* Column of a bit code: w 1..8 → w − 1; a 1..8 → a − 1, Q_FLOAT → 6 (see above). −1 when the
 * table has no such column. */
int hw_table_wcol(int w_bits);
int hw_table_acol(int a_bits);

static inline double *hw_table_at(const struct hw_table *t, int layer, int wcol, int acol) {
    return &t->v[((size_t)layer * HW_TABLE_BITS + (size_t)wcol) * HW_TABLE_BITS + (size_t)acol];
}

/* Σ over the policy's layers; p->n must equal t->n. Returns 0 or −1 (nn_err). */
int hw_table_score(const struct hw_table *t, const struct q_policy *p, double *cost);

#endif
