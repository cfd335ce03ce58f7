#include "bitfusion.h"

#include <math.h>

/* One (packed) convolution as the array runs it, `reps` times. In im2col form the reduction
 * kh·kw·Cin is folded into ic with a 1×1 kernel. */
struct geom {
    int reps;
    int b, ho, wo, kh, kw, s, ic, oc;
};

static int operand(const struct hw_bitfusion *p, int b, int *passes) {
    if (b > p->pmax) {
        *passes = (b + p->pmax - 1) / p->pmax;
        return 1;
    }
    *passes = 1;
    return p->pmax / (b < p->pmin ? p->pmin : b);
}

int hw_bitfusion_pf(const struct hw_bitfusion *p, int w, int a, int *passes) {
    int pw, pa;
    int f = operand(p, w, &pw) * operand(p, a, &pa);
    *passes = pw * pa;
    return f;
}

static double cdiv(double a, double b) {
    return ceil(a / b);
}

/* Σ over the tiles of dimension d cut into tiles of t of ⌈tile/q⌉: the array's edge waste. */
static double sum_ceil(int d, int t, int q) {
    int n = (d + t - 1) / t;
    return (n - 1) * cdiv(t, q) + cdiv(d - (n - 1) * t, q);
}

static double geom_cycles(const struct hw_bitfusion *p, const struct geom *g, int lanes, int passes,
                          int oc_t, int ic_t) {
    return (double)g->reps * g->b * g->ho * g->wo * g->kh * g->kw * sum_ceil(g->oc, oc_t, p->cols) *
           sum_ceil(g->ic, ic_t, lanes) * passes;
}

/* The geometries a layer can run as: the network's first layer in im2col form; a grouped layer
 * with every packing factor g (powers of two, and all groups). Returns the count (≤ 32). */
static int layer_geoms(const struct hw_layer *l, struct geom *out) {
    struct geom g = {1, l->batch, l->ho, l->wo, l->kh, l->kw, l->stride, l->cin, l->cout};
    if (l->index == 0 && l->groups == 1) {
        g.ic = l->cin * l->kh * l->kw;
        g.kh = g.kw = g.s = 1;
    }
    if (l->groups == 1) {
        out[0] = g;
        return 1;
    }
    int cig = l->cin / l->groups, cog = l->cout / l->groups, n = 0;
    for (int k = 1;; k = k * 2 < l->groups ? k * 2 : l->groups) {
        struct geom t = g;
        t.reps = (l->groups + k - 1) / k;
        t.ic = k * cig;
        t.oc = k * cog;
        out[n++] = t;
        if (k == l->groups) break;
    }
    return n;
}

double hw_bitfusion_compute_cycles(const struct hw_bitfusion *p, const struct hw_layer *l, int w,
                                   int a) {
    int passes, pf = hw_bitfusion_pf(p, w, a, &passes), lanes = p->rows * pf;
    struct geom gs[32];
    int ng = layer_geoms(l, gs);
    double best = INFINITY;
    for (int i = 0; i < ng; i++)
        best = fmin(best, geom_cycles(p, &gs[i], lanes, passes, gs[i].oc, gs[i].ic));
    return best;
}

/* Tile sizes of a dimension: q·2^k below d, and d itself (q = the array edge for Cout). */
static int candidates(int d, int q, int *out) {
    int n = 0;
    for (long t = q; t < d; t *= 2) out[n++] = (int)t;
    out[n++] = d;
    return n;
}

enum { LOOP_P, LOOP_C, LOOP_K }; /* pixels (batch, rows, columns), input ch., output ch. */

static const int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};

/* DRAM transfers of one tensor: its tile times the trips of every loop it depends on, and of
 * the loops it does not depend on once the footprint held across the inner loops overflows. */
static double traffic(double tile, double cap, unsigned deps, const int *order,
                      const double *trips) {
    double fp = tile, mult = 1;
    int keep = tile <= cap;
    for (int i = 2; i >= 0; i--) {
        int loop = order[i];
        if (deps >> loop & 1) {
            mult *= trips[loop];
            fp *= trips[loop];
            if (fp > cap) keep = 0;
        } else if (!keep) {
            mult *= trips[loop];
        }
    }
    return tile * mult;
}

struct plan {
    double cycles, compute, mem_cycles;
    double e_core, e_sram, e_dram, dram_bits;
    int memory_bound;
};

static double plan_energy(const struct plan *q) {
    return q->e_core + q->e_sram + q->e_dram;
}

/* What one tiling and loop order costs. */
struct tiling {
    double wt, it, ot; /* tile footprints, bits */
    double trips[3];   /* loop trip counts (LOOP_P, LOOP_C, LOOP_K) */
    double cyc;        /* compute cycles, edge waste included */
};

static struct plan evaluate(const struct hw_bitfusion *p, const struct geom *g,
                            const struct tiling *t, const int *ord, double fixed_sram,
                            double out_total) {
    double wcap = p->wbuf_bytes * 4, icap = p->ibuf_bytes * 4, ocap = p->obuf_bytes * 4;
    double tw = traffic(t->wt, wcap, 1u << LOOP_C | 1u << LOOP_K, ord, t->trips);
    double ti = traffic(t->it, icap, 1u << LOOP_P | 1u << LOOP_C, ord, t->trips);
    double to = traffic(t->ot, ocap, 1u << LOOP_P | 1u << LOOP_K, ord, t->trips);
    double out_rd = to - t->ot * t->trips[LOOP_P] * t->trips[LOOP_K]; /* partial-sum spills */
    double total = tw + ti + to + out_rd, fill = t->wt + t->it + t->ot;
    double steady = (total - fill) / p->dram_bits, per = t->cyc / g->reps;
    /* Partial sums: one buffer write per input-channel tile, a read for every write but the
     * first; DRAM transfers write (fills) or read (drains) their buffer. */
    double psum = out_total * t->trips[LOOP_C];
    double sram = fixed_sram + g->reps * (tw * p->wbuf_wr_pj + ti * p->ibuf_wr_pj +
                                          (psum + out_rd) * p->obuf_wr_pj +
                                          (psum - out_total + to) * p->obuf_rd_pj);
    struct plan q;
    q.cycles = g->reps * (fill / p->dram_bits + (steady > per ? steady : per));
    q.compute = t->cyc;
    q.mem_cycles = g->reps * total / p->dram_bits;
    q.e_core = t->cyc * p->core_pj;
    q.e_sram = sram;
    q.e_dram = g->reps * total * p->dram_pj;
    q.dram_bits = g->reps * total;
    q.memory_bound = steady > per;
    return q;
}

