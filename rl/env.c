/* HAQ's environments: state embedding, action → bits, cost tables and the budget wall. */
#include "env.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/error.h"

#define NB 9 /* bit index 0 = Q_FLOAT, 1..8 */

struct rl_env_cfg rl_env_cfg_default(enum q_method method) {
    struct rl_env_cfg c = {0};
    c.method = method;
    c.ratio = method == Q_KMEANS ? 0.1 : 0.6;
    if (method == Q_KMEANS) {
        c.metric = HW_METRIC_SIZE;
        c.min_bit = 1;
        c.max_bit = 8;
        c.hold = 0;
    } else {
        c.metric = HW_METRIC_LATENCY;
        c.min_bit = 2;
        c.max_bit = 8;
        c.hold = 1;
    }
    return c;
}

static size_t at(int l, int w, int a) { return ((size_t)l * NB + (size_t)w) * NB + (size_t)a; }

static int linear(const struct rl_env *e) { return e->cfg.method == Q_LINEAR; }

/* The metric's value of one layer at codes (w, a). */
static double value(const struct rl_env *e, int l, int w, int a) {
    const struct hw_cost *c = &e->cost[at(l, w, a)];
    switch (e->cfg.metric) {
    case HW_METRIC_LATENCY: return c->units;
    case HW_METRIC_ENERGY: return c->energy_mj;
    default: return e->size[at(l, w, a)];
    }
}

/* Fill the tables: hw_cost for every pair the model covers (all NAN without a model) and the
 * exact size of every pair. */
/* 1 if layers a and b have the same shape (so the same cost at every bit pair). */
static int same_shape(const struct hw_layer *a, const struct hw_layer *b) {
    return a->type == b->type && a->cin == b->cin && a->cout == b->cout && a->kh == b->kh &&
           a->kw == b->kw && a->stride == b->stride && a->groups == b->groups && a->h == b->h &&
           a->w == b->w && a->ho == b->ho && a->wo == b->wo && a->batch == b->batch;
}

static int fill(struct rl_env *e, const struct hw_model *m) {
    enum hw_quantizer q = linear(e) ? HW_Q_LINEAR : HW_Q_KMEANS;
    for (int l = 0; l < e->n_layers; l++) {
        int twin = -1; /* an earlier layer of the same shape: costed once (a lookup table's
                          rows are per layer, so it is costed row by row) */
        for (int j = 0; j < l && (!m || m->kind != HW_TABLE); j++)
            if (same_shape(&e->layers[j], &e->layers[l])) {
                twin = j;
                break;
            }
        if (twin >= 0) {
            memcpy(&e->cost[at(l, 0, 0)], &e->cost[at(twin, 0, 0)], NB * NB * sizeof *e->cost);
            memcpy(&e->size[at(l, 0, 0)], &e->size[at(twin, 0, 0)], NB * NB * sizeof *e->size);
            memcpy(&e->ok[at(l, 0, 0)], &e->ok[at(twin, 0, 0)], NB * NB);
            continue;
        }
        for (int w = 1; w < NB; w++)
            for (int a = 0; a < NB; a++) {
                struct hw_cost c;
                size_t i = at(l, w, a);
                int acode = a; /* index 0 is Q_FLOAT's code */
                int ok = 1;
                if (m) {
                    if (hw_cost(m, &e->layers[l], w, acode, &c)) {
                        ok = 0;
                        memset(&c, 0, sizeof c);
                    }
                } else {
                    memset(&c, 0, sizeof c);
                    c.units = c.latency_ms = c.energy_mj = NAN;
                }
                e->size[i] = hw_size_bytes(&e->layers[l], w, acode, q);
                if (e->cfg.metric == HW_METRIC_SIZE) ok = 1;
                e->cost[i] = c;
                e->ok[i] = (unsigned char)ok;
            }
    }
    return 0;
}

static int held_first(const struct rl_env *e, int l) { return e->cfg.hold && l == 0; }
static int held_last(const struct rl_env *e, int l) {
    return e->cfg.hold && l == e->n_layers - 1 && l > 0;
}

void rl_env_hold(const struct rl_env *e, int *w, int *a) {
    if (!linear(e)) {
        for (int l = 0; l < e->n_layers; l++) a[l] = Q_FLOAT;
    }
    if (!e->cfg.hold) return;
    w[0] = 8;
    a[0] = Q_FLOAT;
    if (e->n_layers > 1) w[e->n_layers - 1] = a[e->n_layers - 1] = 8;
}

int rl_env_covers(const struct rl_env *e, int l, int w, int a) {
    return l >= 0 && l < e->n_layers && w >= 1 && w < NB && a >= 0 && a < NB && e->ok[at(l, w, a)];
}

