#include "model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/error.h"
#include "quant/policy.h"

/* ---- configuration keys ----------------------------------------------------------------------
 * Every key of a kind is required, so a configuration file says everything about its
 * accelerator; the built-ins are the templates. */

enum key_type { K_INT, K_DBL };

struct key {
    const char *name;
    int kind; /* enum hw_kind, or −1 for every kind */
    enum key_type type;
    size_t off;
    double lo, hi; /* accepted range */
};

#define BF(f) offsetof(struct hw_model, u.bf.f)
#define BS(f) offsetof(struct hw_model, u.bismo.f)
#define BIG   1e12

static const struct key keys[] = {
    {"batch", -1, K_INT, offsetof(struct hw_model, batch), 1, 1 << 16},
    {"rows", HW_BITFUSION, K_INT, BF(rows), 1, 1 << 16},
    {"cols", HW_BITFUSION, K_INT, BF(cols), 1, 1 << 16},
    {"pmax", HW_BITFUSION, K_INT, BF(pmax), 1, 32},
    {"pmin", HW_BITFUSION, K_INT, BF(pmin), 1, 32},
    {"freq_mhz", HW_BITFUSION, K_DBL, BF(freq_mhz), 1e-3, 1e6},
    {"wbuf_bytes", HW_BITFUSION, K_DBL, BF(wbuf_bytes), 1, BIG},
    {"ibuf_bytes", HW_BITFUSION, K_DBL, BF(ibuf_bytes), 1, BIG},
    {"obuf_bytes", HW_BITFUSION, K_DBL, BF(obuf_bytes), 1, BIG},
    {"dram_bits", HW_BITFUSION, K_DBL, BF(dram_bits), 1, BIG},
    {"core_pj", HW_BITFUSION, K_DBL, BF(core_pj), 0, BIG},
    {"wbuf_rd_pj", HW_BITFUSION, K_DBL, BF(wbuf_rd_pj), 0, BIG},
    {"wbuf_wr_pj", HW_BITFUSION, K_DBL, BF(wbuf_wr_pj), 0, BIG},
    {"ibuf_rd_pj", HW_BITFUSION, K_DBL, BF(ibuf_rd_pj), 0, BIG},
    {"ibuf_wr_pj", HW_BITFUSION, K_DBL, BF(ibuf_wr_pj), 0, BIG},
    {"obuf_rd_pj", HW_BITFUSION, K_DBL, BF(obuf_rd_pj), 0, BIG},
    {"obuf_wr_pj", HW_BITFUSION, K_DBL, BF(obuf_wr_pj), 0, BIG},
    {"dram_pj", HW_BITFUSION, K_DBL, BF(dram_pj), 0, BIG},
    {"dm", HW_BISMO, K_INT, BS(dm), 1, 1 << 16},
    {"dk", HW_BISMO, K_INT, BS(dk), 1, 1 << 20},
    {"dn", HW_BISMO, K_INT, BS(dn), 1, 1 << 16},
    {"freq_mhz", HW_BISMO, K_DBL, BS(freq_mhz), 1e-3, 1e6},
    {"ports", HW_BISMO, K_INT, BS(ports), 1, 1 << 10},
    {"port_bits", HW_BISMO, K_INT, BS(port_bits), 1, 1 << 20},
    {"dram_gbps", HW_BISMO, K_DBL, BS(dram_gbps), 1e-6, BIG},
    {"lhs_bytes", HW_BISMO, K_DBL, BS(lhs_bytes), 1, BIG},
    {"rhs_bytes", HW_BISMO, K_DBL, BS(rhs_bytes), 1, BIG},
    {"group_packing", HW_BISMO, K_INT, BS(group_packing), 0, 1},
    {"core_pj", HW_BISMO, K_DBL, BS(core_pj), 0, BIG},
    {"bram_rd_pj", HW_BISMO, K_DBL, BS(bram_rd_pj), 0, BIG},
    {"bram_wr_pj", HW_BISMO, K_DBL, BS(bram_wr_pj), 0, BIG},
    {"dram_pj", HW_BISMO, K_DBL, BS(dram_pj), 0, BIG},
};
#define N_KEYS ((int)(sizeof keys / sizeof *keys))

struct line {
    const char *key, *val; /* into a NUL-separated copy of the text */
    int no;
};

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\r') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = 0;
    return s;
}

/* Split text into key = value lines; comments and blank lines dropped. Returns the count or
 * −1. *copy owns the strings. */
