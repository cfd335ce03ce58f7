/* Hardware cost models: one interface over BitFusion, BISMO and lookup tables.
 *
 *   hw_cost(model, layer, w_bits, a_bits, &cost)
 *
 * gives the cost of one layer (hw/layer.h) at a bit-width pair: cycles, latency (ms), energy
 * (mJ) split into compute, on-chip buffers and DRAM, and the bytes moved to and from DRAM.
 * Bits are quant/policy.h codes: 1 … 8, or Q_FLOAT. An unquantized activation (Q_FLOAT) is
 * costed as 8 bits — it is the input image, whose pixels are bytes (HAQ holds the first layer
 * so) — and float weights as 32-bit integers.
 *
 * A model comes from a configuration: a small text file of `key = value` lines ('#' comments),
 * one of the built-ins (bitfusion-edge, bitfusion-cloud, bismo-edge, bismo-cloud; their text is
 * hw_builtin_text and hw/configs/NAME.cfg), or "table:FILE.npy", a HAQ-format lookup table
 * T[layer][w−1][a−1] whose entries are the cost in the table's own units. */
#ifndef HAQ_HW_MODEL_H
#define HAQ_HW_MODEL_H

#include <stddef.h>

#include "hw/bismo.h"
#include "hw/bitfusion.h"
#include "hw/builtin.h"
#include "hw/cost.h"
#include "hw/layer.h"
#include "hw/table.h"

enum hw_kind { HW_BITFUSION, HW_BISMO, HW_TABLE };

struct hw_model {
    enum hw_kind kind;
    char name[64];
    int batch; /* images per inference the configuration is meant for */
    union {
        struct hw_bitfusion bf;
        struct hw_bismo bismo;
    } u;
    struct hw_table table; /* HW_TABLE only */
};

/* Parse a configuration text; `src` names it in errors ("file:line: …"). Every key of the
 * model kind must be given exactly once. Returns 0 or −1 (nn_err). */
int hw_model_parse(struct hw_model *m, const char *text, const char *src);

/* A built-in name, "table:FILE.npy", or a configuration file. Returns 0 or −1 (nn_err). */
int hw_model_load(struct hw_model *m, const char *spec);

void hw_model_free(struct hw_model *m);

/* Cost of one layer at (w_bits, a_bits); fills *c. Returns 0 or −1 (nn_err: bits outside what
 * the model covers, or a table row that does not exist). */
int hw_cost(const struct hw_model *m, const struct hw_layer *l, int w_bits, int a_bits,
            struct hw_cost *c);

/* What a budget counts. Table entries built for it: latency in cycles, energy in pJ. */
enum hw_metric { HW_METRIC_LATENCY, HW_METRIC_ENERGY, HW_METRIC_SIZE };

/* "latency", "energy", "size" → *m; −1 (nn_err) for anything else. */
int hw_metric_parse(const char *s, enum hw_metric *m);

/* The value a table stores for a cost: latency → units (cycles, or a table's own), energy →
 * pJ (NAN for a lookup table, which has no energy). */
double hw_metric_value(const struct hw_cost *c, enum hw_metric metric);

/* Build the n × 8 × 8 table of m over the layers for latency or energy (layers of equal shape
 * are costed once). Returns 0 or −1 (nn_err). */
int hw_table_build(struct hw_table *t, const struct hw_model *m, const struct hw_layer *ls, int n,
                   enum hw_metric metric);

#endif