const struct hw_cost *rl_env_layer_cost(const struct rl_env *e, int l, int w, int a) {
    return &e->cost[at(l, w, a)];
}

double rl_env_cost(const struct rl_env *e, const int *w, const int *a) {
    double s = 0;
    for (int l = 0; l < e->n_layers; l++) s += value(e, l, w[l], a[l]);
    return s;
}

void rl_env_costs(const struct rl_env *e, const int *w, const int *a, double *latency_ms,
                  double *energy_mj, double *size_bytes) {
    double lat = 0, en = 0, sz = 0;
    for (int l = 0; l < e->n_layers; l++) {
        size_t i = at(l, w[l], a[l]);
        lat += e->cost[i].latency_ms;
        en += e->cost[i].energy_mj;
        sz += e->size[i];
    }
    if (latency_ms) *latency_ms = lat;
    if (energy_mj) *energy_mj = en;
    if (size_bytes) *size_bytes = sz;
}

/* Every layer at (wb, ab) for weights and activations, the hold rule applied. */
static void uniform(const struct rl_env *e, int wb, int ab, int *w, int *a) {
    for (int l = 0; l < e->n_layers; l++) {
        w[l] = wb;
        a[l] = linear(e) ? ab : Q_FLOAT;
    }
    rl_env_hold(e, w, a);
}

double rl_env_wall(const struct rl_env *e, int *w, int *a) {
    rl_env_hold(e, w, a);
    int lo = e->cfg.min_bit;
    double cost = rl_env_cost(e, w, a);
    while (cost > e->target && cost > e->min_cost) {
        int changed = 0;
        for (int l = e->n_layers - 1; l >= 0; l--) {
            if (held_first(e, l) || held_last(e, l)) continue;
            if (linear(e) && a[l] != Q_FLOAT && a[l] > lo) {
                a[l]--;
                changed = 1;
                cost = rl_env_cost(e, w, a);
                if (cost <= e->target) return cost;
            }
            if (w[l] > lo) {
                w[l]--;
                changed = 1;
                cost = rl_env_cost(e, w, a);
                if (cost <= e->target) return cost;
            }
        }
        if (!changed) break;
    }
    return cost;
}

double rl_env_fill(const struct rl_env *e, int *w, int *a) {
    int hi = e->cfg.max_bit;
    double cost = rl_env_cost(e, w, a);
    for (;;) {
        int bl = -1, bk = 0;
        double best = INFINITY;
        for (int l = 0; l < e->n_layers; l++) {
            if (held_first(e, l) || held_last(e, l)) continue;
            for (int k = 0; k < (linear(e) ? 2 : 1); k++) {
                int *b = k ? &a[l] : &w[l];
                if (*b == Q_FLOAT || *b >= hi) continue;
                double now_ = value(e, l, w[l], a[l]);
                (*b)++;
                double d = value(e, l, w[l], a[l]) - now_;
                (*b)--;
                if (cost + d <= e->target && d < best) {
                    best = d;
                    bl = l;
                    bk = k;
                }
            }
        }
        if (bl < 0) return cost;
        if (bk)
            a[bl]++;
        else
            w[bl]++;
        cost = rl_env_cost(e, w, a); /* re-summed: no drift from adding deltas */
        if (cost > e->target) { /* rounding at the edge: undo and stop */
            if (bk)
                a[bl]--;
            else
                w[bl]--;
            return rl_env_cost(e, w, a);
        }
    }
}

int rl_env_uniform(const struct rl_env *e, int *w, int *a) {
    for (int k = e->cfg.max_bit; k >= e->cfg.min_bit; k--) {
        uniform(e, k, k, w, a);
        if (rl_env_cost(e, w, a) <= e->target) return k;
    }
    return -1;
}

int rl_env_bits(const struct rl_env *e, float a) {
    int lo = e->cfg.min_bit, hi = e->cfg.max_bit;
    double v = rint((double)a * (hi - lo + 1) + lo - 0.5);
    if (!(v >= lo)) v = lo; /* NaN too */
    if (v > hi) v = hi;
    return (int)v;
}

/* The static features of layer l: columns 1–8. */
static void features(const struct hw_layer *L, int l, double *f) {
    int fc = L->type == HW_LAYER_FC;
    f[0] = L->type == HW_LAYER_DEPTHWISE;
    f[1] = L->cin;
    f[2] = L->cout;
    f[3] = fc ? 0 : L->stride;
    f[4] = fc ? 1 : L->kh;
    f[5] = hw_layer_weights(L);
    f[6] = fc ? L->cin : (double)L->h * L->w;
    f[7] = l;
}