/* Search the tilings and loop orders of one geometry, updating the fastest and the most
 * frugal plan. */
static void search(const struct hw_bitfusion *p, const struct hw_layer *l, const struct geom *gp,
                   int w, int a, struct plan *fast, struct plan *frugal) {
    const struct geom g = *gp;
    int passes, pf = hw_bitfusion_pf(p, w, a, &passes), lanes = p->rows * pf;
    double wcap = p->wbuf_bytes * 4, icap = p->ibuf_bytes * 4, ocap = p->obuf_bytes * 4;
    int cb[32], coh[32], cow[32], cic[32], coc[32];
    int nb = candidates(g.b, 1, cb), noh = candidates(g.ho, 1, coh);
    int now = candidates(g.wo, 1, cow), nic = candidates(g.ic, 1, cic);
    int noc = candidates(g.oc, p->cols, coc);

    /* Tiling-independent buffer reads: each MAC reads its weight; each input value is read
     * once per tap and per column block. */
    double in_reads =
        (double)g.reps * g.b * g.ho * g.wo * g.kh * g.kw * g.ic * cdiv(g.oc, p->cols) * a;
    double fixed_sram = hw_layer_macs(l) * w * p->wbuf_rd_pj + in_reads * p->ibuf_rd_pj;
    double out_total = (double)g.b * g.ho * g.wo * g.oc * 32;
    int found = 0;
    for (int pass = 0; pass < 2 && !found; pass++) {
        /* Pass 0 honours the buffer sizes; pass 1 (only when even the smallest tiles
         * overflow) takes the tilings regardless. */
        int strict = pass == 0;
        for (int ik = 0; ik < noc; ik++)
            for (int ic = 0; ic < nic; ic++) {
                struct tiling t;
                int oc_t = coc[ik], ic_t = cic[ic];
                t.wt = (double)g.kh * g.kw * ic_t * oc_t * w;
                if (strict && t.wt > wcap) continue;
                t.cyc = geom_cycles(p, &g, lanes, passes, oc_t, ic_t);
                t.trips[LOOP_C] = ceil((double)g.ic / ic_t);
                t.trips[LOOP_K] = ceil((double)g.oc / oc_t);
                for (int ib = 0; ib < nb; ib++)
                    for (int ih = 0; ih < noh; ih++)
                        for (int iw = 0; iw < now; iw++) {
                            int b_t = cb[ib], oh_t = coh[ih], ow_t = cow[iw];
                            t.it = (double)b_t * ((oh_t - 1) * g.s + g.kh) *
                                   ((ow_t - 1) * g.s + g.kw) * ic_t * a;
                            t.ot = (double)b_t * oh_t * ow_t * oc_t * 32;
                            if (strict && (t.it > icap || t.ot > ocap)) continue;
                            t.trips[LOOP_P] = ceil((double)g.b / b_t) * ceil((double)g.ho / oh_t) *
                                              ceil((double)g.wo / ow_t);
                            found = 1;
                            for (int o = 0; o < 6; o++) {
                                struct plan q =
                                    evaluate(p, &g, &t, orders[o], fixed_sram, out_total);
                                double e = plan_energy(&q);
                                if (q.cycles < fast->cycles ||
                                    (q.cycles == fast->cycles && e < plan_energy(fast)))
                                    *fast = q;
                                if (e < plan_energy(frugal) ||
                                    (e == plan_energy(frugal) && q.cycles < frugal->cycles))
                                    *frugal = q;
                            }
                        }
            }
    }
}

int hw_bitfusion_cost(const struct hw_bitfusion *p, const struct hw_layer *l, int w, int a,
                      struct hw_cost *c) {
    /* The fastest plan (ties: less energy) gives the latency; the most frugal one (ties: fewer
     * cycles) the energy. Each is a minimum over geometries and tilings that only grow more
     * feasible and cheaper as bits drop, so both costs are monotone in w and a. */
    struct plan fast = {INFINITY, 0, 0, INFINITY, 0, 0, 0, 0}, frugal = fast;
    struct geom gs[32];
    int ng = layer_geoms(l, gs);
    for (int i = 0; i < ng; i++) search(p, l, &gs[i], w, a, &fast, &frugal);
    c->units = c->cycles = fast.cycles;
    c->compute_cycles = fast.compute;
    c->memory_cycles = fast.mem_cycles;
    c->latency_ms = fast.cycles / (p->freq_mhz * 1e3);
    c->e_compute_mj = frugal.e_core * 1e-9;
    c->e_sram_mj = frugal.e_sram * 1e-9;
    c->e_dram_mj = frugal.e_dram * 1e-9;
    c->energy_mj = c->e_compute_mj + c->e_sram_mj + c->e_dram_mj;
    c->dram_bytes = fast.dram_bits / 8;
    c->memory_bound = fast.memory_bound;
    return 0;
}