static int split_lines(const char *text, const char *src, char **copy, struct line *out, int max) {
    *copy = strdup(text);
    if (!*copy) return nn_err("out of memory");
    int n = 0, no = 0;
    for (char *s = *copy, *next; s; s = next) {
        no++;
        next = strchr(s, '\n');
        if (next) *next++ = 0;
        char *hash = strchr(s, '#');
        if (hash) *hash = 0;
        s = trim(s);
        if (!*s) continue;
        char *eq = strchr(s, '=');
        if (!eq) return nn_err("%s:%d: expected 'key = value'", src, no);
        *eq = 0;
        char *k = trim(s), *v = trim(eq + 1);
        if (!*k || !*v) return nn_err("%s:%d: expected 'key = value'", src, no);
        if (n == max) return nn_err("%s:%d: more than %d settings", src, no, max);
        out[n++] = (struct line){k, v, no};
    }
    return n;
}

int hw_model_parse(struct hw_model *m, const char *text, const char *src) {
    memset(m, 0, sizeof *m);
    char *copy = NULL;
    struct line lines[128];
    int n = split_lines(text, src, &copy, lines, 128), rc = n < 0 ? -1 : 0;
    int kind = -1, kind_line = 0;
    for (int i = 0; !rc && i < n; i++) {
        if (strcmp(lines[i].key, "model")) continue;
        if (kind >= 0)
            rc = nn_err("%s:%d: 'model' given twice", src, lines[i].no);
        else if (!strcmp(lines[i].val, "bitfusion"))
            kind = HW_BITFUSION;
        else if (!strcmp(lines[i].val, "bismo"))
            kind = HW_BISMO;
        else
            rc = nn_err("%s:%d: unknown model '%s' (bitfusion, bismo)", src, lines[i].no,
                        lines[i].val);
        kind_line = lines[i].no;
    }
    if (!rc && kind < 0) rc = nn_err("%s: no 'model = bitfusion|bismo' line", src);
    int seen[N_KEYS] = {0};
    for (int i = 0; !rc && i < n; i++) {
        const struct line *ln = &lines[i];
        if (!strcmp(ln->key, "model")) continue;
        int k = 0;
        while (k < N_KEYS &&
               (strcmp(keys[k].name, ln->key) || (keys[k].kind >= 0 && keys[k].kind != kind)))
            k++;
        if (k == N_KEYS) {
            rc = nn_err("%s:%d: unknown key '%s' for model %s", src, ln->no, ln->key,
                        kind == HW_BITFUSION ? "bitfusion" : "bismo");
            break;
        }
        if (seen[k]++) {
            rc = nn_err("%s:%d: '%s' given twice", src, ln->no, ln->key);
            break;
        }
        char *end;
        errno = 0;
        double v = strtod(ln->val, &end);
        if (end == ln->val || *end || errno || !isfinite(v))
            rc = nn_err("%s:%d: '%s' is not a number", src, ln->no, ln->val);
        else if (v < keys[k].lo || v > keys[k].hi)
            rc = nn_err("%s:%d: %s = %g outside [%g, %g]", src, ln->no, ln->key, v, keys[k].lo,
                        keys[k].hi);
        else if (keys[k].type == K_INT && v != floor(v))
            rc = nn_err("%s:%d: %s must be an integer", src, ln->no, ln->key);
        else if (keys[k].type == K_INT)
            *(int *)((char *)m + keys[k].off) = (int)v;
        else
            *(double *)((char *)m + keys[k].off) = v;
    }
    for (int k = 0; !rc && k < N_KEYS; k++)
        if ((keys[k].kind < 0 || keys[k].kind == kind) && !seen[k])
            rc = nn_err("%s: missing key '%s' (model %s, line %d)", src, keys[k].name,
                        kind == HW_BITFUSION ? "bitfusion" : "bismo", kind_line);
    if (!rc && kind == HW_BITFUSION && m->u.bf.pmin > m->u.bf.pmax)
        rc = nn_err("%s: pmin %d > pmax %d", src, m->u.bf.pmin, m->u.bf.pmax);
    free(copy);
    if (rc) return rc;
    m->kind = (enum hw_kind)kind;
    snprintf(m->name, sizeof m->name, "%s", src);
    return 0;
}

static int read_text(const char *path, char **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return nn_err("%s: %s", path, strerror(errno));
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    int bad = ferror(f), more = !feof(f) && fgetc(f) != EOF;
    fclose(f);
    if (bad) return nn_err("%s: read error", path);
    if (more)
        return nn_err("%s: larger than %zu bytes: not a hardware configuration", path, sizeof buf);
    if (memchr(buf, 0, n)) return nn_err("%s: NUL byte: not a text file", path);
    *out = malloc(n + 1);
    if (!*out) return nn_err("out of memory");
    memcpy(*out, buf, n);
    (*out)[n] = 0;
    return 0;
}