static int embed(struct rl_env *e) {
    int L = e->n_layers, per = linear(e) ? 2 : 1;
    double *raw = malloc((size_t)L * 8 * sizeof(double));
    if (!raw) return nn_err("out of memory (state embedding)");
    for (int l = 0; l < L; l++) features(&e->layers[l], l, raw + (size_t)l * 8);
    for (int j = 0; j < 8; j++) {
        double lo = raw[j], hi = raw[j];
        for (int l = 1; l < L; l++) {
            double v = raw[(size_t)l * 8 + j];
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        for (int l = 0; l < L; l++) {
            double v = raw[(size_t)l * 8 + j];
            if (hi > lo) v = (v - lo) / (hi - lo);
            for (int k = 0; k < per; k++)
                e->emb[((size_t)l * per + (size_t)k) * (size_t)e->state_dim + (size_t)j] =
                    (float)v;
        }
    }
    for (int s = 0; s < e->steps; s++) {
        float *row = e->emb + (size_t)s * (size_t)e->state_dim;
        row[8] = 0.0f;
        if (linear(e)) row[9] = (float)(s % 2);
    }
    free(raw);
    return 0;
}

int rl_env_init(struct rl_env *e, const struct nn_graph *g, const struct hw_model *m,
                const struct rl_env_cfg *cfg) {
    memset(e, 0, sizeof *e);
    e->cfg = *cfg;
    if (cfg->min_bit < 1 || cfg->max_bit > 8 || cfg->min_bit > cfg->max_bit)
        return nn_err("bit range %d..%d: need 1 ≤ min ≤ max ≤ 8", cfg->min_bit, cfg->max_bit);
    if (cfg->method == Q_LINEAR && cfg->min_bit < 2)
        return nn_err("linear quantization needs at least 2 bits (min bit %d)", cfg->min_bit);
    if (cfg->method == Q_KMEANS && cfg->metric != HW_METRIC_SIZE)
        return nn_err("the k-means environment budgets model size (--metric size)");
    if (cfg->metric != HW_METRIC_SIZE && !m)
        return nn_err("a latency or energy budget needs a hardware model");
    if (m && m->kind == HW_TABLE && cfg->metric == HW_METRIC_ENERGY)
        return nn_err("a lookup table has no energy: use latency with table:FILE");
    if (!(cfg->ratio > 0)) return nn_err("budget ratio %g: must be > 0", cfg->ratio);
    int n = hw_layers(g, m && m->batch > 0 ? m->batch : 1, &e->layers);
    if (n < 0) return -1;
    if (n == 0) return nn_err("the network has no quantizable layer");
    e->n_layers = n;
    e->steps = linear(e) ? 2 * n : n;
    e->state_dim = (linear(e) ? 10 : 9) + (cfg->step_budget ? 2 : 0);
    e->cost = calloc((size_t)n * NB * NB, sizeof *e->cost);
    e->size = calloc((size_t)n * NB * NB, sizeof *e->size);
    e->ok = calloc((size_t)n * NB * NB, 1);
    e->emb = calloc((size_t)e->steps * (size_t)e->state_dim, sizeof(float));
    e->w_bits = calloc((size_t)n, sizeof(int));
    e->a_bits = calloc((size_t)n, sizeof(int));
    e->rest_min = calloc((size_t)n + 1, sizeof(double));
    if (!e->cost || !e->size || !e->ok || !e->emb || !e->w_bits || !e->a_bits || !e->rest_min) {
        rl_env_free(e);
        return nn_err("out of memory (environment)");
    }
    if (fill(e, m) || embed(e)) {
        rl_env_free(e);
        return -1;
    }
    /* every pair an episode can reach must be costed */
    for (int l = 0; l < n; l++)
        for (int w = cfg->min_bit; w <= 8; w++)
            for (int a = 0; a <= 8; a++) {
                if (a != 0 && a < cfg->min_bit) continue;
                int need = linear(e) ? (a == 0 ? l == 0 : 1) : a == 0;
                if (need && !e->ok[at(l, w, a)]) {
                    nn_err("hardware model %s cannot cost layer %s at W%d A%d", m ? m->name : "",
                           e->layers[l].name, w, a ? a : 32);
                    rl_env_free(e);
                    return -1;
                }
            }
    int *w = e->w_bits, *a = e->a_bits;
    if (cfg->metric == HW_METRIC_SIZE) {
        double fp = 0;
        for (int l = 0; l < n; l++) fp += hw_size_fp32_bytes(&e->layers[l]);
        e->ref_cost = fp;
    } else {
        uniform(e, 8, 8, w, a);
        e->ref_cost = rl_env_cost(e, w, a);
    }
    uniform(e, cfg->min_bit, cfg->min_bit, w, a);
    e->min_cost = rl_env_cost(e, w, a);
    for (int l = n - 1; l >= 0; l--) e->rest_min[l] = e->rest_min[l + 1] + value(e, l, w[l], a[l]);
    e->target = cfg->ratio * e->ref_cost;
    if (e->min_cost > e->target) {
        double r = e->min_cost / e->ref_cost;
        rl_env_free(e);
        return nn_err("budget ratio %g is below the smallest policy's %.4f (every layer at %d "
                      "bits%s)",
                      cfg->ratio, r, cfg->min_bit, cfg->hold ? ", first and last held at 8" : "");
    }
    return 0;
}

void rl_env_free(struct rl_env *e) {
    free(e->layers);
    free(e->cost);
    free(e->size);
    free(e->ok);
    free(e->emb);
    free(e->w_bits);
    free(e->a_bits);
    free(e->rest_min);
    memset(e, 0, sizeof *e);
}

static int layer_of(const struct rl_env *e, int s) { return linear(e) ? s / 2 : s; }

/* The cost of layers 0 … l − 1 at the bits chosen (held layers at their held bits). */
static double spent(const struct rl_env *e, int l) {
    double c = 0;
    for (int j = 0; j < l; j++) {
        int w = e->w_bits[j], a = linear(e) ? e->a_bits[j] : Q_FLOAT;
        if (held_first(e, j)) w = 8, a = Q_FLOAT;
        if (held_last(e, j)) w = a = 8;
        c += value(e, j, w, a);
    }
    return c;
}

/* The state of step s with column 9 = prev (step_budget: and the two budget columns). */
static const float *state_of(struct rl_env *e, int s, float prev) {
    memcpy(e->state, e->emb + (size_t)s * (size_t)e->state_dim,
           (size_t)e->state_dim * sizeof(float));
    e->state[8] = prev;
    if (e->cfg.step_budget) {
        int l = layer_of(e, s);
        e->state[e->state_dim - 2] = (float)(spent(e, l) / e->target);
        e->state[e->state_dim - 1] = (float)(e->rest_min[l + 1] / e->target);
    }
    return e->state;
}

/* step_budget: the largest bits ≤ bits for step s that keep the budget reachable. */
static int bound_bits(const struct rl_env *e, int s, int bits) {
    int l = layer_of(e, s), lo = e->cfg.min_bit;
    if (held_first(e, l) || held_last(e, l)) return bits;
    int wstep = !linear(e) || s % 2 == 0;
    double base = spent(e, l) + e->rest_min[l + 1];
    for (; bits > lo; bits--) {
        int w = wstep ? bits : e->w_bits[l], a = !linear(e) ? Q_FLOAT : wstep ? lo : bits;
        if (base + value(e, l, w, a) <= e->target) break;
    }
    return bits;
}

const float *rl_env_reset(struct rl_env *e) {
    e->step = 0;
    for (int l = 0; l < e->n_layers; l++) {
        e->w_bits[l] = 8;
        e->a_bits[l] = linear(e) ? 8 : Q_FLOAT;
    }
    return state_of(e, 0, linear(e) ? 1.0f : 4.0f);
}

const float *rl_env_step(struct rl_env *e, float a, int *done) {
    int bits = rl_env_bits(e, a), s = e->step;
    e->action = a;
    if (e->cfg.step_budget) {
        int b = bound_bits(e, s, bits);
        /* a bounded action becomes the middle of its bits' interval */
        if (b != bits)
            e->action =
                ((float)(b - e->cfg.min_bit) + 0.5f) / (float)(e->cfg.max_bit - e->cfg.min_bit + 1);
        bits = b;
    }
    if (linear(e)) {
        if (s % 2 == 0)
            e->w_bits[s / 2] = bits;
        else
            e->a_bits[s / 2] = bits;
    } else {
        e->w_bits[s] = bits;
    }
    float prev = linear(e) ? (float)bits / (float)e->cfg.max_bit : (float)bits;
    if (s + 1 >= e->steps) {
        *done = 1;
        return state_of(e, s, prev);
    }
    *done = 0;
    e->step = s + 1;
    return state_of(e, s + 1, prev);
}

int rl_env_policy(const struct rl_env *e, const int *w, const int *a, struct q_policy *p) {
    if (q_policy_uniform(p, e->n_layers, 8, 8)) return -1;
    for (int l = 0; l < e->n_layers; l++) {
        p->w_bits[l] = w[l];
        p->a_bits[l] = linear(e) ? a[l] : Q_FLOAT;
    }
    return 0;
}