int hw_model_load(struct hw_model *m, const char *spec) {
    memset(m, 0, sizeof *m);
    const char *text = hw_builtin_text(spec);
    if (text) return hw_model_parse(m, text, spec);
    if (!strncmp(spec, "table:", 6)) {
        if (hw_table_read(&m->table, spec + 6)) return -1;
        m->kind = HW_TABLE;
        snprintf(m->name, sizeof m->name, "%s", spec);
        return 0;
    }
    char *file;
    if (read_text(spec, &file)) {
        if (!strchr(spec, '/') && !strchr(spec, '.'))
            return nn_err("unknown hardware '%s' (bitfusion-edge, bitfusion-cloud, bismo-edge, "
                          "bismo-cloud, table:FILE.npy, or a configuration file)",
                          spec);
        return -1;
    }
    int rc = hw_model_parse(m, file, spec);
    free(file);
    return rc;
}

void hw_model_free(struct hw_model *m) {
    hw_table_free(&m->table);
}

/* ---- costs ------------------------------------------------------------------------------------
 */

int hw_cost(const struct hw_model *m, const struct hw_layer *l, int w_bits, int a_bits,
            struct hw_cost *c) {
    if ((w_bits != Q_FLOAT && (w_bits < 1 || w_bits > Q_BITS_MAX)) ||
        (a_bits != Q_FLOAT && (a_bits < 1 || a_bits > Q_BITS_MAX)))
        return nn_err("%s: bits w%d a%d outside 1..%d", l->name, w_bits, a_bits, Q_BITS_MAX);
    if (m->kind == HW_TABLE) {
        int wc = hw_table_wcol(w_bits), ac = hw_table_acol(a_bits);
        if (l->index >= m->table.n)
            return nn_err("%s: layer %d has no row in %s (%d rows)", l->name, l->index, m->name,
                          m->table.n);
        if (wc < 0) return nn_err("%s: a lookup table has no float-weight column", l->name);
        memset(c, 0, sizeof *c);
        c->units = *hw_table_at(&m->table, l->index, wc, ac);
        c->cycles = c->latency_ms = c->energy_mj = NAN;
        c->e_compute_mj = c->e_sram_mj = c->e_dram_mj = c->dram_bytes = NAN;
        c->compute_cycles = c->memory_cycles = NAN;
        return 0;
    }
    /* Integer hardware: the unquantized input image is 8-bit, float weights 32-bit. */
    int w = w_bits == Q_FLOAT ? 32 : w_bits, a = a_bits == Q_FLOAT ? 8 : a_bits;
    if (m->kind == HW_BITFUSION) return hw_bitfusion_cost(&m->u.bf, l, w, a, c);
    return hw_bismo_cost(&m->u.bismo, l, w, a, c);
}

int hw_metric_parse(const char *s, enum hw_metric *m) {
    if (!strcmp(s, "latency"))
        *m = HW_METRIC_LATENCY;
    else if (!strcmp(s, "energy"))
        *m = HW_METRIC_ENERGY;
    else if (!strcmp(s, "size"))
        *m = HW_METRIC_SIZE;
    else
        return nn_err("unknown metric '%s' (latency, energy, size)", s);
    return 0;
}

double hw_metric_value(const struct hw_cost *c, enum hw_metric metric) {
    return metric == HW_METRIC_ENERGY ? c->energy_mj * 1e9 : c->units;
}

static int same_shape(const struct hw_layer *a, const struct hw_layer *b) {
    return a->type == b->type && a->cin == b->cin && a->cout == b->cout && a->kh == b->kh &&
           a->kw == b->kw && a->stride == b->stride && a->groups == b->groups && a->h == b->h &&
           a->w == b->w && a->ho == b->ho && a->wo == b->wo && a->batch == b->batch &&
           (a->index == 0) == (b->index == 0);
}

int hw_table_build(struct hw_table *t, const struct hw_model *m, const struct hw_layer *ls, int n,
                   enum hw_metric metric) {
    if (metric == HW_METRIC_SIZE) return nn_err("lookup tables hold latency or energy");
    if (metric == HW_METRIC_ENERGY && m->kind == HW_TABLE)
        return nn_err("%s: a lookup table has no energy to tabulate", m->name);
    if (hw_table_alloc(t, n)) return -1;
    for (int l = 0; l < n; l++) {
        int twin = -1;
        for (int j = 0; j < l && twin < 0 && m->kind != HW_TABLE; j++)
            if (same_shape(&ls[j], &ls[l])) twin = j;
        if (twin >= 0) {
            memcpy(hw_table_at(t, l, 0, 0), hw_table_at(t, twin, 0, 0),
                   HW_TABLE_BITS * HW_TABLE_BITS * sizeof *t->v);
            continue;
        }
        for (int w = 1; w <= HW_TABLE_BITS; w++)
            for (int a = 1; a <= HW_TABLE_BITS; a++) {
                struct hw_cost c;
                if (hw_cost(m, &ls[l], w, a, &c)) {
                    hw_table_free(t);
                    return -1;
                }
                *hw_table_at(t, l, w - 1, a - 1) = hw_metric_value(&c, metric);
            }
    }
    return 0;
}
